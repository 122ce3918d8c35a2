// Selected inversion of the blocked factor. With Σ = M⁻¹ and M = L L', Σ L = L^{-T} is upper
// triangular with diagonal L_jj^{-T}, which gives, from the last column block back to the first,
//   Σ_{Rj} = -Σ_{RR} X_{Rj},   Σ_jj = L_jj^{-T} L_jj⁻¹ + X_{Rj}' Σ_{RR} X_{Rj},   X = L_{Rj} L_jj⁻¹,
// where R are the rows of L below the columns j. For a block-diagonal block each level (q columns)
// is its own column set, and the entries of Σ_{RR} it reads lie in the pattern of L (the rows of
// one column of a Cholesky factor are pairwise joined in it), so Σ is only ever formed there.
#include "linalg/selected_inverse.h"

#include <algorithm>
#include <limits>
#include <memory>
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

bool inverse_from_lower_inverse_in_place(Mat& W) {
  if (!lapack_lower_gram(W)) return false;
  W.triangularView<Eigen::StrictlyUpper>() = W.transpose();
  return true;
}

namespace {

// The dense tail of Σ (blocks s..nb-1, all Mat), its lower triangle held whole while the
// block-diagonal columns before it read it, and cut into Σ's blocks at the end.
struct Tail {
  int s = 0;
  std::vector<Eigen::Index> off;  // block i ≥ s starts at row off[i] of S
  Mat S;
};

// t.off: where each block of the dense tail (blocks t.s..) starts in it.
void tail_offsets(const std::vector<std::vector<const Block*>>& L, Tail& t) {
  const int nb = static_cast<int>(L.size());
  t.off.assign(static_cast<std::size_t>(nb + 1), 0);
  for (int i = t.s; i < nb; ++i) {
    const Mat* d = std::get_if<Mat>(L[i][i]);
    if (!d) fail("a diagonal block after a dense one is not dense");
    t.off[i + 1] = t.off[i] + d->rows();
  }
}

// The dense tail of L (blocks t.s.. as one lower-triangular matrix; its strict upper triangle is
// not set), and t.off.
Mat dense_tail_factor(const std::vector<std::vector<const Block*>>& L, Tail& t) {
  const int nb = static_cast<int>(L.size());
  tail_offsets(L, t);
  const Eigen::Index m = t.off[nb];
  Mat Ld(m, m);  // the lower triangle is all that is read
  for (int i = t.s; i < nb; ++i)
    for (int j = t.s; j <= i; ++j) {
      const Mat* b = std::get_if<Mat>(L[i][j]);
      if (!b) fail("a block below a dense diagonal block is not dense");
      Ld.block(t.off[i], t.off[j], b->rows(), b->cols()) = *b;
    }
  return Ld;
}

// The dense tail of L inverted in full (inverse_from_factor).
void invert_dense_tail(const std::vector<std::vector<const Block*>>& L, Tail& t) {
  t.S = inverse_from_factor(dense_tail_factor(L, t));
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

// X̃ = L_t0 L_00⁻¹ for a first block of scalar levels, its rows in the tail's coordinates, built
// column by column (the blocks' rows follow one another in the tail, each block's ascending).
SpMat scaled_first_column(const std::vector<std::vector<const Block*>>& L, const Tail& t) {
  const BlockDiag& d0 = std::get<BlockDiag>(*L[0][0]);
  const int nb = static_cast<int>(L.size());
  const Eigen::Index n = d0.nblocks;
  Eigen::Index nnz = 0;
  for (int i = 1; i < nb; ++i) {
    if (const Mat* d = std::get_if<Mat>(L[i][0])) {
      nnz += d->size();
      continue;
    }
    const SpMat* sp = std::get_if<SpMat>(L[i][0]);
    if (!sp || !sp->isCompressed()) fail("an off-diagonal block is neither dense nor a compressed sparse block");
    nnz += sp->nonZeros();
  }
  SpMat X(t.off.back(), n);
  X.resizeNonZeros(nnz);
  int* outer = X.outerIndexPtr();
  int* inner = X.innerIndexPtr();
  double* val = X.valuePtr();
  int k = 0;
  for (Eigen::Index c = 0; c < n; ++c) {
    outer[c] = k;
    const double s = 1 / d0.data(0, c);
    for (int i = 1; i < nb; ++i) {
      const auto off = static_cast<int>(t.off[i]);
      if (const Mat* d = std::get_if<Mat>(L[i][0])) {
        for (Eigen::Index r = 0; r < d->rows(); ++r, ++k) {
          inner[k] = off + static_cast<int>(r);
          val[k] = (*d)(r, c) * s;
        }
        continue;
      }
      const SpMat& sp = std::get<SpMat>(*L[i][0]);
      for (int e = sp.outerIndexPtr()[c]; e < sp.outerIndexPtr()[c + 1]; ++e, ++k) {
        inner[k] = off + sp.innerIndexPtr()[e];
        val[k] = sp.valuePtr()[e] * s;
      }
    }
  }
  outer[n] = k;
  return X;
}

// Memory-bound kernels against BLAS's blocked ones, per operation (CPU time; dpotrf reaches about
// 40 GFLOP/s a core): the panelled gather below about 6x slower where a panel of L_t⁻¹ stays in a
// core's L2 cache (InstEval, 1,142 rows: 4.5e7 multiply-adds in 8 ms; crossed 1,000 x 500: 2.6e7
// in 4.4 ms), about 30x where it does not and every slice is a trip to L3 or memory (1M ratings,
// 10,000 items: 5e9 in 3.8 s); the downdate's scatter into a dense block about 40x.
constexpr Eigen::Index kGramPanel = 32;  // 32 rows of W: 256 KB for 1,000 columns, in a core's L2
constexpr double kScatterSlowdown = 40;
// The recurrence reads Σ_t's entries one by one on one thread, each a trip to memory once Σ_t
// outgrows the caches: 10M ratings (3.2e9 reads of a 10,000 x 10,000 Σ_t) took 31 s of the summary
// against about 17 s by the gather.
constexpr double kRecurrenceSlowdown = 400;
double gather_slowdown(Eigen::Index m) {
  constexpr double kL2Bytes = 512 * 1024;
  return static_cast<double>(kGramPanel * m) * 8 <= kL2Bytes ? 6 : 30;
}

// The operations of diagonal_block_sums' two routes and of one factorisation, in BLAS units, from
// the pattern of X̃ (the first block's column below the diagonal, in the tail's m rows):
//   factorisation: dpotrf, m³/3 (`cholesky`), and the downdate's scatter, nnz_c² / 2 per column c;
//   gather: L_t⁻¹ (dtrtri, m³/3), then per stored entry in row r the m - r entries of its column;
//   full: Σ_t (dpotri, 2m³/3), X̃X̃' by the same scatter, and the m² trace;
//   recurrence (the conditional variances without the gather, src/model/condvar.cpp): Σ_t, then
//   nnz_c² entries of it read per column.
struct RouteCost {
  double cholesky = 0, scatter = 0, gather = 0, full = 0, recurrence = 0;
};

RouteCost route_cost(const std::vector<std::vector<const Block*>>& L) {
  const int nb = static_cast<int>(L.size());
  std::vector<Eigen::Index> off(static_cast<std::size_t>(nb + 1), 0);
  for (int i = 1; i < nb; ++i) off[i + 1] = off[i] + rows(*L[i][i]);
  const Eigen::Index m = off[nb];
  const Eigen::Index n = rows(*L[0][0]);
  double gather = 0, scatter = 0;
  for (Eigen::Index c = 0; c < n; ++c) {
    Eigen::Index first = m, count = 0;
    for (int i = 1; i < nb; ++i) {
      if (const Mat* d = std::get_if<Mat>(L[i][0])) {
        const auto r = static_cast<double>(d->rows());
        gather += r * static_cast<double>(m - off[i]) - r * (r - 1) / 2;
        first = std::min(first, off[i]);
        count += d->rows();
        continue;
      }
      const SpMat& sp = std::get<SpMat>(*L[i][0]);
      for (SpMat::InnerIterator it(sp, c); it; ++it) {
        const Eigen::Index r = off[i] + it.row();
        gather += static_cast<double>(m - r);
        first = std::min(first, r);
        ++count;
      }
    }
    if (count == 0) continue;
    gather += static_cast<double>(m - first);
    scatter += 0.5 * static_cast<double>(count) * static_cast<double>(count);
  }
  const auto md = static_cast<double>(m);
  const double cube = md * md * md / 3;
  const double slow = gather_slowdown(m);
  return {cube, kScatterSlowdown * scatter, cube + slow * gather, 2 * cube + kScatterSlowdown * scatter + md * md,
          2 * cube + 2 * kRecurrenceSlowdown * scatter};
}

// The first block's column and the dense tail behind it: the shape diagonal_block_sums() takes.
bool crossed_shape(const std::vector<std::vector<const Block*>>& L) {
  const int nb = static_cast<int>(L.size());
  const BlockDiag* d0 = nb >= 2 ? std::get_if<BlockDiag>(L[0][0]) : nullptr;
  if (!d0 || d0->q != 1) return false;
  for (int i = 1; i < nb; ++i) {
    if (!std::holds_alternative<Mat>(*L[i][i])) return false;
    const SpMat* sp = std::get_if<SpMat>(L[i][0]);
    if (!std::holds_alternative<Mat>(*L[i][0]) && !(sp && sp->isCompressed())) return false;
  }
  return true;
}

// ‖W X‖_F² = Σ_c ‖W x̃_c‖² for a lower-triangular W whose strict upper triangle is zero, and X
// compressed with ascending rows. By panels of W's rows: a panel's rows of W x̃_c sum the panel's
// slices of the columns of W that x̃_c's entries above the panel's end select, so each panel
// (kPanel rows of W) is read from cache, not W's long columns from memory. The panels run in
// parallel chunks (interleaved: later panels have more to do), each chunk's sum added in order.
// One panel's part of ‖W x̃_c‖² for every column c: their sum, and each added to per_column[c]
// where that is given.
template <int H>
double gram_panel(const Mat& W, const SpMat& X, Eigen::Index r0, Eigen::Index h, double* per_column) {
  const Eigen::Index r1 = r0 + h;
  const int* outer = X.outerIndexPtr();
  const int* inner = X.innerIndexPtr();
  const double* val = X.valuePtr();
  Eigen::Matrix<double, H == Eigen::Dynamic ? Eigen::Dynamic : H, 1> z(h);
  double sum = 0;
  for (Eigen::Index c = 0; c < X.outerSize(); ++c) {
    int k = outer[c];
    const int e = outer[c + 1];
    if (k == e || inner[k] >= r1) continue;
    z.setZero();
    for (; k < e && inner[k] < r1; ++k) {
      if constexpr (H == Eigen::Dynamic)
        z += val[k] * W.col(inner[k]).segment(r0, h);
      else
        z += val[k] * W.col(inner[k]).template segment<H>(r0);
    }
    const double zz = z.squaredNorm();
    sum += zz;
    if (per_column) per_column[c] += zz;
  }
  return sum;
}

double gram_panel_at(const Mat& W, const SpMat& X, Eigen::Index r0, double* per_column) {
  const Eigen::Index h = std::min(kGramPanel, W.rows() - r0);
  return h == kGramPanel ? gram_panel<kGramPanel>(W, X, r0, h, per_column)
                         : gram_panel<Eigen::Dynamic>(W, X, r0, h, per_column);
}

// With `columns`, each ‖W x̃_c‖² too, from the same panels (each chunk's added in chunk order): the
// sum is the same to the bit either way.
double gram_trace(const Mat& W, const SpMat& X, Eigen::VectorXd* columns = nullptr) {
  const auto npanels = static_cast<std::size_t>((W.rows() + kGramPanel - 1) / kGramPanel);
  const int nchunks = chunk_count(npanels, 4);
  std::vector<double> part(static_cast<std::size_t>(nchunks), 0.0);
  std::vector<Eigen::VectorXd> cols(columns ? static_cast<std::size_t>(nchunks) : 0);
  parallel_for(nchunks, [&](int chunk) {
    double* per_column = nullptr;
    if (columns) {
      cols[static_cast<std::size_t>(chunk)].setZero(X.outerSize());
      per_column = cols[static_cast<std::size_t>(chunk)].data();
    }
    for (auto p = static_cast<std::size_t>(chunk); p < npanels; p += static_cast<std::size_t>(nchunks))
      part[static_cast<std::size_t>(chunk)] += gram_panel_at(W, X, static_cast<Eigen::Index>(p) * kGramPanel, per_column);
  });
  double total = 0;
  for (double v : part) total += v;
  if (columns) {
    columns->setZero(X.outerSize());
    for (const auto& v : cols) *columns += v;
  }
  return total;
}

// ‖W x̃_c‖² for each column c, by the same panels, in a fixed number of chunks (each with its own
// column sums, added in chunk order).
Eigen::VectorXd gram_columns(const Mat& W, const SpMat& X) {
  const auto npanels = static_cast<std::size_t>((W.rows() + kGramPanel - 1) / kGramPanel);
  const int nchunks = std::min(chunk_count(npanels, 4), 8);
  std::vector<Eigen::VectorXd> part(static_cast<std::size_t>(nchunks));
  parallel_for(nchunks, [&](int chunk) {
    Eigen::VectorXd& v = part[static_cast<std::size_t>(chunk)];
    v.setZero(X.outerSize());
    for (auto p = static_cast<std::size_t>(chunk); p < npanels; p += static_cast<std::size_t>(nchunks))
      gram_panel_at(W, X, static_cast<Eigen::Index>(p) * kGramPanel, v.data());
  });
  Eigen::VectorXd total = Eigen::VectorXd::Zero(X.outerSize());
  for (const auto& v : part) total += v;
  return total;
}

// tr(Σ_t X̃X̃') from Σ_t's lower triangle and X̃X̃' formed by the factorisation's own cache-blocked
// downdate.
double full_trace(const Mat& S, const SpMat& X) {
  Block P = Mat(Mat::Zero(S.rows(), S.rows()));  // -X̃X̃', lower triangle
  rank_downdate(P, Block(X));
  const Mat& Pm = std::get<Mat>(P);
  double trace = 0;
  for (Eigen::Index c = 0; c < Pm.cols(); ++c) {
    const Eigen::Index len = Pm.rows() - c;
    trace -= 2 * S.col(c).tail(len).dot(Pm.col(c).tail(len)) - S(c, c) * Pm(c, c);
  }
  return trace;
}

// The q x q diagonal block of Σ_t = W'W at row r from W = L_t⁻¹ (lower triangular).
Mat gram_block(const Mat& W, Eigen::Index r, int q) {
  const Eigen::Index m = W.rows();
  Mat B(q, q);
  for (int a = 0; a < q; ++a)
    for (int b = 0; b <= a; ++b) {
      const Eigen::Index from = r + a;  // W(k, r + b) and W(k, r + a) both stored from k = r + a
      B(a, b) = B(b, a) = W.col(r + a).segment(from, m - from).dot(W.col(r + b).segment(from, m - from));
    }
  return B;
}

// W = L_t⁻¹ in place (dtrtri, else Eigen by halves), its strict upper triangle zero; true where
// LAPACK formed it.
bool tail_inverse_factor(Mat& Lt) {
  const bool lapack = lapack_lower_inverse(Lt);
  if (!lapack) lower_inverse(Lt);
  Lt.triangularView<Eigen::StrictlyUpper>().setZero();
  return lapack;
}

// The crossed shape's dense tail (t.s = 1): its factor L_t, and X̃ in its rows.
struct CrossedTail {
  Tail t;
  Mat Lt;
  SpMat X;
};

CrossedTail crossed_tail(const std::vector<std::vector<const Block*>>& L) {
  CrossedTail c;
  c.t.s = 1;
  c.Lt = dense_tail_factor(L, c.t);
  c.X = scaled_first_column(L, c.t);
  return c;
}

}  // namespace

std::vector<Mat> crossed_diagonal_blocks(const std::vector<std::vector<const Block*>>& L, const std::vector<int>& q) {
  if (!crossed_shape(L)) return {};
  const RouteCost cost = route_cost(L);
  if (cost.gather > cost.recurrence) return {};
  const int nb = static_cast<int>(L.size());
  const BlockDiag* d0 = std::get_if<BlockDiag>(L[0][0]);
  CrossedTail c = crossed_tail(L);
  const Tail& t = c.t;
  tail_inverse_factor(c.Lt);
  const Mat& W = c.Lt;
  const SpMat& X = c.X;
  std::vector<Mat> out(static_cast<std::size_t>(nb));
  out[0] = (d0->data.row(0).array().square().inverse().matrix() + gram_columns(W, X).transpose()).eval();
  for (int i = 1; i < nb; ++i) {
    const int qi = q[static_cast<std::size_t>(i)];
    out[i].resize(qi, t.off[i + 1] - t.off[i]);
    for (Eigen::Index r = t.off[i]; r < t.off[i + 1]; r += qi) out[i].middleCols(r - t.off[i], qi) = gram_block(W, r, qi);
  }
  return out;
}

std::vector<Mat> diagonal_block_sums(const std::vector<std::vector<const Block*>>& L, const std::vector<int>& q,
                                     SumRoute route, std::shared_ptr<Mat>* tail_inverse, std::vector<Mat>* blocks) {
  if (!crossed_shape(L)) return {};
  const int nb = static_cast<int>(L.size());
  const BlockDiag* d0 = std::get_if<BlockDiag>(L[0][0]);
  CrossedTail c = crossed_tail(L);
  Tail& t = c.t;
  Mat& Lt = c.Lt;
  const SpMat& X = c.X;
  bool gather = route == SumRoute::Gather;
  if (route == SumRoute::Auto) {
    const RouteCost cost = route_cost(L);
    gather = cost.gather <= cost.full;
  }
  std::vector<Mat> sums(static_cast<std::size_t>(nb));
  double trace = 0;
  bool lapack_w = false;
  // The diagonal blocks themselves, where L_t⁻¹ is handed out: the conditional variances want them
  // at this factor (crossed_diagonal_blocks() would read W again for them: InstEval 6.5 ms).
  std::vector<Mat> out;
  Eigen::VectorXd columns;
  if (gather) {  // W = L_t⁻¹ alone: m³/3, and Σ_t's diagonal blocks from W's columns
    lapack_w = tail_inverse_factor(Lt);
    const bool keep = blocks && tail_inverse && lapack_w;
    if (keep) out.resize(static_cast<std::size_t>(nb));
    trace = gram_trace(Lt, X, keep ? &columns : nullptr);
  } else {
    t.S = inverse_from_factor(std::move(Lt));
    trace = full_trace(t.S, X);
  }
  sums[0] = Mat::Constant(1, 1, d0->data.array().square().inverse().sum() + trace);
  if (!out.empty()) out[0] = (d0->data.row(0).array().square().inverse().matrix() + columns.transpose()).eval();
  for (int i = 1; i < nb; ++i) {
    const int qi = q[static_cast<std::size_t>(i)];
    sums[i] = Mat::Zero(qi, qi);
    if (!out.empty()) out[i].resize(qi, t.off[i + 1] - t.off[i]);
    for (Eigen::Index r = t.off[i]; r < t.off[i + 1]; r += qi) {
      const Mat b = gather ? gram_block(Lt, r, qi) : Mat(t.S.block(r, r, qi, qi).selfadjointView<Eigen::Lower>());
      sums[i] += b;
      if (!out.empty()) out[i].middleCols(r - t.off[i], qi) = b;
    }
  }
  if (tail_inverse && lapack_w) *tail_inverse = std::make_shared<Mat>(std::move(Lt));
  if (!out.empty()) *blocks = std::move(out);
  return sums;
}

SumsCost diagonal_block_sums_cost(const std::vector<std::vector<const Block*>>& L) {
  if (!crossed_shape(L)) return {0, 0, std::numeric_limits<double>::infinity()};
  const RouteCost cost = route_cost(L);
  return {cost.cholesky, cost.scatter, std::min(cost.gather, cost.full)};
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
