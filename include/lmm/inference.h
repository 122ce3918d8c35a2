// Inference on a fitted linear mixed model beyond lme4's summary(): variance partition (ICC, R²),
// Wald, profile-likelihood and parametric-bootstrap intervals, and the convergence check.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/fit.h"
#include "lmm/inference_types.h"
#include "lmm/model.h"

namespace lmm {

/// ICC and R² of the model at its current θ (see VariancePartition). With a singular fit the figures
/// are still computed (a zero variance contributes 0) and `note` says so.
VariancePartition variance_partition(const LinearMixedModel& model);

/// Names of the variance parameters as lme4's confint(oldNames = FALSE), in θ order per term, then
/// "sigma": `sd_(Intercept)|Subject`, `cor_Days.(Intercept)|Subject`, `sd_Days|Subject`, `sigma`.
std::vector<std::string> variance_parameter_names(const LinearMixedModel& model);
/// The same parameters' values at the current θ (standard deviations, correlations, σ).
std::vector<double> variance_parameters(const LinearMixedModel& model);
/// lme4's names(getME(m, "theta")): `Subject.(Intercept)`, `Subject.Days.(Intercept)`, ...
std::vector<std::string> theta_names(const LinearMixedModel& model);

/// Wald intervals for the fixed effects: estimate ± z_{(1+level)/2} SE, as
/// confint(m, method = "Wald") (lme4 gives none for the variance parameters).
std::vector<Interval> wald_intervals(const FitResult& result, double level = 0.95);

/// Profile-likelihood intervals for every parameter, as lme4's confint(m, method = "profile")
/// (lme4 1.1-31 R/profile.R). As lme4 does, the profile is that of the likelihood (the model is
/// refitted by ML first, also for REML fits: devfun2() calls refitML()): for each parameter the
/// signed square root ζ of the ML deviance's increase when the parameter is fixed and the others
/// re-optimised, variance parameters on the sd/cor/σ scale; the interval is where ζ = ±z_{(1+level)/2}.
/// A limit that the profile does not reach inside the parameter's range is the range's end (0 for
/// a standard deviation, ±1 for a correlation), as lme4 reports it.
std::vector<Interval> profile_intervals(const LinearMixedModel& model, double level = 0.95);

struct BootstrapOptions {
  int replicates = 1000;
  std::uint64_t seed = 1;
  int threads = 0;  ///< 0: all cores (std::thread::hardware_concurrency)
  double level = 0.95;
};

/// Parametric bootstrap: `replicates` responses simulated from the fitted model,
/// y* = Xβ̂ + ZΛ̂u* + σ̂ε*, with u* ~ N(0, σ̂²I) and ε* ~ N(0, I), each refitted by the model's
/// method from θ̂; percentile intervals (R's quantile type 7) for the variance parameters, σ, the
/// fixed effects, ICC and R². Replicate i draws from its own random stream derived from (seed, i),
/// so the result is the same whatever the number of threads.
BootstrapResult bootstrap(const LinearMixedModel& model, const BootstrapOptions& options);

/// lme4's convergence check at the model's current θ (see ConvergenceReport). When the check fails
/// or `optimizer` did not converge, refits from the optimum with NLopt's Nelder-Mead and compares;
/// if the second optimizer finds a lower objective the model is left at its optimum and `optimizer`
/// is updated. Run by lmm::fit().
ConvergenceReport check_convergence(LinearMixedModel& model, OptimizerSummary& optimizer,
                                    const FitOptions& options = {});

/// One-line explanations for a singular fit: which variance or correlation is at the boundary, what
/// it means, and what to try. Empty for a non-singular fit.
std::vector<std::string> singular_advice(const LinearMixedModel& model);

/// The text summary's sections on ICC and R², intervals and convergence (appended by format_summary).
std::string format_inference(const FitResult& result);

/// R's qnorm for the two-sided level: z with P(|Z| < z) = level.
double normal_quantile_two_sided(double level);

}  // namespace lmm
