// The deviance and Vcov(β) as functions of the variance parameters (θ, σ), as lmerTest defines them
// (devfun_vp and get_covbeta), shared by the Satterthwaite code and its tests. Not a public header.
#pragma once
#include <Eigen/Core>
#include <vector>

#include "lmm/model.h"

namespace lmm::detail {

/// The REML (model's method REML) or ML deviance at (θ, σ) with β profiled out:
///   ML:   log|L_θ|² + r²(θ)/σ² + n log(2πσ²)
///   REML: log|L_θ|² + r²(θ)/σ² + (n - p) log(2πσ²) + log|R_X|²
/// Moves the model to θ (only when θ differs from its current θ).
double varpar_deviance(LinearMixedModel& model, const std::vector<double>& theta, double sigma);

/// Vcov(β) = σ² (R_X R_X')⁻¹ at θ, p x p column-major. Moves the model to θ as above.
std::vector<double> varpar_covbeta(LinearMixedModel& model, const std::vector<double>& theta, double sigma);

struct ModelState;

/// The largest dense Schur complement (rows) for which Satterthwaite's derivatives are analytic
/// (VinvParts's max_dense; default 6,000), settable so that tests can take the larger models' path
/// (varpar_from_gradient) on small ones.
long& varpar_dense_limit();

/// Whether Satterthwaite's derivatives of a model of this state are analytic (several terms, no
/// residual structure, Ṽ⁻¹'s parts within their size limits: src/inference/vinv_parts.h).
bool varpar_analytic(const ModelState& m);

/// Whether they come instead from the analytic gradient (several terms beyond those limits, no
/// residual structure): H's θ block by central differences of the gradient, the rest exact
/// (src/inference/satterthwaite.cpp, gradient_difference_derivatives).
bool varpar_from_gradient(const ModelState& m);

/// Whether Satterthwaite's H can serve the convergence check as the objective's Hessian: either of
/// the above.
inline bool varpar_shared(const ModelState& m) { return varpar_analytic(m) || varpar_from_gradient(m); }

/// Whether a fit with these options is to have Satterthwaite's df and their H serves the check
/// (varpar_shared): the convergence check then takes H's profiled form (profiled_hessian) after
/// Newton's method, and where H is analytic Newton forms no Hessian of its own near its end
/// (src/model/optimize.cpp).
inline bool check_takes_varpar_hessian(const ModelState& m, const FitOptions& o) {
  return o.ddf == DdfMethod::Satterthwaite && varpar_shared(m);
}

/// The Hessian of the objective (REML criterion or ML deviance, σ profiled out) at the model's θ
/// in the optimizer's conditioned coordinates (ThetaMap), from Satterthwaite's Hessian of the
/// deviance (exact where varpar_analytic(), its θ block from differences of the gradient where
/// varpar_from_gradient(): the model then moves and comes back to its θ), which it keeps for
/// Satterthwaite at the same factor. Empty where varpar_shared() is false or the factor failed.
Eigen::MatrixXd profiled_hessian(LinearMixedModel& model);

}  // namespace lmm::detail
