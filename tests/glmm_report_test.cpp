// The GLMM report's plot data: arm::binned.resids' bins (with ties, against bins worked out by
// hand; without ties, against equal-count groups of the sorted fitted values computed here), and
// the fitted-probability plot's observed proportions and population curve against the data and β.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "lmm/glmm.h"
#include "lmm/glmm_report.h"
#include "lmm/table_io.h"

namespace {

const std::string kBinary = std::string(LMM_TEST_DATA) + "/glmm/data/binary_growth500.csv";

TEST(GlmmReport, BinnedResidualsWithTiesAsArm) {
  // n = 12: arm takes 10 classes, cut after sorted positions 1, 2, 3, 4, 6, ..., 10; the first
  // five cuts fall inside the six tied zeros and collapse to -Inf, leaving cuts at 0.5, ..., 4.5.
  const std::vector<double> x{0, 3, 0, 0, 5, 1, 0, 2, 0, 6, 4, 0};
  const std::vector<double> y{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const auto b = lmm::report::binned_residuals(x, y);
  ASSERT_EQ(b.n, (std::vector<std::size_t>{6, 1, 1, 1, 1, 2}));
  EXPECT_DOUBLE_EQ(b.y_mean[0], (1 + 3 + 4 + 7 + 9 + 12) / 6.0);
  EXPECT_DOUBLE_EQ(b.x_mean[5], 5.5);
  EXPECT_DOUBLE_EQ(b.y_mean[5], 7.5);
  EXPECT_DOUBLE_EQ(b.two_se[5], 2 * std::sqrt(12.5) / std::sqrt(2.0));  // sd(c(5, 10)) = √12.5
  EXPECT_TRUE(std::isnan(b.two_se[1]));                                 // one row: sd is NA in R
  EXPECT_DOUBLE_EQ(b.x_lo[5], 5);
  EXPECT_DOUBLE_EQ(b.x_hi[5], 6);
}

struct Fit {
  lmm::DataFrame data;
  lmm::GlmmFitted f;
};

const Fit& binary_fit() {
  static const Fit fit = [] {
    Fit r{lmm::read_table(kBinary), {}};
    r.f = lmm::fit_glmm(r.data, "y ~ time + (1 | id)");
    return r;
  }();
  return fit;
}

lmm::GlmmFitted poisson_fit(const lmm::DataFrame& data) {
  lmm::GlmmOptions o;
  o.family = lmm::GlmmFamily::Poisson;
  return lmm::fit_glmm(data, "count ~ x + offset(log_exposure) + (1 | site)", o);
}

const std::string kCounts = std::string(LMM_TEST_DATA) + "/glmm/data/exposure_counts.csv";

// Fitted counts with an offset and a continuous covariate are distinct, so arm's bins are the
// sorted rows [⌊nk/m⌋, ⌊n(k+1)/m⌋), m = ⌊√n⌋.
TEST(GlmmReport, BinnedResidualsAreEqualCountGroupsOfDistinctFittedValues) {
  const auto data = lmm::read_table(kCounts);
  const auto f = poisson_fit(data);
  const std::vector<double>& mu = f.result.fitted;
  const lmm::Column* y = data.find("count");
  const std::size_t n = mu.size();
  std::vector<double> r(n);
  for (std::size_t i = 0; i < n; ++i) r[i] = y->numbers[i] - mu[i];
  const auto b = lmm::report::binned_residuals(mu, r);
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t c) { return mu[a] < mu[c]; });
  for (std::size_t k = 1; k < n; ++k) ASSERT_LT(mu[order[k - 1]], mu[order[k]]);
  const auto m = static_cast<std::size_t>(std::floor(std::sqrt(double(n))));
  ASSERT_GE(n, 100u);
  ASSERT_EQ(b.n.size(), m);
  for (std::size_t k = 0; k < m; ++k) {
    double sx = 0, sr = 0, ss = 0;
    const std::size_t lo = n * k / m, hi = n * (k + 1) / m;
    for (std::size_t j = lo; j < hi; ++j) sx += mu[order[j]], sr += r[order[j]];
    const double c = double(hi - lo), mr = sr / c;
    for (std::size_t j = lo; j < hi; ++j) ss += std::pow(r[order[j]] - mr, 2);
    EXPECT_EQ(b.n[k], hi - lo);
    EXPECT_NEAR(b.x_mean[k], sx / c, 1e-12);
    EXPECT_NEAR(b.y_mean[k], mr, 1e-12);
    EXPECT_NEAR(b.two_se[k], 2 * std::sqrt(ss / (c - 1) / c), 1e-12);
    EXPECT_EQ(b.x_lo[k], mu[order[lo]]);
    EXPECT_EQ(b.x_hi[k], mu[order[hi - 1]]);
  }
}

