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

/// Whether Satterthwaite's derivatives of a model of this state are analytic (several terms, no
/// residual structure, Ṽ⁻¹'s parts within their size limits: src/inference/vinv_parts.h).
bool varpar_analytic(const ModelState& m);

/// Whether a fit with these options is to have Satterthwaite's df and its derivatives are analytic:
/// the convergence check then takes the exact Hessian (profiled_hessian) after Newton's method,
/// and Newton does not difference again near its end (src/model/optimize.cpp).
inline bool check_takes_exact_hessian(const ModelState& m, const FitOptions& o) {
  return o.ddf == DdfMethod::Satterthwaite && varpar_analytic(m);
}

/// The exact Hessian of the objective (REML criterion or ML deviance, σ profiled out) at the
/// model's θ in the optimizer's conditioned coordinates (ThetaMap), from Satterthwaite's analytic
/// Hessian of the deviance, which it keeps for Satterthwaite at the same factor. Empty where
/// varpar_analytic() is false or the factor failed.
Eigen::MatrixXd profiled_hessian(const LinearMixedModel& model);

}  // namespace lmm::detail
