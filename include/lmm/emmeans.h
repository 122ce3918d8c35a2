// Estimated marginal means and their pairwise contrasts, as R's emmeans (Lenth; emmeans 1.8.4)
// computes them for lmer fits: the reference grid, means averaged with equal weights over the
// factors not asked for, Satterthwaite or Kenward-Roger df, t-based intervals, and pairwise
// differences with Tukey, Holm or no p-value adjustment.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "lmm/data.h"
#include "lmm/inference.h"
#include "lmm/model.h"

namespace lmm {

enum class PAdjust { Tukey, Holm, None };

struct EmmeansOptions {
  std::vector<std::string> specs;  ///< the variables whose means are wanted ("group")
  std::vector<std::string> by;     ///< means and contrasts separately per level of these ("time")
  /// Values of numeric covariates in the reference grid ({"time", {0, 2, 4}}). A covariate not
  /// listed is held at its mean over the rows the model used, or, with at most 2 distinct values,
  /// at each of them (emmeans' cov.keep = "2").
  std::vector<std::pair<std::string, std::vector<double>>> at;
  bool pairwise = false;  ///< also all differences level_i - level_j (i < j) within each by group
  PAdjust adjust = PAdjust::Tukey;
  DdfMethod ddf = DdfMethod::Satterthwaite;  ///< None: asymptotic (df = Inf, normal quantiles)
  double level = 0.95;
};

/// One cell of the reference grid of specs x by, averaged over the other grid variables.
struct MarginalMean {
  std::vector<std::string> values;  ///< per EmmeansResult::variables: the level or covariate value
  std::vector<double> L;            ///< the linear function of β (length p)
  double emmean = 0, se = 0, df = 0, lower = 0, upper = 0;
};

struct PairwiseContrast {
  std::string contrast;             ///< "control - treatment", "temp175 - temp185" (emmeans' labels)
  std::vector<std::string> by;      ///< the by variables' values of its group
  double estimate = 0, se = 0, df = 0, t = 0, p = 0;
};

struct EmmeansResult {
  std::vector<std::string> variables;  ///< specs, then by
  std::vector<bool> numeric;           ///< per variable: a numeric covariate (values are numbers)
  std::size_t nspecs = 0;              ///< the first nspecs of `variables` are the specs
  std::vector<MarginalMean> means;     ///< specs vary fastest, then by (emmeans' order)
  std::vector<PairwiseContrast> contrasts;
  std::vector<std::string> averaged_over;  ///< grid variables averaged over ("recipe")
  /// Numeric covariates held at one value, with that value ("time", 2.03).
  std::vector<std::pair<std::string, double>> covariates_at;
  DdfMethod ddf = DdfMethod::Satterthwaite;
  PAdjust adjust = PAdjust::Tukey;
  std::size_t family = 0;  ///< Tukey: means per by group; Holm: contrasts per by group
  double level = 0.95;
};

/// Estimated marginal means of a fitted model. `data` is the table the model was fitted to
/// (covariate means are over the rows the model used). The model must be at its optimum (it is
/// left there). Throws lmm::Error naming the EmmeansOptions field for a spec or by variable that
/// is not a factor of the fixed effects (or a numeric covariate with several grid values), an `at`
/// entry for something that is not a numeric covariate of the fixed effects, a model with aliased
/// columns, and Kenward-Roger for an ML fit.
EmmeansResult emmeans(LinearMixedModel& model, const DataFrame& data, const EmmeansOptions& options);

/// Checks before the fit that EmmeansOptions::ddf can run for a model of this frame fitted by
/// `method`: Kenward-Roger needs a REML fit and, for crossed terms, dense matrices within
/// KenwardRoger::kMaxDenseRandomEffects (emmeans() would refuse it only after the fit). Throws
/// lmm::Error naming EmmeansOptions::ddf if it cannot.
void check_emmeans_ddf(const ModelFrame& frame, Method method, DdfMethod ddf);

/// emmeans' print(): the means per by group, the contrasts, and the notes (averaging, df method,
/// confidence level, p-value adjustment).
std::string format_emmeans(const EmmeansResult& result);

/// Parses "tukey", "holm", "none"; lmm::Error otherwise.
PAdjust parse_p_adjust(const std::string& name);
std::string p_adjust_name(PAdjust adjust);

/// Upper tail of the studentized range distribution, P(Q > q) for the range of `nmeans` standard
/// normals over an independent sqrt(χ²_df / df) (R's ptukey(q, nmeans, df, lower.tail = FALSE));
/// df = Inf for the normal range. By numerical integration (Gauss-Kronrod) of the range's
/// distribution over the chi distribution of the scale, as Copenhaver & Holland (1988).
double ptukey_upper(double q, double nmeans, double df);

}  // namespace lmm
