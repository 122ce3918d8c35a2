#include "inference/internal.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lmm::inference {

MinimizeResult minimize(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x0,
                        const std::vector<double>& lower, const std::vector<double>& upper,
                        const std::vector<double>& initial_step, detail::NloptMethod method, double ftol_rel,
                        double xtol_abs, int max_evaluations) {
  MinimizeResult r;
  const std::size_t n = x0.size();
  if (n == 0) {
    r.x = x0;
    r.f = f(x0);
    r.converged = true;
    r.stop_reason = "no free parameters";
    return r;
  }
  for (std::size_t i = 0; i < n; ++i) x0[i] = std::clamp(x0[i], lower[i], upper[i]);
  detail::NloptSettings s;
  s.method = method;
  s.lower = lower;
  s.upper = upper;
  s.ftol_rel = ftol_rel;
  s.xtol_abs = xtol_abs;
  s.max_evaluations = max_evaluations;
  // The initial step must fit inside the box on at least one side of x0.
  s.initial_step = initial_step;
  for (std::size_t i = 0; i < n; ++i) {
    const double room = std::max(upper[i] - x0[i], x0[i] - lower[i]);
    if (std::isfinite(room) && room > 0) s.initial_step[i] = std::min(s.initial_step[i], 0.5 * room);
    if (!(s.initial_step[i] > 0)) s.initial_step[i] = 1e-3;
  }
  std::vector<double> x;
  const auto outcome = detail::nlopt_minimize(
      s,
      [&](const double* p, double*, bool&) {
        x.assign(p, p + n);
        ++r.evaluations;
        const double v = f(x);
        // BOBYQA's quadratic model cannot digest infinities.
        return std::isfinite(v) ? v : 1e300;
      },
      x0);
  r.converged = outcome.by_tolerance();
  r.stop_reason = outcome.max_evaluations_reached() ? "maximum number of evaluations reached"
                  : r.converged                     ? "tolerance reached"
                                                    : "NLopt status " + std::to_string(outcome.status);
  r.x = x0;
  r.f = f(x0);  // leaves any state behind f at the optimum
  return r;
}

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed, std::uint64_t stream) {
  // Mix the stream index into the seed through splitmix64 so that neighbouring (seed, stream)
  // pairs give unrelated states.
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

double Rng::uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u, v, s;
  do {
    u = 2 * uniform() - 1;
    v = 2 * uniform() - 1;
    s = u * u + v * v;
  } while (s >= 1 || s == 0);
  const double k = std::sqrt(-2 * std::log(s) / s);
  spare_ = v * k;
  has_spare_ = true;
  return u * k;
}

}  // namespace lmm::inference
