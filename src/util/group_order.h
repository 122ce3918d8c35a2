// Rows ordered by group, and within a group by a caller's order: a counting sort by group (rows of
// a group keep their order) and a stable sort of each group's rows only where they are out of order
// (longitudinal data usually list a person's rows in time order). The same order as a stable sort
// by (group, within), in O(n) for ordered groups instead of O(n log n) comparisons.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace lmm::detail {

// Where each group's rows begin in an order by group: group g's rows are at [start[g], start[g+1])
// (ng + 1 offsets; every group id below ng).
inline std::vector<std::size_t> group_starts(const std::vector<std::int32_t>& group, std::size_t ng) {
  std::vector<std::size_t> start(ng + 1, 0);
  for (std::int32_t g : group) ++start[static_cast<std::size_t>(g) + 1];
  for (std::size_t g = 0; g < ng; ++g) start[g + 1] += start[g];
  return start;
}

// The counting sort's scatter: rows in group order, each group's rows in their original order.
template <class Index>
std::vector<Index> scatter_by_group(const std::vector<std::int32_t>& group, const std::vector<std::size_t>& start) {
  std::vector<Index> order(group.size());
  std::vector<std::size_t> next(start.begin(), start.end() - 1);
  for (std::size_t i = 0; i < group.size(); ++i) order[next[static_cast<std::size_t>(group[i])]++] = static_cast<Index>(i);
  return order;
}

template <class Index, class Within>
std::vector<Index> order_by_group(const std::vector<std::int32_t>& group, Within within) {
  std::int32_t ng = 0;
  for (std::int32_t g : group) ng = std::max(ng, g + 1);
  const std::vector<std::size_t> start = group_starts(group, static_cast<std::size_t>(ng));
  std::vector<Index> order = scatter_by_group<Index>(group, start);
  for (std::size_t g = 0; g < static_cast<std::size_t>(ng); ++g) {
    const auto b = order.begin() + static_cast<std::ptrdiff_t>(start[g]);
    const auto e = order.begin() + static_cast<std::ptrdiff_t>(start[g + 1]);
    if (!std::is_sorted(b, e, within)) std::stable_sort(b, e, within);
  }
  return order;
}

}  // namespace lmm::detail
