// Internal helpers shared by the formula parser and the model frame: R's way of printing numbers
// and names, so that labels and level names match what R and lme4 show.
#pragma once
#include <string>
#include <string_view>

namespace lmm::detail {

/// A double as R's as.character()/deparse() print it: 15 significant digits, the shorter of fixed
/// and scientific notation (fixed on a tie): 2, 0.5, 1e-04, 1e+05, 123456, 0.3 (for 0.1 + 0.2).
std::string format_r_number(double x);

/// True if R can use `name` without backquotes (`x`, `.a`, `a_b.c`; not `2x`, `my var`, `if`).
bool is_syntactic_name(std::string_view name);

/// `name`, or `` `name` `` when it is not syntactic, as R's deparse writes it.
std::string quote_name(std::string_view name);

}  // namespace lmm::detail
