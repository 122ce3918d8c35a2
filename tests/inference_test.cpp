// Satterthwaite and Kenward-Roger against independent dense computations on synthetic models
// (n x n matrices, pbkrtest's formulas written out literally), and known truths of balanced designs.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>

#include "inference/distributions.h"
#include "inference/numderiv.h"
#include "inference/varpar.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "test_util.h"

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

bool close(double a, double b, double rel) { return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)); }

// Z (n x Σ q_k nlev_k) and the column offset of each term.
MatrixXd dense_Z(const lmm::ModelFrame& f, std::vector<Eigen::Index>* offsets = nullptr) {
  const auto n = static_cast<Eigen::Index>(f.n());
  Eigen::Index cols = 0;
  for (const auto& t : f.re) cols += static_cast<Eigen::Index>(t.nlevels()) * t.q();
  MatrixXd Z = MatrixXd::Zero(n, cols);
  Eigen::Index off = 0;
  for (const auto& t : f.re) {
    if (offsets) offsets->push_back(off);
    const int q = t.q();
    for (Eigen::Index i = 0; i < n; ++i)
      for (int a = 0; a < q; ++a) Z(i, off + t.refs[i] * q + a) = t.z[i * q + a];
    off += static_cast<Eigen::Index>(t.nlevels()) * q;
  }
  return Z;
}

// V = σ²(I + ZΛΛ'Z') for the model's θ replaced by `theta`.
MatrixXd dense_V(const lmm::LinearMixedModel& m, const std::vector<double>& theta, double sigma) {
  const auto& f = m.frame();
  const MatrixXd Z = dense_Z(f);
  MatrixXd Lam = MatrixXd::Zero(Z.cols(), Z.cols());
  Eigen::Index off = 0;
  std::size_t k = 0;
  for (const auto& t : f.re) {
    const int q = t.q();
    MatrixXd lam = MatrixXd::Zero(q, q);
    for (int c = 0; c < q; ++c)
      for (int r = c; r < q; ++r) lam(r, c) = theta[k++];
    for (std::size_t b = 0; b < t.nlevels(); ++b) Lam.block(off + b * q, off + b * q, q, q) = lam;
    off += static_cast<Eigen::Index>(t.nlevels()) * q;
  }
  const MatrixXd ZL = Z * Lam;
  MatrixXd V = ZL * ZL.transpose();
  V.diagonal().array() += 1.0;
  return sigma * sigma * V;
}

// -2 log-likelihood (ML) or -2 REML log-likelihood at V, β at its GLS estimate.
double dense_deviance(const lmm::ModelFrame& f, const MatrixXd& V, bool reml) {
  const auto n = static_cast<Eigen::Index>(f.n());
  const auto p = static_cast<Eigen::Index>(f.p());
  Eigen::Map<const MatrixXd> X(f.X.data(), n, p);
  Eigen::Map<const VectorXd> y(f.y.data(), n);
  Eigen::LLT<MatrixXd> llt(V);
  const MatrixXd VX = llt.solve(X);
  const MatrixXd XVX = X.transpose() * VX;
  const VectorXd beta = XVX.ldlt().solve(VX.transpose() * y);
  const VectorXd r = y - X * beta;
  const double logdetV = 2 * llt.matrixL().toDenseMatrix().diagonal().array().log().sum();
  double d = logdetV + r.dot(llt.solve(r)) + static_cast<double>(n) * std::log(2 * std::numbers::pi);
  if (reml) d += std::log(XVX.determinant()) - static_cast<double>(p) * std::log(2 * std::numbers::pi);
  return d;
}

// pbkrtest 0.5.2's vcovAdj_internal and Lb_ddf with n x n matrices, as written in R.
struct DenseKR {
  MatrixXd PhiA;
  std::vector<MatrixXd> P;
  MatrixXd W;
  MatrixXd Phi;
};

