#include "lmm/simulate.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include "lmm/error.h"
#include "lmm/table_io.h"

namespace lmm {

double Rng::uniform_open() {
  for (;;) {
    const double u = uniform();
    if (u > 0) return u;
  }
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Marsaglia's polar method: a uniform point in the unit disc gives two independent normals.
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

namespace {

void check_finite(double v, const char* what) {
  if (!std::isfinite(v)) throw Error(fmt::format("--{} must be a finite number", what));
}

}  // namespace

DataFrame simulate_growth(const GrowthDesign& d) {
  if (d.persons < 2) throw Error(fmt::format("--persons must be at least 2 (got {})", d.persons));
  if (d.persons > 100'000'000)
    throw Error(fmt::format("--persons {} is too many to simulate", d.persons));
  if (d.waves.empty()) throw Error("--waves needs at least one time value, e.g. --waves 0,1,2,3,4");
  for (double w : d.waves) check_finite(w, "waves");
  if (std::set<double>(d.waves.begin(), d.waves.end()).size() != d.waves.size())
    throw Error("--waves has a repeated time value; each wave needs its own time");
  if (!std::is_sorted(d.waves.begin(), d.waves.end()))
    throw Error("--waves must be in increasing order (the first is the baseline)");
  check_finite(d.intercept, "intercept");
  check_finite(d.slope, "slope");
  check_finite(d.group_effect, "group-effect");
  if (!(d.sd_intercept >= 0) || !std::isfinite(d.sd_intercept))
    throw Error(fmt::format("--sd-intercept must be >= 0 (got {})", d.sd_intercept));
  if (!(d.sd_slope >= 0) || !std::isfinite(d.sd_slope))
    throw Error(fmt::format("--sd-slope must be >= 0 (got {})", d.sd_slope));
  if (!(d.cor >= -1 && d.cor <= 1))
    throw Error(fmt::format("--cor must be between -1 and 1 (got {})", d.cor));
  if (!(d.sigma > 0) || !std::isfinite(d.sigma))
    throw Error(fmt::format("--sigma must be > 0 (got {})", d.sigma));
  if (!(d.dropout >= 0 && d.dropout < 1))
    throw Error(fmt::format("--dropout must be a probability in [0, 1) (got {})", d.dropout));

  Rng rng(d.seed);
  const std::size_t n = d.persons;
  // Balanced allocation, shuffled (Fisher-Yates with our own uniform draws).
  std::vector<int> treated(n, 0);
  for (std::size_t i = 0; i < n / 2; ++i) treated[i] = 1;
  for (std::size_t i = n - 1; i > 0; --i) {
    const auto k = static_cast<std::size_t>(rng.uniform() * static_cast<double>(i + 1));
    std::swap(treated[i], treated[std::min(k, i)]);
  }
  const int width = static_cast<int>(std::to_string(n).size());
  const std::size_t T = d.waves.size();
  std::vector<std::optional<std::string>> id, group;
  std::vector<double> time, y;
  id.reserve(n * T);
  group.reserve(n * T);
  time.reserve(n * T);
  y.reserve(n * T);
  const double rho_c = std::sqrt(std::max(0.0, 1 - d.cor * d.cor));
  for (std::size_t i = 0; i < n; ++i) {
    const double z1 = rng.normal(), z2 = rng.normal();
    const double u0 = d.sd_intercept * z1;
    const double u1 = d.sd_slope * (d.cor * z1 + rho_c * z2);
    const std::string pid = fmt::format("P{:0{}}", i + 1, std::max(width, 3));
    const char* arm = treated[i] ? "treatment" : "control";
    const double slope = d.slope + (treated[i] ? d.group_effect : 0.0) + u1;
    bool in_study = true;
    for (std::size_t t = 0; t < T; ++t) {
      // The error and the dropout draw are made for every wave, so that the values of the persons
      // who stay do not depend on who left.
      const double e = rng.normal();
      const double leave = rng.uniform();
      if (t > 0 && in_study && leave < d.dropout) in_study = false;
      id.emplace_back(pid);
      group.emplace_back(arm);
      time.push_back(d.waves[t]);
      y.push_back(in_study ? d.intercept + u0 + slope * d.waves[t] + d.sigma * e
                           : std::numeric_limits<double>::quiet_NaN());
    }
  }
  DataFrame out;
  out.nrows = n * T;
  out.source = "simulated data";
  out.columns.push_back(categorical_column("id", id));
  out.columns.push_back(numeric_column("time", std::move(time)));
  out.columns.push_back(categorical_column("group", group));
  out.columns.push_back(numeric_column("y", std::move(y)));
  return out;
}

std::vector<std::vector<double>> simulate_responses(const SimulationDesign& design,
                                                    const SimulationParameters& params,
                                                    std::size_t nsim, Rng& rng) {
  const std::size_t n = design.n;
  const std::size_t p = params.beta.size();
  if (design.X.size() != n * p) throw std::invalid_argument("simulate_responses: X is not n x p");
  if (params.lambda.size() != design.re.size())
    throw std::invalid_argument("simulate_responses: one λ per random-effects term is needed");
  std::vector<double> xb = design.offset.empty() ? std::vector<double>(n, 0.0) : design.offset;
  for (std::size_t c = 0; c < p; ++c)
    for (std::size_t i = 0; i < n; ++i) xb[i] += design.X[c * n + i] * params.beta[c];
  std::vector<std::vector<double>> out(nsim);
  std::vector<double> u, b;
  for (std::size_t s = 0; s < nsim; ++s) {
    std::vector<double> y = xb;
    for (std::size_t j = 0; j < design.re.size(); ++j) {
      const ReTermData& t = design.re[j];
      const auto q = static_cast<std::size_t>(t.q());
      const std::vector<double>& lam = params.lambda[j];
      const std::size_t L = t.nlevels();
      b.assign(L * q, 0.0);
      u.resize(q);
      for (std::size_t l = 0; l < L; ++l) {
        for (std::size_t a = 0; a < q; ++a) u[a] = rng.normal();
        for (std::size_t r = 0; r < q; ++r) {
          double v = 0;
          for (std::size_t c = 0; c <= r; ++c) v += lam[c * q + r] * u[c];
          b[l * q + r] = params.sigma * v;
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t l = t.refs[i];
        if (l < 0) continue;
        for (std::size_t a = 0; a < q; ++a)
          y[i] += t.z[i * q + a] * b[static_cast<std::size_t>(l) * q + a];
      }
    }
    for (std::size_t i = 0; i < n; ++i)
      y[i] += (design.weights.empty() ? params.sigma : params.sigma / std::sqrt(design.weights[i])) * rng.normal();
    out[s] = std::move(y);
  }
  return out;
}

std::vector<std::vector<double>> simulate_responses(const LinearMixedModel& model, std::size_t nsim,
                                                    Rng& rng) {
  const ModelFrame& f = model.frame();
  SimulationDesign d;
  d.n = f.n();
  d.X = f.X;
  d.re = f.re;
  d.offset = f.offset;
  d.weights = f.weights;
  SimulationParameters p;
  p.beta = model.beta();
  p.lambda = model.lambda();
  p.sigma = model.sigma();
  return simulate_responses(d, p, nsim, rng);
}

}  // namespace lmm
