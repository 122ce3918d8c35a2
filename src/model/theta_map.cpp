// The conditioned coordinates the optimizer works in (see model_impl.h).
#include <algorithm>
#include <cmath>

#include "model/model_impl.h"

namespace lmm::detail {

ThetaMap::ThetaMap(const detail::ModelState& m) : q_(m.q), offset_(m.theta_offset) {
  m.require_cross_products("the optimizer's coordinates (ThetaMap)");
  const double n = static_cast<double>(m.n());
  for (int j = 0; j < m.K; ++j) {
    Mat ztz = Mat::Zero(q_[j], q_[j]);
    if (const auto* d = std::get_if<BlockDiag>(&m.A[j][j])) {
      for (Eigen::Index b = 0; b < d->nblocks; ++b) ztz += d->block(b);
    } else {  // a term coupled by correlated residuals: the diagonal q x q blocks of its Z'R⁻¹Z
      const auto& s = std::get<SpMat>(m.A[j][j]);
      for (Eigen::Index c = 0; c < s.outerSize(); ++c)
        for (SpMat::InnerIterator it(s, c); it; ++it)
          if (it.row() / q_[j] == c / q_[j]) ztz(it.row() % q_[j], c % q_[j]) += it.value();
    }
    Eigen::LLT<Mat> llt(ztz);
    Mat S = Mat::Identity(q_[j], q_[j]);
    if (llt.info() == Eigen::Success && q_[j] > 0) {
      Mat R = llt.matrixU();
      S = std::sqrt(n) * R.triangularView<Eigen::Upper>().solve(Mat::Identity(q_[j], q_[j]));
      if (!S.allFinite()) S.setIdentity();
    }
    Mat Sinv = S.triangularView<Eigen::Upper>().solve(Mat::Identity(q_[j], q_[j]));
    S_.push_back(S);
    Sinv_.push_back(Sinv);
  }
}

std::vector<double> ThetaMap::to_theta(const std::vector<double>& tt) const {
  return apply(tt, S_);
}
std::vector<double> ThetaMap::from_theta(const std::vector<double>& th) const {
  return apply(th, Sinv_);
}

std::vector<double> ThetaMap::from_covariance(const std::vector<Mat>& cov) const {
  std::vector<double> out;
  for (std::size_t j = 0; j < q_.size(); ++j) {
    const int q = q_[j];
    // λ̃λ̃' = S⁻¹ Σ S⁻ᵀ.
    const Mat C = Sinv_[j] * cov[j] * Sinv_[j].transpose();
    Eigen::SelfAdjointEigenSolver<Mat> es(C);
    Eigen::VectorXd ev = es.eigenvalues();
    const double floor = std::max(1e-2 * ev.maxCoeff(), 1e-4);
    for (Eigen::Index i = 0; i < ev.size(); ++i) ev[i] = std::max(ev[i], floor);
    Eigen::LLT<Mat> llt(es.eigenvectors() * ev.asDiagonal() * es.eigenvectors().transpose());
    const Mat lam = llt.matrixL();
    if (llt.info() != Eigen::Success || !lam.allFinite()) return {};
    for (int c = 0; c < q; ++c)
      for (int r = c; r < q; ++r) out.push_back(lam(r, c));
  }
  return out;
}

// λ = to_theta(θ̃) satisfies Sλ̃ = λ W with W = D Q' orthogonal (Q from the QR of (Sλ̃)', D the
// column signs). The objective depends on λ only through λλ', so perturbing Sλ̃ by δ is perturbing
// λ by δW': ∂/∂(Sλ̃) = J W, and ∂/∂λ̃ = S' J W, of which the lower triangle is the gradient.
std::vector<double> ThetaMap::gradient_conditioned(const std::vector<double>& tt,
                                                   const std::vector<Mat>& J) const {
  std::vector<double> g(tt.size());
  for (std::size_t j = 0; j < q_.size(); ++j) {
    const int q = q_[j];
    Mat lam = Mat::Zero(q, q);
    for (int c = 0, k = offset_[j]; c < q; ++c)
      for (int r = c; r < q; ++r, ++k) lam(r, c) = tt[k];
    const Mat M = S_[j] * lam;
    Mat W;
    if (q == 1) {
      W = Mat::Constant(1, 1, M(0, 0) < 0 ? -1.0 : 1.0);
    } else {
      Eigen::HouseholderQR<Mat> qr(M.transpose());
      Mat Q = qr.householderQ();
      Mat D = Mat::Identity(q, q);
      for (int c = 0; c < q; ++c)
        if (qr.matrixQR()(c, c) < 0) D(c, c) = -1.0;
      W = D * Q.transpose();
    }
    const Mat G = S_[j].transpose() * J[j] * W;
    for (int c = 0, k = offset_[j]; c < q; ++c)
      for (int r = c; r < q; ++r, ++k) g[k] = G(r, c);
  }
  return g;
}

std::vector<double> ThetaMap::apply(const std::vector<double>& in,
                                    const std::vector<Mat>& T) const {
  std::vector<double> out = in;  // the residual structure's values after the terms' pass through
  for (std::size_t j = 0; j < q_.size(); ++j) {
    const int q = q_[j];
    Mat lam = Mat::Zero(q, q);
    for (int c = 0, k = offset_[j]; c < q; ++c)
      for (int r = c; r < q; ++r, ++k) lam(r, c) = in[k];
    Mat M = T[j] * lam;  // λ_new λ_new' = M M'
    Mat lnew;
    if (q == 1) {
      lnew = M.cwiseAbs();
    } else {
      Eigen::HouseholderQR<Mat> qr(M.transpose());
      Mat R = qr.matrixQR().triangularView<Eigen::Upper>();
      lnew = R.transpose();  // lower triangular, λ_new λ_new' = R'R = M M'
      for (int c = 0; c < q; ++c)
        if (lnew(c, c) < 0) lnew.col(c) = -lnew.col(c);
    }
    for (int c = 0, k = offset_[j]; c < q; ++c)
      for (int r = c; r < q; ++r, ++k) out[k] = lnew(r, c);
  }
  return out;
}

}  // namespace lmm::detail
