// Helpers shared by the inference code (src/inference): bounded minimisation with NLopt, changing
// the response of a model without rebuilding it, reproducible random streams, quantiles.
// Not a public header.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/model_impl.h"

namespace lmm::inference {

struct MinimizeResult {
  std::vector<double> x;
  double f = 0;
  int evaluations = 0;
  bool converged = false;
  std::string stop_reason;
};

/// Minimises f over the box [lower, upper] with NLopt's `algorithm` (NLOPT_LN_BOBYQA by default)
/// from x0. Non-finite values of f are passed on as a very large number (BOBYQA's quadratic model
/// cannot digest infinities). One-dimensional problems use Brent's method on the box (clamped to a
/// finite bracket around x0 when the box is unbounded).
MinimizeResult minimize(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x0,
                        const std::vector<double>& lower, const std::vector<double>& upper,
                        const std::vector<double>& initial_step, int algorithm = -1, double ftol_rel = 1e-12,
                        double xtol_abs = 1e-10, int max_evaluations = 100000);

/// Replaces the response by `y` (same length): updates the cross-products [X y]'Z and [X y]'[X y]
/// in one pass over the rows; the factor is refreshed at the next set_theta().
void set_response(LinearMixedModel::Impl& m, const std::vector<double>& y);

/// For a model `reduced` built from `full`'s frame without fixed-effect column j: sets its response
/// to y - b·x_j (an offset, as lme4's profile of a fixed effect) from `full`'s cross-products,
/// without touching the rows.
void set_offset_response(LinearMixedModel::Impl& reduced, const LinearMixedModel::Impl& full, int j, double b);

/// θ (lme4's relative covariance factor) from standard deviations, correlations and σ in the order
/// of variance_parameter_names(); false if the implied covariance matrix is not positive
/// semi-definite or σ ≤ 0.
bool sdcor_to_theta(const LinearMixedModel::Impl& m, const std::vector<double>& v, std::vector<double>& theta);

/// Per θ position: true for a diagonal element of λ at the boundary, by lme4's isSingular() rule
/// (below 1e-4) applied in the optimizer's conditioned coordinates (detail::ThetaMap), as
/// summarize() does, so that the verdict does not depend on the covariates' units.
std::vector<bool> singular_positions(const LinearMixedModel::Impl& m);

/// R's quantile(type = 7) of sorted data.
double quantile7(const std::vector<double>& sorted, double prob);

}  // namespace lmm::inference
