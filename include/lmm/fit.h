// A fitted model's results as plain values, and the one-call entry point.
#pragma once
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/inference_types.h"
#include "lmm/model.h"
#include "lmm/ranef.h"

namespace lmm {

inline constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

struct FixedEffect {
  std::string term;
  double estimate = NaN, std_error = NaN, t = NaN;
  double df = NaN, p = NaN;  ///< denominator df and p-value where a df method was used
};

/// A variance (term2 empty) or a correlation (term2 set). The residual is group "Residual".
struct VarianceComponent {
  std::string group;  ///< as lme4's VarCorr: a repeated group gets ".1", ".2" ("Subject.1")
  std::string term1, term2;
  double variance = NaN, sd = NaN, cor = NaN;
  bool is_correlation() const { return !term2.empty(); }
};

/// One row of the type III ANOVA table (lmerTest's anova(m, type = 3)): the F test of all the
/// fixed-effect columns of a term. den_df and p are NaN when no df method was used.
struct AnovaRow {
  std::string term;
  int num_df = 0;
  double den_df = NaN, F = NaN, p = NaN;
};

struct GroupCount {
  std::string group;
  std::size_t levels = 0;
};

struct FitResult {
  std::string formula;
  Method method = Method::REML;
  std::size_t nobs = 0;
  std::size_t n_dropped = 0;        ///< rows dropped for missing values
  std::vector<GroupCount> ngroups;  ///< each distinct grouping factor once, in term order
  std::vector<FixedEffect> fixed;
  std::vector<double> vcov;         ///< p x p, column-major
  std::vector<std::string> aliased;  ///< fixed-effect columns dropped as aliased
  std::vector<VarianceComponent> random;
  double sigma = NaN;
  std::vector<double> theta;
  double loglik = NaN, aic = NaN, bic = NaN;
  double objective = NaN;  ///< REML criterion (REML) or deviance (ML)
  int npar = 0;
  double df_residual = NaN;  ///< n - p
  /// Condition number of the fixed-effects model matrix with unit-length columns; the fixed effects
  /// have about 16 - 2 log10 of it correct digits (a warning in `messages` above 1e5).
  double condition_number = NaN;
  bool singular = false;
  std::vector<std::string> singular_reasons;  ///< which variance or correlation is at the boundary
  OptimizerSummary optimizer;
  std::array<double, 5> scaled_residuals{};  ///< min, 1st quartile, median, 3rd quartile, max
  std::vector<std::string> messages;         ///< notes for the user (dropped rows, aliased columns)
  DdfMethod ddf = DdfMethod::None;           ///< how fixed[].df / p were computed (lmm/inference.h)
  std::vector<AnovaRow> anova_type3;         ///< one row per fixed-effect term (empty for y ~ 1)
  /// Correlated or heteroscedastic residuals (ModelFrameOptions::residual): φ, ρ, the unstructured
  /// correlations, SD ratios; structure "" and no ratios without them. `sigma` is then the SD of
  /// the first level of sd_by.
  ResidualEstimates residual_structure;
  std::vector<Interval> confint_residual;  ///< Wald intervals of φ, ρ, `us` correlations (Fisher z) and SD ratios (residual_wald_intervals)

  // Inference beyond lme4's summary (src/inference, lmm/inference.h).
  VariancePartition variance_partition;  ///< ICC and R² (performance::icc, r2_nakagawa)
  std::vector<Interval> confint_wald;    ///< fixed effects, 95%
  std::vector<Interval> confint_profile; ///< every parameter; filled by profile_intervals() on request
  BootstrapResult bootstrap;             ///< filled by bootstrap() on request (replicates = 0: not run)
  ConvergenceReport convergence;         ///< lme4's gradient/Hessian check (run by fit())
  std::vector<std::string> singular_advice;  ///< for a singular fit: component, meaning, what to try
  std::vector<RandomEffectLevel> ranef;      ///< conditional modes and SDs per level (ranef(m, condVar = TRUE))
  std::vector<LevelCoefficients> coef;       ///< fixed + random per level (coef(m))
  /// Wall-clock seconds of lmm::fit()'s stages (not in the JSON output: they vary run to run).
  struct Timings {
    double model_frame = 0;  ///< formula and model matrices
    double setup = 0;        ///< A = [Z X y]'[Z X y] and the factor's structure
    double optimize = 0;     ///< the optimizer
    double summary = 0;      ///< estimates, standard errors, variance components
    double inference = 0;    ///< denominator df, p-values, ANOVA
  } timings;
};

/// Summarises a fitted model (the model must be at its optimum).
FitResult summarize(const LinearMixedModel& model, const OptimizerSummary& optimizer);

/// Parses the formula, builds the model frame, and fits. The one call most programs need:
///
///     auto data = lmm::read_table("sleepstudy.csv");
///     auto [model, result] = lmm::fit(data, "Reaction ~ Days + (Days | Subject)");
///     std::cout << lmm::format_summary(result);
struct Fitted {
  LinearMixedModel model;
  FitResult result;
};
Fitted fit(const DataFrame& data, const std::string& formula, const FitOptions& options = {});

/// lme4's summary() layout as text.
std::string format_summary(const FitResult& result);

}  // namespace lmm
