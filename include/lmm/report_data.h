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

/// What kind of design the report draws, decided from the model and the data:
/// - "longitudinal": a numeric covariate varies within the levels of the first grouping factor and
///   is time-like (its name says time, or few distinct values shared by the levels with at most one
///   row per level and value): trajectories over it, and the variance over it.
/// - "nested_cross_sectional": a numeric covariate varies within the levels but is not time-like
///   (students' SES in schools): each level's regression line of y on it at the level's means of the
///   other covariates, and the population line at the overall means.
/// - "factorial": no numeric covariate varies within the levels (split plot, crossed factors): the
///   levels' means.
struct Design {
  std::string kind;    ///< "longitudinal", "nested_cross_sectional", "factorial"
  std::string reason;  ///< why, in words
  std::string group;   ///< the first grouping factor
  std::string x_name;  ///< the within-level covariate ("" for factorial)
};
Design decide_design(const ModelFrame& frame, const DataFrame& data);

/// Observed values per level of the first grouping factor against the design's covariate `x`: the
/// first random slope's data variable that varies within levels, else the first numeric
/// fixed-effect variable that does. Longitudinal designs join a level's rows as a trajectory with
/// its fitted values; nested cross-sectional designs draw the rows as points and each level's
/// `group_lines`. Empty (no rows) for a factorial design.
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
  /// Longitudinal: the mean of Xβ at each distinct x per stratum. Nested cross-sectional: Xβ over
  /// a grid of x, averaged over the stratum's rows with x set to each grid value (the line at the
  /// stratum's means of the other covariates when the model is linear in them).
  std::vector<Curve> population_curves;
  /// Nested cross-sectional only: per kept level, Xβ + Zb over a grid of the level's range of x,
  /// averaged over the level's rows with x set to each grid value (its line at its own means of the
  /// other covariates).
  struct Line {
    std::int32_t person = 0;  ///< index into `persons`
    std::vector<double> x, y;
  };
  std::vector<Line> group_lines;
};

/// Factorial designs: per level of the first grouping factor (in the trajectories' seeded order, at
/// most PlotOptions::max_groups_drawn), the observed values, their mean, and the means of the
/// fitted values (Xβ + Zb) and of the population predictions (Xβ).
struct GroupMeans {
  std::string group, y_name;
  std::vector<std::string> levels;
  std::vector<std::size_t> nobs;
  std::vector<double> observed, fitted, population;  ///< per level: means over its rows
  std::vector<std::int32_t> point_level;             ///< per row of the levels drawn: index into levels
  std::vector<double> point_y;
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

/// The autocorrelation of nlme's normalized residuals by lag (nlme's ACF(m, resType =
/// "normalized")): per group (the residual structure's, else the first random-effects grouping
/// factor), the residuals in the structure's order (time, visit; row order otherwise); lag k pairs
/// the i-th and (i+k)-th rows of a group; acf[k] = (Σ pairs r r' / n_used[k]) / (Σ r² / n_used[0]);
/// lags 0 to min(m − 1, ⌊10 log10(m)⌋), m the largest group's size (nlme's default maxLag).
/// `bound[k]` = z_0.975/√n_used[k], the band of plot(ACF(m), alpha = 0.05).
struct ResidualAcf {
  std::string group;  ///< the grouping column
  std::vector<int> lag;
  std::vector<double> acf, bound;
  std::vector<std::size_t> n_used;
};
/// Throws lmm::Error when the model has neither a residual structure nor a random-effects term.
ResidualAcf normalized_residual_acf(const LinearMixedModel& model);

/// What the report draws for a residual structure (ModelFrameOptions::residual): the ACF of the
/// normalized residuals, and the fitted residual covariance σ²DRD (and its correlation matrix) of
/// one group of the structure: the group with the most rows (the first in level order among ties),
/// over its times (ar1, car1), visits (us) or rows (cs) in the structure's order.
struct ResidualStructurePlot {
  bool available = false;  ///< the model has a residual structure or SD ratios
  std::string structure;   ///< ResidualOptions::structure ("" for SD ratios only)
  std::string sd_by;       ///< ResidualOptions::sd_by
  ResidualAcf acf;
  bool has_acf = false;
  std::string acf_reason;  ///< why there is no ACF
  std::string matrix_group;  ///< the structure's grouping column, "" without a correlation structure
  std::string matrix_level;  ///< the level shown
  std::string time_name;     ///< time or visit column; "row" for cs
  std::vector<std::string> times;  ///< labels of the matrix's rows
  std::vector<double> covariance, correlation;  ///< times.size()² values, row-major
};

struct PlotOptions {
  std::size_t max_persons = 2000;  ///< levels kept in the page for trajectories, shrinkage and caterpillars
  std::size_t max_points = 5000;   ///< residual and QQ points kept in the page (evenly thinned beyond)
  std::uint64_t seed = 20240601;   ///< the order in which persons are shown
  std::size_t max_groups_drawn = 40;  ///< levels in the group-means plot of a factorial design
};

struct PlotData {
  Design design;
  Trajectories trajectories;
  GroupMeans group_means;
  Shrinkage shrinkage;
  VarianceCurve variance_curve;  // (ICC and R² are the fit's: FitResult::variance_partition)
  std::vector<RandomEffect> random_effects;
  // Residual diagnostics: per kept row, fitted and residual (rows thinned beyond max_points).
  std::vector<double> diag_fitted, diag_residual;
  QQ residual_qq;
  ResidualStructurePlot residual_structure;
  std::vector<Note> notes;
};

/// Everything the report draws for a fitted model. `data` is the table the model was built from.
PlotData plot_data(const LinearMixedModel& model, const FitResult& result, const DataFrame& data,
                   const PlotOptions& options = {});

/// The fit's warnings with what they mean (singular fit with the engine's singular_advice, failed
/// convergence check, dropped rows, aliased columns), as notes.
std::vector<Note> explain_warnings(const FitResult& result);

}  // namespace lmm::report
