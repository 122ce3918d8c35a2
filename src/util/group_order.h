// Rows ordered by group, and within a group by a caller's order: a counting sort by group (rows of
// a group keep their order) and a stable sort of each group's rows only where they are out of order
// (longitudinal data usually list a person's rows in time order). The same order as a stable sort
// by (group, within), in O(n) for ordered groups instead of O(n log n) comparisons.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace lmm::detail {

template <class Index, class Within>
std::vector<Index> order_by_group(const std::vector<std::int32_t>& group, Within within) {
  std::int32_t ng = 0;
  for (std::int32_t g : group) ng = std::max(ng, g + 1);
  std::vector<std::size_t> start(static_cast<std::size_t>(ng) + 1, 0);
  for (std::int32_t g : group) ++start[static_cast<std::size_t>(g) + 1];
  for (std::size_t g = 0; g < static_cast<std::size_t>(ng); ++g) start[g + 1] += start[g];
  std::vector<Index> order(group.size());
  std::vector<std::size_t> next(start.begin(), start.end() - 1);
  for (std::size_t i = 0; i < group.size(); ++i) order[next[static_cast<std::size_t>(group[i])]++] = static_cast<Index>(i);
  for (std::size_t g = 0; g < static_cast<std::size_t>(ng); ++g) {
    const auto b = order.begin() + static_cast<std::ptrdiff_t>(start[g]);
    const auto e = order.begin() + static_cast<std::ptrdiff_t>(start[g + 1]);
    if (!std::is_sorted(b, e, within)) std::stable_sort(b, e, within);
  }
  return order;
}

}  // namespace lmm::detail
