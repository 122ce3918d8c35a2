// The state behind SufficientStatistics (lmm/statistics.h). Not a public header.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "formula/level_index.h"
#include "lmm/statistics.h"

namespace lmm {

namespace detail {

/// FNV-1a, 64 bits: the schema's fingerprint and the binary form's checksum.
struct Fnv {
  std::uint64_t value = 0xcbf29ce484222325ULL;
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) value = (value ^ b[i]) * 0x100000001b3ULL;
  }
  void u64(std::uint64_t v) { bytes(&v, sizeof v); }
  void num(double v) { bytes(&v, sizeof v); }
  void text(std::string_view s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  void texts(const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) text(s);
  }
};

}  // namespace detail

struct SufficientStatistics::Impl {
  explicit Impl(std::shared_ptr<const StatisticsSchema> schema);
  std::shared_ptr<const StatisticsSchema> schema;
  std::size_t p = 0;
  std::uint64_t nobs = 0, n_dropped = 0;
  std::vector<double> akk;   // [X y]'[X y], (p+1)^2 column-major, lower triangle filled
  std::vector<double> sumx;  // column sums of X
  struct Term {
    std::size_t q = 0, nlev = 0;
    std::vector<double> diag;  // Z_k'Z_k: q x q per level, column-major, level after level
    std::vector<double> xz;    // [X y]'Z_k: (p+1) x q per level, column-major, level after level
  };
  std::vector<Term> terms;  // in the schema's (lme4's) order of terms
  // Z_i'Z_k for i > k: per pair of levels met (key: level_i << 32 | level_k) a q_i x q_k block.
  struct Cross {
    std::size_t i = 0, k = 0;
    std::unordered_map<std::uint64_t, std::size_t> index;  // key -> offset in values
    std::vector<std::uint64_t> keys;                       // in order of first meeting
    std::vector<double> values;
    double* at(std::uint64_t key, std::size_t width);
  };
  std::vector<Cross> cross;  // pairs (1,0), (2,0), (2,1), ...
  // The schema's level lookups, made at the first accumulate() (views of the schema's levels).
  std::shared_ptr<const detail::LevelIndex> index;

  void add_row(const ModelFrame& f, std::size_t i, std::vector<double>& xy);
  bool usable(const ModelFrame& f, const DataFrame& chunk, std::size_t i) const;
  std::string serialize() const;
  void deserialize(std::string_view bytes);
};

}  // namespace lmm
