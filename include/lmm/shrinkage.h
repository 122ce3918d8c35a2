// Shrinkage: each level's own least-squares fit beside its mixed-model (BLUP-based) coefficients,
// and how far the mixed model pulled it toward the population estimate.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "lmm/model.h"

namespace lmm {

struct ShrinkageRow {
  std::string level;
  std::size_t n = 0;     ///< the level's number of observations
  bool own_fit = false;  ///< the level has its own fit (see shrinkage() for the rule)
  std::string reason;    ///< why not, when !own_fit: "1 observation for 2 columns", ...
  bool projected = false;    ///< blup/population are least-squares summaries of the level's rows
  std::vector<double> ols;   ///< per term: the level's own fit (NaN without one)
  std::vector<double> blup;  ///< per term: the mixed model's coefficients for the level
  std::vector<double> population;  ///< per term: the population estimate for the level
  std::vector<double> moved;       ///< blup - ols
  std::vector<double>
      fraction;         ///< (ols - blup) / (ols - population): 0 = not pulled, 1 = all the way
  double distance = 0;  ///< |ols - blup| in units of the random effects' SDs (Euclidean)
};

struct ShrinkageTable {
  /// Empty when the table could be made; otherwise why not ("the model has no random effects",
  /// more than one grouping factor, a column in two terms), and the rest is empty.
  std::string reason;
  bool available() const { return reason.empty(); }
  std::string group;
  std::vector<std::string> terms;    ///< the random-effects terms: "(Intercept)", "Days"
  std::vector<ShrinkageRow> rows;    ///< in the factor's level order
  std::vector<std::string> too_few;  ///< levels without their own fit
};

/// For a model whose random effects all belong to one grouping factor: per level, the ordinary
/// least-squares fit of y on the random-effects terms' columns using only that level's rows (as
/// lme4's lmList on those columns), the mixed model's coefficients for the level, and the
/// population estimate. Where the level's columns have full rank, the mixed-model and population
/// coefficients are the least-squares coefficients of the level's conditional fitted values (Xβ +
/// Zb) and of its population fitted values (Xβ) on those columns: for y ~ time * group + (time |
/// id) that is a treated person's own intercept and slope (β and the group terms combined, plus b),
/// comparable to the person's own fit. Otherwise they fall back to coef() (β of the same name, plus
/// b).
///
/// The rank rule: a level has its own fit when it has at least as many observations as there are
/// random-effects columns, and its rows of those columns have full column rank by a column-pivoted
/// Householder QR in which a pivot counts as zero below 1e-10 times the largest (Eigen's
/// ColPivHouseholderQR::setThreshold(1e-10)); otherwise ShrinkageRow::reason says which condition
/// failed and the level is listed in too_few. When the model's random effects are not all on one
/// grouping factor (or a column appears in two of its terms), nothing is computed and
/// ShrinkageTable::reason says why; this function does not throw for any fitted model.
ShrinkageTable shrinkage(const LinearMixedModel& model);

}  // namespace lmm
