#include "io/number_text.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <limits>
#include <string>
#include <system_error>

#if __has_include(<fast_float/fast_float.h>)
#include <fast_float/fast_float.h>
#define LMM_HAVE_FAST_FLOAT 1
#else
#define LMM_HAVE_FAST_FLOAT 0
#endif

namespace lmm::detail {
namespace {

/// The value of a decimal number that std::from_chars found out of range: ±infinity when its
/// magnitude is too large, ±0 when too small. [b, e) is the whole number, an optional '-' first.
double out_of_range_value(const char* b, const char* e) {
  bool negative = b < e && *b == '-';
  if (negative) ++b;
  // Decimal exponent of the first significant digit of the mantissa.
  long long lead = 0;  // digits before the point, after leading zeros
  long long zeros_after_point = 0;
  bool seen_nonzero = false, after_point = false;
  for (; b < e && *b != 'e' && *b != 'E'; ++b) {
    if (*b == '.') {
      after_point = true;
    } else if (!after_point) {
      if (seen_nonzero || *b != '0') seen_nonzero = true, ++lead;
    } else if (!seen_nonzero) {
      if (*b == '0')
        ++zeros_after_point;
      else
        seen_nonzero = true;
    }
  }
  long long magnitude = lead > 0 ? lead - 1 : -(zeros_after_point + 1);
  long long exponent = 0;
  if (b < e) {  // at 'e'
    ++b;
    bool eneg = false;
    if (b < e && (*b == '-' || *b == '+')) eneg = *b++ == '-';
    for (; b < e; ++b) exponent = std::min<long long>(exponent * 10 + (*b - '0'), 1'000'000'000LL);
    if (eneg) exponent = -exponent;
  }
  double v = magnitude + exponent > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  return negative ? -v : v;
}

}  // namespace

bool parse_number(std::string_view t, double& out) {
  if (t.empty()) return false;
  const char* b = t.data();
  const char* e = b + t.size();
  if (*b == '+') {
    ++b;
    if (b == e || *b == '-') return false;
  }
#if LMM_HAVE_FAST_FLOAT
  // fast_float (Lemire's algorithm, inlined) parses a field in ~15% less time than the library's
  // from_chars; it gives ±inf or ±0 out of range, as out_of_range_value does. What it does not
  // take (e.g. nan(chars)) goes to std::from_chars below.
  {
    const auto r = fast_float::from_chars(b, e, out, fast_float::chars_format::general);
    if (r.ptr == e && r.ec == std::errc()) return true;
  }
#endif
  auto [p, ec] = std::from_chars(b, e, out, std::chars_format::general);
  if (p != e) return false;
  if (ec == std::errc()) return true;
  if (ec == std::errc::result_out_of_range) {
    out = out_of_range_value(b, e);
    return true;
  }
  return false;
}

bool parse_decimal_comma(std::string_view t, double& out) {
  const auto comma = t.find(',');
  if (t.find('.') != std::string_view::npos) return false;  // "1.234" or "1.234,5": digit groups
  if (comma == std::string_view::npos) return parse_number(t, out);
  if (t.find(',', comma + 1) != std::string_view::npos || t.size() > 64) return false;
  std::string s(t);
  s[comma] = '.';
  // Digits on both sides of the comma: "3,5", not ",5" or "3,".
  if (comma == 0 || comma + 1 == s.size() || !std::isdigit(static_cast<unsigned char>(s[comma - 1])) ||
      !std::isdigit(static_cast<unsigned char>(s[comma + 1])))
    return false;
  return parse_number(s, out);
}

bool is_plain_decimal(std::string_view t) {
  const bool negative = !t.empty() && t.front() == '-';
  if (negative) t.remove_prefix(1);
  const std::size_t point = t.find('.');
  const std::string_view whole = t.substr(0, point);
  if (whole.empty() || (whole.size() > 1 && whole.front() == '0') ||
      !std::all_of(whole.begin(), whole.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  if (point == std::string_view::npos) return whole.size() <= 15 && !(negative && whole == "0");
  const std::string_view frac = t.substr(point + 1);
  return !frac.empty() && frac.back() != '0' &&
         std::all_of(frac.begin(), frac.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_foreign_number(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (s.size() < 3 || !std::isdigit(static_cast<unsigned char>(s.front())) ||
      !std::isdigit(static_cast<unsigned char>(s.back())))
    return false;
  bool separator = false;
  for (char c : s) {
    if (c == ',' || c == '\'' || c == ' ')
      separator = true;
    else if (c != '.' && !std::isdigit(static_cast<unsigned char>(c)))
      return false;
  }
  return separator;
}

std::string foreign_number_hint(const Column& c) {
  if (c.is_numeric() || c.levels.empty()) return "";
  std::size_t foreign = 0;
  const std::string* example = nullptr;
  for (const std::string& l : c.levels)
    if (is_foreign_number(l)) {
      ++foreign;
      if (!example) example = &l;
    }
  if (!example || 10 * foreign < 9 * c.levels.size()) return "";
  return "; its values look like numbers written with a decimal comma or digit-group separators (e.g. '" + *example +
         "'), which lmm does not read as numbers: write them with '.' as the decimal mark and no separators";
}

std::string mixed_column_problem(const Column& c, const std::string& source) {
  const ColumnReadInfo& r = c.read;
  if (c.is_numeric() || r.first_text_row == 0) return "";
  const std::string where = " in data row " + std::to_string(r.first_text_row) + " (line " +
                            std::to_string(r.first_text_line) + " of " + (source.empty() ? "the data" : source) +
                            ", counting the header)";
  const std::string foreign = foreign_number_hint(c);
  if (!foreign.empty())
    return "column '" + c.name + "' is read as text, not numbers (e.g. '" + r.first_text + "'" + where + ")" + foreign;
  if (r.number_cells == 0 || r.text_cells == 0) return "";
  const bool mostly = r.number_cells >= 9 * r.text_cells || (r.text_cells <= 5 && r.number_cells >= 3 * r.text_cells);
  if (!mostly) return "";
  return "column '" + c.name + "' has numbers in " + std::to_string(r.number_cells) + " cells and text in " +
         std::to_string(r.text_cells) + ", the first '" + r.first_text + "'" + where +
         "; lmm does not turn a numeric column into a factor for a few text cells: if '" + r.first_text +
         "' marks a missing value, declare it with --na-values '" + r.first_text +
         "' (ReadOptions::na_values in the library), else correct the cell";
}

}  // namespace lmm::detail
