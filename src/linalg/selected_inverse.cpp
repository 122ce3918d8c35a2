// Selected inversion of the blocked factor. With Σ = M⁻¹ and M = L L', Σ L = L^{-T} is upper
// triangular with diagonal L_jj^{-T}, which gives, from the last column block back to the first,
//   Σ_{Rj} = -Σ_{RR} X_{Rj},   Σ_jj = L_jj^{-T} L_jj⁻¹ + X_{Rj}' Σ_{RR} X_{Rj},   X = L_{Rj} L_jj⁻¹,
// where R are the rows of L below the columns j. For a block-diagonal block each level (q columns)
// is its own column set, and the entries of Σ_{RR} it reads lie in the pattern of L (the rows of
// one column of a Cholesky factor are pairwise joined in it), so Σ is only ever formed there.
#include "linalg/selected_inverse.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace lmm::detail {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::logic_error("lmm internal error: selected_inverse: " + what);
}

using Rows = std::vector<std::pair<int, Eigen::Index>>;  // (block, row within it), ascending

// L⁻¹ in place for a lower-triangular L, by halves (LAPACK's trtri): with L = [A 0; B C],
// L⁻¹ = [A⁻¹ 0; -C⁻¹BA⁻¹ C⁻¹], m³/3 operations, in matrix products.
void lower_inverse(Eigen::Ref<Mat> L) {
  const Eigen::Index m = L.rows();
  if (m <= 32) {
    Mat I = Mat::Identity(m, m);
    L.triangularView<Eigen::Lower>().solveInPlace(I);
    L = I;
    return;
  }
  const Eigen::Index h = m / 2;
  auto A = L.topLeftCorner(h, h);
  auto B = L.bottomLeftCorner(m - h, h);
  auto C = L.bottomRightCorner(m - h, m - h);
  lower_inverse(A);
  lower_inverse(C);
  Mat T = -(B * A.triangularView<Eigen::Lower>());
  B.noalias() = C.triangularView<Eigen::Lower>() * T;
  L.topRightCorner(h, m - h).setZero();
}

// S = N'N for a lower-triangular N (LAPACK's lauum), lower triangle only: with N = [A 0; B C],
// N'N = [A'A + B'B, B'C; C'B, C'C], m³/3 operations.
void lower_gram(const Eigen::Ref<const Mat>& N, Eigen::Ref<Mat> S) {
  const Eigen::Index m = N.rows();
  if (m <= 32) {
    S.noalias() = N.transpose() * N.triangularView<Eigen::Lower>();
    return;
  }
  const Eigen::Index h = m / 2;
  lower_gram(N.topLeftCorner(h, h), S.topLeftCorner(h, h));
  S.topLeftCorner(h, h).selfadjointView<Eigen::Lower>().rankUpdate(N.bottomLeftCorner(m - h, h).transpose());
  S.bottomLeftCorner(m - h, h).noalias() =
      N.bottomRightCorner(m - h, m - h).transpose().triangularView<Eigen::Upper>() * N.bottomLeftCorner(m - h, h);
  lower_gram(N.bottomRightCorner(m - h, m - h), S.bottomRightCorner(m - h, m - h));
}

// The dense tail (blocks s..nb-1, all Mat) inverted in full into its blocks of Σ.
void invert_dense_tail(const std::vector<std::vector<const Block*>>& L, int s, std::vector<std::vector<Block>>& S) {
  const int nb = static_cast<int>(L.size());
  std::vector<Eigen::Index> off(static_cast<std::size_t>(nb + 1), 0);
  for (int i = s; i < nb; ++i) {
    const Mat* d = std::get_if<Mat>(L[i][i]);
    if (!d) fail("a diagonal block after a dense one is not dense");
    off[i + 1] = off[i] + d->rows();
  }
  const Eigen::Index m = off[nb];
  Mat Ld = Mat::Zero(m, m);
  for (int i = s; i < nb; ++i)
    for (int j = s; j <= i; ++j) {
      const Mat* b = std::get_if<Mat>(L[i][j]);
      if (!b) fail("a block below a dense diagonal block is not dense");
      Ld.block(off[i], off[j], b->rows(), b->cols()) = *b;
    }
  lower_inverse(Ld);
  Mat Sd = Mat::Zero(m, m);
  lower_gram(Ld, Sd);
  Ld.resize(0, 0);
  Sd.triangularView<Eigen::StrictlyUpper>() = Sd.transpose();
  for (int i = s; i < nb; ++i)
    for (int j = s; j <= i; ++j) S[i][j] = Mat(Sd.block(off[i], off[j], off[i + 1] - off[i], off[j + 1] - off[j]));
}