TEST(GlmmReport, ObservedProportionsAndPopulationCurveOverTime) {
  const auto& [data, f] = binary_fit();
  const auto pd = lmm::report::glmm_plot_data(f, data);
  ASSERT_EQ(pd.design.kind, "longitudinal");
  EXPECT_EQ(pd.scale, "probability");
  const lmm::Column *t = data.find("time"), *y = data.find("y");
  std::map<double, std::pair<double, double>> cells;
  for (std::size_t i = 0; i < data.nrows; ++i)  // rows with a missing y are not in the fit
    if (!y->missing(i) && !t->missing(i)) cells[t->numbers[i]].first += y->numbers[i], cells[t->numbers[i]].second += 1;
  ASSERT_EQ(pd.observed.size(), 1u);
  ASSERT_EQ(pd.observed[0].x.size(), cells.size());
  ASSERT_EQ(pd.curves.population_curves.size(), 1u);
  const auto& pop = pd.curves.population_curves[0];
  const double b0 = f.result.beta[0], b1 = f.result.beta[1];
  std::size_t k = 0;
  for (const auto& [tv, c] : cells) {
    EXPECT_EQ(pd.observed[0].x[k], tv);
    EXPECT_NEAR(pd.observed[0].mean[k], c.first / c.second, 1e-14);
    EXPECT_EQ(pd.observed[0].n[k], std::size_t(c.second));
    EXPECT_NEAR(pop.y[k], 1 / (1 + std::exp(-(b0 + b1 * tv))), 1e-12);  // plogis(Xβ): b = 0
    ++k;
  }
  // Binned residuals: of y - μ against μ, every row in one bin.
  std::size_t rows = 0;
  for (std::size_t c : pd.binned.n) rows += c;
  EXPECT_EQ(rows, f.result.nobs);
  EXPECT_TRUE(pd.pearson_fitted.empty());
  ASSERT_EQ(pd.random_effects.size(), 1u);
  EXPECT_EQ(pd.random_effects[0].value.size(), 500u);
  EXPECT_DOUBLE_EQ(pd.random_effects[0].value[0], f.result.ranef[0].mode[0]);
  EXPECT_DOUBLE_EQ(pd.random_effects[0].condsd[0], f.result.ranef[0].condsd[0]);
}

TEST(GlmmReport, PoissonPearsonResiduals) {
  const auto data = lmm::read_table(kCounts);
  const auto f = poisson_fit(data);
  const auto pd = lmm::report::glmm_plot_data(f, data);
  EXPECT_TRUE(pd.binned.n.empty());
  ASSERT_EQ(pd.pearson_fitted.size(), data.nrows);
  const lmm::Column* y = data.find("count");
  double chisq = 0;
  for (std::size_t i = 0; i < data.nrows; ++i) {
    EXPECT_NEAR(pd.pearson_residual[i], (y->numbers[i] - f.result.fitted[i]) / std::sqrt(f.result.fitted[i]), 1e-12);
    chisq += pd.pearson_residual[i] * pd.pearson_residual[i];
  }
  EXPECT_NEAR(chisq, f.result.pearson_chisq, 1e-8 * chisq);  // the summary's Pearson χ²
}

}  // namespace
