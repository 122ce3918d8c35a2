// Text that is a number to a person but not to lmm: decimal commas and thousands separators. The
// reader keeps such columns categorical (as R's read.csv does); these helpers let messages say why.
#pragma once
#include <string>
#include <string_view>

#include "lmm/data.h"

namespace lmm::detail {

/// True for a number written with a decimal comma or digit-group separators: "1,5", "-0,25",
/// "1,000", "12,345.6", "1.000,5", "1 000", "1'000".
bool is_foreign_number(std::string_view s);

/// For a categorical column whose levels are (at least 90%) such numbers: text to append to a
/// message, starting with "; ", saying so and what to do. Otherwise "".
std::string foreign_number_hint(const Column& c);

}  // namespace lmm::detail
