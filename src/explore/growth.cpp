// The explorer's growth model: its parameter ranges and true variance partition. The simulation
// itself is the library's (lmm::simulate_growth_with_effects), without group effect or dropout.
#include <algorithm>
#include <cmath>

#include "lmm/error.h"
#include "lmm/explore.h"
#include "lmm/simulate.h"

namespace lmm::explore {

namespace {

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
    if (k > 0) check(g.times[k - 1] < g.times[k], "the wave times must be distinct and increasing");
  }
}

GrowthSample simulate_growth(const GrowthParams& g) {
  validate(g);
  GrowthDesign d;
  d.persons = g.persons;
  d.waves = g.times;
  d.intercept = g.intercept;
  d.slope = g.slope;
  d.sd_intercept = g.sd_intercept;
  d.sd_slope = g.sd_slope;
  d.cor = g.cor;
  d.sigma = g.sigma;
  d.seed = g.seed;
  GrowthSimulation sim = simulate_growth_with_effects(d);
  const Column& id = sim.data.at("id");
  GrowthSample s;
  s.ids = id.levels;  // zero-padded, so byte order is person order
  s.person = id.codes;
  s.time = sim.data.at("time").numbers;
  s.y = sim.data.at("y").numbers;
  s.b0 = std::move(sim.u0);
  s.b1 = std::move(sim.u1);
  const std::size_t W = g.times.size();
  s.wave_mean.assign(W, 0.0);
  for (std::size_t r = 0; r < s.y.size(); ++r)
    s.wave_mean[r % W] += s.y[r] / static_cast<double>(g.persons);
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
