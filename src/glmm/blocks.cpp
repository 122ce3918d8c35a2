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

namespace {

// The blocks' loops with q fixed at compile time for Q > 0 (q = 1, 2, 3: unrolled), else q_dyn.
template <int Q>
bool factor_levels(const double* m, const int* outer, Eigen::Index nlev, int q_dyn, double* blocks) {
  const int q = Q > 0 ? Q : q_dyn;
  for (Eigen::Index l = 0; l < nlev; ++l) {
    double* L = blocks + l * q * q;
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

template <int Q>
void solve_levels(const double* blocks, Eigen::Index nlev, int q_dyn, Eigen::MatrixXd& x) {
  const int q = Q > 0 ? Q : q_dyn;
  for (Eigen::Index j = 0; j < x.cols(); ++j)
    for (Eigen::Index l = 0; l < nlev; ++l) {
      const double* L = blocks + l * q * q;
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

}  // namespace

// Cholesky of each block into blocks_ (level l's q x q lower factor, column-major).
bool GlmmModel::factor_blocks() {
  const Term& t = terms_[0];
  const double* m = M_.valuePtr();
  const int* outer = M_.outerIndexPtr();
  switch (t.q) {
    case 1: return factor_levels<1>(m, outer, t.nlev, 1, blocks_.data());
    case 2: return factor_levels<2>(m, outer, t.nlev, 2, blocks_.data());
    case 3: return factor_levels<3>(m, outer, t.nlev, 3, blocks_.data());
    default: return factor_levels<0>(m, outer, t.nlev, t.q, blocks_.data());
  }
}

Eigen::MatrixXd GlmmModel::solve(const Eigen::MatrixXd& b) const {
  if (!blocked_) return chol_.solve(b);
  Eigen::MatrixXd x = b;
  const Term& t = terms_[0];
  switch (t.q) {
    case 1: solve_levels<1>(blocks_.data(), t.nlev, 1, x); break;
    case 2: solve_levels<2>(blocks_.data(), t.nlev, 2, x); break;
    case 3: solve_levels<3>(blocks_.data(), t.nlev, 3, x); break;
    default: solve_levels<0>(blocks_.data(), t.nlev, t.q, x);
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
