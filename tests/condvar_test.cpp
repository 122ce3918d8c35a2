// The conditional covariances of the random effects (lme4's condVar) and their covariance with β̂,
// computed by selected inversion of the blocked factor, against dense computations:
//   Var(b | y, β̂) = σ² Λ (Λ'Z'ZΛ + I)⁻¹ Λ'   (Bates et al. 2015, section 3.4; lme4's condVar),
//   and the joint [u; β] covariance σ² (M'M + diag(I, 0))⁻¹ with M = [ZΛ X].
#include "model/condvar.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <random>

#include "lmm/model.h"
#include "model/model_access.h"
#include "test_util.h"

namespace {

using Eigen::MatrixXd;

struct Dense {
  MatrixXd Z, Lam, X;
};

Dense dense(const lmm::ModelFrame& f, const std::vector<std::vector<double>>& lambdas) {
  const auto n = static_cast<Eigen::Index>(f.n());
  Eigen::Index cols = 0;
  for (const auto& t : f.re) cols += static_cast<Eigen::Index>(t.nlevels()) * t.q();
  Dense d;
  d.Z = MatrixXd::Zero(n, cols);
  d.Lam = MatrixXd::Zero(cols, cols);
  d.X = Eigen::Map<const MatrixXd>(f.X.data(), n, static_cast<Eigen::Index>(f.p()));
  Eigen::Index off = 0;
  for (std::size_t k = 0; k < f.re.size(); ++k) {
    const auto& t = f.re[k];
    const int q = t.q();
    for (Eigen::Index i = 0; i < n; ++i)
      for (int a = 0; a < q; ++a) d.Z(i, off + t.refs[i] * q + a) = t.z[i * q + a];
    Eigen::Map<const MatrixXd> lam(lambdas[k].data(), q, q);
    for (std::size_t b = 0; b < t.nlevels(); ++b) d.Lam.block(off + b * q, off + b * q, q, q) = lam;
    off += static_cast<Eigen::Index>(t.nlevels()) * q;
  }
  return d;
}

// A frame with random level assignments: term k has nlev[k] levels and q[k] columns (intercept,
// then standard-normal covariates); `parent[k] >= 0` nests term k's levels in term parent[k]'s
// (level of k determines the level of parent: level_parent = level_k % nlev[parent]).
lmm::ModelFrame random_frame(int n, const std::vector<int>& nlev, const std::vector<int>& q,
                             const std::vector<int>& nested_in, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> N(0, 1);
  lmm::ModelFrame f;
  const std::size_t K = nlev.size();
  f.re.resize(K);
  for (std::size_t k = 0; k < K; ++k) {
    auto& t = f.re[k];
    t.group = "g" + std::to_string(k);
    for (int l = 0; l < nlev[k]; ++l) t.levels.push_back("L" + std::to_string(l));
    t.names.push_back("(Intercept)");
    for (int a = 1; a < q[k]; ++a) t.names.push_back("x" + std::to_string(a));
  }
  for (int i = 0; i < n; ++i) {
    std::vector<int> lev(K);
    for (std::size_t k = 0; k < K; ++k)
      lev[k] = static_cast<int>(gen() % static_cast<unsigned>(nlev[k]));
    if (i < nlev[0]) lev[0] = i;  // every level of the first term observed
    for (std::size_t k = 0; k < K; ++k)
      if (nested_in[k] >= 0) lev[k] = lev[static_cast<std::size_t>(nested_in[k])] % nlev[k];
    double yv = N(gen);
    for (std::size_t k = 0; k < K; ++k) {
      auto& t = f.re[k];
      t.refs.push_back(lev[k]);
      t.z.push_back(1.0);
      for (int a = 1; a < q[k]; ++a) t.z.push_back(N(gen));
      yv += (1.0 + 0.1 * static_cast<double>(k)) * static_cast<double>(lev[k] % 5);
    }
    f.y.push_back(yv);
  }
  f.fixed_names = {"(Intercept)", "x"};
  f.X.assign(static_cast<std::size_t>(n), 1.0);
  for (int i = 0; i < n; ++i) f.X.push_back(N(gen));
  for (int i = 0; i < n; ++i) f.rows.push_back(static_cast<std::size_t>(i));
  f.response = "y";
  return f;
}

void check_against_dense(lmm::LinearMixedModel& m, const std::vector<double>& theta) {
  m.set_theta(theta);
  const auto& f = m.frame();
  const auto lam = m.lambda();
  const Dense d = dense(f, lam);
  const MatrixXd ZL = d.Z * d.Lam;
  const Eigen::Index nq = ZL.cols(), p = d.X.cols();
  const double s2 = m.sigma() * m.sigma();
  MatrixXd A = ZL.transpose() * ZL;
  A.diagonal().array() += 1.0;
  const MatrixXd condvar = s2 * d.Lam * A.inverse() * d.Lam.transpose();

  // Joint precision of [u; β]: [ZΛ X]'[ZΛ X] + diag(I, 0).
  MatrixXd MM(nq + p, nq + p);
  MatrixXd Mfull(ZL.rows(), nq + p);
  Mfull << ZL, d.X;
  MM = Mfull.transpose() * Mfull;
  MM.diagonal().head(nq).array() += 1.0;
  const MatrixXd joint = MM.inverse();

  const auto cv = m.ranef_condvar();
  const auto& impl = lmm::detail::model_state(m);
  const auto W = lmm::detail::re_fixed_cross(impl);
  const MatrixXd Vb = impl.vcov_unscaled();
  const auto Gall = lmm::detail::re_inverse_diagonal_blocks(impl);
  Eigen::Index off = 0;
  for (std::size_t k = 0; k < f.re.size(); ++k) {
    const int q = f.re[k].q();
    for (std::size_t b = 0; b < f.re[k].nlevels(); ++b) {
      const Eigen::Index o = off + static_cast<Eigen::Index>(b) * q;
      for (int a = 0; a < q; ++a)
        for (int c = 0; c < q; ++c) {
          const double ref = condvar(o + a, o + c);
          const double ours = cv[k][b * q * q + c * q + a];
          EXPECT_NEAR(ours, ref, 1e-9 * (1 + std::abs(ref))) << "term " << k << " level " << b;
        }
      // Σ_uβ = -W Σ_ββ and Σ_uu = G + W Σ_ββ W' (unscaled), as the dense joint inverse.
      const MatrixXd Wb = W[k].middleRows(static_cast<Eigen::Index>(b) * q, q);
      const MatrixXd cross = -Wb * Vb;
      EXPECT_LT((cross - joint.block(o, nq, q, p)).cwiseAbs().maxCoeff(), 1e-8);
      MatrixXd G(q, q);
      for (int a = 0; a < q; ++a)
        for (int c = 0; c < q; ++c) G(a, c) = joint(o + a, o + c);
      const auto Gsel = Gall[k].middleCols(static_cast<Eigen::Index>(b) * q, q);
      EXPECT_LT((MatrixXd(Gsel) + Wb * Vb * Wb.transpose() - G).cwiseAbs().maxCoeff(), 1e-8);
    }
    off += static_cast<Eigen::Index>(f.re[k].nlevels()) * q;
  }
}

TEST(CondVar, DenseInverseOfTriangularAndPermutedFactors) {
  std::mt19937 gen(1);
  std::normal_distribution<double> N(0, 1);
  const int m = 300;  // more than one panel
  MatrixXd L = MatrixXd::Zero(m, m);
  for (int j = 0; j < m; ++j) {
    L(j, j) = 1 + std::abs(N(gen));
    for (int i = j + 1; i < m; ++i) L(i, j) = 0.1 * N(gen);
  }
  const MatrixXd ref = (L * L.transpose()).inverse();
  EXPECT_LT((lmm::detail::inverse_of_llt(L, true) - ref).cwiseAbs().maxCoeff(), 1e-10);
  Eigen::PermutationMatrix<Eigen::Dynamic> P(m);
  P.setIdentity();
  std::shuffle(P.indices().data(), P.indices().data() + m, gen);
  const MatrixXd PL = P * L;  // not triangular; (PL)(PL)' = P L L' P'
  const MatrixXd refp = (PL * PL.transpose()).inverse();
  EXPECT_LT((lmm::detail::inverse_of_llt(PL, false) - refp).cwiseAbs().maxCoeff(), 1e-10);
}

TEST(CondVar, SingleTermIsLocal) {
  lmm::LinearMixedModel m(lmm::testing::synthetic_crossed(30, 1, 5));
  check_against_dense(m, {0.9, 0.2, 0.4});
}

TEST(CondVar, CrossedWithDenseTrailingBlock) {
  lmm::LinearMixedModel m(lmm::testing::synthetic_crossed(25, 8, 7));
  check_against_dense(m, {0.9, -0.3, 0.5, 1.3});
}

TEST(CondVar, NestedTwoLevels) {
  lmm::LinearMixedModel m(lmm::testing::synthetic_nested(6, 4, 3, 11));
  check_against_dense(m, {1.7, 0.6});
}

TEST(CondVar, NestedThreeLevelsWithSlopes) {
  // classes in schools in districts: every block stays sparse; the closure carries the district
  // rows from a class's column through its school's.
  auto f = random_frame(400, {60, 15, 5}, {2, 1, 2}, {-1, 0, 0}, 3);
  lmm::LinearMixedModel m(f);
  check_against_dense(m, {0.8, 0.3, 0.5, 1.1, 0.7, -0.2, 0.4});
}

TEST(CondVar, NestedPlusCrossedTerm) {
  // a nested pair and a crossed rater: sparse leading blocks with a dense trailing part.
  auto f = random_frame(300, {60, 15, 8}, {2, 1, 1}, {-1, 0, -1}, 9);
  lmm::LinearMixedModel m(f);
  check_against_dense(m, {0.8, 0.3, 0.5, 1.1, 0.7});
}

TEST(CondVar, SingularThetaKeepsStructure) {
  // A zero in λ drops entries from L's sparse blocks; the symbolic closure restores them.
  auto f = random_frame(400, {60, 15, 5}, {2, 1, 2}, {-1, 0, 0}, 4);
  lmm::LinearMixedModel m(f);
  check_against_dense(m, {0.8, 0.0, 0.0, 1.1, 0.0, 0.0, 0.4});
  check_against_dense(m, {0.0, 0.0, 0.7, 0.0, 0.7, 0.3, 0.0});
}

}  // namespace
