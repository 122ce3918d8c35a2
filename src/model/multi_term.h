// The analytic gradient for several random-effects terms (src/model/multi_term.cpp): the choice
// between its two formulas for a term's trace, settable so that tests can force either.
#pragma once

namespace lmm::detail {

/// Term j's trace tr(M⁻¹ ∂M/∂λ_j) comes from the diagonal blocks of Σ = M⁻¹ alone, (n_j I -
/// Σ_b Σ_bb) λ_j⁻¹, where that difference keeps its digits: its smallest eigenvalue at least this
/// (default 1e-6) times n_j cond(λ_j); else from the off-diagonal blocks of Σ and A. 0 takes the
/// first wherever λ_j is nonsingular, infinity always the second.
double& trace_identity_floor();

}  // namespace lmm::detail
