// Tests of fixed effects with small-sample degrees of freedom:
//  - Satterthwaite's approximation as lmerTest 3.1 computes it (Kuznetsova, Brockhoff & Christensen
//    2017, J. Stat. Softw. 82(13)): the covariance of the variance parameters (θ, σ) from the Hessian
//    of the deviance, and the gradient of c'Vcov(β)c in (θ, σ);
//  - Kenward & Roger (1997, Biometrics 53(3)) as pbkrtest 0.5.2 computes it (Halekoh & Højsgaard
//    2014, J. Stat. Softw. 59(9)): the adjusted covariance of β and the df of a contrast, from the
//    model's blocked structure (no n x n matrix);
//  - lmerTest's type III ANOVA: one F test per fixed-effect term, with either method's df.
// Also: variance partition (ICC, R²), Wald, profile-likelihood and parametric-bootstrap intervals,
// and lme4's convergence check with a second optimizer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/fit.h"
#include "lmm/inference_types.h"
#include "lmm/model.h"

namespace lmm {

/// A test of one contrast c'β = 0.
struct TTest {
  double estimate = NaN, std_error = NaN, t = NaN, df = NaN, p = NaN;
};

/// An F test of L β = 0 (L with several rows).
struct FTest {
  int num_df = 0;
  double den_df = NaN, F = NaN, p = NaN;
};

/// Rows of a contrast matrix, each of length p (the number of fixed-effect columns).
using ContrastMatrix = std::vector<std::vector<double>>;

/// Satterthwaite's df, computed once at the model's current θ (its optimum) as lmerTest does:
/// the Hessian H of the REML or ML deviance in the variance parameters with β profiled out,
/// A = 2 H⁻¹ (a Moore-Penrose inverse over the eigenvalues above 1e-8), the Jacobian of Vcov(β),
/// both analytic (products with V⁻¹ through the first term's level blocks and a dense Schur
/// complement of the other terms, src/inference/vinv_parts.h), or by numDeriv's Richardson
/// extrapolation as lmerTest with a residual structure or more than 6000 random effects after
/// the first term's; then df = 2 (c'Vc)² / (g'Ag) with
/// g_i = c' ∂V/∂φ_i c. The variance parameters φ are the unit-free u = (θ̃, σ/σ̂) (θ̃ the
/// optimizer's conditioned coordinates) rather than lmerTest's (θ, σ): the df do not depend on
/// the choice, but the numerical derivatives and the eigenvalue tolerance do not depend on units.
/// The model is evaluated at nearby θ and left at its θ.
class Satterthwaite {
 public:
  explicit Satterthwaite(LinearMixedModel& model);

  /// t test of c'β = 0 (lmerTest's contest1D).
  TTest test(const std::vector<double>& c) const;
  /// F test of L β = 0 (lmerTest's contestMD): eigen-decomposition of L Vcov(β) L', one df per
  /// direction, combined as in Fai & Cornelius (1996). An L of rank 1 gives the t test squared.
  FTest test(const ContrastMatrix& L) const;

  const std::vector<double>& varpar() const { return varpar_; }            ///< (θ, σ)
  const std::vector<double>& varpar_vcov() const { return varpar_vcov_; }  ///< A = 2H⁺ in u, column-major
  const std::vector<double>& hessian() const { return hessian_; }          ///< H in u, column-major
  /// Negative or near-zero eigenvalues of H (lmerTest warns about them): the fit is not at a
  /// proper optimum in some direction.
  int nonpositive_eigenvalues() const { return nonpositive_; }

