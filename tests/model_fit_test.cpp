// The optimizer reaches the minimum of the objective (checked against an independent 1-D search)
// and leaves the model at the optimum.
#include <gtest/gtest.h>

#include <boost/math/tools/minima.hpp>
#include <cmath>

#include "lmm/model.h"
#include "test_util.h"

namespace {

TEST(Fit, OneParameterMatchesBrentSearch) {
  auto f = lmm::testing::synthetic_crossed(40, 1, 3);
  // Random intercept only: drop the slope column.
  auto& t = f.re[0];
  std::vector<double> z;
  for (std::size_t i = 0; i < t.refs.size(); ++i) z.push_back(1.0);
  t.z = z;
  t.names = {"(Intercept)"};
  lmm::LinearMixedModel m(f, lmm::Method::REML);
  auto s = m.fit();
  EXPECT_TRUE(s.converged) << s.stop_reason;
  ASSERT_EQ(s.theta.size(), 1u);
  lmm::LinearMixedModel m2(f, lmm::Method::REML);
  auto [x, fx] = boost::math::tools::brent_find_minima(
      [&](double th) { return m2.set_theta({th}); }, 0.0, 10.0, 40);
  EXPECT_NEAR(s.theta[0], x, 1e-5);
  EXPECT_NEAR(s.objective, fx, 1e-9 * std::abs(fx));
  EXPECT_LE(s.objective, fx + 1e-9);
  EXPECT_DOUBLE_EQ(m.objective(), s.objective);
}

TEST(Fit, TwoTermsReachAStationaryPoint) {
  auto f = lmm::testing::synthetic_nested(10, 3, 4, 2);
  lmm::LinearMixedModel m(f, lmm::Method::ML);
  auto s = m.fit({.method = lmm::Method::ML});
  EXPECT_TRUE(s.converged) << s.stop_reason;
  // Central differences at the optimum are ~0 for interior components.
  for (std::size_t k = 0; k < s.theta.size(); ++k) {
    if (s.theta[k] < 1e-3) continue;
    auto tp = s.theta, tm = s.theta;
    const double h = 1e-5;
    tp[k] += h;
    tm[k] -= h;
    const double g = (m.set_theta(tp) - m.set_theta(tm)) / (2 * h);
    EXPECT_NEAR(g, 0.0, 1e-3) << "component " << k;
  }
}

}  // namespace
