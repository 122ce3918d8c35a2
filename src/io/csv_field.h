// Writing CSV cells: RFC 4180 quoting only where needed, numbers to 17 digits with NA for
// non-finite values. Not a public header (the residuals file and `lmm fit --stream` share it).
#pragma once
#include <cmath>
#include <fmt/format.h>
#include <string>

namespace lmm::detail {

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

inline std::string csv_number(double v) { return std::isfinite(v) ? fmt::format("{:.17g}", v) : "NA"; }

}  // namespace lmm::detail