// Σ(r1, r2) of rows a = (i1, r1) ≥ b = (i2, r2) from the blocks of Σ formed so far.
double lookup(const std::vector<std::vector<Block>>& S, const std::pair<int, Eigen::Index>& a,
              const std::pair<int, Eigen::Index>& b) {
  return selected_entry(S[a.first][b.first], a.second, b.second);
}

// The rows of L below the q columns of level b of block j.
void level_rows(const std::vector<std::vector<const Block*>>& L, int j, Eigen::Index c0, int q, Rows& R) {
  R.clear();
  for (int i = j + 1; i < static_cast<int>(L.size()); ++i) {
    const std::size_t start = R.size();
    if (const Mat* d = std::get_if<Mat>(L[i][j])) {
      for (Eigen::Index r = 0; r < d->rows(); ++r) R.emplace_back(i, r);
      continue;
    }
    const SpMat* sp = std::get_if<SpMat>(L[i][j]);
    if (!sp) fail("an off-diagonal block is neither sparse nor dense");
    for (Eigen::Index c = c0; c < c0 + q; ++c)
      for (SpMat::InnerIterator it(*sp, c); it; ++it) R.emplace_back(i, it.row());
    std::sort(R.begin() + static_cast<std::ptrdiff_t>(start), R.end());
    R.erase(std::unique(R.begin() + static_cast<std::ptrdiff_t>(start), R.end()), R.end());
  }
}

// Position of (i, r) in R (it is there).
Eigen::Index position(const Rows& R, int i, Eigen::Index r) {
  return std::lower_bound(R.begin(), R.end(), std::make_pair(i, r)) - R.begin();
}

// Reads L's entries (rows R, the q columns from c0) into X (Σ: scatter = false), or writes Y into
// Σ's blocks of the same pattern (scatter = true).
void gather_scatter(const std::vector<std::vector<const Block*>>& L, std::vector<std::vector<Block>>& S, int j,
                    Eigen::Index c0, int q, const Rows& R, Mat& X, bool scatter) {
  if (!scatter) X = Mat::Zero(static_cast<Eigen::Index>(R.size()), q);
  for (int i = j + 1; i < static_cast<int>(L.size()); ++i) {
    if (const Mat* d = std::get_if<Mat>(L[i][j])) {
      const Eigen::Index p0 = position(R, i, 0);
      if (scatter)
        std::get<Mat>(S[i][j]).middleCols(c0, q) = X.middleRows(p0, d->rows());
      else
        X.middleRows(p0, d->rows()) = d->middleCols(c0, q);
      continue;
    }
    // Σ's block holds a compressed copy of L's until these columns are overwritten.
    SpMat& sp = std::get<SpMat>(S[i][j]);
    for (Eigen::Index c = c0; c < c0 + q; ++c) {
      const int b = sp.outerIndexPtr()[c], e = sp.outerIndexPtr()[c + 1];
      for (int k = b; k < e; ++k) {
        const Eigen::Index pos = position(R, i, sp.innerIndexPtr()[k]);
        if (scatter)
          sp.valuePtr()[k] = X(pos, c - c0);
        else
          X(pos, c - c0) = sp.valuePtr()[k];
      }
    }
  }
}

