// Results of the inference on a fitted model as plain values: variance partition (ICC, R²),
// confidence intervals, the convergence check, the parametric bootstrap. Filled in by the functions
// of lmm/inference.h; part of every FitResult.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace lmm {

/// Variance partition of a linear mixed model as performance::icc and performance::r2_nakagawa
/// (performance 0.10.2, insight::get_variance): Nakagawa & Schielzeth (2013, Methods Ecol. Evol.
/// 4:133), Nakagawa, Johnson & Schielzeth (2017, J. R. Soc. Interface 14:20170213).
///   var_fixed    = var(Xβ̂) over the observations (n - 1 denominator)
///   var_random   = mean over observations of diag(Z Σ Z') (Johnson 2014, Methods Ecol. Evol.
///                  5:944: the random-slope case; the sum of the intercept variances when there
///                  are no slopes), with performance's choice of terms (see var_random_all_terms)
///   var_residual = σ²
///   ICC adjusted   = var_random / (var_random + var_residual)
///   ICC unadjusted = var_random / (var_fixed + var_random + var_residual)
///   R² marginal    = var_fixed / total,  R² conditional = (var_fixed + var_random) / total
struct VariancePartition {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  double var_fixed = nan, var_random = nan, var_residual = nan;
  /// Johnson's var_random over every random-effects term and column. performance 0.10.2 counts only
  /// the first term of a grouping factor (so `(x || g)` loses its slope) and only slopes that are
  /// also fixed effects; var_random (and the ICC and R²) follow performance, this does not.
  double var_random_all_terms = nan;
  double icc_adjusted = nan, icc_unadjusted = nan, r2_marginal = nan, r2_conditional = nan;
  std::string note;  ///< e.g. why the figures need care (singular fit)
};

/// A confidence interval for one parameter, named as lme4's confint(oldNames = FALSE):
/// `sd_(Intercept)|Subject`, `cor_Days.(Intercept)|Subject`, `sigma`, then fixed-effect terms.
struct Interval {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  std::string parameter;
  double estimate = nan;  ///< the point the interval is built around
  double lower = nan, upper = nan;
  std::string note;       ///< e.g. "lower end at the boundary 0"
};

/// The convergence check of lme4's checkConv (lme4 1.1-31, R/checkConv.R): finite-difference
/// gradient g and Hessian H of the objective at the optimum, in the optimizer's conditioned
/// coordinates (unit-free; lme4 differentiates in θ, which misfires on covariates in large units),
/// one per θ position; failure when
/// max_k min(|(chol H)⁻¹ g|_k, |g_k|) > 0.002, or when H has negative or zero eigenvalues. When the
/// check fails on the gradient alone and the model has the analytic gradient (one random-effects
/// term), up to three Newton steps x - H⁻¹g come first (kept only where the objective does not
/// rise; see `messages`). When the check still fails (or the optimizer stopped at a limit), the
/// model is refitted from the optimum with a second optimizer (Nelder-Mead) and the two are compared.
struct ConvergenceReport {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  /// "ok", "singular" (boundary fit: the gradient check is skipped, as lme4 does),
  /// "gradient" (scaled gradient above tolerance), "hessian_negative", "hessian_singular",
  /// "optimizer_limit" (the optimizer stopped at its evaluation limit), "not_checked".
  std::string status = "not_checked";
  /// lme4's code: 0 ok, -1 gradient, -3 negative Hessian eigenvalues, -4 singular Hessian,
  /// 2 or 3 nearly unidentifiable (warning only); 0 also for a singular fit (not checked further).
  int code = 0;
  double tolerance = 0.002;
  double max_grad = nan;  ///< max_k min(|scaled gradient_k|, |gradient_k|)
  std::vector<std::string> theta_names;  ///< lme4's names(getME(m, "theta")): "Subject.(Intercept)"
  std::vector<double> gradient, scaled_gradient, hessian_eigenvalues;
  std::string parameter_at_fault;  ///< θ component with the largest gradient, when the check fails
  // Second optimizer, run when the first failed the check.
  bool refitted = false;
  std::string second_algorithm;
  double first_objective = nan, second_objective = nan;
  double max_theta_difference = nan;  ///< max |θ₁ - θ₂| in the conditioned coordinates
  bool optimizers_agree = false;      ///< same optimum: objective within 1e-6 and θ within 1e-3
  bool switched_to_second = false;    ///< the second optimizer found a lower objective; the fit uses it
  std::vector<std::string> messages;  ///< plain-language explanation and what to try
};

/// Parametric bootstrap (lme4's bootMer with type = "parametric", use.u = FALSE).
struct BootstrapResult {
  int replicates = 0;        ///< requested
  int failed = 0;            ///< replicates whose refit did not converge (kept, as bootMer does)
  std::uint64_t seed = 0;
  int threads = 0;           ///< threads used (the results do not depend on it)
  double level = 0.95;
  std::vector<Interval> intervals;  ///< percentile intervals: variance parameters, sigma, fixed
                                    ///< effects, icc_adjusted, icc_unadjusted, r2_marginal, r2_conditional
  std::vector<std::string> names;   ///< the statistics, in the order of `samples`' columns
  std::vector<double> samples;      ///< replicates x statistics, row-major (replicate-major)
};

}  // namespace lmm