DenseKR dense_kr(const lmm::LinearMixedModel& m) {
  const auto& f = m.frame();
  const auto n = static_cast<Eigen::Index>(f.n());
  const auto p = static_cast<Eigen::Index>(f.p());
  Eigen::Map<const MatrixXd> X(f.X.data(), n, p);
  std::vector<Eigen::Index> off;
  const MatrixXd Z = dense_Z(f, &off);
  const double s2 = m.sigma() * m.sigma();
  const auto lambdas = m.lambda();
  std::vector<MatrixXd> G;
  std::vector<double> gamma;
  for (std::size_t k = 0; k < f.re.size(); ++k) {
    const auto& t = f.re[k];
    const int q = t.q();
    Eigen::Map<const MatrixXd> lam(lambdas[k].data(), q, q);
    const MatrixXd Sigma_k = s2 * lam * lam.transpose();
    const MatrixXd Zk = Z.middleCols(off[k], static_cast<Eigen::Index>(t.nlevels()) * q);
    for (int b = 0; b < q; ++b)
      for (int a = b; a < q; ++a) {
        gamma.push_back(Sigma_k(a, b));
        MatrixXd E = MatrixXd::Zero(q, q);
        E(a, b) = E(b, a) = 1;
        MatrixXd D = MatrixXd::Zero(Zk.cols(), Zk.cols());
        for (std::size_t l = 0; l < t.nlevels(); ++l) D.block(l * q, l * q, q, q) = E;
        G.push_back(Zk * D * Zk.transpose());
      }
  }
  gamma.push_back(s2);
  G.push_back(MatrixXd::Identity(n, n));
  const auto ng = static_cast<int>(G.size());
  MatrixXd Sigma = MatrixXd::Zero(n, n);
  for (int r = 0; r < ng; ++r) Sigma += gamma[r] * G[r];
  const MatrixXd SigmaInv = Sigma.inverse();
  const auto vc = m.vcov();
  DenseKR out;
  out.Phi = Eigen::Map<const MatrixXd>(vc.data(), p, p);
  const MatrixXd& Phi = out.Phi;
  const MatrixXd TT = SigmaInv * X;
  std::vector<MatrixXd> HH(ng), OO(ng);
  for (int i = 0; i < ng; ++i) {
    HH[i] = G[i] * SigmaInv;
    OO[i] = HH[i] * X;
  }
  std::vector<std::vector<MatrixXd>> QQ(ng, std::vector<MatrixXd>(ng));
  for (int r = 0; r < ng; ++r) {
    out.P.push_back(-OO[r].transpose() * TT);
    for (int s = r; s < ng; ++s) QQ[r][s] = OO[r].transpose() * SigmaInv * OO[s];
  }
  MatrixXd IE2(ng, ng);
  for (int i = 0; i < ng; ++i)
    for (int j = i; j < ng; ++j) {
      const double K = (HH[i].transpose().array() * HH[j].array()).sum();
      IE2(i, j) = IE2(j, i) = K - 2 * (Phi.array() * QQ[i][j].array()).sum() +
                              ((Phi * out.P[i]).array() * (out.P[j] * Phi).array()).sum();
    }
  out.W = 2 * IE2.inverse();
  MatrixXd U = MatrixXd::Zero(p, p);
  for (int i = 0; i < ng - 1; ++i)
    for (int j = i + 1; j < ng; ++j) U += out.W(i, j) * (QQ[i][j] - out.P[i] * Phi * out.P[j]);
  U = (U + U.transpose()).eval();
  for (int i = 0; i < ng; ++i) U += out.W(i, i) * (QQ[i][i] - out.P[i] * Phi * out.P[i]);
  out.PhiA = Phi + 2 * Phi * U * Phi;
  return out;
}

double dense_lb_ddf(const DenseKR& k, const MatrixXd& L) {
  const MatrixXd Theta = L.transpose() * (L * k.Phi * L.transpose()).inverse() * L;
  double A1 = 0, A2 = 0;
  const auto ng = static_cast<int>(k.P.size());
  for (int i = 0; i < ng; ++i)
    for (int j = i; j < ng; ++j) {
      const double e = i == j ? 1 : 2;
      const MatrixXd ui = Theta * k.Phi * k.P[i] * k.Phi, uj = Theta * k.Phi * k.P[j] * k.Phi;
      A1 += e * k.W(i, j) * ui.trace() * uj.trace();
      A2 += e * k.W(i, j) * (ui.array() * uj.transpose().array()).sum();
    }
  const double q = static_cast<double>(L.rows());
  const double B = (A1 + 6 * A2) / (2 * q);
  const double g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2);
  const double c1 = g / (3 * q + 2 * (1 - g)), c2 = (q - g) / (3 * q + 2 * (1 - g)), c3 = (q + 2 - g) / (3 * q + 2 * (1 - g));
  const double rho = 1 / q * std::pow((1 - A2 / q) / (1 - c2 * B), 2) * (1 + c1 * B) / (1 - c3 * B);
  return 4 + (q + 2) / (q * rho - 1);
}

