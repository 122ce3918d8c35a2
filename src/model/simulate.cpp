#include "lmm/simulate.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "lmm/error.h"
#include "lmm/table_io.h"
#include "model/model_access.h"
#include "model/residual.h"

namespace lmm {

namespace {

std::optional<DesignProblem> problem(const char* field, std::string rule) {
  return DesignProblem{field, std::move(rule)};
}

std::optional<DesignProblem> check_waves(const std::vector<double>& waves) {
  if (waves.empty()) return problem("waves", "needs at least one time value");
  for (double w : waves)
    if (!std::isfinite(w)) return problem("waves", "must be finite numbers");
  if (std::set<double>(waves.begin(), waves.end()).size() != waves.size())
    return problem("waves", "has a repeated time value; each wave needs its own time");
  if (!std::is_sorted(waves.begin(), waves.end()))
    return problem("waves", "must be in increasing order (the first is the baseline)");
  return std::nullopt;
}

// Balanced allocation to the arms, shuffled (Fisher-Yates) with stream 0 of the seed.
std::vector<unsigned char> allocate(std::size_t n, std::uint64_t seed) {
  Rng rng(seed, 0);
  std::vector<unsigned char> treated(n, 0);
  for (std::size_t i = 0; i < n / 2; ++i) treated[i] = 1;
  for (std::size_t i = n - 1; i > 0; --i) std::swap(treated[i], treated[rng.below(i + 1)]);
  return treated;
}

}  // namespace

std::optional<DesignProblem> check_growth_design(const GrowthDesign& d) {
  if (d.persons < 2) return problem("persons", fmt::format("must be at least 2 (got {})", d.persons));
  if (d.persons > 100'000'000)
    return problem("persons", fmt::format("must be at most 100000000 (got {})", d.persons));
  if (auto p = check_waves(d.waves)) return p;
  for (auto [v, field] : {std::pair{d.intercept, "intercept"}, std::pair{d.slope, "slope"},
                          std::pair{d.group_effect, "group_effect"}})
    if (!std::isfinite(v)) return problem(field, "must be a finite number");
  for (auto [v, field] :
       {std::pair{d.sd_intercept, "sd_intercept"}, std::pair{d.sd_slope, "sd_slope"}})
    if (!(v >= 0) || !std::isfinite(v)) return problem(field, fmt::format("must be >= 0 (got {})", v));
  if (!(d.cor >= -1 && d.cor <= 1))
    return problem("cor", fmt::format("must be between -1 and 1 (got {})", d.cor));
  if (!(d.sigma > 0) || !std::isfinite(d.sigma))
    return problem("sigma", fmt::format("must be > 0 (got {})", d.sigma));
  if (!(d.dropout >= 0 && d.dropout < 1))
    return problem("dropout", fmt::format("must be a probability in [0, 1) (got {})", d.dropout));
  return std::nullopt;
}

namespace {

// Persons [first, first + count) of the design: their rows and effects.
GrowthSimulation growth_block(const GrowthDesign& d, const std::vector<unsigned char>& treated, std::size_t first,
                              std::size_t count) {
  const std::size_t T = d.waves.size();
  const int width = std::max(static_cast<int>(std::to_string(d.persons).size()), 3);
  std::vector<std::optional<std::string>> id, group;
  std::vector<double> time, y;
  id.reserve(count * T);
  group.reserve(count * T);
  time.reserve(count * T);
  y.reserve(count * T);
  GrowthSimulation sim;
  sim.u0.resize(count);
  sim.u1.resize(count);
  const double rho_c = std::sqrt(std::max(0.0, 1 - d.cor * d.cor));
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t i = first + k;
    Rng rng(d.seed, i + 1);  // the person's own stream
    const double z1 = rng.normal(), z2 = rng.normal();
    const double u0 = sim.u0[k] = d.sd_intercept * z1;
    const double u1 = sim.u1[k] = d.sd_slope * (d.cor * z1 + rho_c * z2);
    const std::string pid = fmt::format("P{:0{}}", i + 1, width);
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
  DataFrame& out = sim.data;
  out.nrows = count * T;
  out.source = "simulated data";
  out.columns.push_back(categorical_column("id", id));
  out.columns.push_back(numeric_column("time", std::move(time)));
  out.columns.push_back(categorical_column("group", group));
  out.columns.push_back(numeric_column("y", std::move(y)));
  return sim;
}

}  // namespace

void simulate_growth_blocks(const GrowthDesign& d, std::size_t persons_per_block,
                            const std::function<void(GrowthSimulation&&)>& visit) {
  if (auto p = check_growth_design(d)) throw Error("GrowthDesign::" + p->field + " " + p->rule);
  if (persons_per_block == 0) throw Error("simulate_growth_blocks needs at least one person per block");
  const std::vector<unsigned char> treated = allocate(d.persons, d.seed);
  for (std::size_t first = 0; first < d.persons; first += persons_per_block)
    visit(growth_block(d, treated, first, std::min(persons_per_block, d.persons - first)));
}

GrowthSimulation simulate_growth_with_effects(const GrowthDesign& d) {
  GrowthSimulation sim;
  simulate_growth_blocks(d, std::max<std::size_t>(d.persons, 1), [&sim](GrowthSimulation&& s) { sim = std::move(s); });
  return sim;
}

DataFrame simulate_growth(const GrowthDesign& design) {
  return std::move(simulate_growth_with_effects(design).data);
}

namespace {

// ε ~ N(0, I) drawn row by row (as without a structure), then σ C ε on each block of rows.
void add_structured_residuals(const SimulationDesign& design, double sigma, Rng& rng, std::vector<double>& y) {
  std::vector<double> e(design.n);
  for (double& x : e) x = rng.normal();
  std::vector<char> in_block(design.n, 0);
  for (const auto& b : design.residual_blocks) {
    const std::size_t m = b.rows.size();
    for (std::size_t r = 0; r < m; ++r) {
      double v = 0;
      for (std::size_t c = 0; c <= r; ++c) v += b.chol[c * m + r] * e[b.rows[c]];
      y[b.rows[r]] += sigma * v;
      in_block[b.rows[r]] = 1;
    }
  }
  for (std::size_t i = 0; i < design.n; ++i)
    if (!in_block[i]) y[i] += sigma * e[i];
}

}  // namespace

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
    if (params.residuals && !design.residual_blocks.empty()) {
      add_structured_residuals(design, params.sigma, rng, y);
    } else {
      for (std::size_t i = 0; i < n && params.residuals; ++i)
        y[i] += (design.weights.empty() ? params.sigma : params.sigma / std::sqrt(design.weights[i])) * rng.normal();
    }
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
  if (const auto& m = detail::model_state(model); m.residual)
    d.residual_blocks = detail::residual_blocks(f, *m.residual, m.residual_eta.data());
  return simulate_responses(d, p, nsim, rng);
}

}  // namespace lmm
