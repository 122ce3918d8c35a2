// M = Λ'Z'WZΛ + I of a model with one random-effects term is block diagonal (a q x q block per
// level, no fill-in): each block is factored and solved as a small dense matrix, without the
// sparse Cholesky's permutation and elimination-tree machinery (a third of a PIRLS step's time
// on 40,000 levels). Other models use the sparse factor (glmm_model.cpp).
#include <cmath>

#include "glmm/glmm_impl.h"

namespace lmm {

// The blocks' entries are contiguous in M_ (column-major lower triangle, each column c of level l
// holding rows c to the block's last): checked once, else the sparse path is used.
void GlmmModel::setup_blocks() {
  blocked_ = terms_.size() == 1;
  if (!blocked_) return;
  const int q = terms_[0].q;
  const int* outer = M_.outerIndexPtr();
  const int* inner = M_.innerIndexPtr();
  for (Eigen::Index c = 0; c < nre_ && blocked_; ++c) {
    const int end = static_cast<int>(c - c % q + q);  // one past the block's last row
    blocked_ = outer[c + 1] - outer[c] == end - c;
    for (int k = outer[c]; k < outer[c + 1] && blocked_; ++k) blocked_ = inner[k] == c + (k - outer[c]);
  }
  if (blocked_) blocks_.assign(static_cast<std::size_t>(nre_) * static_cast<std::size_t>(q), 0.0);
}

// Cholesky of each block into blocks_ (level l's q x q lower factor, column-major).
bool GlmmModel::factor_blocks() {
  const int q = terms_[0].q;
  const double* m = M_.valuePtr();
  const int* outer = M_.outerIndexPtr();
  for (Eigen::Index l = 0; l < terms_[0].nlev; ++l) {
    double* L = blocks_.data() + l * q * q;
    for (int c = 0; c < q; ++c) {
      const double* col = m + outer[l * q + c];
      for (int r = c; r < q; ++r) L[c * q + r] = col[r - c];
    }
    for (int c = 0; c < q; ++c) {
      double d = L[c * q + c];
      for (int k = 0; k < c; ++k) d -= L[k * q + c] * L[k * q + c];
      if (!(d > 0)) return false;
      d = std::sqrt(d);
      L[c * q + c] = d;
      for (int r = c + 1; r < q; ++r) {
        double s = L[c * q + r];
        for (int k = 0; k < c; ++k) s -= L[k * q + r] * L[k * q + c];
        L[c * q + r] = s / d;
      }
    }
  }
  return true;
}

Eigen::MatrixXd GlmmModel::solve(const Eigen::MatrixXd& b) const {
  if (!blocked_) return chol_.solve(b);
  Eigen::MatrixXd x = b;
  const int q = terms_[0].q;
  for (Eigen::Index l = 0; l < terms_[0].nlev; ++l) {
    const double* L = blocks_.data() + l * q * q;
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      double* v = x.col(j).data() + l * q;
      for (int r = 0; r < q; ++r) {  // L y = b
        double s = v[r];
        for (int k = 0; k < r; ++k) s -= L[k * q + r] * v[k];
        v[r] = s / L[r * q + r];
      }
      for (int r = q - 1; r >= 0; --r) {  // L' x = y
        double s = v[r];
        for (int k = r + 1; k < q; ++k) s -= L[r * q + k] * v[k];
        v[r] = s / L[r * q + r];
      }
    }
  }
  return x;
}

double GlmmModel::logdet() const {
  double ld = 0;
  if (blocked_) {
    const int q = terms_[0].q;
    for (Eigen::Index l = 0; l < terms_[0].nlev; ++l)
      for (int a = 0; a < q; ++a) ld += 2 * std::log(blocks_[static_cast<std::size_t>(l * q * q + a * q + a)]);
    return ld;
  }
  const auto& L = chol_.matrixL().nestedExpression();
  for (Eigen::Index j = 0; j < L.outerSize(); ++j) ld += 2 * std::log(L.coeff(j, j));
  return ld;
}

}  // namespace lmm
