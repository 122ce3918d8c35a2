// Products with Ṽ⁻¹ through the first term's level blocks and a dense m x m Schur complement of
// the other terms (see vinv_parts.h).
//
// With T_0 = Λ_0(Λ_0'Z_0'Z_0Λ_0 + I)⁻¹Λ_0' (block-diagonal by level) and S = Z'Z:
//   Ṽ_0⁻¹ = I - Z_0T_0Z_0',   N_00 = S_00 - S_00T_0S_00,   N_0R = (I - S_00T_0) S_0R,
//   N_RR = S_RR - S_R0T_0S_0R,  N_RX = S_RX - S_R0T_0S_0X,  N_XX = X'X - X'Z_0T_0S_0X,
//   F = I + Λ_R'N_RRΛ_R (the Schur complement the blocked factor holds in its trailing blocks),
//   Ṽ⁻¹ = Ṽ_0⁻¹ - Ṽ_0⁻¹Z_R G Z_R'Ṽ_0⁻¹,   G = Λ_R F⁻¹ Λ_R',   Y = I - G N_RR,
//   M_00 = N_00 - N_0R G N_R0,   M_0R = N_0R Y,   M_RR = N_RR Y.
// Where the terms after the first have one effect each (Λ_R diagonal, λ > 0), Λ_R'N_RRΛ_R = F - I
// gives Y = Λ_R F⁻¹ Λ_R⁻¹, M_RR = Λ_R⁻¹(I - F⁻¹)Λ_R⁻¹ and G = Λ_R² Y' without m³ products: F⁻¹
// scaled entry by entry, so none of them is formed, and M_R0 is used by panels of its rows as they
// are formed (first_term_panels).
// The traces tr(D_r M D_s M) split by where D_r and D_s live:
//   both in R:       Σ over the blocks B of M_RR of <E_r B, B E_s>,
//   first and R:     the same over the blocks of M_0R (held as M_R0 = M_0R'),
//   both first:      Σ_b tr(E_r N_b E_s N_b) - 2 Σ_b tr(E_r N_b E_s U_b) + tr(G H_s G H_r),
// with N_b, U_b the level blocks of N_00 and of N_0R G N_R0 and H_r = N_R0 D_r N_0R.
#include "inference/vinv_parts.h"

#include <Eigen/Dense>
#include <algorithm>
#include <fmt/format.h>

#include "model/condvar.h"
#include "util/parallel.h"

