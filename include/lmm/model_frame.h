// From a table and a formula to model matrices: y, X (fixed effects) and the random-effects terms.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/formula.h"

namespace lmm {

/// One random-effects term, stored compactly as lme4's and MixedModels.jl's ReMat: for each row,
/// the level of the grouping factor and the q values of the term's model matrix; Z is never formed.
struct ReTermData {
  std::string group;                ///< grouping factor's name: "Subject", "cask:batch"
  std::vector<std::string> levels;  ///< level labels ("a:A" for an interaction)
  std::vector<std::string> names;   ///< column names: "(Intercept)", "Days"
  std::vector<std::int32_t> refs;   ///< per row: level index
  std::vector<double> z;            ///< per row: q values, row-major (z[i*q + j])
  int q() const { return static_cast<int>(names.size()); }
  std::size_t nlevels() const { return levels.size(); }
};

/// How the model frame coded one factor-valued expression of the formula (a categorical column,
/// `factor(x)`): its levels in the rows used. With the formula this is what coding new rows the same
/// way needs (model_frame_for_new_data).
struct FactorCoding {
  std::string expr;                 ///< the expression's label: "group", "factor(Diet)"
  std::vector<std::string> levels;  ///< the first is the reference level of treatment contrasts
};

struct ModelFrame {
  Formula formula;
  std::string response;                 ///< response label
  std::vector<double> y;                ///< n
  std::vector<std::string> fixed_names;  ///< p columns kept, R's names ("(Intercept)", "grouptreatment")
  std::vector<double> X;                ///< n x p, column-major
  std::vector<std::string> aliased;     ///< columns dropped as linear combinations of earlier ones
  std::vector<ReTermData> re;           ///< ordered by decreasing number of levels (stable), as lme4
  std::vector<std::size_t> rows;        ///< the data rows used (0-based)
  std::size_t n_dropped = 0;            ///< rows dropped for a missing value in a variable the model uses
  std::vector<FactorCoding> factors;    ///< codings of the factors in the fixed and random-effects terms
  /// Prior weights (lme4's `weights =`): row i's residual variance is σ²/w_i. Empty: all 1.
  std::vector<double> weights;
  std::string weights_column;           ///< the column they came from ("" for none)
  /// A known part of the linear predictor with coefficient 1 (lme4's `offset =`): the model is
  /// y = offset + Xβ + Zb + ε. Empty: none.
  std::vector<double> offset;
  std::string offset_column;            ///< the column it came from ("" for none)

  std::size_t n() const { return y.size(); }
  std::size_t p() const { return fixed_names.size(); }
};

/// Columns of the table that enter the model outside the formula, as lme4's `weights =` and
/// `offset =` arguments. Rows with a missing value in either are dropped like any other.
struct FrameOptions {
  std::string weights;  ///< column of prior weights (positive numbers); "" for none
  std::string offset;   ///< column added to the linear predictor with coefficient 1; "" for none
};

/// Builds the model matrices. Throws lmm::Error for a variable not in the data (listing the
/// columns), a non-numeric response, infinite values (naming column and row), no rows left after
/// dropping missing values, a formula without random-effects terms, a grouping factor with fewer
/// than 2 levels, or more random effects than observations allow.
/// Also throws for a weight that is not a positive finite number (naming the row).
ModelFrame build_model_frame(const DataFrame& data, const Formula& formula, const FrameOptions& options = {});

struct NewDataOptions {
  /// Code the grouping factors (refs); false for population-level use, where the grouping columns
  /// need not be in the data.
  bool random_effects = true;
  bool response = false;  ///< also evaluate the response (then rows missing it are left out)
};

/// New rows coded exactly as `fitted` coded its data: X with the fitted columns (same names, the
/// fit's factor levels and treatment contrasts, the same I()/log()/factor() expressions; aliased
/// columns left out), and for each random-effects term, in the fitted order, the z values and refs
/// into the fitted term's levels, -1 for a level the fit did not see or a missing grouping value.
/// Rows with a missing value in a predictor are left out (`rows` lists the kept ones). Uses only
/// `fitted`'s formula, fixed_names, aliased, factors and its terms' group, names and levels, so a
/// frame restored from a saved model will do. Throws lmm::Error for a variable not in `data` and for
/// a categorical value the fit did not see (naming the value, the row and the fitted levels).
ModelFrame model_frame_for_new_data(const ModelFrame& fitted, const DataFrame& data,
                                    const NewDataOptions& options = {});

}  // namespace lmm
