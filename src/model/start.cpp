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

std::vector<Mat> LinearMixedModel::Impl::moment_covariance() const {
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
