#include "model/condvar.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "linalg/selected_inverse.h"

namespace lmm::detail {

namespace {

// One column c of the sparse (leading) part of the random-effects factor: the rows below the
// diagonal in the symbolic factor, L's values there (0 for fill), and Σ's values there once
// computed.
struct SparseColumn {
  std::vector<Eigen::Index> rows;
  std::vector<double> l;
  std::vector<double> sigma;
  double diag = 1;        // L(c, c)
  double sigma_diag = 0;  // Σ(c, c)
};

// Appends column `c` of an off-diagonal block (rows shifted by `row_offset`).
void append_column(const Block& B, Eigen::Index c, Eigen::Index row_offset, SparseColumn& col) {
  if (const auto* s = std::get_if<SpMat>(&B)) {
    for (SpMat::InnerIterator it(*s, c); it; ++it) {
      col.rows.push_back(row_offset + it.row());
      col.l.push_back(it.value());
    }
    return;
  }
  if (const auto* m = std::get_if<Mat>(&B)) {
    for (Eigen::Index r = 0; r < m->rows(); ++r) {
      col.rows.push_back(row_offset + r);
      col.l.push_back((*m)(r, c));
    }
    return;
  }
  throw std::logic_error("lmm internal error: block-diagonal off-diagonal block in the factor");
}

void sort_column(SparseColumn& col) {
  if (std::is_sorted(col.rows.begin(), col.rows.end())) return;
  std::vector<std::size_t> idx(col.rows.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(),
            [&](std::size_t a, std::size_t b) { return col.rows[a] < col.rows[b]; });
  std::vector<Eigen::Index> r(idx.size());
  std::vector<double> v(idx.size());
  for (std::size_t k = 0; k < idx.size(); ++k) {
    r[k] = col.rows[idx[k]];
    v[k] = col.l[idx[k]];
  }
  col.rows = std::move(r);
  col.l = std::move(v);
}

// col.rows ∪ (child rows \ {self}), values of added rows 0.
void merge_child(SparseColumn& col, const SparseColumn& child, Eigen::Index self) {
  std::vector<Eigen::Index> rows;
  std::vector<double> l;
  rows.reserve(col.rows.size() + child.rows.size());
  l.reserve(col.rows.size() + child.rows.size());
  std::size_t a = 0, b = 0;
  while (a < col.rows.size() || b < child.rows.size()) {
    if (b < child.rows.size() && child.rows[b] == self) {
      ++b;
      continue;
    }
    if (b == child.rows.size() || (a < col.rows.size() && col.rows[a] < child.rows[b])) {
      rows.push_back(col.rows[a]);
      l.push_back(col.l[a]);
      ++a;
    } else if (a == col.rows.size() || child.rows[b] < col.rows[a]) {
      rows.push_back(child.rows[b]);
      l.push_back(0.0);
      ++b;
    } else {  // equal
      rows.push_back(col.rows[a]);
      l.push_back(col.l[a]);
      ++a;
      ++b;
    }
  }
  col.rows = std::move(rows);
  col.l = std::move(l);
}

}  // namespace

// A lower-triangular L: about 2m³/3 flops (linalg's inverse_from_factor).
Mat inverse_of_llt(const Mat& L, bool lower_triangular) {
  if (!lower_triangular) {
    Mat P = Mat::Zero(L.rows(), L.rows());
    P.selfadjointView<Eigen::Lower>().rankUpdate(L);
    Eigen::LLT<Mat> llt(P.selfadjointView<Eigen::Lower>());
    return llt.solve(Mat::Identity(L.rows(), L.rows()));
  }
  return inverse_from_factor(L);
}

namespace {

// The dense trailing part of (L L')⁻¹ from term d on: Σ_DD = (L_DD L_DD')⁻¹, because the trailing
// block of (L L')⁻¹ is the inverse built from the trailing block of L alone.
Mat dense_trailing_inverse(const detail::ModelState& m, const std::vector<Eigen::Index>& off, int d) {
  const int K = m.K;
  const Eigen::Index D0 = off[d];
  const Eigen::Index M = off[K] - D0;
  Mat LD = Mat::Zero(M, M);
  bool triangular = true;
  for (int k = d; k < K; ++k)
    for (int i = k; i < K; ++i) {
      Mat B = to_dense(m.L[i][k]);
      if (i == k) {
        if (std::holds_alternative<Mat>(m.L[k][k]))
          B.triangularView<Eigen::StrictlyUpper>().setZero();
        else
          triangular = false;  // a diagonal block factored with a permutation: L L' = M only
      }
      LD.block(off[i] - D0, off[k] - D0, B.rows(), B.cols()) = B;
    }
  return inverse_of_llt(LD, triangular);
}

// The columns of L for the terms before d, whose diagonal blocks stay block-diagonal.
std::vector<SparseColumn> sparse_leading_columns(const detail::ModelState& m, const std::vector<Eigen::Index>& off,
                                                 int d) {
  const int K = m.K;
  const Eigen::Index D0 = off[d];
  std::vector<SparseColumn> cols(static_cast<std::size_t>(D0));
  for (int j = 0; j < d; ++j) {
    const auto& bd = std::get<BlockDiag>(m.L[j][j]);
    const int q = m.q[j];
    for (Eigen::Index b = 0; b < m.nlev[j]; ++b)
      for (int a = 0; a < q; ++a) {
        const Eigen::Index local = b * q + a;
        SparseColumn& col = cols[static_cast<std::size_t>(off[j] + local)];
        col.diag = bd.data(a, local);
        // Every row of the level's own block, even where L is 0 there: its Σ is wanted.
        for (int a2 = a + 1; a2 < q; ++a2) {
          col.rows.push_back(off[j] + b * q + a2);
          col.l.push_back(bd.data(a2, local));
        }
        for (int i = j + 1; i < K; ++i) append_column(m.L[i][j], local, off[i], col);
        sort_column(col);
      }
  }
  return cols;
}

// Symbolic closure along the elimination tree (parent = first row below the diagonal), so that
// for s > t both in S_c, s is in S_t: Σ(s, t) is then computed before it is needed. Numerical
// zeros dropped from L's sparse blocks are restored as structural entries.
void close_along_elimination_tree(std::vector<SparseColumn>& cols, Eigen::Index D0) {
  std::vector<std::vector<Eigen::Index>> children(static_cast<std::size_t>(D0));
  for (Eigen::Index c = 0; c < D0; ++c) {
    SparseColumn& col = cols[static_cast<std::size_t>(c)];
    for (Eigen::Index ch : children[static_cast<std::size_t>(c)])
      merge_child(col, cols[static_cast<std::size_t>(ch)], c);
    children[static_cast<std::size_t>(c)].clear();
    children[static_cast<std::size_t>(c)].shrink_to_fit();
    if (!col.rows.empty() && col.rows.front() < D0)
      children[static_cast<std::size_t>(col.rows.front())].push_back(c);
  }
}

// Takahashi's recurrence, last column first: each column's Σ entries from the dense part SigD
// (rows from D0 on) and the columns already done.
void takahashi(std::vector<SparseColumn>& cols, const Mat& SigD, Eigen::Index D0) {
  std::vector<double> y;
  for (Eigen::Index c = D0 - 1; c >= 0; --c) {
    SparseColumn& col = cols[static_cast<std::size_t>(c)];
    const std::size_t n = col.rows.size();
    y.assign(n, 0.0);
    const std::size_t k2 = static_cast<std::size_t>(
        std::lower_bound(col.rows.begin(), col.rows.end(), D0) - col.rows.begin());
    // y = Σ(S_c, S_c) l: the dense rows from Σ_DD ...
    for (std::size_t b = k2; b < n; ++b) {
      const double lb = col.l[b];
      if (lb == 0) continue;
      const Eigen::Index rb = col.rows[b] - D0;
      for (std::size_t a = k2; a < n; ++a) y[a] += SigD(col.rows[a] - D0, rb) * lb;
    }
    // ... and the sparse ones from the columns already done (lower triangle stored by column).
    for (std::size_t a = 0; a < k2; ++a) {
      const SparseColumn& ct = cols[static_cast<std::size_t>(col.rows[a])];
      y[a] += ct.sigma_diag * col.l[a];
      std::size_t p = 0;
      for (std::size_t b = a + 1; b < n; ++b) {
        const Eigen::Index s = col.rows[b];
        while (p < ct.rows.size() && ct.rows[p] < s) ++p;
        if (p == ct.rows.size() || ct.rows[p] != s)
          throw std::logic_error(
              "lmm internal error: the symbolic factor is not closed in the selected inversion");
        const double v = ct.sigma[p];
        y[b] += v * col.l[a];
        y[a] += v * col.l[b];
      }
    }
    col.sigma.resize(n);
    double ly = 0;
    for (std::size_t a = 0; a < n; ++a) {
      col.sigma[a] = -y[a] / col.diag;
      ly += col.l[a] * y[a];
    }
    col.sigma_diag = (1 + ly) / (col.diag * col.diag);
  }
}

// Each term's diagonal level blocks, from the sparse columns or the dense part.
std::vector<Mat> level_blocks(const detail::ModelState& m, const std::vector<Eigen::Index>& off, int d,
                              const std::vector<SparseColumn>& cols, const Mat& SigD) {
  const int K = m.K;
  const Eigen::Index D0 = off[d];
  std::vector<Mat> out(K);
  for (int j = 0; j < K; ++j) {
    const int q = m.q[j];
    Mat G(q, q * m.nlev[j]);
    for (Eigen::Index b = 0; b < m.nlev[j]; ++b) {
      const Eigen::Index base = off[j] + b * q;
      if (j >= d) {
        G.middleCols(b * q, q) = SigD.block(base - D0, base - D0, q, q);
        continue;
      }
      for (int a = 0; a < q; ++a) {
        const SparseColumn& col = cols[static_cast<std::size_t>(base + a)];
        G(a, b * q + a) = col.sigma_diag;
        for (int a2 = a + 1; a2 < q; ++a2) {
          const auto it = std::lower_bound(col.rows.begin(), col.rows.end(), base + a2);
          const double v = col.sigma[static_cast<std::size_t>(it - col.rows.begin())];
          G(a2, b * q + a) = v;
          G(a, b * q + a2) = v;
        }
      }
    }
    out[j] = std::move(G);
  }
  return out;
}

}  // namespace

Mat level_inverse_block(const detail::ModelState& m, Eigen::Index b) {
  const auto& bd = std::get<BlockDiag>(m.L[0][0]);
  const int q = m.q[0];
  const auto Lb = bd.block(b);
  // Takahashi's recurrence of takahashi() on the level's own columns (every row of its block), in
  // the same order of operations, so that the result is the same to the bit.
  Mat G(q, q);
  std::vector<double> y;
  for (int c = q - 1; c >= 0; --c) {
    const int n = q - 1 - c;  // rows c+1 .. q-1
    y.assign(static_cast<std::size_t>(n), 0.0);
    for (int a = 0; a < n; ++a) {
      const int ra = c + 1 + a;
      const double la = Lb(ra, c);
      y[static_cast<std::size_t>(a)] += G(ra, ra) * la;
      for (int b2 = a + 1; b2 < n; ++b2) {
        const double v = G(c + 1 + b2, ra);
        y[static_cast<std::size_t>(b2)] += v * la;
        y[static_cast<std::size_t>(a)] += v * Lb(c + 1 + b2, c);
      }
    }
    const double diag = Lb(c, c);
    double ly = 0;
    for (int a = 0; a < n; ++a) {
      G(c + 1 + a, c) = G(c, c + 1 + a) = -y[static_cast<std::size_t>(a)] / diag;
      ly += Lb(c + 1 + a, c) * y[static_cast<std::size_t>(a)];
    }
    G(c, c) = (1 + ly) / (diag * diag);
  }
  return G;
}

namespace {

// The model's kept inverses are read and written under one lock: const callers on several threads
// (each then computes one at most once more than needed, never sees a half-written one).
std::mutex kept;
constexpr Eigen::Index kMaxKept = 6000;  // 288 MB; Satterthwaite's analytic path goes to 6,000

}  // namespace

void keep_tail_inverse_factor(const detail::ModelState& m, std::shared_ptr<Mat> w, std::vector<Mat> blocks) {
  if (!w || w->rows() > kMaxKept) return;
  std::lock_guard<std::mutex> lock(kept);
  m.tail_inverse_factor = std::move(w);
  if (!blocks.empty()) m.re_diagonal_blocks = std::make_shared<const std::vector<Mat>>(std::move(blocks));
}

namespace {

// The kept L_t⁻¹ of the tail from term 1 (null if none, or not of the tail's size), no longer kept
// with the model.
std::shared_ptr<Mat> take_tail_inverse_factor(const detail::ModelState& m) {
  Eigen::Index rows = 0;
  for (int j = 1; j < m.K; ++j) rows += m.q[j] * m.nlev[j];
  std::lock_guard<std::mutex> lock(kept);
  if (!m.tail_inverse_factor || m.tail_inverse_factor->rows() != rows) return nullptr;
  return std::move(m.tail_inverse_factor);
}

}  // namespace

std::vector<Mat> re_inverse_diagonal_blocks(const detail::ModelState& m) {
  const int K = m.K;
  {
    std::lock_guard<std::mutex> lock(kept);
    if (m.re_diagonal_blocks) return *m.re_diagonal_blocks;  // the gradient's, with its L_t⁻¹
  }
  {
    // A crossed design (a first term of scalar levels, then dense blocks): from the tail's L⁻¹
    // alone where that costs less (linalg/selected_inverse.h), not its full inverse and the
    // recurrence below, which reads |S_c|² entries of it per level.
    std::vector<std::vector<const Block*>> V(static_cast<std::size_t>(K));
    for (int i = 0; i < K; ++i)
      for (int j = 0; j <= i; ++j) V[i].push_back(&m.L[i][j]);
    std::vector<Mat> G = crossed_diagonal_blocks(V, std::vector<int>(m.q.begin(), m.q.end()));
    if (!G.empty()) return G;
  }
  std::vector<Eigen::Index> off(K + 1, 0);
  for (int j = 0; j < K; ++j) off[j + 1] = off[j] + m.q[j] * m.nlev[j];
  // The leading terms whose diagonal blocks stay block-diagonal form the sparse part; from the
  // first other one on, the factorization fills the blocks in (dense below it).
  int d = K;
  for (int j = 0; j < K; ++j)
    if (!std::holds_alternative<BlockDiag>(m.L[j][j])) {
      d = j;
      break;
    }
  const Eigen::Index D0 = off[d];
  const auto SigD = off[K] > D0 ? trailing_re_inverse(m, d) : std::make_shared<const Mat>();
  std::vector<SparseColumn> cols = sparse_leading_columns(m, off, d);
  close_along_elimination_tree(cols, D0);
  takahashi(cols, *SigD, D0);
  return level_blocks(m, off, d, cols, *SigD);
}

std::shared_ptr<const Mat> trailing_re_inverse(const detail::ModelState& m, int d) {
  {
    std::lock_guard<std::mutex> lock(kept);
    if (m.trailing_inverse && m.trailing_inverse_from == d) return m.trailing_inverse;
  }
  std::vector<Eigen::Index> off(static_cast<std::size_t>(m.K) + 1, 0);
  for (int j = 0; j < m.K; ++j) off[j + 1] = off[j] + m.q[j] * m.nlev[j];
  // From term 1 of a crossed design, where the gradient kept L_t⁻¹ at this factor: its Gram matrix
  // (dlauum), which is dpotri's second half, the first being that same dtrtri. Formed in W's own
  // storage (the gradient kept re_inverse_diagonal_blocks()'s result with W, read off its own pass
  // over it): no second m x m matrix (InstEval: 10 MB of memory touched for the first time, 2 to
  // 20 ms of page faults on the machine measured).
  std::shared_ptr<const Mat> inv;
  if (d == 1)
    if (std::shared_ptr<Mat> W = take_tail_inverse_factor(m)) {
      if (inverse_from_lower_inverse_in_place(*W))
        inv = std::move(W);
      else
        keep_tail_inverse_factor(m, std::move(W));
    }
  if (!inv) inv = std::make_shared<const Mat>(dense_trailing_inverse(m, off, d));
  if (inv->rows() <= kMaxKept) {
    std::lock_guard<std::mutex> lock(kept);
    m.trailing_inverse = inv;
    m.trailing_inverse_from = d;
  }
  return inv;
}

std::vector<Mat> re_fixed_cross(const detail::ModelState& m) {
  const int K = m.K;
  const auto np = static_cast<Eigen::Index>(m.p());
  std::vector<Mat> W(K);
  for (int j = 0; j < K; ++j) W[j].resize(m.q[j] * m.nlev[j], np);
  std::vector<Eigen::VectorXd> w(K);
  for (Eigen::Index c = 0; c < np; ++c) {
    // Back-substitution through the block rows, as for u (ModelState::u), with L_X's row c as right side.
    for (int j = K - 1; j >= 0; --j) {
      Eigen::VectorXd v = std::get<Mat>(m.L[K][j]).row(c).transpose();
      for (int i = j + 1; i < K; ++i) sub_transpose_times(m.L[i][j], w[i], v);
      solve_lower_transpose(m.L[j][j], v);
      w[j] = std::move(v);
    }
    for (int j = 0; j < K; ++j) W[j].col(c) = w[j];
  }
  return W;
}

}  // namespace lmm::detail
