// The parametric bootstrap's replicates are independent draws (the second test, beside
// intervals_test.cpp's reproducibility test, of the per-replicate random streams): on a design
// large enough for the Wald approximation to hold (200 persons x 5 waves), the bootstrap SD of each
// fixed effect is its Wald standard error and the replicates centre on the estimate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/inference.h"

namespace {

TEST(BootstrapSpread, FixedEffectSdsAreTheWaldStandardErrors) {
  const auto data = lmm::read_table((std::filesystem::path(LMM_TEST_DATA) / "growth200.csv").string());
  const auto [model, r] = lmm::fit(data, "y ~ time * group + (time | id)");
  lmm::BootstrapOptions o;
  o.replicates = 300;
  o.seed = 7;
  o.threads = 2;
  const auto boot = lmm::bootstrap(model, o);
  ASSERT_EQ(boot.failed, 0);
  const std::size_t ns = boot.names.size();
  const auto B = static_cast<std::size_t>(boot.replicates);
  ASSERT_EQ(boot.samples.size(), B * ns);

  // No two replicates alike (a shared random stream would repeat one response B times).
  std::set<std::vector<double>> distinct;
  for (std::size_t i = 0; i < B; ++i)
    distinct.insert(std::vector<double>(boot.samples.begin() + static_cast<std::ptrdiff_t>(i * ns),
                                        boot.samples.begin() + static_cast<std::ptrdiff_t>((i + 1) * ns)));
  EXPECT_EQ(distinct.size(), B);

  for (const auto& f : r.fixed) {
    SCOPED_TRACE(f.term);
    const auto col = static_cast<std::size_t>(std::find(boot.names.begin(), boot.names.end(), f.term) - boot.names.begin());
    ASSERT_LT(col, ns);
    double mean = 0, ss = 0;
    for (std::size_t i = 0; i < B; ++i) mean += boot.samples[i * ns + col];
    mean /= static_cast<double>(B);
    for (std::size_t i = 0; i < B; ++i) ss += std::pow(boot.samples[i * ns + col] - mean, 2);
    const double sd = std::sqrt(ss / static_cast<double>(B - 1));
    // The SD of a sample SD of 300 normal draws is about 4 % of it: 15 % is 3.7 of those.
    EXPECT_NEAR(sd, f.std_error, 0.15 * f.std_error) << "bootstrap SD " << sd << ", Wald SE " << f.std_error;
    // The mean of 300 draws lies within 4 standard errors of the mean (SE/√300) of the estimate.
    EXPECT_NEAR(mean, f.estimate, 4 * f.std_error / std::sqrt(static_cast<double>(B)));
  }
}

}  // namespace
