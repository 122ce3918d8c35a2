// Adaptive Gauss-Hermite quadrature for one scalar random-effects term (lme4's glmerAGQ), and the
// quantities read from the factor at the modes: conditional variances and β's PIRLS covariance.
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

#include "glmm/glmm_impl.h"

namespace lmm {

namespace glmm_detail {

// Golub-Welsch for the probabilists' Hermite polynomials: the nodes are the eigenvalues of the
// Jacobi matrix with off-diagonal √k, the weights the squared first components of its eigenvectors.
void gauss_hermite(int k, std::vector<double>& nodes, std::vector<double>& weights) {
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(k, k);
  for (int i = 1; i < k; ++i) J(i, i - 1) = J(i - 1, i) = std::sqrt(static_cast<double>(i));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(J);
  nodes.assign(static_cast<std::size_t>(k), 0.0);
  weights.assign(static_cast<std::size_t>(k), 0.0);
  for (int i = 0; i < k; ++i) {
    // the middle node of an odd rule is 0 exactly (its value is rounding otherwise)
    nodes[static_cast<std::size_t>(i)] = (k % 2 == 1 && i == k / 2) ? 0.0 : es.eigenvalues()[i];
    const double v = es.eigenvectors()(0, i);
    weights[static_cast<std::size_t>(i)] = v * v;
  }
}

}  // namespace glmm_detail

// With one scalar term M is diagonal; group l's integral over u_l = û_l + z/√M_ll is
// exp(-h(û_l)/2)/√M_ll · Σ_k w_k exp(-(h(u_k) - h(û_l))/2 + z_k²/2), h = Σ devresid + u²: the
// Laplace deviance plus -2 log of that sum per group.
double GlmmModel::agq_adjustment(int nagq) const {
  std::vector<double> z, wt;
  glmm_detail::gauss_hermite(nagq, z, wt);
  const Eigen::Index nl = nre_;
  const auto& refs = frame_.re[0].refs;
  const double* zl = zl_.valuePtr();
  Eigen::VectorXd sd(nl), dev0 = Eigen::VectorXd::Zero(nl), mult = Eigen::VectorXd::Zero(nl), dev(nl);
  for (Eigen::Index l = 0; l < nl; ++l) sd[l] = 1 / std::sqrt(M_.coeff(l, l));
  const auto nrow = n();
  for (std::size_t i = 0; i < nrow; ++i)
    dev0[refs[i]] += family_.dev_resid(y_[i], mu_[static_cast<Eigen::Index>(i)], pw_[i]);
  dev0 += u_.cwiseAbs2();
  for (std::size_t k = 0; k < z.size(); ++k) {
    if (z[k] == 0) {
      mult.array() += wt[k];
      continue;
    }
    dev.setZero();
    for (std::size_t i = 0; i < nrow; ++i) {
      const Eigen::Index l = refs[i];
      const double e = eta_[static_cast<Eigen::Index>(i)] + zl[i] * z[k] * sd[l];
      dev[l] += family_.dev_resid(y_[i], family_.linkinv(e), pw_[i]);
    }
    for (Eigen::Index l = 0; l < nl; ++l) {
      const double ul = u_[l] + z[k] * sd[l];
      mult[l] += wt[k] * std::exp(-(dev[l] + ul * ul - dev0[l]) / 2 + z[k] * z[k] / 2);
    }
  }
  return -2 * mult.array().log().sum();
}

std::vector<Eigen::VectorXd> GlmmModel::ranef() const {
  std::vector<Eigen::VectorXd> out;
  const auto lam = lambda();
  for (std::size_t j = 0; j < terms_.size(); ++j) {
    const Term& t = terms_[j];
    Eigen::VectorXd b(t.nlev * t.q);
    for (Eigen::Index l = 0; l < t.nlev; ++l)
      b.segment(l * t.q, t.q) = lam[j] * u_.segment(t.col0 + l * t.q, t.q);
    out.push_back(b);
  }
  return out;
}

// Λ M⁻¹ Λ' per level: with one term M is block-diagonal and each q x q block is
// inverted; otherwise each level's columns of M⁻¹ are solved for.
std::vector<Eigen::VectorXd> GlmmModel::condvar_blocks() const {
  std::vector<Eigen::VectorXd> out;
  const auto lam = lambda();
  for (std::size_t j = 0; j < terms_.size(); ++j) {
    const Term& t = terms_[j];
    Eigen::VectorXd v(t.nlev * t.q * t.q);
    Eigen::MatrixXd B(t.q, t.q), E = Eigen::MatrixXd::Zero(nre_, t.q);
    for (Eigen::Index l = 0; l < t.nlev; ++l) {
      const Eigen::Index c0 = t.col0 + l * t.q;
      if (terms_.size() == 1) {
        for (int a = 0; a < t.q; ++a)
          for (int b = 0; b < t.q; ++b) B(a, b) = M_.coeff(c0 + std::max(a, b), c0 + std::min(a, b));  // lower triangle
        B = B.inverse().eval();
      } else {
        E.setZero();
        for (int a = 0; a < t.q; ++a) E(c0 + a, a) = 1;
        B = solve(E).middleRows(c0, t.q);
      }
      const Eigen::MatrixXd V = lam[j] * B * lam[j].transpose();
      v.segment(l * t.q * t.q, t.q * t.q) = V.reshaped();
    }
    out.push_back(v);
  }
  return out;
}

Eigen::MatrixXd GlmmModel::vcov_rx() const {
  const Eigen::MatrixXd wx = w_.asDiagonal() * X_;
  const Eigen::MatrixXd rz = zl_.transpose() * wx;
  const Eigen::MatrixXd s = X_.transpose() * wx - rz.transpose() * solve(rz);
  return s.inverse();
}

}  // namespace lmm