// Column block j (block-diagonal, every later block of Σ formed), level by level.
void invert_blockdiag_column(const std::vector<std::vector<const Block*>>& L, int j,
                             std::vector<std::vector<Block>>& S) {
  const BlockDiag& Ljj = std::get<BlockDiag>(*L[j][j]);
  const int q = Ljj.q;
  BlockDiag Sjj;
  Sjj.q = q;
  Sjj.nblocks = Ljj.nblocks;
  Sjj.data.resize(q, Ljj.data.cols());
  Rows R;
  Mat X, SRR, Y, Linv(q, q);
  for (Eigen::Index b = 0; b < Ljj.nblocks; ++b) {
    const Eigen::Index c0 = b * q;
    level_rows(L, j, c0, q, R);
    Linv.setIdentity();
    Ljj.block(b).triangularView<Eigen::Lower>().solveInPlace(Linv);
    const auto nR = static_cast<Eigen::Index>(R.size());
    if (nR == 0) {  // no rows below this level: S_bb = L_bb⁻ᵀ L_bb⁻¹ (and no empty self-adjoint
      Sjj.block(b).noalias() = Linv.transpose() * Linv;  // product, which Eigen reads through a
      continue;                                             // null pointer: UBSan reports it)
    }
    gather_scatter(L, S, j, c0, q, R, X, false);
    X = X * Linv;  // X L_bb⁻¹
    SRR.resize(nR, nR);
    for (Eigen::Index c = 0; c < nR; ++c)
      for (Eigen::Index a = c; a < nR; ++a) SRR(a, c) = lookup(S, R[a], R[c]);
    Y.noalias() = -(SRR.selfadjointView<Eigen::Lower>() * X);
    Sjj.block(b).noalias() = Linv.transpose() * Linv - X.transpose() * Y;
    gather_scatter(L, S, j, c0, q, R, Y, true);
  }
  S[j][j] = std::move(Sjj);
}

}  // namespace

double selected_entry(const Block& S, Eigen::Index r, Eigen::Index c) {
  if (const Mat* d = std::get_if<Mat>(&S)) return (*d)(r, c);
  if (const BlockDiag* bd = std::get_if<BlockDiag>(&S)) {
    if (r / bd->q != c / bd->q) fail("two levels of a block-diagonal block meet");
    return bd->data(r % bd->q, c);
  }
  const SpMat& sp = std::get<SpMat>(S);
  const int* inner = sp.innerIndexPtr();
  const int* lo = inner + sp.outerIndexPtr()[c];
  const int* hi = inner + sp.outerIndexPtr()[c + 1];
  const int* it = std::lower_bound(lo, hi, static_cast<int>(r));
  if (it == hi || *it != r) fail("an entry outside the pattern of the factor is needed");
  return sp.valuePtr()[it - inner];
}

std::vector<std::vector<Block>> selected_inverse(const std::vector<std::vector<const Block*>>& L) {
  const int nb = static_cast<int>(L.size());
  int s = 0;
  while (s < nb && std::holds_alternative<BlockDiag>(*L[s][s])) ++s;
  if (s < nb && !std::holds_alternative<Mat>(*L[s][s])) fail("a diagonal block is neither block-diagonal nor dense");
  std::vector<std::vector<Block>> S(static_cast<std::size_t>(nb));
  for (int i = 0; i < nb; ++i) S[i].resize(static_cast<std::size_t>(i + 1));
  if (s < nb) invert_dense_tail(L, s, S);
  for (int j = s - 1; j >= 0; --j) {
    // Blocks of Σ below the diagonal take the shape (and a SpMat the pattern) of L's.
    for (int i = j + 1; i < nb; ++i) {
      if (const SpMat* sp = std::get_if<SpMat>(L[i][j])) {
        SpMat c = *sp;
        c.makeCompressed();
        S[i][j] = std::move(c);
      } else if (const Mat* d = std::get_if<Mat>(L[i][j])) {
        S[i][j] = Mat(d->rows(), d->cols());
      }
    }
    invert_blockdiag_column(L, j, S);
  }
  return S;
}

}  // namespace lmm::detail