// (1 + x || subject): the correlated term of synthetic_crossed split into two terms on one factor.
lmm::ModelFrame split_slope(lmm::ModelFrame f) {
  lmm::ReTermData icpt = f.re[0], slope = f.re[0];
  icpt.names = {"(Intercept)"};
  slope.names = {"x"};
  icpt.z.clear();
  slope.z.clear();
  for (std::size_t i = 0; i < f.n(); ++i) {
    icpt.z.push_back(f.re[0].z[2 * i]);
    slope.z.push_back(f.re[0].z[2 * i + 1]);
  }
  f.re = {icpt, slope};
  return f;
}

// A second fixed-effect column so that contrasts have more than one row.
lmm::ModelFrame add_covariate(lmm::ModelFrame f, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> N(0, 1);
  f.fixed_names.push_back("w");
  for (std::size_t i = 0; i < f.n(); ++i) {
    const double w = N(gen);
    f.X.push_back(w);
    f.y[i] += 0.3 * w;
  }
  return f;
}

void expect_kr_matches_dense(lmm::ModelFrame frame, const char* what) {
  SCOPED_TRACE(what);
  lmm::LinearMixedModel m(std::move(frame), lmm::Method::REML);
  m.fit();
  const lmm::KenwardRoger kr(m);
  const DenseKR d = dense_kr(m);
  const auto p = static_cast<Eigen::Index>(m.frame().p());
  Eigen::Map<const MatrixXd> PhiA(kr.vcov_adjusted().data(), p, p);
  for (Eigen::Index i = 0; i < p; ++i)
    for (Eigen::Index j = 0; j < p; ++j)
      EXPECT_NEAR(PhiA(i, j), d.PhiA(i, j), 1e-8 * d.PhiA.cwiseAbs().maxCoeff()) << i << "," << j;
  for (Eigen::Index i = 0; i < p; ++i) {
    std::vector<double> c(p, 0.0);
    c[i] = 1;
    const auto t = kr.test(c);
    MatrixXd L = MatrixXd::Zero(1, p);
    L(0, i) = 1;
    EXPECT_TRUE(close(t.df, dense_lb_ddf(d, L), 1e-7)) << t.df << " vs " << dense_lb_ddf(d, L);
    EXPECT_TRUE(close(t.std_error, std::sqrt(d.PhiA(i, i)), 1e-9));
  }
  if (p >= 2) {  // a 2-row hypothesis
    MatrixXd L = MatrixXd::Zero(2, p);
    L(0, 0) = 1;
    L(1, 1) = 1;
    L(1, 0) = 0.5;
    std::vector<double> r0(p, 0.0), r1(p, 0.0);
    r0[0] = 1;
    r1[0] = 0.5;
    r1[1] = 1;
    const double df2 = dense_lb_ddf(d, L);
    EXPECT_TRUE(close(kr.ddf({r0, r1}), df2, 1e-7)) << kr.ddf({r0, r1});
    // pbkrtest's .KR_adjust F: Wald with Φ_A over q, scaled by df2 (1 - A2/q) / (df2 - 2).
    const MatrixXd Theta = L.transpose() * (L * d.Phi * L.transpose()).inverse() * L;
    double A2 = 0;
    for (std::size_t i = 0; i < d.P.size(); ++i)
      for (std::size_t j = i; j < d.P.size(); ++j) {
        const MatrixXd ui = Theta * d.Phi * d.P[i] * d.Phi, uj = Theta * d.Phi * d.P[j] * d.Phi;
        A2 += (i == j ? 1 : 2) * d.W(i, j) * (ui.array() * uj.transpose().array()).sum();
      }
    const auto beta = m.beta();
    const VectorXd Lb = L * Eigen::Map<const VectorXd>(beta.data(), p);
    const double wald = Lb.dot((L * d.PhiA * L.transpose()).inverse() * Lb);
    const double F = df2 * (1 - A2 / 2) / (df2 - 2) * wald / 2;
    const auto ft = kr.test(lmm::ContrastMatrix{r0, r1});
    EXPECT_EQ(ft.num_df, 2);
    EXPECT_TRUE(close(ft.F, F, 1e-7)) << ft.F << " vs " << F;
    EXPECT_TRUE(close(ft.den_df, df2, 1e-7));
    // A rank-deficient L tests its row space: two proportional rows are the one-row test.
    std::vector<double> r2 = r0;
    for (double& v : r2) v *= -3;
    const auto f1 = kr.test(lmm::ContrastMatrix{r0, r2});
    const auto t1 = kr.test(r0);
    EXPECT_EQ(f1.num_df, 1);
    EXPECT_TRUE(close(f1.den_df, t1.df, 1e-9));
  }
}

