// Generalized linear mixed models (binomial and Poisson responses) fitted as lme4's glmer():
// penalized iteratively reweighted least squares (PIRLS) for the conditional modes, the Laplace
// approximation (nAGQ = 1) or adaptive Gauss-Hermite quadrature (nAGQ > 1, one scalar
// random-effects term) of the marginal likelihood, θ and β optimised together after a first stage
// with β inside PIRLS (lme4's nAGQ = 0, MixedModels.jl's fast = true).
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "lmm/compare.h"
#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/model_frame.h"
#include "lmm/predict.h"
#include "lmm/ranef.h"

namespace lmm {

struct BootstrapOptions;  // lmm/inference.h

enum class GlmmFamily { Binomial, Poisson };
enum class GlmmLink { Default, Logit, Probit, Cloglog, Log };

/// "binomial", "poisson"; the parsers throw lmm::Error naming the accepted values.
std::string family_name(GlmmFamily f);
GlmmFamily parse_family(const std::string& name);
/// "logit", "probit", "cloglog", "log"; Default is the family's canonical link.
std::string link_name(GlmmLink l);
GlmmLink parse_link(const std::string& name);

/// How to fit a GLMM. Plain struct with defaults.
struct GlmmOptions {
  GlmmFamily family = GlmmFamily::Binomial;
  GlmmLink link = GlmmLink::Default;  ///< Default: logit for binomial, log for Poisson
  /// 1: the Laplace approximation; more: adaptive Gauss-Hermite quadrature with this many nodes
  /// (only for a model with one random-effects term of one effect, as lme4).
  int nagq = 1;
  /// Stop after the first stage (β inside PIRLS, lme4's nAGQ = 0): faster, approximate.
  bool fast = false;
  int max_evaluations = 20000;  ///< per optimizer stage
  ModelFrameOptions frame;      ///< reference levels, contrasts, offset column (weights: not supported)
};

/// A fitted GLMM's results as plain values.
struct GlmmResult {
  std::string formula;
  GlmmFamily family = GlmmFamily::Binomial;
  GlmmLink link = GlmmLink::Logit;
  int nagq = 1;  ///< 0 for a fast (first stage only) fit
  std::size_t nobs = 0, n_dropped = 0;
  std::vector<GroupCount> ngroups;
  std::vector<FixedEffect> fixed;  ///< FixedEffect::t holds the z value, p the two-sided normal p
  std::vector<double> vcov;        ///< p x p column-major, from the Hessian over (θ, β) (lme4's default)
  std::vector<double> std_error_rx;  ///< β's SEs from the PIRLS information at fixed θ
  std::vector<std::string> aliased;
  std::vector<VarianceComponent> random;  ///< no "Residual" row: the families have no scale
  std::vector<double> theta, beta;
  double loglik = NaN, aic = NaN, bic = NaN;
  double deviance = NaN;  ///< lme4's deviance(m): sum of squared deviance residuals at the modes
  int npar = 0;
  double df_residual = NaN;
  std::vector<RandomEffectLevel> ranef;
  std::vector<double> fitted;  ///< response-scale mean per row (a probability for cbind())
  std::vector<double> eta;     ///< linear predictor per row, offset included
  bool converged = false;
  bool singular = false;
  std::string optimizer;          ///< stages, e.g. "NLOPT_LN_BOBYQA (nAGQ=0) + NLOPT_LN_BOBYQA"
  int evaluations = 0;
  double max_abs_gradient = NaN;  ///< finite-difference gradient of -2 loglik over (θ, β) at the optimum
  double max_rel_gradient = NaN;  ///< max |H⁻¹g|, lme4's scaled gradient check
  bool hessian_positive_definite = false;
  double pearson_chisq = NaN;     ///< Σ (y - μ)²/V(μ)·w
  double dispersion_ratio = NaN;  ///< Pearson χ² / residual df (Poisson: overdispersion above 1)
  std::vector<std::string> messages;  ///< warnings and notes (separation, convergence, dropped rows)
  std::vector<Interval> confint_profile;  ///< filled by glmm_profile_intervals() on request
  BootstrapResult bootstrap;              ///< filled by glmm_bootstrap() on request (replicates 0: not run)

