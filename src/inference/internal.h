// Helpers shared by the inference code (src/inference): bounded minimisation with NLopt.
// Not a public header.
#pragma once
#include <Eigen/Core>
#include <functional>
#include <string>
#include <vector>

#include "model/model_access.h"
#include "util/nlopt_driver.h"

namespace lmm::inference {

struct MinimizeResult {
  std::vector<double> x;
  double f = 0;
  int evaluations = 0;
  bool converged = false;
  std::string stop_reason;
};

/// Minimises f over the box [lower, upper] from x0 (clamped into the box) with NLopt's `method`
/// (src/util/nlopt_driver.h), the initial steps shortened to fit inside the box. Non-finite values
/// of f are passed on as a very large number (BOBYQA's quadratic model cannot digest infinities).
/// Ends with a call of f at the result, leaving any state behind f there.
MinimizeResult minimize(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x0,
                        const std::vector<double>& lower, const std::vector<double>& upper,
                        const std::vector<double>& initial_step,
                        detail::NloptMethod method = detail::NloptMethod::BOBYQA, double ftol_rel = 1e-12,
                        double xtol_abs = 1e-10, int max_evaluations = 100000);

/// One end of a profile-likelihood interval: x on side `dir` (±1) of x0 with ζ(x) = dir·z, inside
/// [lo, hi], walking out from x0 by `step` (then secant steps) and solving on the bracket. At a bound
/// not reached, the bound with `note` saying so; NaN with a note when the walk does not reach z.
double profile_limit(const std::function<double(double)>& zeta, double x0, double step, int dir, double z, double lo,
                     double hi, std::string& note);

/// For a grouping factor that is also a fixed effect (`y ~ Sex + (1 | Sex)`), what that means: the
/// fixed effects already give each level its own mean, so its variance is not determined. "" when
/// no grouping factor is.
std::string confounded_grouping_advice(const ModelFrame& frame);

/// The convergence check's words for a Hessian (eigenvalues `ev` in decreasing order, all
/// positive) that lme4 would warn about: "nearly unidentifiable" when the smallest is below 1e-6 of
/// the largest, else that the largest is merely above lme4's absolute 1e6. `advise_scaling` adds
/// the advice to centre and scale predictors.
std::string eigenvalue_warning(const std::vector<double>& ev, bool advise_scaling);

/// The objective's Hessian in the conditioned coordinates x (detail::ThetaMap) from differences of
/// its analytic gradient (the model needs has_gradient()): column j central,
/// (∇f(x+δe_j) - ∇f(x-δe_j))/2δ, or forward, (∇f(x+δe_j) - g0)/δ, where g0 = ∇f(x) is given;
/// symmetrised as (H + H')/2. A column is NaN where the objective is not finite at its step. Leaves
/// the model at the last point evaluated (the convergence check's, src/inference/convergence.cpp,
/// and Satterthwaite's beyond VinvParts's limits).
Eigen::MatrixXd gradient_difference_hessian(LinearMixedModel& model, const detail::ThetaMap& map,
                                            const std::vector<double>& x, const Eigen::VectorXd* g0, double delta);

}  // namespace lmm::inference