TEST(KenwardRoger, OneTermLevelByLevelMatchesDensePbkrtest) {
  expect_kr_matches_dense(lmm::testing::synthetic_crossed(12, 1, 3), "(1 + x | subject)");
}

TEST(KenwardRoger, TwoTermsOnOneFactorMatchDensePbkrtest) {
  expect_kr_matches_dense(split_slope(lmm::testing::synthetic_crossed(12, 1, 5)), "(1 + x || subject)");
}

TEST(KenwardRoger, CrossedTermsMatchDensePbkrtest) {
  expect_kr_matches_dense(lmm::testing::synthetic_crossed(9, 6, 7), "(1 + x | subject) + (1 | item)");
}

TEST(KenwardRoger, NestedTermsMatchDensePbkrtest) {
  expect_kr_matches_dense(add_covariate(lmm::testing::synthetic_nested(6, 3, 3, 11), 2), "(1 | batch/cask)");
}

TEST(KenwardRoger, RefusesMaximumLikelihoodFits) {
  lmm::LinearMixedModel m(lmm::testing::synthetic_crossed(8, 1, 3), lmm::Method::ML);
  lmm::FitOptions o;
  o.method = lmm::Method::ML;
  m.fit(o);
  EXPECT_THROW(lmm::KenwardRoger kr(m), lmm::Error);
}

// lmerTest's devfun_vp equals -2 log-likelihood computed from the n x n V at any (θ, σ).
TEST(Satterthwaite, DevianceInThetaSigmaMatchesDenseLikelihood) {
  for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
    lmm::LinearMixedModel m(lmm::testing::synthetic_crossed(7, 4, 13), method);
    const std::vector<std::vector<double>> thetas{{0.8, 0.1, 0.4, 1.2}, {1.5, -0.3, 0.05, 0.0}, {0.0, 0.0, 0.0, 0.7}};
    for (const auto& th : thetas)
      for (double sigma : {0.7, 1.0, 2.5}) {
        const double ours = lmm::detail::varpar_deviance(m, th, sigma);
        const double dense = dense_deviance(m.frame(), dense_V(m, th, sigma), method == lmm::Method::REML);
        EXPECT_NEAR(ours, dense, 1e-8 * std::abs(dense)) << "sigma " << sigma;
      }
  }
}

TEST(Satterthwaite, HessianIsZeroGradientOptimumWithPositiveCurvature) {
  lmm::LinearMixedModel m(lmm::testing::synthetic_crossed(15, 1, 17), lmm::Method::REML);
  m.fit();
  const lmm::Satterthwaite s(m);
  EXPECT_EQ(s.nonpositive_eigenvalues(), 0);
  // The model is left at its optimum.
  const auto th = m.theta();
  for (std::size_t i = 0; i < th.size(); ++i) EXPECT_EQ(th[i], s.varpar()[i]);
  EXPECT_EQ(s.varpar().back(), m.sigma());
}

// Balanced one-way random intercept model, a groups of size r: the df of the intercept is a - 1
// (the between-group mean square's df), and of a within-group covariate balanced across groups,
// N - a - 1 (Satterthwaite is exact here; lmerTest reports 9 for pastes' 10 batches).
TEST(Satterthwaite, BalancedOneWayDesignsGiveTheClassicalDf) {
  const int a = 10, r = 6;
  std::mt19937 gen(3);
  std::normal_distribution<double> N(0, 1);
  lmm::ModelFrame f;
  lmm::ReTermData g;
  g.group = "g";
  g.names = {"(Intercept)"};
  for (int i = 0; i < a; ++i) g.levels.push_back("g" + std::to_string(i));
  std::vector<double> x;
  for (int i = 0; i < a; ++i) {
    const double u = 2 * N(gen);
    for (int j = 0; j < r; ++j) {
      const double xv = j - (r - 1) / 2.0;  // the same values in every group
      x.push_back(xv);
      f.y.push_back(5 + 0.5 * xv + u + N(gen));
      g.refs.push_back(i);
      g.z.push_back(1.0);
    }
  }
  const std::size_t n = f.y.size();
  lmm::testing::set_intercept_and_x(f, x);
  f.re.push_back(g);
  lmm::LinearMixedModel m(std::move(f), lmm::Method::REML);
  m.fit();
  const lmm::Satterthwaite s(m);
  EXPECT_NEAR(s.test({1, 0}).df, a - 1, 1e-4);
  EXPECT_NEAR(s.test({0, 1}).df, static_cast<double>(n) - a - 1, 1e-3);
  // Kenward-Roger agrees on balanced data.
  const lmm::KenwardRoger kr(m);
  EXPECT_NEAR(kr.test({1, 0}).df, a - 1, 1e-4);
  EXPECT_NEAR(kr.test({0, 1}).df, static_cast<double>(n) - a - 1, 1e-3);
}

