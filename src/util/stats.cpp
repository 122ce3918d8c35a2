#include "util/stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace lmm::detail {

namespace {

// Type 7 interpolates between the order statistics at floor(h) and floor(h) + 1, h = (n - 1) prob;
// `at(k)` returns the k-th smallest value.
template <class At>
double interpolate7(std::size_t n, double prob, At&& at) {
  const double h = (static_cast<double>(n) - 1) * prob;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, n - 1);
  const double a = at(lo), b = at(hi);
  return a + (h - static_cast<double>(lo)) * (b - a);
}

}  // namespace

double quantile7(const std::vector<double>& sorted, double prob) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  return interpolate7(sorted.size(), prob, [&](std::size_t k) { return sorted[k]; });
}

std::vector<double> quantiles7(std::vector<double>& v, const std::vector<double>& probs) {
  if (v.empty()) return std::vector<double>(probs.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<double> out;
  auto first = v.begin();
  std::size_t placed = 0;  // v[0 .. placed) hold the smallest values, v[placed - 1] in its place
  auto at = [&](std::size_t k) {
    if (k + 1 == v.size() && k > placed) {
      // The largest: a scan. Ascending probabilities ask for nothing below it afterwards.
      std::iter_swap(v.end() - 1, std::max_element(first, v.end()));
      first = v.end();
      placed = v.size();
    } else if (k == placed) {
      // The next order statistic is the smallest of the rest: a scan, not a selection.
      std::iter_swap(first, std::min_element(first, v.end()));
      first = v.begin() + static_cast<std::ptrdiff_t>(k) + 1;
      placed = k + 1;
    } else if (k > placed) {
      std::nth_element(first, v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
      first = v.begin() + static_cast<std::ptrdiff_t>(k) + 1;
      placed = k + 1;
    }
    return v[k];
  };
  for (double prob : probs) out.push_back(interpolate7(v.size(), prob, at));
  return out;
}

}  // namespace lmm::detail
