// Correlated and heteroscedastic residuals (nlme's correlation = and weights = varIdent()): the
// residual covariance is σ² D R(φ) D, R block-diagonal by a grouping factor, D = diag(δ) a
// residual SD ratio per level of a factor.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lmm {

/// The residual covariance structure of a model. Plain struct with defaults: empty = independent
/// residuals of equal variance (lme4's).
struct ResidualOptions {
  /// "" (independent), "ar1" (nlme's corAR1 with lag = difference of integer `time` values),
  /// "car1" (corCAR1, real `time`), "cs" (corCompSymm), "us" (corSymm over the levels of `time`).
  std::string structure;
  std::string time;   ///< ar1, car1: numeric time column; us: the visit column (a factor); cs: ""
  std::string group;  ///< the grouping column within which residuals correlate
  std::string sd_by;  ///< a residual SD per level of this column (nlme's varIdent(~ 1 | sd_by)); "" none
  /// Keep the structure's parameters fixed at `value` (nlme's fixed = TRUE) rather than estimating
  /// them; `value` empty means the null: φ = 0, ρ = 0, the identity correlation, all SD ratios 1.
  bool fixed = false;
  /// Natural values, in the order of the parameters: ar1/car1 φ; cs ρ; us the correlations of the
  /// pairs of levels (1,2), (1,3), ..., (2,3), ...; then the SD ratios of the levels after the first.
  std::vector<double> value;

  bool any() const { return !structure.empty() || !sd_by.empty(); }
};

/// Parses "ar1(day | id)", "car1(t | id)", "cs(1 | id)", "us(visit | id)" into `structure`, `time`
/// and `group` of `out`. Throws lmm::Error naming what is wrong.
void parse_residual_structure(const std::string& text, ResidualOptions& out);

/// nlme's label: "AR(1)", "Continuous AR(1)", "Compound symmetry", "General (unstructured)".
std::string residual_structure_label(const std::string& structure);

/// The residual structure as the model frame coded it, per row used.
struct ResidualData {
  ResidualOptions options;
  std::vector<std::int32_t> group;  ///< per row: index into group_levels (empty without a structure)
  std::vector<std::string> group_levels;
  std::vector<double> time;         ///< ar1, car1: per row
  std::vector<std::int32_t> visit;  ///< us: per row, index into visit_levels (byte order)
  std::vector<std::string> visit_levels;
  std::vector<std::int32_t> sd_by;  ///< per row, index into sd_levels (byte order; empty: none)
  std::vector<std::string> sd_levels;
  bool any() const { return options.any(); }
};

/// The estimated residual structure in natural units (see LinearMixedModel::residual_parameters).
struct ResidualEstimates {
  std::string structure;  ///< as ResidualOptions::structure
  double phi = 0;         ///< ar1, car1
  double rho = 0;         ///< cs
  std::vector<std::string> visit_levels;  ///< us
  std::vector<double> cor;                ///< us: pairs (1,2), (1,3), ..., (2,3), ... of visit_levels
  std::string sd_by;                      ///< "" without SD ratios
  std::vector<std::string> sd_levels;
  std::vector<double> sd_ratios;          ///< per sd level, 1 at the first
};

}  // namespace lmm
