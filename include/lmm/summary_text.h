// What the text summary says beyond the fit itself: lme4's "Data:" line and the centering applied
// to the data before fitting.
#pragma once
#include <string>
#include <vector>

#include "lmm/fit.h"
#include "lmm/reshape.h"

namespace lmm {

struct SummaryContext {
  std::string data_name;               ///< printed as "   Data: NAME" under the formula ("" none)
  std::vector<std::string> centering;  ///< one line each, from describe_centering()
};

/// format_summary() with the context's lines under the formula.
std::string format_summary(const FitResult& result, const SummaryContext& context);

/// A computed centering in words: "time: minus 2, the value given (time = 0 is time = 2)",
/// "SES: minus its mean 0.000143 (SES = 0 is the mean)", "SES by School: SES_between = the
/// School's mean of SES (160 School levels), SES_within = SES - SES_between".
std::string describe_centering(const Centering& centering);

}  // namespace lmm
