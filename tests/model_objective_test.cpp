// The profiled objective at a fixed θ against an independent dense computation:
//   ML:   log|V| + n(1 + log(2π r²/n)),   REML: + log|X'V⁻¹X|, with n-p in place of n,
// where V = ZΛΛ'Z' + I and r² = (y - Xβ̂)'V⁻¹(y - Xβ̂) (Bates et al. 2015, eqs. 34 and 41).
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <numbers>
#include <random>

#include "lmm/model.h"
#include "test_util.h"

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

struct Dense {
  double ml, reml;
  VectorXd beta;
  double sigma_reml;
};

Dense dense_objective(const lmm::ModelFrame& f, const std::vector<std::vector<double>>& lambdas) {
  const auto n = static_cast<Eigen::Index>(f.n());
  const auto p = static_cast<Eigen::Index>(f.p());
  Eigen::Index cols = 0;
  for (const auto& t : f.re) cols += static_cast<Eigen::Index>(t.nlevels()) * t.q();
  MatrixXd Z = MatrixXd::Zero(n, cols), Lam = MatrixXd::Zero(cols, cols);
  Eigen::Index off = 0;
  for (std::size_t k = 0; k < f.re.size(); ++k) {
    const auto& t = f.re[k];
    const int q = t.q();
    for (Eigen::Index i = 0; i < n; ++i)
      for (int a = 0; a < q; ++a) Z(i, off + t.refs[i] * q + a) = t.z[i * q + a];
    Eigen::Map<const MatrixXd> lam(lambdas[k].data(), q, q);
    for (std::size_t b = 0; b < t.nlevels(); ++b) Lam.block(off + b * q, off + b * q, q, q) = lam;
    off += static_cast<Eigen::Index>(t.nlevels()) * q;
  }
  MatrixXd ZL = Z * Lam;
  MatrixXd V = ZL * ZL.transpose() + MatrixXd::Identity(n, n);
  Eigen::LLT<MatrixXd> llt(V);
  double logdetV = 2 * llt.matrixL().toDenseMatrix().diagonal().array().log().sum();
  Eigen::Map<const MatrixXd> X(f.X.data(), n, p);
  Eigen::Map<const VectorXd> y(f.y.data(), n);
  MatrixXd XtViX = X.transpose() * llt.solve(X);
  VectorXd beta = XtViX.ldlt().solve(X.transpose() * llt.solve(y));
  VectorXd r = y - X * beta;
  double r2 = r.dot(llt.solve(r));
  double logdetX = std::log(XtViX.determinant());
  const double two_pi = 2 * std::numbers::pi;
  Dense d;
  d.ml = logdetV + n * (1 + std::log(two_pi * r2 / n));
  d.reml = logdetV + logdetX + (n - p) * (1 + std::log(two_pi * r2 / (n - p)));
  d.beta = beta;
  d.sigma_reml = std::sqrt(r2 / (n - p));
  return d;
}

void check(lmm::ModelFrame frame, const std::vector<double>& theta, const std::vector<std::vector<double>>& lambdas) {
  Dense d = dense_objective(frame, lambdas);
  lmm::LinearMixedModel m(std::move(frame), lmm::Method::REML);
  const double reml = m.set_theta(theta);
  EXPECT_NEAR(reml, d.reml, 1e-8 * std::abs(d.reml));
  auto beta = m.beta();
  for (Eigen::Index i = 0; i < d.beta.size(); ++i) EXPECT_NEAR(beta[i], d.beta[i], 1e-8 * (1 + std::abs(d.beta[i])));
  EXPECT_NEAR(m.sigma(), d.sigma_reml, 1e-8 * d.sigma_reml);
  m.set_method(lmm::Method::ML);
  EXPECT_NEAR(m.objective(), d.ml, 1e-8 * std::abs(d.ml));
}

TEST(Objective, CrossedMatchesDenseComputation) {
  // 30 subjects x 12 items, random intercepts for both, a covariate with a random slope by subject.
  auto f = lmm::testing::synthetic_crossed(30, 12, 7);
  // Terms are ordered by levels: subject (30 levels, q = 2), item (12 levels, q = 1).
  ASSERT_EQ(f.re.size(), 2u);
  std::vector<double> theta{0.8, -0.3, 0.5, 1.3};
  check(f, theta, {{0.8, -0.3, 0.0, 0.5}, {1.3}});
}

TEST(Objective, NestedMatchesDenseComputation) {
  // 8 batches, 3 casks within each: (1 | batch/cask).
  auto f = lmm::testing::synthetic_nested(8, 3, 4, 11);
  ASSERT_EQ(f.re.size(), 2u);
  EXPECT_EQ(f.re[0].nlevels(), 24u);
  check(f, {1.7, 0.4}, {{1.7}, {0.4}});
}

TEST(Objective, SingleTermWithSlopeMatchesDenseComputation) {
  auto f = lmm::testing::synthetic_crossed(40, 1, 3);  // one item: only the subject term is kept
  ASSERT_EQ(f.re.size(), 1u);
  check(f, {1.1, 0.2, 0.35}, {{1.1, 0.2, 0.0, 0.35}});
}

TEST(Objective, ThetaOnTheBoundaryIsFinite) {
  auto f = lmm::testing::synthetic_nested(8, 3, 4, 5);
  lmm::LinearMixedModel m(f, lmm::Method::REML);
  const double v = m.set_theta({0.0, 0.0});
  EXPECT_TRUE(std::isfinite(v));
  Dense d = dense_objective(f, {{0.0}, {0.0}});
  EXPECT_NEAR(v, d.reml, 1e-8 * std::abs(d.reml));
}

}  // namespace
