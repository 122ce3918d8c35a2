// What the HTML report and the explorer draw, computed by the engine. The page only lays these
// values out; it computes no statistic of its own.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/model.h"
#include "lmm/shrinkage.h"

namespace lmm::report {

/// Normal QQ points: sample quantiles against qnorm(ppoints(n)), and R's qqline() through the
/// quartiles. With more than `max_points` values, evenly spaced order statistics (both extremes
/// kept) stand for the rest.
struct QQ {
  std::vector<double> theoretical, sample;
  double line_intercept = NaN, line_slope = NaN;
  double line_x[2] = {NaN, NaN}, line_y[2] = {NaN, NaN};  ///< the line's ends over the theoretical range
};
QQ normal_qq(std::vector<double> values, std::size_t max_points = 5000);

/// The conditional modes of one random effect (one column of one term), with their conditional SDs
/// (lme4's condVar) and 95% conditional intervals b ± z_0.975·sd: every level in level order, or,
/// beyond max_persons levels, evenly spaced ranks of the sorted values (both extremes kept).
struct RandomEffect {
  std::string group;  ///< "Subject"
  std::string term;   ///< "(Intercept)", "Days"
  std::vector<std::string> levels;
  std::vector<double> value, condsd, lower, upper;
  QQ qq;
};

/// The shrinkage plot's data: lmm::shrinkage(model) (levels beyond max_persons sampled as the
/// trajectories), with each row's stratum: the level's values of the categorical fixed-effect
/// variables ("treatment").
struct Shrinkage {
  ShrinkageTable table;
  std::vector<std::string> strata;  ///< per row of table.rows
};

/// Observed and fitted trajectories per level of the first grouping factor against `x`: the first
/// random slope's variable, else the first numeric fixed-effect column, else the observation's
/// position within its level.
struct Trajectories {
  std::string x_name, y_name, group;
  std::vector<std::string> persons;      ///< in display order: a seeded shuffle, so any prefix is a random sample
  std::vector<std::size_t> person_nobs;  ///< observations per person
  // One entry per row of the persons kept (at most max_persons), ordered by person then x:
  std::vector<std::int32_t> person;      ///< index into `persons`
  std::vector<double> x, y, fitted, population;
  std::vector<std::string> stratum;
  struct Curve {
    std::string stratum;  ///< "" when the model has no categorical fixed-effect variable
    std::vector<double> x, y;  ///< the mean of Xβ over the rows at each distinct x
  };
  std::vector<Curve> population_curves;
};

/// The marginal variance over x for random-slope models (Var(y_t) = τ00 + 2tτ01 + t²τ11 + σ² for
/// one term with an intercept and a slope on x; in general Σ_terms z(t)'Σz(t) + σ²).
struct VarianceCurve {
  bool available = false;
  std::string reason, x_name;
  std::vector<double> t, between, total, icc;  ///< icc = between / total
};

/// A caveat on the fit or on the plots, with what it means.
struct Note {
  std::string kind;         ///< "singular", "convergence", "missing", "aliased", "plot"
  std::string message;      ///< what happened
  std::string explanation;  ///< what it means and what to do
};

struct PlotOptions {
  std::size_t max_persons = 2000;  ///< levels kept in the page for trajectories, shrinkage and caterpillars
  std::size_t max_points = 5000;   ///< residual and QQ points kept in the page (evenly thinned beyond)
  std::uint64_t seed = 20240601;   ///< the order in which persons are shown
};

struct PlotData {
  Trajectories trajectories;
  Shrinkage shrinkage;
  VarianceCurve variance_curve;  // (ICC and R² are the fit's: FitResult::variance_partition)
  std::vector<RandomEffect> random_effects;
  // Residual diagnostics: per kept row, fitted and residual (rows thinned beyond max_points).
  std::vector<double> diag_fitted, diag_residual;
  QQ residual_qq;
  std::vector<Note> notes;
};

/// Everything the report draws for a fitted model. `data` is the table the model was built from.
PlotData plot_data(const LinearMixedModel& model, const FitResult& result, const DataFrame& data,
                   const PlotOptions& options = {});

/// The fit's warnings with what they mean (singular fit with the engine's singular_advice, failed
/// convergence check, dropped rows, aliased columns), as notes.
std::vector<Note> explain_warnings(const FitResult& result);

}  // namespace lmm::report
