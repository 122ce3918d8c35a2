// The conditioned coordinates the optimizer works in (see model_impl.h).
#include <cmath>

#include "model/model_impl.h"

namespace lmm::detail {

ThetaMap::ThetaMap(const LinearMixedModel::Impl& m) : q_(m.q), offset_(m.theta_offset) {
  const double n = static_cast<double>(m.n());
  for (int j = 0; j < m.K; ++j) {
    const auto& d = std::get<BlockDiag>(m.A[j][j]);
    Mat ztz = Mat::Zero(q_[j], q_[j]);
    for (Eigen::Index b = 0; b < d.nblocks; ++b) ztz += d.block(b);
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

std::vector<double> ThetaMap::apply(const std::vector<double>& in,
                                    const std::vector<Mat>& T) const {
  std::vector<double> out(in.size());
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
