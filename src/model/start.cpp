// Starting values for θ from a moment estimate, computed from A alone (no pass over the rows).
//
// For each term separately (the others ignored): with e the OLS residuals, each level's own
// least-squares estimate b̂_b = A_b⁻¹ Z_b'e has E[b̂_b b̂_b'] ≈ Σ + σ² A_b⁻¹, so
//   Σ̂ = mean_b(b̂_b b̂_b') - σ̂² mean_b(A_b⁻¹),
// with σ̂² the within-level residual variance (e'e - Σ_b e'Z_b A_b⁻¹ Z_b'e) / (n - p - Σ_b q).
// Levels whose A_b is singular (too few rows for q effects) are left out. The optimizer's start is
// λ̃ with λ̃λ̃' = Σ̂/σ̂² in its conditioned coordinates, made positive definite there
// (ThetaMap::from_covariance). This is the
// ANOVA-type estimate behind many mixed-model starting values (e.g. Swamy 1970's random
// coefficient estimator); it is close to the optimum for longitudinal data with many subjects.
#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "model/model_impl.h"

namespace lmm {

using detail::BlockDiag;
using detail::Mat;
using detail::SpMat;

// Several terms with one effect per level each (crossed or nested intercepts, `(1 | subject) +
// (1 | item)`): the per-term estimate above would count the other terms' variances as residual
// (a subject's residuals include the items it met), so the terms are estimated jointly, as in
// Henderson's method 3. With e the OLS residuals and, per term j, its within-level residual sum
// W_j = e'e - Σ_b (z_b'e)²/(z_b'z_b), the moment equations (X's projection neglected in W_j)
//   E[e'e] = (n - p) σ² + Σ_k τ_k² t_k,       t_k = tr(Z_k'Z_k) - tr(Z_k'H_X Z_k),
//   E[W_j] = (n - p - m_j) σ² + Σ_k τ_k² c_jk,  c_jk = tr(Z_k'Z_k) - Σ_b ||Z_k'z_b||²/(z_b'z_b)
// (c_jj = 0; in a crossed design c_jk = n - m_j; if j's levels are nested in k's it is 0) are
// solved for σ² and the τ_k², all from A. Variances that come out below 0.1% of σ² start at 0.1%
// (θ = 0.032: an optimizer started on the boundary θ = 0 has no slope to leave it by). A floor of 1%
// (θ = 0.1) put InstEval's dept (14 levels; moment estimate 0.40%, optimum 0.45% of σ²) at 2.2 times
// its optimal variance, and Newton's method then took 4 more steps, of about 30 ms each.
std::vector<Mat> detail::ModelState::scalar_terms_moment(const Mat& R, const Eigen::VectorXd& beta,
                                                             double ee) const {
  const auto p = static_cast<Eigen::Index>(this->p());
  const double nn = static_cast<double>(n());
  Mat M = Mat::Zero(K + 1, K + 1);  // unknowns: σ², τ_0², ..., τ_{K-1}²
  Eigen::VectorXd rhs(K + 1);
  // The e'e equation.
  M(0, 0) = nn - static_cast<double>(p);
  rhs(0) = ee;
  std::vector<double> trace(static_cast<std::size_t>(K), 0.0);
  std::vector<const BlockDiag*> D(static_cast<std::size_t>(K));
  for (int k = 0; k < K; ++k) {
    D[static_cast<std::size_t>(k)] = &std::get<BlockDiag>(A[k][k]);
    const Mat& AKk = std::get<Mat>(A[K][k]);
    double tk = D[static_cast<std::size_t>(k)]->data.sum();
    trace[static_cast<std::size_t>(k)] = tk;
    if (p > 0) {
      Mat XZ = AKk.topRows(p);
      R.topLeftCorner(p, p).triangularView<Eigen::Lower>().solveInPlace(XZ);
      tk -= XZ.squaredNorm();
    }
    M(0, k + 1) = tk;
  }
  // The W_j equations.
  for (int j = 0; j < K; ++j) {
    const BlockDiag& Dj = *D[static_cast<std::size_t>(j)];
    const Mat& AKj = std::get<Mat>(A[K][j]);
    double explained = 0;
    for (Eigen::Index b = 0; b < nlev[j]; ++b) {
      const double d = Dj.data(0, b);
      if (!(d > 0)) continue;
      const double ze = AKj(p, b) - AKj.col(b).head(p).dot(beta);
      explained += ze * ze / d;
    }
    M(j + 1, 0) = nn - static_cast<double>(p) - static_cast<double>(nlev[j]);
    rhs(j + 1) = ee - explained;
    for (int k = 0; k < K; ++k) {
      if (k == j) continue;
      // Σ over the non-zeros (b, l) of Z_j'Z_k of (z_b'z_l)² / (z_b'z_b).
      const SpMat& C = std::get<SpMat>(A[std::max(j, k)][std::min(j, k)]);
      double s = 0;
      for (Eigen::Index c = 0; c < C.outerSize(); ++c)
        for (SpMat::InnerIterator it(C, c); it; ++it) {
          const Eigen::Index b = j > k ? it.row() : it.col();
          const double d = Dj.data(0, b);
          if (d > 0) s += it.value() * it.value() / d;
        }
      M(j + 1, k + 1) = trace[static_cast<std::size_t>(k)] - s;
    }
  }
  const Eigen::VectorXd v = M.fullPivLu().solve(rhs);
  if (!v.allFinite() || !(v(0) > 0) || !((M * v - rhs).norm() <= 1e-6 * rhs.norm())) return {};
  std::vector<Mat> cov;
  for (int k = 0; k < K; ++k) cov.push_back(Mat::Constant(1, 1, std::max(v(k + 1) / v(0), 0.001)));
  return cov;
}

std::vector<Mat> detail::ModelState::moment_covariance() const {
  for (int j = 0; j < K; ++j)
    if (!std::holds_alternative<BlockDiag>(A[j][j])) return {};  // coupled by correlated residuals
  if (K == 0) return {};
  const auto p = static_cast<Eigen::Index>(this->p());
  const Mat& AKK = std::get<Mat>(A[K][K]);
  // OLS from [X y]'[X y]: the Cholesky factor's last row gives β and e'e.
  Eigen::LLT<Mat> llt(AKK);
  if (llt.info() != Eigen::Success) return {};
  const Mat R = llt.matrixL();
  const double ee = R(p, p) * R(p, p);
  Eigen::VectorXd beta = R.block(p, 0, 1, p).transpose();
  R.topLeftCorner(p, p).transpose().triangularView<Eigen::Upper>().solveInPlace(beta);
  if (!beta.allFinite() || !(ee > 0)) return {};

  bool all_scalar = K >= 2;
  for (int j = 0; j < K; ++j) all_scalar = all_scalar && q[j] == 1;
  if (all_scalar) return scalar_terms_moment(R, beta, ee);

  std::vector<Mat> cov;
  for (int j = 0; j < K; ++j) {
    const int qj = q[j];
    const auto& Ajj = std::get<BlockDiag>(A[j][j]);
    const Mat& AKj = std::get<Mat>(A[K][j]);
    Mat outer = Mat::Zero(qj, qj), inv_sum = Mat::Zero(qj, qj);
    double explained = 0;
    Eigen::Index used = 0;
    Eigen::VectorXd ze(qj), bh(qj);
    for (Eigen::Index b = 0; b < nlev[j]; ++b) {
      const auto Ab = Ajj.block(b);
      Eigen::LLT<Mat> lb(Ab);
      if (lb.info() != Eigen::Success) continue;
      // A_b must be well conditioned: its smallest pivot not negligible against its scale.
      const Mat Lb = lb.matrixL();
      if (Lb.diagonal().minCoeff() < 1e-6 * std::sqrt(Ab.diagonal().maxCoeff())) continue;
      const auto blk = AKj.middleCols(b * qj, qj);
      ze = blk.row(p).transpose() - blk.topRows(p).transpose() * beta;
      bh = lb.solve(ze);
      outer.noalias() += bh * bh.transpose();
      inv_sum += lb.solve(Mat::Identity(qj, qj));
      explained += ze.dot(bh);
      ++used;
    }
    const double df = static_cast<double>(n()) - static_cast<double>(p) - static_cast<double>(used * qj);
    const double s2 = (ee - explained) / df;
    if (used < 2 || !(df > 0) || !(s2 > 0)) return {};
    const Mat S = (outer - s2 * inv_sum) / static_cast<double>(used) / s2;
    if (!S.allFinite()) return {};
    cov.push_back(S);
  }
  return cov;
}

}  // namespace lmm
