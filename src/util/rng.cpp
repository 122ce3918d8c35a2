#include "lmm/rng.h"

#include <cmath>

namespace lmm {

namespace {

// splitmix64 (Steele, Lea & Flood 2014): fills xoshiro's state from one 64-bit value.
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(std::uint64_t seed, std::uint64_t stream) {
  // The stream index is mixed into the seed through splitmix64, so that neighbouring (seed,
  // stream) pairs give unrelated states.
  std::uint64_t x = seed;
  std::uint64_t h = splitmix64(x) ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
  for (auto& s : s_) s = splitmix64(h);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::below(std::uint64_t n) {
  // Lemire (2019), "Fast random integer generation in an interval", ACM TOMACS 29(1).
  unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
  auto low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // A uniform point in the unit disc gives two independent normals.
  for (;;) {
    const double a = 2 * uniform() - 1;
    const double b = 2 * uniform() - 1;
    const double s = a * a + b * b;
    if (s >= 1 || s == 0) continue;
    const double f = std::sqrt(-2 * std::log(s) / s);
    spare_ = b * f;
    has_spare_ = true;
    return a * f;
  }
}

}  // namespace lmm
