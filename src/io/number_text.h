// Numbers as text: the one number parser (the CSV reader, reshaping, option values), and text that is
// a number to a person but not to lmm: decimal commas and thousands separators. The reader keeps
// such columns categorical (as R's read.csv does) unless told the decimal mark is a comma.
#pragma once
#include <string>
#include <string_view>

#include "lmm/data.h"

namespace lmm::detail {

/// Parses a whole trimmed field as a number: what std::from_chars accepts (general format; also
/// inf, infinity and nan in any case), with an optional leading '+'. Out-of-range values are
/// ±infinity when too large (1e400) and ±0 when too small (1e-400), as R's as.numeric. False for
/// empty text and anything else.
bool parse_number(std::string_view t, double& out);

/// The same with ',' as the decimal mark ("3,5", "-0,25"); text with a '.' is not a number.
bool parse_decimal_comma(std::string_view t, double& out);

/// True when `t` (a number's trimmed text) is the plain decimal R writes for its value, so the
/// number keeps all the text says: "12", "-3", "0.5", "2.25"; false for "01", "3.0", "+1", "1e3",
/// ".5", "-0", "inf", and integers of more than 15 digits (which doubles cannot all tell apart).
bool is_plain_decimal(std::string_view t);

/// True for a number written with a decimal comma or digit-group separators: "1,5", "-0,25",
/// "1,000", "12,345.6", "1.000,5", "1 000", "1'000".
bool is_foreign_number(std::string_view s);

/// For a categorical column whose levels are (at least 90%) such numbers: text to append to a
/// message, starting with "; ", saying so and what to do. Otherwise "".
std::string foreign_number_hint(const Column& c);

/// For a categorical column that is mostly numbers with a few text cells (at least 90% numbers, or
/// all but at most 5 and three times as many numbers): a one-line error naming the column, the
/// first text cell's row and text, and how to declare it missing. Otherwise "". `source` names the
/// file.
std::string mixed_column_problem(const Column& c, const std::string& source);

}  // namespace lmm::detail
