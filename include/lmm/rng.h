// The one random number generator of lmm: xoshiro256** (Blackman & Vigna 2021, ACM Trans. Math.
// Softw. 47(4)) seeded through splitmix64 from a (seed, stream) pair, with our own transforms to
// uniform and normal numbers (not std::uniform_real_distribution / std::normal_distribution, which
// are implementation-defined), so a seed gives the same numbers on every platform and standard
// library. Different streams of one seed are independent: a parallel computation gives each unit
// of work (a bootstrap replicate, a person) its own Rng(seed, index), and its result does not
// depend on the number of threads.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lmm {

class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0);
  /// 64 random bits.
  std::uint64_t next();
  /// Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform on (0, 1): the midpoints of the 2^53 cells of uniform().
  double uniform_open() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  /// Uniform integer in [0, n), n ≥ 1 (Lemire's multiply-and-reject, no modulo bias).
  std::uint64_t below(std::uint64_t n);
  /// Standard normal by Marsaglia's polar method (Marsaglia & Bray 1964): needs only log and sqrt.
  double normal();

 private:
  std::uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace lmm
