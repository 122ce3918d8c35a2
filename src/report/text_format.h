// Numbers and p-values as R prints them, shared by the text tables of the summary, the inference
// section, anova, compare and emmeans (one copy of each rule).
#pragma once

#include <string>

namespace lmm::detail {

/// About `digits` significant digits, as R prints a column of numbers: fixed notation, scientific
/// from 1e15 up or below 10^sci_below; NA, Inf and -Inf for values that are not finite.
std::string r_number(double v, int digits = 4, int sci_below = -5);

/// Fixed decimals right-aligned in `width`; R's NA / Inf for values that are not finite (never "nan").
std::string r_fixed(double v, int decimals, int width = 0);

/// A p-value as lme4's tables print it: "< 2.2e-16" below that, else 4 significant digits;
/// `missing` for NaN.
std::string r_pvalue(double p, const char* missing = "NA");

/// R's significance stars for a p-value (printCoefmat's legend); "" when not finite.
std::string signif_stars(double p);

}  // namespace lmm::detail
