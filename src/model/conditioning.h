// Numerical health of a model before its numbers are shown: how many digits the fixed effects can
// have, and predictors whose distance from 0 makes the fit ill-conditioned. Not a public header.
#pragma once
#include <string>
#include <vector>

#include "model/model_impl.h"

namespace lmm::detail {

struct Conditioning {
  /// 2-norm condition number of X with its columns scaled to unit length (NaN when p = 0). The
  /// engine factors X'X, whose condition number is its square, so the fixed effects keep about
  /// 16 - 2 log10(kappa) significant digits.
  double kappa_x = 0;
  std::vector<std::string> warnings;  ///< one line each, with what to do
};

/// Kappa above which a warning is given (fewer than about 6 reliable digits) ...
inline constexpr double kKappaWarn = 1e5;
/// ... and above which the estimates are refused (fewer than about 1).
inline constexpr double kKappaRefuse = 3e7;
/// |mean| / SD of a random-effects slope variable (in a term with an intercept) above which
/// centering is advised: from a ratio of about 15, BOBYQA (and lme4) have been seen to stop at a
/// boundary point far from the optimum (tests/numerical_test.cpp).
inline constexpr double kSlopeOffsetWarn = 10;

/// Throws lmm::Error when kappa_x exceeds kKappaRefuse.
Conditioning assess_conditioning(const LinearMixedModel::Impl& m);

}  // namespace lmm::detail
