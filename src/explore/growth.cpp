// The explorer's growth model: simulation and true variance partition.
//
// A stand-in written for the explorer (issue 5) while `lmm simulate` (issue 4) lands; the lead may
// keep one implementation at merge.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numbers>

#include "lmm/error.h"
#include "lmm/explore.h"

namespace lmm::explore {

namespace {

// splitmix64 (Steele, Lea & Flood 2014): the same stream on every platform.
struct SplitMix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }  // in (0, 1)
  // Box-Muller, one draw per call (the second is discarded so the stream's use is simple to follow).
  double normal() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  }
};

void check(bool ok, const std::string& what) {
  if (!ok) throw Error(what);
}

}  // namespace

void validate(const GrowthParams& g) {
  check(std::isfinite(g.intercept) && std::isfinite(g.slope), "the average intercept and slope must be finite numbers");
  check(std::isfinite(g.sd_intercept) && g.sd_intercept >= 0, "the SD of the random intercept must be >= 0");
  check(std::isfinite(g.sd_slope) && g.sd_slope >= 0, "the SD of the random slope must be >= 0");
  check(std::isfinite(g.cor) && std::abs(g.cor) <= 1, "the correlation of intercept and slope must be in [-1, 1]");
  check(std::isfinite(g.sigma) && g.sigma > 0, "the residual SD must be > 0");
  check(g.persons >= 2 && g.persons <= 5000, "the number of persons must be between 2 and 5000");
  check(g.times.size() >= 2 && g.times.size() <= 20, "the number of waves must be between 2 and 20");
  for (std::size_t k = 0; k < g.times.size(); ++k) {
    check(std::isfinite(g.times[k]), "the wave times must be finite numbers");
    for (std::size_t m = 0; m < k; ++m) check(g.times[m] != g.times[k], "the wave times must be distinct");
  }
}

GrowthSample simulate_growth(const GrowthParams& g) {
  validate(g);
  GrowthSample s;
  const std::size_t W = g.times.size();
  const int width = std::max(3, static_cast<int>(std::to_string(g.persons).size()));
  s.wave_mean.assign(W, 0.0);
  for (std::size_t i = 0; i < g.persons; ++i) {
    SplitMix rng{g.seed * 0x2545F4914F6CDD1DULL + i};
    rng.next();
    const double z1 = rng.normal(), z2 = rng.normal();
    const double b0 = g.sd_intercept * z1;
    const double b1 = g.sd_slope * (g.cor * z1 + std::sqrt(std::max(0.0, 1 - g.cor * g.cor)) * z2);
    s.ids.push_back(fmt::format("P{:0{}}", i + 1, width));
    s.b0.push_back(b0);
    s.b1.push_back(b1);
    for (std::size_t k = 0; k < W; ++k) {
      const double t = g.times[k];
      const double y = g.intercept + b0 + (g.slope + b1) * t + g.sigma * rng.normal();
      s.person.push_back(static_cast<std::int32_t>(i));
      s.time.push_back(t);
      s.y.push_back(y);
      s.wave_mean[k] += y / static_cast<double>(g.persons);
    }
  }
  return s;
}

DataFrame to_table(const GrowthSample& s) {
  DataFrame df;
  df.source = "simulated";
  df.nrows = s.y.size();
  Column id;
  id.name = "id";
  id.type = Column::Type::Categorical;
  id.levels = s.ids;  // zero-padded, so byte order is person order
  id.codes = s.person;
  Column time;
  time.name = "time";
  time.numbers = s.time;
  Column y;
  y.name = "y";
  y.numbers = s.y;
  df.columns = {std::move(id), std::move(time), std::move(y)};
  return df;
}

GrowthVariance growth_variance(const GrowthParams& g) {
  validate(g);
  GrowthVariance v;
  const double t00 = g.sd_intercept * g.sd_intercept, t11 = g.sd_slope * g.sd_slope;
  const double t01 = g.cor * g.sd_intercept * g.sd_slope, s2 = g.sigma * g.sigma;
  auto between = [&](double t) { return t00 + 2 * t * t01 + t * t * t11; };
  v.icc_baseline = t00 / (t00 + s2);
  double mean_between = 0;
  for (double t : g.times) mean_between += between(t) / static_cast<double>(g.times.size());
  v.icc_mean = mean_between / (mean_between + s2);
  const auto [lo, hi] = std::minmax_element(g.times.begin(), g.times.end());
  constexpr int kGrid = 41;
  for (int k = 0; k < kGrid; ++k) {
    const double t = *lo + (*hi - *lo) * k / (kGrid - 1);
    v.t.push_back(t);
    v.between.push_back(between(t));
    v.total.push_back(between(t) + s2);
    v.icc.push_back(between(t) / (between(t) + s2));
  }
  return v;
}

}  // namespace lmm::explore