// R: qt(0.975, 9) = 2.262157163, qf(0.95, 2, 9) = 4.256494729, 2 * pnorm(-1.959963985) = 0.05.
TEST(Distributions, TailProbabilitiesAsR) {
  EXPECT_NEAR(lmm::detail::t_pvalue(2.262157163, 9), 0.05, 1e-9);
  EXPECT_NEAR(lmm::detail::t_pvalue(-2.262157163, 9), 0.05, 1e-9);
  EXPECT_NEAR(lmm::detail::f_pvalue(4.256494729, 2, 9), 0.05, 1e-9);
  EXPECT_NEAR(lmm::detail::t_pvalue(1.959963985, std::numeric_limits<double>::infinity()), 0.05, 1e-9);
  EXPECT_TRUE(std::isnan(lmm::detail::t_pvalue(1.0, -1)));
  EXPECT_TRUE(std::isnan(lmm::detail::f_pvalue(1.0, 1, std::numeric_limits<double>::quiet_NaN())));
}

TEST(Satterthwaite, MultiRowTestOfOneDirectionIsTheSquaredTTest) {
  lmm::LinearMixedModel m(add_covariate(lmm::testing::synthetic_crossed(12, 1, 19), 4), lmm::Method::REML);
  m.fit();
  const lmm::Satterthwaite s(m);
  const auto t = s.test({0, 1, 0});
  // Two proportional rows: rank 1, so contestMD falls back to the t test.
  const auto f = s.test(lmm::ContrastMatrix{{0, 1, 0}, {0, 2, 0}});
  EXPECT_EQ(f.num_df, 1);
  EXPECT_NEAR(f.F, t.t * t.t, 1e-9 * t.t * t.t);
  EXPECT_NEAR(f.den_df, t.df, 1e-9 * t.df);
  EXPECT_NEAR(f.p, t.p, 1e-9);
  // Two independent rows: F is the average of the squared t statistics of the eigen-directions.
  const auto f2 = s.test(lmm::ContrastMatrix{{0, 1, 0}, {0, 0, 1}});
  EXPECT_EQ(f2.num_df, 2);
  EXPECT_GT(f2.den_df, 2);
}

TEST(NumDeriv, RichardsonHessianAndJacobianOfKnownFunctions) {
  auto f = [](const VectorXd& x) { return std::exp(x(0)) * std::sin(x(1)) + x(0) * x(0) * x(1) * x(1) * x(1); };
  VectorXd x(2);
  x << 0.3, 1.1;
  const MatrixXd H = lmm::detail::hessian(f, x);
  const double e = std::exp(x(0)), s = std::sin(x(1)), c = std::cos(x(1));
  EXPECT_NEAR(H(0, 0), e * s + 2 * std::pow(x(1), 3), 1e-8);
  EXPECT_NEAR(H(1, 1), -e * s + 6 * x(0) * x(0) * x(1), 1e-8);
  EXPECT_NEAR(H(0, 1), e * c + 6 * x(0) * x(1) * x(1), 1e-8);
  EXPECT_EQ(H(0, 1), H(1, 0));
  auto g = [](const VectorXd& x) {
    VectorXd v(2);
    v << x(0) * x(1), std::log(x(0));
    return v;
  };
  const MatrixXd J = lmm::detail::jacobian(g, x);
  EXPECT_NEAR(J(0, 0), x(1), 1e-10);
  EXPECT_NEAR(J(0, 1), x(0), 1e-10);
  EXPECT_NEAR(J(1, 0), 1 / x(0), 1e-10);
  EXPECT_NEAR(J(1, 1), 0, 1e-12);
}

TEST(Inference, DdfNamesParseAndBadNamesAreUserErrors) {
  EXPECT_EQ(lmm::parse_ddf_method("Satterthwaite"), lmm::DdfMethod::Satterthwaite);
  EXPECT_EQ(lmm::parse_ddf_method("kenward-roger"), lmm::DdfMethod::KenwardRoger);
  EXPECT_EQ(lmm::parse_ddf_method("none"), lmm::DdfMethod::None);
  EXPECT_THROW(lmm::parse_ddf_method("bogus"), lmm::Error);
}

}  // namespace