  /// Variance partition on the latent (link) scale, as performance 0.10's icc() and r2_nakagawa():
  /// fixed = var(Xβ), random = mean over rows of z'Σz summed over terms (observation-level terms,
  /// one level per row, go to `dispersion` instead), distribution = π²/3 (logit), 1 (probit),
  /// π²/6 (cloglog); Poisson (log link) ln(1 + 1/λ) with λ = exp(β₀) of the null model (the
  /// response on 1, the offsets and the random terms, refitted). ICC NaN for a singular fit
  /// (and R² conditional; R² marginal then leaves out the random part), as performance.
  struct LatentVariances {
    double fixed = NaN, random = NaN, distribution = NaN, dispersion = 0;
    double lambda = NaN;  ///< Poisson: exp(β₀) of the null model
    double icc_adjusted = NaN, icc_unadjusted = NaN, r2_marginal = NaN, r2_conditional = NaN;
    std::string distribution_name;  ///< "logistic, pi^2/3", ...
  } latent;
};

class GlmmModel;

struct GlmmFitted {
  std::shared_ptr<const GlmmModel> model;
  GlmmResult result;
};

/// Parses the formula (`cbind(successes, failures) ~ ...` for binomial counts; a 0/1 or two-level
/// response, the second level being success), builds the model frame and fits. Throws lmm::Error
/// for a response the family cannot take, quadrature with more than one scalar term, weights.
GlmmFitted fit_glmm(const DataFrame& data, const std::string& formula, const GlmmOptions& options = {});

/// Linear predictor for new rows: Xβ + offset (+ Zb with `use_ranef`, b = 0 for a level the fit
/// did not see), as lme4's predict(m, newdata, re.form = NA / allow.new.levels = TRUE).
std::vector<double> glmm_predict_link(const GlmmFitted& fitted, const DataFrame& newdata, bool use_ranef);

/// The model frame of the fit: its grouping factors' levels and the codings new rows need.
const ModelFrame& glmm_model_frame(const GlmmFitted& fitted);

/// The fit as a SavedModel for `lmm predict` (family and link set, σ = 1; pe_cov is the
/// conditional covariance and pe_cross 0, so that intervals are not offered). Provenance fields
/// are left for the caller.
SavedModel glmm_snapshot(const GlmmFitted& fitted);

/// The inverse link applied to η (response-scale predictions).
std::vector<double> glmm_link_inverse(GlmmFamily family, GlmmLink link, const std::vector<double>& eta);

/// Fits every formula with the same options and compares them as lme4's anova(m0, m1): rows by
/// number of parameters, χ² = 2·max(0, Δ log-likelihood) with Δnpar df. The fits are in
/// `glmm_fits` (ModelComparison::fits stays empty). Throws lmm::Error for fewer than two formulas
/// or models fitted to different rows.
ModelComparison compare_glmms(const DataFrame& data, const std::vector<std::string>& formulas,
                              const GlmmOptions& options, std::vector<GlmmResult>* glmm_fits = nullptr);

/// Profile-likelihood intervals as lme4's confint(glmer_fit, method = "profile"): for each random-effect
/// SD (correlation) and each fixed effect, ζ(x) = sign(x - x̂) √(d(x) - d̂) with d the fit's Laplace (or
/// quadrature) deviance minimised over all other parameters (SDs, correlations and β) with this one
/// fixed at x; the ends where ζ = ±z_{(1+level)/2}. Names as the LMM's profile ("sd_(Intercept)|herd",
/// "cor_time.(Intercept)|id", then the fixed effects). Throws lmm::Error for a fast (nAGQ = 0) fit.
std::vector<Interval> glmm_profile_intervals(const GlmmFitted& fitted, double level = 0.95);

/// The intervals table of a GLMM with profile intervals, as the LMM's text output: profile and Wald
/// (estimate ± z·SE, fixed effects only) columns, and the notes. "" without profile intervals.
std::string format_glmm_intervals(const GlmmResult& result);

/// Parametric bootstrap as lme4's confint(glmer_fit, method = "boot") (bootMer, type = "parametric",
/// use.u = FALSE): each replicate draws new random effects u* ~ N(0, I) and responses from the family
/// at μ* = linkinv(Xβ̂ + offset + ZΛ̂u*) (0/1, successes out of the row's trials, or counts) from its
/// own stream Rng(seed, i), and is refitted from the estimates (θ̂, β̂) by the fit's method;
/// percentile intervals (R's quantile type 7) for the random effects' SDs and correlations (the
/// profile's names) and β. The same results with any number of threads. Throws lmm::Error for
/// fewer than one replicate, a level outside (0, 1), and a Poisson fit with prior weights.
BootstrapResult glmm_bootstrap(const GlmmFitted& fitted, const BootstrapOptions& options);

/// The bootstrap's intervals as a text table ("" when it was not run).
std::string format_glmm_bootstrap(const GlmmResult& result);

/// glmer's summary() layout as text, with the overdispersion check for Poisson fits.
std::string format_glmm_summary(const GlmmResult& result, const std::string& data_name = "");

}  // namespace lmm
