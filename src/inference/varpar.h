// The deviance and Vcov(β) as functions of the variance parameters (θ, σ), as lmerTest defines them
// (devfun_vp and get_covbeta), shared by the Satterthwaite code and its tests. Not a public header.
#pragma once
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

}  // namespace lmm::detail
