// Level lookups of a fitted frame's random-effects terms, made once for many chunks of new rows:
// the statistics (lmm/statistics.h) code millions of levels chunk by chunk, and building the
// lookup for every chunk cost more than the chunk itself. Not a public header.
#pragma once
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lmm/model_frame.h"

namespace lmm::detail {

struct LevelIndex {
  /// Per random-effects term of the fitted frame (its order): level label -> index. The keys view
  /// the fitted frame's levels, which must outlive the index.
  std::vector<std::unordered_map<std::string_view, std::int32_t>> terms;
  explicit LevelIndex(const ModelFrame& fitted);
};

/// model_frame_for_new_data() with the lookups of `fitted`'s levels given (`index`, made from
/// `fitted`); the new frame's terms have their refs but not a copy of the levels.
ModelFrame model_frame_for_new_data(const ModelFrame& fitted, const DataFrame& data, const NewDataOptions& options,
                                    const LevelIndex& index);

}  // namespace lmm::detail
