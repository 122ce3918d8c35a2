// The summary's scaled residuals (lme4's "Scaled residuals: Min 1Q Median 3Q Max"): R's quantile
// type 7 of the residuals over σ̂, against lme4's printed sleepstudy figures and against a full
// sort of the residuals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lmm/data.h"
#include "lmm/fit.h"

namespace {

const std::string kData = LMM_TEST_DATA;

// R's quantile(x, p, type = 7) from a sorted copy.
double quantile7(std::vector<double> x, double p) {
  std::sort(x.begin(), x.end());
  const double h = (static_cast<double>(x.size()) - 1) * p;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (h - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

// summary(lmer(Reaction ~ Days + (Days | Subject), sleepstudy)) prints
//   -3.9536 -0.4634  0.0231  0.4634  5.1793
TEST(Summary, ScaledResidualsAsLme4PrintsThem) {
  const auto r = lmm::fit(lmm::read_table(kData + "/sleepstudy.csv"), "Reaction ~ Days + (Days | Subject)").result;
  const double lme4[5] = {-3.9536, -0.4634, 0.0231, 0.4634, 5.1793};
  for (int k = 0; k < 5; ++k) EXPECT_NEAR(r.scaled_residuals[k], lme4[k], 6e-5) << k;
}

// The whole of growth200 and its first 500 to 503 rows (odd and even numbers of residuals: the
// order statistics a quantile reads are then neighbours or one).
TEST(Summary, ScaledResidualsAreQuantilesOfTheResiduals) {
  const auto data = lmm::read_table(kData + "/growth200.csv");
  const auto fitted = lmm::fit(data, "y ~ time * group + (time | id)");
  std::vector<double> e = fitted.model.residuals();
  for (double& v : e) v /= fitted.result.sigma;
  const double probs[5] = {0, 0.25, 0.5, 0.75, 1};
  for (int k = 0; k < 5; ++k) EXPECT_DOUBLE_EQ(fitted.result.scaled_residuals[k], quantile7(e, probs[k])) << k;
  bool parity[2] = {false, false};
  for (std::size_t n : {500u, 501u, 502u, 503u}) {
    lmm::DataFrame part = data;
    for (auto& c : part.columns) {
      if (c.is_numeric())
        c.numbers.resize(n);
      else
        c.codes.resize(n);
    }
    part.nrows = n;
    const auto f = lmm::fit(part, "y ~ time * group + (time | id)");
    std::vector<double> ep = f.model.residuals();
    parity[ep.size() % 2] = true;
    for (double& v : ep) v /= f.result.sigma;
    for (int k = 0; k < 5; ++k)
      EXPECT_DOUBLE_EQ(f.result.scaled_residuals[k], quantile7(ep, probs[k])) << n << " rows, quantile " << k;
  }
  EXPECT_TRUE(parity[0] && parity[1]) << "both an odd and an even number of residuals";
}

}  // namespace
