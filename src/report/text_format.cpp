#include "report/text_format.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace lmm::detail {

namespace {
const char* not_finite(double v) { return std::isnan(v) ? "NA" : (v > 0 ? "Inf" : "-Inf"); }
}  // namespace

std::string r_number(double v, int digits, int sci_below) {
  if (!std::isfinite(v)) return not_finite(v);
  if (v == 0) return "0";
  const int mag = static_cast<int>(std::floor(std::log10(std::abs(v))));
  if (mag >= 15 || mag < sci_below) return fmt::format("{:.{}e}", v, digits - 1);
  return fmt::format("{:.{}f}", v, std::max(0, digits - 1 - mag));
}

std::string r_fixed(double v, int decimals, int width) {
  if (!std::isfinite(v)) return fmt::format("{:>{}}", not_finite(v), width);
  return fmt::format("{:{}.{}f}", v, width, decimals);
}

std::string r_pvalue(double p, const char* missing) {
  if (std::isnan(p)) return missing;
  if (p < 2.2e-16) return "< 2.2e-16";
  return fmt::format("{:.4g}", p);
}

std::string signif_stars(double p) {
  if (!std::isfinite(p)) return "";
  return p < 0.001 ? "***" : p < 0.01 ? "**" : p < 0.05 ? "*" : p < 0.1 ? "." : "";
}

}  // namespace lmm::detail
