// Level lookups of a fitted frame's random-effects terms, made once for many chunks of new rows:
// the statistics (lmm/statistics.h) code millions of levels chunk by chunk, and building the
// lookup for every chunk cost more than the chunk itself. Not a public header.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lmm/model_frame.h"

namespace lmm::detail {

/// One term's lookup: binary search over its levels in byte order, 4 bytes a level (a hash map
/// of a million levels took 50 MB). It views the fitted frame's levels, which must outlive it.
class LevelLookup {
 public:
  explicit LevelLookup(const std::vector<std::string>& levels);
  /// The index of `label` among the levels, -1 if it is not one of them.
  std::int32_t find(std::string_view label) const;

 private:
  const std::vector<std::string>* levels_;
  std::vector<std::uint32_t> order_;  // the levels' indices in byte order; empty: they are in it already
};

struct LevelIndex {
  /// Per random-effects term of the fitted frame (its order).
  std::vector<LevelLookup> terms;
  explicit LevelIndex(const ModelFrame& fitted);
};

/// model_frame_for_new_data() with the lookups of `fitted`'s levels given (`index`, made from
/// `fitted`); the new frame's terms have their refs but not a copy of the levels.
ModelFrame model_frame_for_new_data(const ModelFrame& fitted, const DataFrame& data, const NewDataOptions& options,
                                    const LevelIndex& index);

}  // namespace lmm::detail
