// Numerical health of a model before its numbers are shown: how many digits the fixed effects can
// have, and predictors whose distance from 0 makes the fit ill-conditioned. Not a public header.
#pragma once
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/formula.h"
#include "model/model_impl.h"

namespace lmm::detail {

struct Conditioning {
  /// 2-norm condition number of X with its columns scaled to unit length (NaN when p = 0). The
  /// engine factors X'X, whose condition number is its square, so standard errors, variances and
  /// the likelihood keep about 16 - 2 log10(kappa) significant digits (the estimates of beta keep
  /// more: A is built from y's least-squares residual).
  double kappa_x = 0;
  std::vector<std::string> warnings;  ///< one line each, with what to do
};

/// Kappa above which a warning is given (fewer than about 6 reliable digits) ...
inline constexpr double kKappaWarn = 1e5;
/// ... and above which the estimates are refused (fewer than about 1).
inline constexpr double kKappaRefuse = 3e7;
/// |mean| / SD of a random-effects slope variable (in a term with an intercept) above which
/// centering is advised. The optimizer's conditioned coordinates (ThetaMap) find the optimum at any
/// ratio, but the blocks of A lose digits: with time + 1e4 (ratio ~4e3) in (time | g) sigma moved
/// by 5e-6 relative, with time + 1e6 (ratio ~4e5) by 2e-3 (tests/numerical_test.cpp).
inline constexpr double kSlopeOffsetWarn = 1000;

/// Warnings about the data the formula uses: a predictor read as categorical whose values are
/// numbers written with decimal commas or digit-group separators (it would silently become a
/// factor with one coefficient per distinct value).
std::vector<std::string> data_warnings(const DataFrame& data, const Formula& formula);

/// The reader's notes on the columns the formula uses (missing codes, likely undeclared codes,
/// decimal commas), and hints: a numeric fixed predictor with 3 to 5 distinct integer values that
/// is constant within the first grouping factor (a code of categories?), a 0/1 response.
std::vector<std::string> data_hints(const DataFrame& data, const Formula& formula);

/// Throws lmm::Error when kappa_x exceeds kKappaRefuse.
Conditioning assess_conditioning(const detail::ModelState& m);

}  // namespace lmm::detail