 private:
  std::vector<double> beta_, vcov_;             // p, p x p
  std::vector<double> varpar_, varpar_vcov_, hessian_;
  std::vector<std::vector<double>> jacobian_;  // per variance parameter: ∂Vcov(β)/∂φ_i, p x p
  int nonpositive_ = 0;
  double sigma_ = NaN;
};

/// Kenward-Roger's adjusted covariance of β and df (pbkrtest's vcovAdj and Lb_ddf). The variance
/// parameters are the unique elements of each term's covariance matrix Σ_k and σ², so that V is
/// linear in them. REML fits only: throws lmm::Error for an ML fit.
///
/// Terms sharing one grouping factor: everything is accumulated level by level (O(levels) memory).
/// Terms with different grouping factors (crossed, nested): through the first term's level blocks
/// and a dense Schur complement of the m random effects of the other terms, limited to
/// m <= kMaxDenseRandomEffects and (first term's random effects) x m <= 5e7; beyond that
/// lmm::Error (lmm::fit refuses FitOptions::ddf KenwardRoger before fitting).
///
/// With ModelFrameOptions::residual the structure's unconstrained parameters join them, V is
/// formed in dense blocks of the rows its groups and the random effects' levels link (at most
/// 1500 rows each, else lmm::Error), and the second-derivative term of Kenward & Roger (1997)
/// is left out (SAS's DDFM=KR(FIRSTORDER), mmrm's "Kenward-Roger-Linear"): see
/// src/inference/kenward_roger_residual.cpp.
class KenwardRoger {
 public:
  static constexpr long kMaxDenseRandomEffects = 4000;

  explicit KenwardRoger(const LinearMixedModel& model);

  /// Φ_A = Φ + 2Φ U Φ (p x p, column-major).
  const std::vector<double>& vcov_adjusted() const { return vcov_adj_; }
  /// t test of c'β = 0 with the adjusted variance c'Φ_A c and Kenward-Roger's df.
  TTest test(const std::vector<double>& c) const;
  /// Kenward-Roger's denominator df for L β = 0 (pbkrtest's Lb_ddf).
  double ddf(const ContrastMatrix& L) const;
  /// Kenward-Roger's F test of L β = 0 (pbkrtest's KRmodcomp, as lmerTest's anova(m, ddf =
  /// "Kenward-Roger")): the Wald statistic with Φ_A over rank(L), scaled by df(1 - A2/q)/(df - 2).
  FTest test(const ContrastMatrix& L) const;

 private:
  int p_ = 0;
  std::vector<double> beta_, vcov_, vcov_adj_;
  std::vector<std::vector<double>> P_;  // per variance parameter, p x p
  std::vector<double> W_;               // 2 x inverse information, nparam x nparam
};

/// The type III hypotheses of lmerTest (get_contrasts_type3 for treatment contrasts): for each
/// fixed-effect term, the contrast rows testing it. A model with one term or one column gets
/// lmerTest's type I (Doolittle) contrasts instead, as lmerTest does; y ~ 1 gets none.
struct TermContrasts {
  std::vector<std::string> terms;
  std::vector<ContrastMatrix> L;
  std::string unavailable;  ///< set (and terms empty) when the hypotheses cannot be formed
};
TermContrasts type3_contrasts(const ModelFrame& frame);

/// The type III ANOVA table with Satterthwaite's F tests (num_df, den_df, F, p per term).
std::vector<AnovaRow> anova_type3(const Satterthwaite& satt, const TermContrasts& contrasts);
/// The same with Kenward-Roger's F tests.
std::vector<AnovaRow> anova_type3(const KenwardRoger& kr, const TermContrasts& contrasts);

/// Fills result.fixed[].df and .p (and, for Kenward-Roger, .std_error and .t from the adjusted
/// covariance), result.ddf and result.anova_type3 (F tests with the same df method; with
/// DdfMethod::None only F and num_df). The model must be at its optimum; it is left there.
void add_inference(LinearMixedModel& model, FitResult& result, DdfMethod ddf);

/// lmerTest's "Type III Analysis of Variance Table with Satterthwaite's method" (or
/// "Kenward-Roger's method") as text.
std::string format_anova(const FitResult& result);

/// Parses "satterthwaite", "kenward-roger" (or "kr"), "none"; lmm::Error otherwise.
DdfMethod parse_ddf_method(const std::string& name);
std::string ddf_method_name(DdfMethod ddf);

// ---- variance partition, intervals, bootstrap, convergence ----


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

/// Wald intervals of the residual structure's φ (ar1, car1), ρ (cs), `us` correlations and SD
/// ratios ("phi", "rho", "cor:<visit>,<visit>", "sd_ratio:<level>"), as nlme's intervals(m, which =
/// "var-cov"): on the unconstrained scale (atanh φ, logit, Fisher's z = atanh r, log δ) from the
/// Hessian of the deviance in all covariance parameters and σ (the Satterthwaite one), transformed
/// back. Empty without a structure.
std::vector<Interval> residual_wald_intervals(LinearMixedModel& model, double level = 0.95);

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