namespace lmm::detail {

namespace {

using Eigen::Index;
using Triplets = std::vector<Eigen::Triplet<double>>;

SpMat sparse_of(const Block& b) {
  if (const auto* s = std::get_if<SpMat>(&b)) return *s;
  return to_dense(b).sparseView();
}

// The nonzeros of block b (or of its transpose) at (r0, c0), without a dense copy of a
// block-diagonal b.
void add_triplets(const Block& b, Index r0, Index c0, bool transpose, Triplets& t) {
  auto put = [&](Index i, Index j, double v) {
    if (transpose) std::swap(i, j);
    t.emplace_back(r0 + i, c0 + j, v);
  };
  if (const auto* d = std::get_if<BlockDiag>(&b)) {
    for (Index k = 0; k < d->nblocks; ++k)
      for (int j = 0; j < d->q; ++j)
        for (int i = 0; i < d->q; ++i) put(k * d->q + i, k * d->q + j, d->data(i, k * d->q + j));
    return;
  }
  const SpMat s = sparse_of(b);
  for (Index j = 0; j < s.outerSize(); ++j)
    for (SpMat::InnerIterator it(s, j); it; ++it) put(it.row(), j, it.value());
}

// A = (A + A')/2 by 64 x 64 tiles, each lower tile with its upper mirror: the same sums as
// 0.5 * (A + A') without walking a large A's columns across its rows.
void symmetrize(Mat& A) {
  constexpr Index t = 64;
  const Index n = A.rows();
  for (Index j0 = 0; j0 < n; j0 += t)
    for (Index i0 = j0; i0 < n; i0 += t) {
      const Index bi = std::min(t, n - i0), bj = std::min(t, n - j0);
      auto L = A.block(i0, j0, bi, bj);
      if (i0 == j0) {
        L = (0.5 * (L + L.transpose())).eval();
      } else {
        auto U = A.block(j0, i0, bj, bi);
        L = 0.5 * (L + U.transpose());
        U = L.transpose();
      }
    }
}

// A B for a B of a few columns, one matrix-vector product per column: Eigen runs A B through its
// matrix-matrix kernel on OpenMP's threads, whose workers then spin-wait for more work and take
// the cores from lmm's own threads (times_sparse) on a 2-core machine; the products by vector run
// on the calling thread.
Mat thin_product(const Mat& A, const Mat& B) {
  Mat out(A.rows(), B.cols());
  for (Index j = 0; j < B.cols(); ++j) out.col(j).noalias() = A * B.col(j);
  return out;
}

// A S for a dense A and a sparse S, column by column of S: each column of the result a sum of
// columns of A (contiguous), where Eigen's dense-times-sparse product walked A's rows.
// A's rows are taken kRows at a time (a panel), each slice of a column of the result summed in
// registers over the nonzeros of S's column: the panel's slice of A (kRows x A.cols()) stays in the
// core's cache across all of S's columns, where whole columns of A (2 to 27 MB in all) came from
// memory at each nonzero. The panels are shared out among lmm's threads, so that each thread reads
// its rows of A once; chunks of S's columns instead (as before) read all of A once per chunk, 17 to
// 46 times on InstEval (its two products 17 and 25 ms, now 9 and 9). Each entry of the result is
// the same sum in the same order as column by column, whatever the panels and the thread count.
template <int kRows>
void times_sparse_panels(const Mat& A, const SpMat& S, Mat& out, Index p0, Index p1) {
  for (Index r0 = p0 * kRows; r0 < p1 * kRows; r0 += kRows)
    for (Index j = 0; j < S.outerSize(); ++j) {
      Eigen::Matrix<double, kRows, 1> acc = Eigen::Matrix<double, kRows, 1>::Zero();
      for (SpMat::InnerIterator it(S, j); it; ++it) acc += it.value() * A.col(it.row()).template segment<kRows>(r0);
      out.col(j).template segment<kRows>(r0) = acc;
    }
}

template <int kRows>
void times_sparse_rows(const Mat& A, const SpMat& S, Mat& out) {
  const auto npanels = static_cast<std::size_t>(A.rows() / kRows);
  const int nchunks = chunk_count(npanels, 4);
  parallel_for(nchunks, [&](int c) {
    times_sparse_panels<kRows>(A, S, out, static_cast<Index>(chunk_begin(npanels, nchunks, c)),
                               static_cast<Index>(chunk_begin(npanels, nchunks, c + 1)));
  });
  const Index r0 = static_cast<Index>(npanels) * kRows, rest = A.rows() - r0;
  if (rest > 0)
    for (Index j = 0; j < S.outerSize(); ++j) {
      out.col(j).tail(rest).setZero();
      for (SpMat::InnerIterator it(S, j); it; ++it) out.col(j).tail(rest) += it.value() * A.col(it.row()).tail(rest);
    }
}

// Panels of 32 rows where their slice of A is at most 512 KB (A's 1,142 columns on InstEval: 292 KB),
// else of 16 (M_R0's 2,972 columns: 380 KB).
Mat times_sparse(const Mat& A, const SpMat& S) {
  Mat out(A.rows(), S.cols());
  if (32 * 8 * A.cols() <= 512 * 1024)
    times_sparse_rows<32>(A, S, out);
  else
    times_sparse_rows<16>(A, S, out);
  return out;
}

// out += alpha Σ_b A_b' W_b B_b over the first term's levels b: A_b and B_b are level b's q0 rows
// of n0 x m sparse matrices A and B, given transposed (m x n0, a row as a column), and W_b is
// level b's q0 x q0 block of W (q0 x n0). Scattered into the dense m x m matrix: Σ_b q0² nnz_b²
// products (InstEval: 2 million), where the sparse product A'(I ⊗ W)B and its dense copy took
// several times as long.
void add_level_products(Mat& out, const SpMat& At, const Mat& W, const SpMat& Bt, int q0, double alpha) {
  const Index nl = W.cols() / q0;
  for (Index b = 0; b < nl; ++b)
    for (int s = 0; s < q0; ++s)
      for (SpMat::InnerIterator jb(Bt, b * q0 + s); jb; ++jb) {
        double* col = out.data() + jb.row() * out.rows();
        for (int r = 0; r < q0; ++r) {
          const double w = alpha * W(r, b * q0 + s) * jb.value();
          if (w == 0) continue;
          for (SpMat::InnerIterator ia(At, b * q0 + r); ia; ++ia) col[ia.row()] += w * ia.value();
        }
      }
}

}  // namespace

std::string VinvParts::infeasible(const std::vector<int>& q, const std::vector<Index>& nlev, long max_dense) {
  if (q.empty()) return {};
  Index m = 0;
  for (std::size_t k = 1; k < q.size(); ++k) m += q[k] * nlev[k];
  const double n0 = static_cast<double>(q[0]) * static_cast<double>(nlev[0]);
  if (m > max_dense)
    return fmt::format("needs {0} x {0} dense matrices of the random effects of the terms after the first, more "
                       "than the {1} x {1} allowed",
                       m, max_dense);
  if (n0 * static_cast<double>(m) > 5e7)
    return fmt::format("needs a {} x {} dense matrix of the random effects, more than 50 million entries",
                       static_cast<Index>(n0), m);
  return {};
}

void VinvParts::build_first_term(const ModelState& m, SpMat& S0R, Mat& S0X, SpMat& T0sp, SpMat& B0) {
  const auto& d0 = std::get<BlockDiag>(m.A[0][0]);
  const Mat& lam = m.lambda[0];
  const Index q0 = q0_, nl = nlev_[0];
  T0_.resize(q0, n0_);
  N00_.resize(q0, n0_);
  Triplets tt, tb;
  for (Index b = 0; b < nl; ++b) {
    const Mat Sb = d0.block(b);
    Mat C = lam.transpose() * Sb * lam;
    C.diagonal().array() += 1.0;
    const Mat Tb = lam * Eigen::LLT<Mat>(C).solve(Mat(lam.transpose()));
    Mat Bb = -Sb * Tb;
    Bb.diagonal().array() += 1.0;
    T0_.middleCols(b * q0, q0) = Tb;
    N00_.middleCols(b * q0, q0) = Bb * Sb;
    trT0S00_ += (Tb * Sb).trace();
    for (Index j = 0; j < q0; ++j)
      for (Index i = 0; i < q0; ++i) {
        tt.emplace_back(b * q0 + i, b * q0 + j, Tb(i, j));
        tb.emplace_back(b * q0 + i, b * q0 + j, Bb(i, j));
      }
  }
  T0sp.resize(n0_, n0_);
  T0sp.setFromTriplets(tt.begin(), tt.end());
  B0.resize(n0_, n0_);
  B0.setFromTriplets(tb.begin(), tb.end());
  // S_R0 = the blocks Z_k'Z_0 stacked, column by column in row order (no triplets to sort); S_0R
  // its transpose.
  std::vector<SpMat> parts;
  Eigen::VectorXi colnnz = Eigen::VectorXi::Zero(n0_);
  for (int k = 1; k < K_; ++k) {
    parts.push_back(sparse_of(m.A[k][0]));  // (q_k nlev_k) x n0
    parts.back().makeCompressed();
    for (Index c = 0; c < n0_; ++c)
      colnnz(c) += static_cast<int>(parts.back().outerIndexPtr()[c + 1] - parts.back().outerIndexPtr()[c]);
  }
  S0Rt_.resize(m_, n0_);
  S0Rt_.reserve(colnnz);
  for (Index c = 0; c < n0_; ++c)
    for (int k = 1; k < K_; ++k)
      for (SpMat::InnerIterator it(parts[static_cast<std::size_t>(k - 1)], c); it; ++it)
        S0Rt_.insert(roff_[k] + it.row(), c) = it.value();
  S0Rt_.makeCompressed();
  S0R = S0Rt_.transpose();
  S0X = std::get<Mat>(m.A[K_][0]).transpose();  // n0 x (p + 1)
}

VinvParts::VinvParts(const ModelState& m) : K_(m.K), q_(m.q), nlev_(m.nlev) {
  q0_ = q_[0];
  n0_ = q0_ * nlev_[0];
  roff_.assign(static_cast<std::size_t>(K_) + 1, 0);
  for (int k = 1; k < K_; ++k) roff_[k + 1] = roff_[k] + q_[k] * nlev_[k];
  m_ = roff_[K_];
  const Mat XX = std::get<Mat>(m.A[K_][K_]).selfadjointView<Eigen::Lower>();
  nc_ = XX.rows();

  SpMat S0R, B0;
  Mat S0X;
  build_first_term(m, S0R, S0X, T0sp_, B0);
  if (q0_ == 1) {  // B_0 diagonal: N_0R and N_R0 by scaling, without a sparse product and a transpose
    const Eigen::VectorXd b0 = B0.diagonal();
    N0R_ = b0.asDiagonal() * S0R;
    N0Rt_ = S0Rt_ * b0.asDiagonal();
  } else {
    N0R_ = B0 * S0R;
    N0Rt_ = N0R_.transpose();
  }
  const Mat N0X = B0 * S0X;
  Mat SRX(m_, nc_);
  {
    Triplets ts;
    for (int k = 1; k < K_; ++k) {
      add_triplets(m.A[k][k], roff_[k], roff_[k], false, ts);
      for (int j = k + 1; j < K_; ++j) {
        add_triplets(m.A[j][k], roff_[j], roff_[k], false, ts);
        add_triplets(m.A[j][k], roff_[k], roff_[j], true, ts);
      }
      SRX.middleRows(roff_[k], q_[k] * nlev_[k]) = std::get<Mat>(m.A[K_][k]).transpose();
    }
    SRR_.resize(m_, m_);
    SRR_.setFromTriplets(ts.begin(), ts.end());
  }
  const Mat NRX = SRX - S0Rt_ * (T0sp_ * S0X);
  Mat xvx0 = XX - S0X.transpose() * (T0sp_ * S0X);

  // F = I + Λ_R'N_RRΛ_R is the Schur complement the model's blocked factor holds in its trailing
  // blocks (terms 1..K-1, at the model's θ): F⁻¹ from that factor (model/condvar.h), not formed and
  // factored again.
  if (m_ > 0) {
    Finv_ = trailing_re_inverse(m, 1);
    if (scalar_parts(m)) {
      first_term_panels();
    } else {
      G_ = *Finv_;  // G = Λ_R F⁻¹ Λ_R'
      Finv_.reset();
      lambda_sandwich(G_, m);
      symmetrize(G_);
      NRR_ = dense_nrr();
      Mat Yt;  // Y' = I - N_RR G
      general_parts(Yt);
      M0Rt_ = times_sparse(Yt, N0Rt_);  // M_R0 = Y' N_R0
    }
  }
  const Mat GNRX = g_times(NRX);
  W1_.resize(n0_ + m_, nc_);
  W1_.topRows(n0_) = N0X - N0R_ * GNRX;
  W1_.bottomRows(m_) = NRX - nrr_times(GNRX);
  xvx_ = xvx0 - NRX.transpose() * GNRX;
  symmetrize(xvx_);
  if (!scalar()) diag_blocks_U();  // else first_term_panels' own
}

// N_RR = S_RR - S_R0 T_0 S_0R densely: a scatter of Σ_b q0² nnz_b² products into m x m (crossed
// 1,000 x 500: 10 million, about 10 ms), wanted by general_parts and trace_vinv only; where
// scalar_parts applies, products with N_RR go through its sparse factors instead (nrr_times).
Mat VinvParts::dense_nrr() const {
  Mat N = SRR_;
  add_level_products(N, S0Rt_, T0_, S0Rt_, q0_, -1.0);
  symmetrize(N);
  return N;
}

// N_RR v, by the dense N_RR where it is formed, else as S_RR v - S_R0 (T_0 (S_0R v)): 2 nnz(S_0R)
// + nnz(S_RR) products per column rather than m².
Mat VinvParts::nrr_times(const Mat& v) const {
  if (NRR_.size() > 0 || m_ == 0) return thin_product(NRR_, v);
  const Mat t = T0sp_ * (S0Rt_.transpose() * v);
  Mat out = SRR_ * v;
  out.noalias() -= S0Rt_ * t;
  return out;
}

// G v: by the dense G, or where scalar_parts applied as Λ_R (F⁻¹ (Λ_R v)).
Mat VinvParts::g_times(const Mat& v) const {
  if (!scalar()) return thin_product(G_, v);
  return lam_.asDiagonal() * thin_product(*Finv_, lam_.asDiagonal() * v);
}

// Λ_R M Λ_R' in place for a symmetric M (Λ_R = ⊕_k I ⊗ λ_k over the terms after the first): the
// columns times Λ_R', the transpose, the columns again.
void VinvParts::lambda_sandwich(Mat& M, const ModelState& m) const {
  auto right = [&] {
    for (int k = 1; k < K_; ++k) {
      const Mat lam = m.lambda[k].transpose();
      for (Index b = 0; b < nlev_[k]; ++b) {
        auto c = M.middleCols(roff_[k] + b * q_[k], q_[k]);
        c = (c * lam).eval();
      }
    }
  };
  right();
  M.transposeInPlace();
  right();
}

// Terms after the first with one effect each and Λ_R = diag(λ) well away from singular: with
// Λ_R'N_RRΛ_R = F - I, N_RR G = Λ_R⁻¹(I - F⁻¹)Λ_R, so Y' = Λ_R⁻¹F⁻¹Λ_R, M_RR = Λ_R⁻¹(I - F⁻¹)Λ_R⁻¹
// and G = Λ_R F⁻¹ Λ_R: F⁻¹ scaled entry by entry (no m³ product, and no m x m copy: InstEval's
// three, 30 MB touched for the first time, cost 3 ms on a warm heap and up to 60 ms where the
// virtual machine's memory was cold). Only the diagonal of I - F⁻¹ subtracts; where 1 - (F⁻¹)_ii is
// small (λ_i² times its information small) it would lose digits, and the products of general_parts
// are used instead. Returns false then.
bool VinvParts::scalar_parts(const ModelState& m) {
  const Mat& Finv = *Finv_;
  Eigen::VectorXd lam(m_);
  for (int k = 1; k < K_; ++k) {
    if (q_[k] != 1) return false;
    lam.segment(roff_[k], nlev_[k]).setConstant(m.lambda[k](0, 0));
  }
  constexpr double kMinInformed = 1e-4;  // 1 - (F⁻¹)_ii: digits lost ≈ log10 of its inverse
  if (!scalar_shortcut() || (1.0 - Finv.diagonal().array()).minCoeff() < kMinInformed || !(lam.array() > 0).all())
    return false;
  lam_ = std::move(lam);
  lam2_ = lam_.array().square();
  return true;
}

// M_RR(i, j) where scalar_parts applied: -(F⁻¹)_ij / (λ_i λ_j), and (1 - (F⁻¹)_ii) / λ_i² on the
// diagonal.
double VinvParts::m_rr_entry(Index i, Index j) const {
  const double ii = 1.0 / lam_(i), ij = 1.0 / lam_(j);
  return i == j ? (1.0 - (*Finv_)(i, i)) * ii * ii : -(*Finv_)(i, j) * ii * ij;
}

// block_gram over M_RR's block of terms a and b (scalar terms: the block's squared norm) where
// scalar_parts applied, from F⁻¹ (λ is constant within a term).
Mat VinvParts::rr_gram(int a, int b) const {
  const Mat& F = *Finv_;
  const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
  const Index ra = roff_[ua], na = nlev_[ua];
  double off = 0, diag = 0;
  for (Index c = 0; c < nlev_[ub]; ++c) {
    const Index j = roff_[ub] + c;
    if (a != b) {
      off += F.col(j).segment(ra, na).squaredNorm();
    } else {
      off += F.col(j).segment(ra, c).squaredNorm() + F.col(j).segment(j + 1, na - c - 1).squaredNorm();
      diag += (1.0 - F(j, j)) * (1.0 - F(j, j));
    }
  }
  const double s = 1.0 / (lam2_(ra) * lam2_(roff_[ub]));
  return Mat::Constant(1, 1, (off + diag) * s);
}

// What the traces need of M_R0 = Y'N_R0 (m x n0; InstEval 1,142 x 2,972, 27 MB) where scalar_parts
// applied, by panels of kRows of its rows, each formed from the same rows of Y' and used at once
// while it is in the core's cache: block_gram over each term's rows (gram0_), the level blocks U_b
// of N_0R G N_R0 (U00_: G N_R0 = Λ_R² M_R0 there, so U_b is N_0R's rows of level b times level b's
// columns of Λ_R² M_R0, nnz(N_0R) q0 products in all), and with one effect in the first term
// G N_R0 N_0R = Λ_R² M_R0 N_0R (GNN_, for G H_r). M_R0 is kept whole only where the first term has
// several effects (G H_r for each of its parameters). Each entry of M_R0 and of GNN_ is the same
// sum, in the same order, as the whole products gave; the panels' sums of squares and U_b's
// partial sums are added in chunk order (fixed by m alone, whatever the thread count).
void VinvParts::first_term_panels() {
  constexpr Index kRows = 8;
  const Mat& F = *Finv_;
  const Eigen::ArrayXd inv = lam_.array().inverse();
  const bool keep = q0_ > 1;
  if (keep) M0Rt_.resize(m_, n0_);
  if (q0_ == 1) GNN_.resize(m_, m_);
  std::vector<int> term_of(static_cast<std::size_t>(m_));
  for (int k = 1; k < K_; ++k)
    for (Index i = roff_[k]; i < roff_[k + 1]; ++i) term_of[static_cast<std::size_t>(i)] = k;
  const auto npanels = static_cast<std::size_t>((m_ + kRows - 1) / kRows);
  const int nchunks = chunk_count(npanels, 2);
  std::vector<std::vector<Mat>> gram(static_cast<std::size_t>(nchunks));
  std::vector<Mat> U(static_cast<std::size_t>(nchunks));
  parallel_for(nchunks, [&](int c) {
    auto& g = gram[static_cast<std::size_t>(c)];
    g.assign(static_cast<std::size_t>(K_), Mat::Zero(q0_, q0_));
    Mat& u = U[static_cast<std::size_t>(c)];
    u = Mat::Zero(q0_, n0_);
    Eigen::Matrix<double, kRows, Eigen::Dynamic> Yp(kRows, m_), Mp(kRows, n0_);
    using Acc = Eigen::Matrix<double, kRows, 1>;
    for (auto p = chunk_begin(npanels, nchunks, c); p < chunk_begin(npanels, nchunks, c + 1); ++p) {
      const Index r0 = static_cast<Index>(p) * kRows, rows = std::min(kRows, m_ - r0);
      // Rows r0.. of Y' = Λ_R⁻¹F⁻¹Λ_R, from F⁻¹'s columns (F⁻¹ symmetric); rows past m zero.
      for (Index r = 0; r < kRows; ++r) {
        if (r < rows)
          Yp.row(r) = (F.col(r0 + r).array() * inv(r0 + r) * lam_.array()).transpose();
        else
          Yp.row(r).setZero();
      }
      for (Index j = 0; j < n0_; ++j) {  // the panel of M_R0 = Y'N_R0
        Acc acc = Acc::Zero();
        for (SpMat::InnerIterator it(N0Rt_, j); it; ++it) acc += it.value() * Yp.col(it.row());
        Mp.col(j) = acc;
      }
      if (keep) M0Rt_.middleRows(r0, rows) = Mp.topRows(rows);
      for (Index r = 0; r < rows; ++r) {
        const Index i = r0 + r;
        Mat& gk = g[static_cast<std::size_t>(term_of[static_cast<std::size_t>(i)])];
        if (q0_ == 1) {
          gk(0, 0) += Mp.row(r).squaredNorm();
        } else {
          for (Index b = 0; b < nlev_[0]; ++b) {
            const auto v = Mp.block(r, b * q0_, 1, q0_);
            gk.noalias() += v.transpose() * v;
          }
        }
        // U_b += (row i of N_0R's level-b rows) λ_i² (row i of M_R0's level-b columns).
        for (SpMat::InnerIterator it(N0R_, i); it; ++it) {
          const Index b = it.row() / q0_, rr = it.row() % q0_;
          const double w = it.value() * lam2_(i);
          for (int s = 0; s < q0_; ++s) u(rr, b * q0_ + s) += w * Mp(r, b * q0_ + s);
        }
      }
      if (q0_ == 1)
        for (Index j = 0; j < m_; ++j) {  // rows r0.. of Λ_R² M_R0 N_0R
          Acc acc = Acc::Zero();
          for (SpMat::InnerIterator it(N0R_, j); it; ++it) acc += it.value() * Mp.col(it.row());
          for (Index r = 0; r < rows; ++r) GNN_(r0 + r, j) = acc(r) * lam2_(r0 + r);
        }
    }
  });
  gram0_.assign(static_cast<std::size_t>(K_), Mat::Zero(q0_, q0_));
  U00_ = Mat::Zero(q0_, n0_);
  for (int c = 0; c < nchunks; ++c) {
    for (int k = 1; k < K_; ++k) gram0_[static_cast<std::size_t>(k)] += gram[static_cast<std::size_t>(c)][static_cast<std::size_t>(k)];
    U00_ += U[static_cast<std::size_t>(c)];
  }
}

bool& VinvParts::scalar_shortcut() {
  static bool on = true;
  return on;
}

// Y' = I - N_RR G and M_RR = N_RR Y by dense products (M_RR symmetric: its lower triangle only).
void VinvParts::general_parts(Mat& Yt) {
  M1RR_ = NRR_;
  Mat NG(m_, m_);
  NG.noalias() = NRR_ * G_;
  M1RR_.triangularView<Eigen::Lower>() -= NG * NRR_;
  M1RR_.triangularView<Eigen::StrictlyUpper>() = M1RR_.transpose();
  Yt = -NG;
  Yt.diagonal().array() += 1.0;
}

// U_b: the level blocks of N_0R G N_R0, from the nonzero columns of each level's rows.
void VinvParts::diag_blocks_U() {
  U00_ = Mat::Zero(q0_, n0_);
  if (m_ == 0) return;
  const Eigen::SparseMatrix<double, Eigen::RowMajor> Nr = N0R_;
  std::vector<Index> pos(static_cast<std::size_t>(m_), -1), idx;
  for (Index b = 0; b < nlev_[0]; ++b) {
    idx.clear();
    for (Index i = b * q0_; i < (b + 1) * q0_; ++i)
      for (Eigen::SparseMatrix<double, Eigen::RowMajor>::InnerIterator it(Nr, i); it; ++it)
        if (pos[static_cast<std::size_t>(it.col())] < 0) {
          pos[static_cast<std::size_t>(it.col())] = static_cast<Index>(idx.size());
          idx.push_back(it.col());
        }
    const auto ni = static_cast<Index>(idx.size());
    Mat R = Mat::Zero(q0_, ni), Gs(ni, ni);
    for (Index i = b * q0_; i < (b + 1) * q0_; ++i)
      for (Eigen::SparseMatrix<double, Eigen::RowMajor>::InnerIterator it(Nr, i); it; ++it)
        R(i - b * q0_, pos[static_cast<std::size_t>(it.col())]) = it.value();
    for (Index j = 0; j < ni; ++j)
      for (Index i = 0; i < ni; ++i) Gs(i, j) = G_(idx[static_cast<std::size_t>(i)], idx[static_cast<std::size_t>(j)]);
    U00_.middleCols(b * q0_, q0_) = R * Gs * R.transpose();
    for (Index c : idx) pos[static_cast<std::size_t>(c)] = -1;
  }
}

Mat VinvParts::apply(const Mat& v) const {
  const Index c = v.cols();
  Mat out(n0_ + m_, c);
  const auto v0 = v.topRows(n0_);
  const auto vR = v.bottomRows(m_);
  const Mat NRv = N0R_.transpose() * v0 + nrr_times(vR);
  const Mat g = g_times(NRv);
  for (Index b = 0; b < nlev_[0]; ++b)
    out.middleRows(b * q0_, q0_) = N00_.middleCols(b * q0_, q0_) * v0.middleRows(b * q0_, q0_);
  out.topRows(n0_) += N0R_ * (vR - g);
  out.bottomRows(m_) = NRv - nrr_times(g);
  return out;
}

Mat VinvParts::apply(const TermDerivative& d, const Mat& v) const {
  Mat out = Mat::Zero(v.rows(), v.cols());
  const int q = q_[static_cast<std::size_t>(d.term)];
  const Index off = d.term == 0 ? 0 : n0_ + roff_[static_cast<std::size_t>(d.term)];
  for (Index b = 0; b < nlev_[static_cast<std::size_t>(d.term)]; ++b)
    out.middleRows(off + b * q, q) = d.E * v.middleRows(off + b * q, q);
  return out;
}

double VinvParts::trace(const TermDerivative& d) const {
  const int q = q_[static_cast<std::size_t>(d.term)];
  double t = 0;
  for (Index b = 0; b < nlev_[static_cast<std::size_t>(d.term)]; ++b) {
    if (d.term == 0) {
      t += (d.E.array() * (N00_.middleCols(b * q, q) - U00_.middleCols(b * q, q)).transpose().array()).sum();
    } else {
      const Index o = roff_[static_cast<std::size_t>(d.term)] + b * q;
      t += scalar() ? d.E(0, 0) * m_rr_entry(o, o) : (d.E.array() * M1RR_.block(o, o, q, q).transpose().array()).sum();
    }
  }
  return t;
}

// gnn_pair: with one effect in the first term, tr((G N_R0 N_0R)²), which tr(G H_s G H_r) is e_r e_s
// times (GHr and GHs are then empty).
double VinvParts::trace_zero_zero(const TermDerivative& r, const TermDerivative& s, const Mat& GHr,
                                  const Mat& GHs, double gnn_pair) const {
  double t = 0;
  for (Index b = 0; b < nlev_[0]; ++b) {
    const auto Nb = N00_.middleCols(b * q0_, q0_);
    const Mat ENE = r.E * Nb * s.E;
    t += (ENE.array() * (Nb - 2 * U00_.middleCols(b * q0_, q0_)).transpose().array()).sum();
  }
  if (m_ == 0) return t;
  if (q0_ == 1) return t + r.E(0, 0) * s.E(0, 0) * gnn_pair;
  return t + (GHs.array() * GHr.transpose().array()).sum();
}

// Σ over the qa x qb blocks B of M's na x nb block grid from (r0, c0) of vec(B) vec(B)'.
Mat VinvParts::block_gram(const Mat& M, Index r0, int qa, Index na, Index c0, int qb, Index nb) {
  if (qa == 1 && qb == 1) return Mat::Constant(1, 1, M.block(r0, c0, na, nb).squaredNorm());
  const Index w = static_cast<Index>(qa) * qb;
  Mat T = Mat::Zero(w, w);
  Eigen::VectorXd v(w);
  for (Index b = 0; b < nb; ++b)
    for (Index a = 0; a < na; ++a) {
      for (int j = 0; j < qb; ++j) v.segment(j * qa, qa) = M.block(r0 + a * qa, c0 + b * qb + j, qa, 1);
      T.selfadjointView<Eigen::Lower>().rankUpdate(v);
    }
  return T.selfadjointView<Eigen::Lower>();
}

namespace {

// Σ_B <Ea B, B Eb> (Frobenius, Ea and Eb symmetric) from T = Σ_B vec(B) vec(B)' (block_gram):
// Σ_{i,a,j,l} Ea(i,a) Eb(j,l) B(a,j) B(i,l).
double contract(const Mat& T, const Mat& Ea, const Mat& Eb) {
  const Index qa = Ea.rows(), qb = Eb.rows();
  double t = 0;
  for (Index l = 0; l < qb; ++l)
    for (Index j = 0; j < qb; ++j)
      for (Index a = 0; a < qa; ++a)
        for (Index i = 0; i < qa; ++i) t += Ea(i, a) * Eb(j, l) * T(a + qa * j, i + qa * l);
  return t;
}

}  // namespace

// tr(D_r M D_s M) = Σ over the blocks B of M in D_r's rows and D_s's columns of <E_r B, B' E_s>
// (M symmetric), from one pass over each pair of terms' part of M_RR or M_0R (block_gram), and
// through G H_r for two first-term parameters.
Mat VinvParts::trace_pairs(const std::vector<TermDerivative>& d) const {
  const auto n = static_cast<Index>(d.size());
  Mat out(n, n);
  std::vector<Mat> gram(static_cast<std::size_t>(K_ * K_)), GH(d.size());
  auto term_gram = [&](int a, int b) -> const Mat& {  // a <= b
    Mat& T = gram[static_cast<std::size_t>(a * K_ + b)];
    if (T.size() == 0) {
      const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
      if (a == 0)
        T = scalar() ? gram0_[ub] : block_gram(M0Rt_, roff_[ub], q_[ub], nlev_[ub], 0, q0_, nlev_[0]);
      else
        T = scalar() ? rr_gram(a, b) : block_gram(M1RR_, roff_[ua], q_[ua], nlev_[ua], roff_[ub], q_[ub], nlev_[ub]);
    }
    return T;
  };
  // G H_r = ((G N_R0) D_r) N_0R: 4 m nnz(N_0R) operations, not 2m³. Where scalar_parts applied,
  // G N_R0 = Λ_R² M_R0 (G = Λ_R² Y' there). With one effect in the first term, D_r = e_r I and
  // G H_r = e_r (G N_R0 N_0R): one product for all first-term parameters (first_term_panels' GNN_
  // where scalar_parts applied), and tr(G H_s G H_r) = e_r e_s tr((G N_R0 N_0R)²), without an m x m
  // copy per parameter (InstEval: 10 MB each touched for the first time, 10-25 ms in page faults).
  double gnn_pair = 0;
  bool first_term = false;
  for (const TermDerivative& t : d) first_term = first_term || t.term == 0;
  Mat GN;  // G N_R0 (m x n0), where not Λ_R² M_R0
  if (first_term && m_ > 0 && !scalar()) GN = times_sparse(G_, N0Rt_);
  if (first_term && m_ > 0 && q0_ == 1) {
    const Mat local = scalar() ? Mat() : times_sparse(GN, N0R_);
    const Mat& GNN = scalar() ? GNN_ : local;
    gnn_pair = (GNN.array() * GNN.transpose().array()).sum();
  }
  for (std::size_t r = 0; r < d.size(); ++r) {
    if (d[r].term != 0 || m_ == 0 || q0_ == 1) continue;
    Mat P = scalar() ? Mat(lam2_.asDiagonal() * M0Rt_) : GN;
    for (Index b = 0; b < nlev_[0]; ++b) P.middleCols(b * q0_, q0_) = P.middleCols(b * q0_, q0_) * d[r].E;
    GH[r] = times_sparse(P, N0R_);
  }
  for (std::size_t r = 0; r < d.size(); ++r)
    for (std::size_t s = r; s < d.size(); ++s) {
      const int kr = d[r].term, ks = d[s].term;
      double t = 0;
      if (kr == 0 && ks == 0) {
        t = trace_zero_zero(d[r], d[s], GH[r], GH[s], gnn_pair);
      } else if (m_ > 0) {
        // Ordered by term; the first term's blocks are held transposed (M_R0), so its E comes second.
        const auto [a, b] = kr <= ks ? std::pair{r, s} : std::pair{s, r};
        const int ka = d[a].term, kb = d[b].term;
        t = ka == 0 ? contract(term_gram(ka, kb), d[b].E, d[a].E) : contract(term_gram(ka, kb), d[a].E, d[b].E);
      }
      out(static_cast<Index>(r), static_cast<Index>(s)) = out(static_cast<Index>(s), static_cast<Index>(r)) = t;
    }
  return out;
}

// tr(Ṽ⁻¹) = n - tr(T_0 S_00) - tr(Ṽ_0⁻¹Z_R G Z_R'Ṽ_0⁻¹), the last = tr(G (N_RR - N_R0 T_0 S_0R)): a
// scatter of Σ_b q0² nnz_b² products into an m x m copy, formed here for Kenward-Roger alone rather
// than by every constructor (Satterthwaite has no use for it).
double VinvParts::trace_vinv(double n) const {
  if (m_ == 0) return n - trT0S00_;
  Mat Q = NRR_.size() > 0 ? NRR_ : dense_nrr();
  add_level_products(Q, N0Rt_, T0_, S0Rt_, q0_, -1.0);
  double trGV0 = 0;
  if (scalar()) {  // G = Λ_R F⁻¹ Λ_R
    for (Index j = 0; j < m_; ++j) trGV0 += lam_(j) * (lam_.array() * Finv_->col(j).array() * Q.col(j).array()).sum();
  } else {
    trGV0 = (G_.array() * Q.array()).sum();
  }
  return n - trT0S00_ - trGV0;
}

}  // namespace lmm::detail
