// Selected inversion of the blocked Cholesky factor (Takahashi, Fagan & Chen 1973; Erisman &
// Tinney 1975): the entries of Σ = (L L')⁻¹ on the pattern of L, without the dense inverse of the
// whole matrix. Used by the gradient of the profiled objective (src/model/multi_term.cpp); the
// diagonal blocks of Σ are what traces like tr(M⁻¹ ∂M/∂θ) need.
#pragma once
#include <vector>

#include "linalg/blocks.h"

namespace lmm::detail {

/// Σ = (L L')⁻¹ on the pattern of the blocked lower factor L, given as L[i][j] (0 ≤ j ≤ i < nb,
/// row i holding i + 1 pointers). The block types are those of the model's factor: leading
/// diagonal blocks BlockDiag with SpMat or Mat blocks below them, then (from the first Mat diagonal
/// block on) a dense tail of Mat blocks. A SparseChol diagonal block, a BlockDiag one after a dense
/// one, or a pattern that is not closed under elimination throws std::logic_error.
///
/// Σ[i][j] has the type of L[i][j] (a SpMat its pattern; a BlockDiag the diagonal q x q blocks of
/// Σ only; a dense diagonal block is stored whole, both triangles). Cost: the dense tail (m rows)
/// is inverted in full, O(m³); each level of a block-diagonal block costs O(|R|² q) for the |R|
/// rows of L below its q columns.
std::vector<std::vector<Block>> selected_inverse(const std::vector<std::vector<const Block*>>& L);

/// Σ(r, c) of one block of selected_inverse()'s result: any entry of a Mat, an entry of a SpMat's
/// pattern, or of a BlockDiag's diagonal q x q blocks; anything else throws std::logic_error.
double selected_entry(const Block& S, Eigen::Index r, Eigen::Index c);

}  // namespace lmm::detail
