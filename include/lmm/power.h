// Power analysis by simulation (as simr's powerSim/powerCurve, without its cost): for each sample
// size, simulate many studies from a planned design with known parameters, fit each, test the
// effect of interest, and count how often it is detected.
//
// Each simulated study keeps the design's model frame (no formula is parsed and no design matrix
// built per simulation): only the response is replaced (LinearMixedModel::set_response), and the
// fit starts from the true parameters. With dropout the rows left are a subset of the complete
// design's. Simulation s at size k draws from its own stream Rng(seed, k·2³² + s), so the results
// are the same whatever the number of threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/model.h"
#include "lmm/predict.h"
#include "lmm/simulate.h"

namespace lmm {

/// How a simulation is run and the effect tested. Plain struct with defaults.
struct PowerOptions {
  std::vector<std::size_t> persons{50, 100, 200, 400};  ///< sample sizes: the curve's points
  int nsim = 1000;                                        ///< simulated studies per sample size
  std::uint64_t seed = 1;
  double alpha = 0.05;   ///< significance level of the test
  double level = 0.95;   ///< level of the Monte Carlo interval of the power (Wilson's score interval)
  DdfMethod ddf = DdfMethod::Satterthwaite;
  /// What to test, as written in the formula:
  ///  - a fixed-effect term ("time:group", "group"): one column → Wald t test of its coefficient,
  ///    several (a factor) → lmerTest's type III F test of the term, df by `ddf`;
  ///  - a column of X ("time:grouptreatment"): Wald t test of that coefficient;
  ///  - a random-effects term with the slope to test, "(time | id)": the likelihood-ratio test of the
  ///    random slope of `time` for `id` (its variance and its covariances), REML fits of the model
  ///    with and without it.
  /// Empty: "time:group" for a growth design; required for a fitted model.
  std::string test;
  /// The LRT's reference distribution: true, the 50:50 mixture of χ²(q-1) and χ²(q) for a variance
  /// on the boundary (Self & Liang 1987, Stram & Lee 1994; q the term's effects); false, χ²(q) as
  /// anova(m0, m1) uses (conservative).
  bool lrt_mixture = true;
  /// power_from_model: the value the tested coefficient is set to (NaN: keep the fitted value).
  /// Only for a test of one coefficient.
  double effect = std::numeric_limits<double>::quiet_NaN();
  /// Simulations run side by side on this many threads (0: all cores); meanwhile the engine's own
  /// loops run on one (lmm::set_num_threads(1), restored at the end).
  int threads = 0;
  /// Called from the working threads (serialised) after each simulation: simulations done so far
  /// over all sizes and the total. May be empty.
  std::function<void(std::size_t done, std::size_t total)> progress;
};

/// One point of the power curve.
struct PowerPoint {
  std::size_t persons = 0;
  int nsim = 0;        ///< simulations run
  int failed = 0;      ///< fits that raised an error (not counted in the power)
  int rejections = 0;  ///< tests with p < alpha
  double power = 0;    ///< rejections / (nsim - failed)
  double mc_se = 0;    ///< Monte Carlo SE, sqrt(power (1 - power) / (nsim - failed))
  double lower = 0, upper = 0;  ///< Wilson's score interval at PowerOptions::level
  int singular = 0;             ///< fits at the boundary (lme4's isSingular rule)
  int nonconverged = 0;         ///< fits where the optimizer stopped on a limit or a failure
  double singular_share = 0, nonconverged_share = 0;  ///< over the fits that ran
  double mean_estimate = 0;  ///< mean estimate of the tested coefficient (LRT: of the statistic)
  double mean_df = 0;        ///< mean denominator df (NaN for the LRT and with DdfMethod::None)
  double seconds = 0;        ///< wall time for this size
};

struct PowerResult {
  std::string test;         ///< what was tested, as resolved: "time:grouptreatment", "(time | id)"
  std::string test_method;  ///< "Wald t (Satterthwaite df)", "type III F (Kenward-Roger df)", ...
  std::string formula;      ///< the model fitted to each simulated study
  double alpha = 0.05, level = 0.95;
  int nsim = 0;
  std::uint64_t seed = 1;
  int threads = 1;
  double effect = 0;  ///< the true value of the tested coefficient (NaN for F and LRT tests)
  std::vector<PowerPoint> curve;
  std::vector<std::string> notes;
};

/// A field of PowerOptions out of range ("PowerOptions::nsim must be at least 1 (got 0)"), or "".
std::string check_power_options(const PowerOptions& options);

/// Power of the growth design (lmm/simulate.h; its `persons` and `seed` are not used: the sizes
/// are PowerOptions::persons) fitted by REML as y ~ time * group + (time | id). Throws lmm::Error
/// naming the field for a bad design or option.
PowerResult power_growth(const GrowthDesign& design, const PowerOptions& options);

/// Power of new studies drawn from a fitted model (simr's powerSim with extend()): the persons are
/// the levels of the model's largest grouping factor; a study of N persons repeats the rows of
/// `design`'s persons in turn (person k has the rows of person k mod G, as simr's extend), with
/// new random effects and residuals from the fitted variance components and β with the tested
/// coefficient set to PowerOptions::effect. `design` holds the rows (typically the data the model
/// was fitted to; the response may be absent). Linear mixed models without a residual structure.
PowerResult power_from_model(const SavedModel& model, const DataFrame& design,
                             const PowerOptions& options);

/// The curve as a table, with what was tested and how (`lmm power`'s text output).
std::string format_power(const PowerResult& result);

/// Wilson's score interval for a proportion: `successes` of `n` at `level`.
std::pair<double, double> wilson_interval(int successes, int n, double level);

}  // namespace lmm
