// Selected inversion of the blocked Cholesky factor (Takahashi, Fagan & Chen 1973; Erisman &
// Tinney 1975): the entries of Σ = (L L')⁻¹ on the pattern of L, without the dense inverse of the
// whole matrix. Used by the gradient of the profiled objective (src/model/multi_term.cpp); the
// diagonal blocks of Σ are what traces like tr(M⁻¹ ∂M/∂θ) need.
#pragma once
#include <memory>
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

/// For each diagonal block i of L, the sum over its levels of the q[i] x q[i] diagonal blocks of
/// Σ = (L L')⁻¹, where L is one block-diagonal block of scalar levels (q = 1) followed by a dense
/// tail (crossed designs); empty for any other shape (selected_inverse() then gives the blocks).
/// The tail's sums are read off its inverse Σ_t; the first block's is Σ_b l_b⁻² + tr(Σ_t X̃X̃')
/// with X̃ = L_t0 L_00⁻¹, where the selected inversion would read |R|² entries of Σ_t per level.
/// Σ_t X̃X̃' is traced either as Σ_c ‖L_t⁻¹ x̃_c‖² (Gather: L_t⁻¹ alone, m³/3, then per stored entry
/// of X̃ a column of it; where X̃ is sparse enough) or from Σ_t in full and X̃X̃' (Full: dpotri,
/// 2m³/3, and a scatter like the factorisation's downdate); Auto picks the cheaper.
/// Where `tail_inverse` is given and the Gather route formed L_t⁻¹ by LAPACK (lapack.h), it is
/// handed out there (strict upper triangle zero) for inverse_from_lower_inverse_in_place() at the same
/// factor, and where `blocks` is given too, the diagonal blocks themselves (as
/// crossed_diagonal_blocks() gives them) are handed out there, read off the same pass; otherwise
/// *tail_inverse and *blocks are left as they were.
enum class SumRoute { Auto, Gather, Full };
std::vector<Mat> diagonal_block_sums(const std::vector<std::vector<const Block*>>& L, const std::vector<int>& q,
                                     SumRoute route = SumRoute::Auto, std::shared_ptr<Mat>* tail_inverse = nullptr,
                                     std::vector<Mat>* blocks = nullptr);

/// For the shape diagonal_block_sums() takes: the q[i] x q[i] diagonal blocks of Σ = (L L')⁻¹ of
/// every block i side by side (q[i] x rows of block i; the first block's 1 x n: Σ_bb = l_b⁻² +
/// ‖L_t⁻¹ x̃_b‖²), from L_t⁻¹ alone, where that is estimated cheaper than the tail's full inverse
/// and Takahashi's recurrence over nnz_b² of its entries per level (src/model/condvar.cpp); empty
/// otherwise. (Where the gradient formed L_t⁻¹ it hands these blocks out itself:
/// diagonal_block_sums().)
std::vector<Mat> crossed_diagonal_blocks(const std::vector<std::vector<const Block*>>& L, const std::vector<int>& q);

/// Estimated operations, in units of BLAS's blocked kernels (a memory-bound scatter or gather counts
/// several times), of one factorisation of L's blocks (the tail's dense Cholesky, and its downdate
/// by the first block scattered entry by entry) and of diagonal_block_sums() (its cheaper route),
/// from L's pattern alone; `sums` is infinity for a shape diagonal_block_sums() does not take.
struct SumsCost {
  double cholesky = 0, scatter = 0, sums = 0;
};
SumsCost diagonal_block_sums_cost(const std::vector<std::vector<const Block*>>& L);

/// (L L')⁻¹, whole and symmetric, from a dense lower Cholesky factor L (its strict upper triangle is
/// not read): LAPACK's dpotri where lapack_inverse_from_factor() takes it, else L⁻¹ by halves and
/// its Gram matrix in Eigen, m³/3 + m³/3 operations either way.
Mat inverse_from_factor(Mat L);

/// inverse_from_factor(L) from W = L⁻¹ formed by LAPACK's dtrtri (diagonal_block_sums' tail_inverse)
/// by dlauum alone (m³/3 instead of dpotri's 2m³/3), the same to the bit, in W's own storage (W
/// becomes the inverse, whole); false, W untouched, where LAPACK's dlauum is not at hand
/// (lapack_lower_gram()): the caller then inverts from L.
bool inverse_from_lower_inverse_in_place(Mat& W);

/// Σ(r, c) of one block of selected_inverse()'s result: any entry of a Mat, an entry of a SpMat's
/// pattern, or of a BlockDiag's diagonal q x q blocks; anything else throws std::logic_error.
double selected_entry(const Block& S, Eigen::Index r, Eigen::Index c);

}  // namespace lmm::detail
