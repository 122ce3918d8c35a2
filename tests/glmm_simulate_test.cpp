// Simulating from a saved GLMM (lmm simulate --model): the moments of many draws against the
// model's marginal moments, computed independently of the simulation code (closed forms for the
// Poisson log link, numerical integration for the binomial logit), and the samplers' own moments.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>

#include "glmm/glmm_simulate.h"
#include "lmm/data.h"
#include "lmm/glmm.h"
#include "lmm/predict.h"
#include "lmm/table_io.h"

namespace {

const std::string kDir = std::string(LMM_TEST_DATA) + "/glmm/data/";

struct Draws {
  std::vector<std::vector<double>> sims;  // per simulation, per row
  lmm::GlmmFitted fit;
  lmm::DataFrame data;
};

Draws simulate(const std::string& file, const std::string& formula, lmm::GlmmFamily family, std::size_t nsim) {
  Draws d;
  d.data = lmm::read_table(kDir + file);
  lmm::GlmmOptions o;
  o.family = family;
  d.fit = lmm::fit_glmm(d.data, formula, o);
  lmm::Rng rng(11);
  const lmm::DataFrame out = lmm::simulate_from_saved(lmm::glmm_snapshot(d.fit), d.data, nsim, rng);
  for (std::size_t k = 0; k < nsim; ++k) d.sims.push_back(out.at("sim_" + std::to_string(k + 1)).numbers);
  return d;
}

// The mean over simulations of Σ_rows y, its standard error, and the rows' pooled variance.
struct Moments {
  double mean_sum = 0, se_sum = 0, pooled_var = 0;
};

Moments moments(const std::vector<std::vector<double>>& sims) {
  Moments m;
  const double ns = static_cast<double>(sims.size());
  const std::size_t n = sims[0].size();
  double ss = 0;
  for (const auto& s : sims) {
    double t = 0;
    for (double y : s) t += y;
    m.mean_sum += t / ns;
    ss += t * t / ns;
  }
  m.se_sum = std::sqrt((ss - m.mean_sum * m.mean_sum) / ns);
  for (std::size_t i = 0; i < n; ++i) {
    double a = 0, b = 0;
    for (const auto& s : sims) a += s[i] / ns, b += s[i] * s[i] / ns;
    m.pooled_var += b - a * a;
  }
  return m;
}

// Poisson, log link, one random intercept of SD σ: E y = exp(η + σ²/2) = μ and
// Var y = μ + μ²(exp(σ²) − 1), η = xβ + offset.
TEST(GlmmSimulate, PoissonMatchesMarginalMoments) {
  const Draws d = simulate("exposure_counts.csv", "count ~ x + offset(log_exposure) + (1 | site)",
                           lmm::GlmmFamily::Poisson, 400);
  const auto& r = d.fit.result;
  const double s2 = r.theta[0] * r.theta[0];
  const auto& x = d.data.at("x").numbers;
  const auto& off = d.data.at("log_exposure").numbers;
  double mean = 0, var = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double mu = std::exp(r.beta[0] + r.beta[1] * x[i] + off[i] + s2 / 2);
    mean += mu;
    var += mu + mu * mu * std::expm1(s2);
  }
  const Moments m = moments(d.sims);
  EXPECT_NEAR(m.mean_sum, mean, 4 * m.se_sum);
  EXPECT_NEAR(m.pooled_var / var, 1.0, 0.08);
}

// Binomial cbind(successes, failures), logit, one random intercept: E k = n ∫ logistic(η + σz) φ(z) dz.
TEST(GlmmSimulate, BinomialCountsMatchIntegratedMean) {
  const Draws d = simulate("cbpp.csv", "cbind(incidence, failures) ~ period + (1 | herd)", lmm::GlmmFamily::Binomial,
                           2000);
  const auto& r = d.fit.result;
  const auto& period = d.data.at("period");
  const auto& size = d.data.at("size").numbers;
  double mean = 0;
  for (std::size_t i = 0; i < size.size(); ++i) {
    const int lev = period.codes[i];  // P1 is the reference level
    const double eta = r.beta[0] + (lev > 0 ? r.beta[static_cast<std::size_t>(lev)] : 0.0);
    double p = 0;
    for (double z = -10; z <= 10; z += 1e-3)
      p += 1e-3 * std::exp(-z * z / 2) / std::sqrt(2 * std::numbers::pi) / (1 + std::exp(-(eta + r.theta[0] * z)));
    mean += size[i] * p;
  }
  const Moments m = moments(d.sims);
  EXPECT_NEAR(m.mean_sum, mean, 4 * m.se_sum);
  for (const auto& s : d.sims)
    for (std::size_t i = 0; i < s.size(); ++i) ASSERT_TRUE(s[i] >= 0 && s[i] <= size[i] && s[i] == std::floor(s[i]));
}

// The samplers: mean and variance of Poisson (both algorithms) and binomial draws.
TEST(GlmmSimulate, SamplersHaveTheirMoments) {
  lmm::Rng rng(5);
  for (double mean : {0.3, 4.0, 25.0, 400.0}) {
    double a = 0, b = 0;
    const int n = 40000;
    for (int k = 0; k < n; ++k) {
      const double y = lmm::glmm_detail::draw_poisson(mean, rng);
      a += y / n, b += y * y / n;
    }
    EXPECT_NEAR(a, mean, 4 * std::sqrt(mean / n)) << mean;
    EXPECT_NEAR((b - a * a) / mean, 1.0, 0.04) << mean;
  }
  double a = 0;
  for (int k = 0; k < 20000; ++k) a += lmm::glmm_detail::draw_binomial(12, 0.3, rng) / 20000;
  EXPECT_NEAR(a, 3.6, 4 * std::sqrt(12 * 0.3 * 0.7 / 20000));
}

}  // namespace
