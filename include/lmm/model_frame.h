// From a table and a formula to model matrices: y, X (fixed effects) and the random-effects terms.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/formula.h"
#include "lmm/residual.h"

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

/// Contrasts for a factor, as R's contr.treatment, contr.sum, contr.helmert and contr.poly.
enum class Contrasts { Treatment, Sum, Helmert, Poly };

/// "contr.treatment", "contr.sum", ...
std::string contrasts_name(Contrasts c);
/// From "treatment", "sum", "helmert", "poly" or R's names "contr.sum", ...; throws lmm::Error.
Contrasts parse_contrasts(const std::string& name);

/// A contrast matrix: `levels` rows, `columns` columns, column-major, as R's contr.*(levels), and
/// the suffixes R appends to the factor's label to name the columns: the levels for treatment
/// contrasts ("b", "c"), "1", "2", ... for sum and Helmert contrasts, ".L", ".Q", ".C", "^4", ...
/// for polynomial ones.
struct CodingMatrix {
  std::size_t levels = 0, columns = 0;
  std::vector<double> values;
  std::vector<std::string> suffixes;
  double operator()(std::size_t level, std::size_t column) const {
    return values[column * levels + level];
  }
};

/// How the model frame coded one factor-valued expression of the formula (a categorical column,
/// `factor(x)`, `relevel(x, "b")`, `C(x, contr.sum)`): its levels in the rows used, in order, and
/// its contrasts. With the formula this is what coding new rows the same way needs
/// (model_frame_for_new_data).
struct FactorCoding {
  std::string expr;                 ///< the expression's label: "group", "factor(Diet)"
  std::vector<std::string> levels;  ///< the first is the reference level of treatment contrasts
  Contrasts contrasts = Contrasts::Treatment;
  bool ordered = false;  ///< an ordered factor (ordered(x), factor(x, ordered = TRUE))
  /// The contrast matrix of `contrasts` for `levels`.
  CodingMatrix matrix() const;
};

/// The coefficients a data-dependent numeric expression was computed with, so that new data are
/// transformed the same way (R's makepredictcall): scale(x) (center, scale) and poly(x, k) (R's
/// alpha and norm2 of the three-term recurrence).
struct TransformCoding {
  std::string expr;  ///< "scale(x)", "poly(x, 2)"
  double center = 0, scale = 1;
  std::vector<double> alpha, norm2;
};

/// What a column of X codes for one variable of its term.
struct ColumnPart {
  enum class Kind {
    Numeric,    ///< the variable's value (index: the column of poly(x, k), else 0)
    Contrast,   ///< a factor by its contrasts (index: the contrast column)
    Indicator,  ///< a factor by the indicator of one level (index: the level)
  };
  std::string expr;  ///< the variable's label, as in Term::factors: "time", "group", "poly(x, 2)"
  Kind kind = Kind::Numeric;
  std::size_t index = 0;
};

/// One column of X: its term (R's `assign`, less 1) and, per variable of the term, what it codes.
struct ColumnCoding {
  int term = -1;                  ///< index into formula.fixed; -1 for the intercept
  std::vector<ColumnPart> parts;  ///< in the term's order of variables; empty for the intercept
};

/// Choices for coding factors. Plain struct with defaults.
struct ModelFrameOptions {
  /// Reference level per factor, by column name ("Sex" -> "Male"): the level put first, as R's
  /// relevel(). Applies to the column used as a factor directly or as factor(Sex); every key must
  /// be a factor of the model and every level one of its levels.
  std::map<std::string, std::string> reference_levels;
  /// Contrasts of unordered factors (R's options(contrasts =)[1]); ordered factors get contr.poly
  /// and C(x, contr.sum) chooses per factor.
  Contrasts unordered_contrasts = Contrasts::Treatment;
  /// Columns of the table that enter the model outside the formula, as lme4's `weights =` and
  /// `offset =` arguments. Rows with a missing value in either are dropped like any other.
  std::string weights;  ///< column of prior weights (positive numbers); "" for none
  std::string offset;   ///< column added to the linear predictor with coefficient 1; "" for none
  /// Correlated or heteroscedastic residuals (lmm/residual.h); rows missing its columns are dropped.
  /// With a structure the formula may have no random-effects term (nlme's gls).
  ResidualOptions residual;
  /// lme4's check.nobs.vs.nlev / check.nobs.vs.nRE: refuse a grouping factor with as many levels
  /// (or a term with as many random effects) as rows. On for linear mixed models (such a term and
  /// the residual are not identifiable); glmer ignores them, so the GLMM code turns it off and an
  /// observation-level random effect (1 | obs) is allowed there.
  bool check_nobs_vs_nlev = true;
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
  std::vector<TransformCoding> transforms;  ///< coefficients of scale() and poly() (new data use them)
  std::vector<ColumnCoding> columns;    ///< per column of X (parallel to fixed_names): term and coding
  ResidualData residual;                ///< the residual structure per row (empty: independent)

  std::size_t n() const { return y.size(); }
  std::size_t p() const { return fixed_names.size(); }
};

/// Builds the model matrices. Throws lmm::Error for a variable not in the data (listing the
/// columns), a non-numeric response, infinite values (naming column and row), no rows left after
/// dropping missing values, a formula without random-effects terms, a grouping factor with fewer
/// than 2 levels, or more random effects than observations allow; and for a reference level or
/// factor in `options` that the model does not have, and for a weight that is not a positive
/// number (naming the row).
ModelFrame build_model_frame(const DataFrame& data, const Formula& formula,
                             const ModelFrameOptions& options = {});

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
/// `fitted`'s formula, fixed_names, aliased, factors, transforms and its terms' group, names and levels, so a
/// frame restored from a saved model will do. Throws lmm::Error for a variable not in `data` and for
/// a categorical value the fit did not see (naming the value, the row and the fitted levels).
ModelFrame model_frame_for_new_data(const ModelFrame& fitted, const DataFrame& data,
                                    const NewDataOptions& options = {});

}  // namespace lmm
