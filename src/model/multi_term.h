// The analytic gradient for several random-effects terms (src/model/multi_term.cpp): the choice
// between its two formulas for a term's trace, settable so that tests can force either.
#pragma once
#include <Eigen/Core>
#include <vector>

#include "linalg/blocks.h"

namespace lmm::detail {

struct ModelState;

/// Term j's trace tr(M⁻¹ ∂M/∂λ_j) comes from the diagonal blocks of Σ = M⁻¹ alone, (n_j I -
/// Σ_b Σ_bb) λ_j⁻¹, where that difference keeps its digits: its smallest eigenvalue at least this
/// (default 1e-6) times n_j cond(λ_j); else from the off-diagonal blocks of Σ and A. 0 takes the
/// first wherever λ_j is nonsingular, infinity always the second.
double& trace_identity_floor();

/// The rows of the random-effects terms' dense diagonal blocks of the factor (the blocks that fill
/// in: crossed designs), 0 for nested and one-term models. The gradient costs about two
/// evaluations where they dominate (their inverse, 2m³/3 operations against the factorisation's
/// m³/3), less than one evaluation to a few where the block-diagonal levels do.
Eigen::Index dense_term_rows(const ModelState& m);

/// For a crossed design (a first term of one effect per level, the later terms' blocks dense): the
/// gradient's estimated cost relative to one evaluation of the objective, from the factor's pattern
/// (linalg's diagonal_block_sums_cost; the grouped downdate makes an evaluation cheaper). Infinity
/// for any other shape.
double crossed_gradient_cost(const ModelState& m);

/// ∂r²/∂λ_j(r, c) for every entry of each term's λ, r² the penalised residual sum of squares at
/// the current factor (several terms; the part of gradient_multi() that the objective's last term
/// scales by (n or n - p) / r²). Satterthwaite's derivatives in σ need it alone.
std::vector<Mat> pwrss_gradient(const ModelState& m);

/// out -= Σ_i Z_j'Z_i v_i for term j, from A's blocks (v: one per term, q_i nlev_i rows; out: q_j
/// nlev_j rows): Z_j'e for r²'s gradient (Eigen::VectorXd) and Z_j'Ṽ⁻¹X for Satterthwaite's (Mat).
template <class V>
void subtract_ztz_times(const ModelState& m, int j, const std::vector<V>& v, V& out);


}  // namespace lmm::detail
