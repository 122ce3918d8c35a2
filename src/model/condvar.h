// Conditional covariances of the random effects from the blocked Cholesky factor, without
// forming (Λ'Z'ZΛ + I)⁻¹. Not a public header.
#pragma once
#include <memory>
#include <vector>

#include "model/model_impl.h"

namespace lmm::detail {

/// The diagonal level blocks of (L L')⁻¹ = (Λ'Z'ZΛ + I)⁻¹ for every random-effects term, where L is
/// the random-effects part of the factor (blocks 0..K-1). Per term j: a q_j x (q_j·nlevels_j)
/// matrix whose block b (columns b·q_j ..) belongs to level b.
///
/// Selected inversion (Takahashi, Fagan & Chen 1973; Erisman & Tinney 1975): with Σ = (L L')⁻¹ and
/// S_c the rows below the diagonal of column c in the symbolic factor,
///   Σ(S_c, c) = -Σ(S_c, S_c) L(S_c, c) / L(c, c),
///   Σ(c, c)   = 1 / L(c, c)² - L(S_c, c)' Σ(S_c, c) / L(c, c),
/// run from the last column to the first, touches Σ only on the factor's pattern, so it costs about
/// as much as one factorization. The trailing terms whose diagonal blocks the factorization keeps
/// dense (crossed designs) are inverted densely, as the factorization treats them.
std::vector<Mat> re_inverse_diagonal_blocks(const detail::ModelState& m);

/// Level b's block of re_inverse_diagonal_blocks() for a model of one term whose factor block is
/// block-diagonal (K = 1: then it is (L_b L_b')⁻¹ with L_b the level's own q x q block), the same to
/// the bit, without the other levels: conditional covariances one level at a time.
Mat level_inverse_block(const detail::ModelState& m, Eigen::Index b);

/// (L_DD L_DD')⁻¹ for the part L_DD of the random-effects factor from term d on (d >= 1): the
/// inverse of the Schur complement of the terms before d, I + Λ_D'(Z_D'Z_D - ...)Λ_D, dense.
/// Computed once per factor: up to 6,000 rows it is kept with the model (ModelState::
/// trailing_inverse) for the next caller, as re_inverse_diagonal_blocks() uses it too.
std::shared_ptr<const Mat> trailing_re_inverse(const detail::ModelState& m, int d);

/// Keeps W = L_t⁻¹ of the factor's dense tail from term 1 (ModelState::tail_inverse_factor), as the
/// gradient formed it by LAPACK (linalg/selected_inverse.h's diagonal_block_sums), for
/// trailing_re_inverse(m, 1) and re_inverse_diagonal_blocks() at the same factor; not above 6,000
/// rows; with it `blocks`, re_inverse_diagonal_blocks()'s result, which the gradient read off its
/// own pass over W. trailing_re_inverse(m, 1) turns W into its result in place.
void keep_tail_inverse_factor(const detail::ModelState& m, std::shared_ptr<Mat> w, std::vector<Mat> blocks = {});

/// (L L')⁻¹ for a dense square L: lower triangular (a Cholesky factor), or any invertible L such as
/// a permuted sparse factor P'L̂ (then through L L' and a Cholesky factorization).
Mat inverse_of_llt(const Mat& L, bool lower_triangular);

/// W = L⁻ᵀ L_X' (rows: random effects in term order, columns: the p fixed effects), where L_X is
/// the X part of the factor's last block row. Σ_uβ = -W (R_X R_X')⁻¹ is the covariance of the
/// spherical random effects with β̂ (times σ²), and the unconditional covariance of level b's u is
/// (L L')⁻¹_bb + W_b (R_X R_X')⁻¹ W_b'. Per term, a (q_j·nlevels_j) x p matrix.
std::vector<Mat> re_fixed_cross(const detail::ModelState& m);

}  // namespace lmm::detail
