// The model's own operations for the layers above it (as MixedModels.jl's refit!(m, y)): a new
// response, an offset for profiling a fixed effect, θ from SDs and correlations, the singular
// positions. Each is checked against a model built from scratch on the same data.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lmm/inference.h"
#include "lmm/model.h"
#include "test_util.h"

namespace {

using lmm::LinearMixedModel;
using lmm::ModelFrame;

const std::vector<std::vector<double>> kThetas = {{1.0, 0.0, 1.0, 1.0}, {0.6, -0.2, 0.3, 0.8}, {0.2, 0.1, 0.0, 0.4}};

void expect_same_objectives(LinearMixedModel& a, LinearMixedModel& b) {
  for (const auto& th : kThetas) {
    const double fa = a.set_theta(th), fb = b.set_theta(th);
    EXPECT_NEAR(fa, fb, 1e-9 * std::abs(fb));
    const auto ba = a.beta(), bb = b.beta();
    ASSERT_EQ(ba.size(), bb.size());
    for (std::size_t k = 0; k < ba.size(); ++k) EXPECT_NEAR(ba[k], bb[k], 1e-8 * (1 + std::abs(bb[k]))) << k;
    EXPECT_NEAR(a.sigma(), b.sigma(), 1e-9 * b.sigma());
  }
}

TEST(ModelApi, SetResponseEqualsAModelBuiltOnThatResponse) {
  const ModelFrame f = lmm::testing::synthetic_crossed(24, 6, 7);
  ModelFrame g = f;
  for (std::size_t i = 0; i < g.y.size(); ++i) g.y[i] = 3 * f.y[i] - 0.01 * static_cast<double>(i % 17) + 50;
  LinearMixedModel refit(f), fresh(g);
  refit.set_response(g.y);
  EXPECT_FALSE(refit.factor_ok());  // refreshed at the next set_theta
  expect_same_objectives(refit, fresh);
  EXPECT_EQ(refit.frame().y, g.y);
  EXPECT_THROW(refit.set_response(std::vector<double>(3, 1.0)), lmm::Error);
}

TEST(ModelApi, OffsetResponseEqualsAModelWithoutTheColumnOnTheOffsetResponse) {
  const ModelFrame f = lmm::testing::synthetic_crossed(24, 6, 11);
  const std::size_t n = f.n(), j = 1;
  const double b = 0.75;
  ModelFrame reduced = f;  // without column j ("x")
  reduced.X.erase(reduced.X.begin() + static_cast<std::ptrdiff_t>(j * n),
                  reduced.X.begin() + static_cast<std::ptrdiff_t>((j + 1) * n));
  reduced.fixed_names.erase(reduced.fixed_names.begin() + static_cast<std::ptrdiff_t>(j));
  ModelFrame offset = reduced;
  for (std::size_t i = 0; i < n; ++i) offset.y[i] = f.y[i] - b * f.X[j * n + i];
  LinearMixedModel full(f), profiled(reduced), fresh(offset);
  profiled.set_offset_response(full, j, b);
  expect_same_objectives(profiled, fresh);
}

TEST(ModelApi, ThetaFromSdcorInvertsTheVarianceParameters) {
  LinearMixedModel m(lmm::testing::synthetic_crossed(24, 6, 3));
  m.fit();
  const auto theta = m.theta_from_sdcor(lmm::variance_parameters(m));
  ASSERT_TRUE(theta.has_value());
  ASSERT_EQ(theta->size(), m.ntheta());
  for (std::size_t k = 0; k < theta->size(); ++k) EXPECT_NEAR((*theta)[k], m.theta()[k], 1e-10) << k;
  auto bad = lmm::variance_parameters(m);
  bad[1] = 1.5;  // a correlation outside [-1, 1]
  EXPECT_FALSE(m.theta_from_sdcor(bad).has_value());
  bad = lmm::variance_parameters(m);
  bad.back() = 0;  // σ = 0
  EXPECT_FALSE(m.theta_from_sdcor(bad).has_value());
}

TEST(ModelApi, SingularPositionsMarkTheZeroDiagonalOnly) {
  LinearMixedModel m(lmm::testing::synthetic_crossed(24, 6, 5));
  m.set_theta({0.8, 0.3, 0.0, 0.5});  // the subject slope's λ diagonal at 0
  EXPECT_EQ(m.singular_positions(), (std::vector<bool>{false, false, true, false}));
  m.set_theta({0.8, 0.3, 0.4, 0.5});
  EXPECT_EQ(m.singular_positions(), (std::vector<bool>(4, false)));
}

TEST(ModelApi, GradientAndVcovUnscaledAgreeWithTheObjectiveAndVcov) {
  // One term: the analytic gradient, checked against central differences of the objective.
  ModelFrame f = lmm::testing::synthetic_crossed(30, 1, 9);
  LinearMixedModel m(f);
  ASSERT_TRUE(m.has_gradient());
  const std::vector<double> th = {0.7, 0.2, 0.4};
  m.set_theta(th);
  const auto g = m.gradient();
  ASSERT_EQ(g.size(), th.size());
  for (std::size_t k = 0; k < th.size(); ++k) {
    auto hi = th, lo = th;
    const double h = 1e-4;
    hi[k] += h;
    lo[k] -= h;
    const double d = (m.set_theta(hi) - m.set_theta(lo)) / (2 * h);
    EXPECT_NEAR(g[k], d, 1e-5 * (1 + std::abs(d))) << k;
  }
  m.set_theta(th);
  const auto v = m.vcov(), vu = m.vcov_unscaled();
  ASSERT_EQ(v.size(), vu.size());
  const double s2 = m.sigma() * m.sigma();
  for (std::size_t k = 0; k < v.size(); ++k) EXPECT_NEAR(v[k], s2 * vu[k], 1e-12 * (1 + std::abs(v[k])));
}

TEST(ModelApi, BootstrapErrorsNameTheOptionField) {
  LinearMixedModel m(lmm::testing::synthetic_crossed(24, 6, 5));
  m.fit();
  lmm::BootstrapOptions o;
  o.replicates = 0;
  try {
    lmm::bootstrap(m, o);
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("BootstrapOptions::replicates must be at least 1"), std::string::npos)
        << e.what();
  }
}

}  // namespace
