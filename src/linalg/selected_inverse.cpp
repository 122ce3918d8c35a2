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

#include "linalg/lapack.h"
#include "util/parallel.h"

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

}  // namespace

Mat inverse_from_factor(Mat L) {
  if (lapack_inverse_from_factor(L)) {
    L.triangularView<Eigen::StrictlyUpper>() = L.transpose();
    return L;
  }
  L.triangularView<Eigen::StrictlyUpper>().setZero();
  lower_inverse(L);
  Mat S = Mat::Zero(L.rows(), L.rows());
  lower_gram(L, S);
  S.triangularView<Eigen::StrictlyUpper>() = S.transpose();
  return S;
}

namespace {

// The dense tail of Σ (blocks s..nb-1, all Mat), its lower triangle held whole while the
// block-diagonal columns before it read it, and cut into Σ's blocks at the end.
struct Tail {
  int s = 0;
  std::vector<Eigen::Index> off;  // block i ≥ s starts at row off[i] of S
  Mat S;
};

// The dense tail of L inverted in full (inverse_from_factor).
void invert_dense_tail(const std::vector<std::vector<const Block*>>& L, Tail& t) {
  const int nb = static_cast<int>(L.size());
  t.off.assign(static_cast<std::size_t>(nb + 1), 0);
  for (int i = t.s; i < nb; ++i) {
    const Mat* d = std::get_if<Mat>(L[i][i]);
    if (!d) fail("a diagonal block after a dense one is not dense");
    t.off[i + 1] = t.off[i] + d->rows();
  }
  const Eigen::Index m = t.off[nb];
  Mat Ld(m, m);  // the lower triangle is all that is read
  for (int i = t.s; i < nb; ++i)
    for (int j = t.s; j <= i; ++j) {
      const Mat* b = std::get_if<Mat>(L[i][j]);
      if (!b) fail("a block below a dense diagonal block is not dense");
      Ld.block(t.off[i], t.off[j], b->rows(), b->cols()) = *b;
    }
  t.S = inverse_from_factor(std::move(Ld));
}

// The tail's lower triangle cut into Σ's blocks, the diagonal ones made whole.
void split_tail(const Tail& t, std::vector<std::vector<Block>>& S) {
  const int nb = static_cast<int>(S.size());
  for (int i = t.s; i < nb; ++i)
    for (int j = t.s; j <= i; ++j) {
      const auto b = t.S.block(t.off[i], t.off[j], t.off[i + 1] - t.off[i], t.off[j + 1] - t.off[j]);
      S[i][j] = i == j ? Mat(b.selfadjointView<Eigen::Lower>()) : Mat(b);
    }
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
    if (q == 1) continue;  // one column's rows are ascending already
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

// Σ_RR's lower triangle for the rows R below one level: entries in the dense tail read from it
// directly (R lists them last), the others from the blocks of Σ formed so far.
void gather_sigma_rr(const std::vector<std::vector<Block>>& S, const Tail& t, const Rows& R,
                     std::vector<Eigen::Index>& tail_row, Eigen::Ref<Mat> SRR) {
  const auto nR = static_cast<Eigen::Index>(R.size());
  Eigen::Index nt = nR;  // R[nt..] lie in the tail
  while (nt > 0 && R[static_cast<std::size_t>(nt - 1)].first >= t.s) --nt;
  tail_row.resize(static_cast<std::size_t>(nR));
  for (Eigen::Index a = nt; a < nR; ++a) {
    const auto& [i, r] = R[static_cast<std::size_t>(a)];
    tail_row[static_cast<std::size_t>(a)] = t.off[i] + r;
  }
  for (Eigen::Index c = 0; c < nR; ++c) {
    const Eigen::Index a0 = std::max(c, nt);
    for (Eigen::Index a = c; a < a0; ++a) SRR(a, c) = lookup(S, R[a], R[c]);
    if (c < nt) {
      for (Eigen::Index a = a0; a < nR; ++a) SRR(a, c) = lookup(S, R[a], R[c]);
      continue;
    }
    const double* col = t.S.data() + tail_row[static_cast<std::size_t>(c)] * t.S.rows();
    for (Eigen::Index a = a0; a < nR; ++a) SRR(a, c) = col[tail_row[static_cast<std::size_t>(a)]];
  }
}

// The buffers of one level's step, reused from level to level.
struct LevelWork {
  Rows R;
  std::vector<Eigen::Index> tail_row;
  Mat X, XL, SRR, Y, Linv;
};

// Level b of the block-diagonal column block j: its diagonal block of Σ into Sjj, and Σ below it
// into S's blocks of column j (columns b q .. b q + q - 1 of them, which no other level touches).
void invert_level(const std::vector<std::vector<const Block*>>& L, int j, const Tail& t, Eigen::Index b,
                  std::vector<std::vector<Block>>& S, BlockDiag& Sjj, LevelWork& w) {
  const BlockDiag& Ljj = std::get<BlockDiag>(*L[j][j]);
  const int q = Ljj.q;
  const Eigen::Index c0 = b * q;
  level_rows(L, j, c0, q, w.R);
  w.Linv.setIdentity(q, q);
  Ljj.block(b).triangularView<Eigen::Lower>().solveInPlace(w.Linv);
  const auto nR = static_cast<Eigen::Index>(w.R.size());
  if (nR == 0) {  // no rows below this level: S_bb = L_bb⁻ᵀ L_bb⁻¹ (and no empty self-adjoint
    Sjj.block(b).noalias() = w.Linv.transpose() * w.Linv;  // product, which Eigen reads through a
    return;                                                 // null pointer: UBSan reports it)
  }
  gather_scatter(L, S, j, c0, q, w.R, w.X, false);
  w.XL.noalias() = w.X * w.Linv;  // X L_bb⁻¹
  if (w.SRR.rows() < nR) w.SRR.resize(2 * nR, 2 * nR);  // grown, never shrunk: no allocation per level
  auto srr = w.SRR.topLeftCorner(nR, nR);
  gather_sigma_rr(S, t, w.R, w.tail_row, srr);
  w.Y.noalias() = -(srr.selfadjointView<Eigen::Lower>() * w.XL);
  Sjj.block(b).noalias() = w.Linv.transpose() * w.Linv - w.XL.transpose() * w.Y;
  gather_scatter(L, S, j, c0, q, w.R, w.Y, true);
}

// Column block j (block-diagonal, every later block of Σ formed), level by level. The levels are
// independent (each reads Σ of later blocks and writes its own columns) and run in parallel
// chunks; reading Σ_RR is bound by the memory's latency, which a second core hides.
void invert_blockdiag_column(const std::vector<std::vector<const Block*>>& L, int j, const Tail& t,
                             std::vector<std::vector<Block>>& S) {
  const BlockDiag& Ljj = std::get<BlockDiag>(*L[j][j]);
  BlockDiag Sjj;
  Sjj.q = Ljj.q;
  Sjj.nblocks = Ljj.nblocks;
  Sjj.data.resize(Ljj.q, Ljj.data.cols());
  const auto n = static_cast<std::size_t>(Ljj.nblocks);
  const int nchunks = chunk_count(n, 256);
  parallel_for(nchunks, [&](int c) {
    LevelWork w;
    for (std::size_t b = chunk_begin(n, nchunks, c); b < chunk_begin(n, nchunks, c + 1); ++b)
      invert_level(L, j, t, static_cast<Eigen::Index>(b), S, Sjj, w);
  });
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

namespace {

// X̃ = L_t0 L_00⁻¹ for a first block of scalar levels, its rows in the tail's coordinates.
SpMat scaled_first_column(const std::vector<std::vector<const Block*>>& L, const Tail& t) {
  const BlockDiag& d0 = std::get<BlockDiag>(*L[0][0]);
  std::vector<Eigen::Triplet<double>> trip;
  for (int i = 1; i < static_cast<int>(L.size()); ++i) {
    if (const Mat* d = std::get_if<Mat>(L[i][0])) {
      for (Eigen::Index c = 0; c < d->cols(); ++c)
        for (Eigen::Index r = 0; r < d->rows(); ++r) trip.emplace_back(t.off[i] + r, c, (*d)(r, c) / d0.data(0, c));
      continue;
    }
    const SpMat* sp = std::get_if<SpMat>(L[i][0]);
    if (!sp) fail("an off-diagonal block is neither sparse nor dense");
    for (Eigen::Index c = 0; c < sp->outerSize(); ++c)
      for (SpMat::InnerIterator it(*sp, c); it; ++it) trip.emplace_back(t.off[i] + it.row(), c, it.value() / d0.data(0, c));
  }
  SpMat X(t.S.rows(), d0.nblocks);
  X.setFromTriplets(trip.begin(), trip.end());
  return X;
}

}  // namespace

std::vector<Mat> diagonal_block_sums(const std::vector<std::vector<const Block*>>& L, const std::vector<int>& q) {
  const int nb = static_cast<int>(L.size());
  const BlockDiag* d0 = nb >= 2 ? std::get_if<BlockDiag>(L[0][0]) : nullptr;
  if (!d0 || d0->q != 1) return {};
  for (int i = 1; i < nb; ++i)
    if (!std::holds_alternative<Mat>(*L[i][i])) return {};
  Tail t;
  t.s = 1;
  invert_dense_tail(L, t);
  // P = -X̃X̃' on its lower triangle, by the factorisation's own cache-blocked downdate.
  Block P = Mat(Mat::Zero(t.S.rows(), t.S.rows()));
  rank_downdate(P, Block(scaled_first_column(L, t)));
  const Mat& Pm = std::get<Mat>(P);
  double trace = 0;  // tr(Σ_t X̃X̃') from the two lower triangles
  for (Eigen::Index c = 0; c < Pm.cols(); ++c) {
    const Eigen::Index len = Pm.rows() - c;
    trace -= 2 * t.S.col(c).tail(len).dot(Pm.col(c).tail(len)) - t.S(c, c) * Pm(c, c);
  }
  std::vector<Mat> sums(static_cast<std::size_t>(nb));
  sums[0] = Mat::Constant(1, 1, d0->data.array().square().inverse().sum() + trace);
  for (int i = 1; i < nb; ++i) {
    const int qi = q[static_cast<std::size_t>(i)];
    sums[i] = Mat::Zero(qi, qi);
    for (Eigen::Index r = t.off[i]; r < t.off[i + 1]; r += qi)
      sums[i] += Mat(t.S.block(r, r, qi, qi).selfadjointView<Eigen::Lower>());
  }
  return sums;
}

std::vector<std::vector<Block>> selected_inverse(const std::vector<std::vector<const Block*>>& L) {
  const int nb = static_cast<int>(L.size());
  int s = 0;
  while (s < nb && std::holds_alternative<BlockDiag>(*L[s][s])) ++s;
  if (s < nb && !std::holds_alternative<Mat>(*L[s][s])) fail("a diagonal block is neither block-diagonal nor dense");
  std::vector<std::vector<Block>> S(static_cast<std::size_t>(nb));
  for (int i = 0; i < nb; ++i) S[i].resize(static_cast<std::size_t>(i + 1));
  Tail tail;
  tail.s = s;
  if (s < nb) invert_dense_tail(L, tail);
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
    invert_blockdiag_column(L, j, tail, S);
  }
  if (s < nb) split_tail(tail, S);
  return S;
}

}  // namespace lmm::detail
