// The block kernels of src/linalg/blocks.h, pair of block types by pair of block types (as
// MixedModels.jl's test/linalg.jl tests rankUpdate! for each pair): every kernel against the same
// computation done densely with Eigen on small random blocks, to 1e-12 relative. A pair the
// blocked factorisation never meets has no kernel and must throw, not compute something wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "linalg/blocks.h"
#include "linalg/selected_inverse.h"
#include "lmm/parallel.h"

namespace {

using lmm::detail::Block;
using lmm::detail::BlockDiag;
using lmm::detail::Mat;
using lmm::detail::SparseChol;
using lmm::detail::SpMat;
using Eigen::Index;
using Eigen::VectorXd;

constexpr double kTol = 1e-12;

// max |got - want| <= kTol * max(1, max |want|), with a message naming the largest difference.
::testing::AssertionResult close(const Mat& got, const Mat& want) {
  if (got.rows() != want.rows() || got.cols() != want.cols())
    return ::testing::AssertionFailure() << "size " << got.rows() << "x" << got.cols() << " vs "
                                         << want.rows() << "x" << want.cols();
  const double scale = std::max(1.0, want.cwiseAbs().maxCoeff());
  const double diff = want.size() ? (got - want).cwiseAbs().maxCoeff() : 0.0;
  if (diff <= kTol * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |difference| " << diff << " at scale " << scale << "\ngot\n"
                                       << got << "\nwant\n"
                                       << want;
}

class Random {
 public:
  explicit Random(unsigned seed) : gen_(seed) {}
  double normal() { return N_(gen_); }
  Mat dense(Index r, Index c) {
    Mat M(r, c);
    for (Index j = 0; j < c; ++j)
      for (Index i = 0; i < r; ++i) M(i, j) = normal();
    return M;
  }
  // About `density` of the entries non-zero, compressed.
  SpMat sparse(Index r, Index c, double density) {
    std::vector<Eigen::Triplet<double>> t;
    for (Index j = 0; j < c; ++j)
      for (Index i = 0; i < r; ++i)
        if (U_(gen_) < density) t.emplace_back(i, j, normal());
    SpMat S(r, c);
    S.setFromTriplets(t.begin(), t.end());
    return S;
  }
  // A lower-triangular q x q with positive diagonal (a relative covariance factor λ).
  Mat lambda(int q) {
    Mat L = dense(q, q).triangularView<Eigen::Lower>();
    L.diagonal() = L.diagonal().cwiseAbs().array() + 0.5;
    return L;
  }
  // nblocks symmetric positive definite q x q blocks (Z'Z of one level each).
  BlockDiag blockdiag_spd(int q, Index nblocks) {
    BlockDiag B;
    B.q = q;
    B.nblocks = nblocks;
    B.data.resize(q, q * nblocks);
    for (Index b = 0; b < nblocks; ++b) {
      Mat G = dense(q, q + 2);
      B.block(b) = G * G.transpose() + Mat::Identity(q, q);
    }
    return B;
  }
  BlockDiag blockdiag_general(int q, Index nblocks) {
    BlockDiag B;
    B.q = q;
    B.nblocks = nblocks;
    B.data = dense(q, q * nblocks);
    return B;
  }
  // A symmetric positive definite m x m, sparse (diagonally dominant).
  SpMat sparse_spd(Index m, double density) {
    SpMat S = sparse(m, m, density);
    SpMat M = SpMat(S + SpMat(S.transpose()));
    for (Index i = 0; i < m; ++i) M.coeffRef(i, i) += 2.0 * static_cast<double>(m);
    M.makeCompressed();
    return M;
  }

 private:
  std::mt19937 gen_;
  std::normal_distribution<double> N_{0.0, 1.0};
  std::uniform_real_distribution<double> U_{0.0, 1.0};
};

// Λ = I_n ⊗ λ written out densely, independently of the library's kron_identity.
Mat dense_kron(const Mat& lambda, Index n) {
  const Index q = lambda.rows();
  Mat K = Mat::Zero(q * n, q * n);
  for (Index b = 0; b < n; ++b) K.block(b * q, b * q, q, q) = lambda;
  return K;
}

// The dense block-diagonal matrix of a BlockDiag, written out independently of to_dense.
Mat dense_blocks(const BlockDiag& B) {
  Mat M = Mat::Zero(B.size(), B.size());
  for (Index b = 0; b < B.nblocks; ++b)
    for (int c = 0; c < B.q; ++c)
      for (int r = 0; r < B.q; ++r) M(b * B.q + r, b * B.q + c) = B.data(r, b * B.q + c);
  return M;
}

Mat lower(const Mat& M) { return M.triangularView<Eigen::Lower>(); }

// The diagonal q x q blocks of M, zero elsewhere.
Mat diagonal_blocks(const Mat& M, int q) {
  Mat D = Mat::Zero(M.rows(), M.cols());
  for (Index b = 0; b < M.rows() / q; ++b) D.block(b * q, b * q, q, q) = M.block(b * q, b * q, q, q);
  return D;
}

using Named = std::vector<std::pair<const char*, Block>>;

// Blocks named "... uncompressed" get their sparse matrix uncompressed in place (a copy of an
// uncompressed Eigen matrix, as into a Block, is compressed again), so the kernels' paths for
// uncompressed storage are taken.
void uncompress_named(Named& blocks) {
  for (auto& [name, b] : blocks)
    if (std::string(name).find("uncompressed") != std::string::npos) {
      auto& S = std::get<SpMat>(b);
      S.uncompress();
      ASSERT_FALSE(S.isCompressed()) << name;
    }
}

// A factored SparseChol of a sparse SPD m x m, and the matrix it factors.
SparseChol factored_sparse_chol(Random& r, Index m, Mat* M) {
  SparseChol c;
  c.M = r.sparse_spd(m, 0.15);
  *M = Mat(c.M);
  Block b = std::move(c);
  EXPECT_TRUE(lmm::detail::cholesky(b));
  return std::move(std::get<SparseChol>(b));
}

// ---------------------------------------------------------------- shapes, Λ and to_dense

TEST(BlockKernels, RowsColsAndToDenseOfEveryType) {
  Random r(1);
  BlockDiag bd = r.blockdiag_general(3, 4);
  SpMat s = r.sparse(5, 7, 0.3);
  Mat d = r.dense(4, 6);
  SparseChol c;
  c.M = r.sparse_spd(6, 0.3);
  const std::vector<std::pair<Block, Mat>> cases = {
      {Block(bd), dense_blocks(bd)}, {Block(s), Mat(s)}, {Block(d), d}, {Block(c), Mat(c.M)}};
  for (const auto& [b, want] : cases) {
    SCOPED_TRACE(b.index());
    EXPECT_EQ(lmm::detail::rows(b), want.rows());
    EXPECT_EQ(lmm::detail::cols(b), want.cols());
    EXPECT_TRUE(close(lmm::detail::to_dense(b), want));
  }
}

TEST(BlockKernels, KronIdentityAndMultiplicationByLambda) {
  Random r(2);
  for (int q : {1, 2, 3}) {
    SCOPED_TRACE(q);
    const Mat lam = r.lambda(q);
    const Index n = 4;
    EXPECT_TRUE(close(Mat(lmm::detail::kron_identity(lam, n)), dense_kron(lam, n)));
    const Mat M0 = r.dense(q * n, q * n + q);  // not square: rows and columns counted apart
    Mat right = r.dense(5, q * n);
    const Mat right0 = right;
    lmm::detail::right_mult_lambda(right, lam);
    EXPECT_TRUE(close(right, right0 * dense_kron(lam, n)));
    Mat left = M0;
    lmm::detail::left_mult_lambda_t(left, lam);
    EXPECT_TRUE(close(left, dense_kron(lam, n).transpose() * M0));
  }
}

// ---------------------------------------------------------------- scale: Λ_i' A Λ_j (+ I)

TEST(BlockKernels, ScaleBlockDiagIntoEachDiagonalType) {
  Random r(3);
  for (int q : {1, 2, 3}) {
    for (bool add_identity : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "q " << q << " +I " << add_identity);
      const Index n = 5;
      const BlockDiag src = r.blockdiag_general(q, n);
      const Mat li = r.lambda(q), lj = r.lambda(q);
      Mat want = dense_kron(li, n).transpose() * dense_blocks(src) * dense_kron(lj, n);
      if (add_identity) want += Mat::Identity(q * n, q * n);

      Block bd_target = BlockDiag{};
      lmm::detail::scale(bd_target, Block(src), li, lj, add_identity);
      EXPECT_TRUE(close(dense_blocks(std::get<BlockDiag>(bd_target)), want)) << "into BlockDiag";

      Block chol_target = SparseChol{};
      lmm::detail::scale(chol_target, Block(src), li, lj, add_identity);
      EXPECT_TRUE(close(Mat(std::get<SparseChol>(chol_target).M), want)) << "into SparseChol";

      Block dense_target = Mat(r.dense(2, 3));  // resized and overwritten
      lmm::detail::scale(dense_target, Block(src), li, lj, add_identity);
      EXPECT_TRUE(close(std::get<Mat>(dense_target), want)) << "into a dense block";
    }
  }
}

TEST(BlockKernels, ScaleSparseIntoSparse) {
  Random r(4);
  struct Case {
    int qi, qj;
    bool add_identity, same_pattern_target, empty_lambda_i;
  };
  const std::vector<Case> cases = {
      {1, 1, false, true, false},  // values scaled in place (the pattern of A[i][0])
      {1, 1, false, false, false}, {1, 1, true, false, false}, {1, 1, false, true, true},
      {2, 1, false, false, false}, {1, 3, false, false, false}, {2, 3, false, false, false},
      {2, 2, true, false, false},  {0, 2, false, false, true}};
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "qi " << c.qi << " qj " << c.qj << " +I " << c.add_identity
                                      << " same pattern " << c.same_pattern_target);
    const Index ni = 3, nj = 3;
    const int qi = std::max(c.qi, 1);
    const SpMat src = r.sparse(qi * ni, c.qj * nj, 0.4);
    const Mat li = c.empty_lambda_i ? Mat() : r.lambda(qi), lj = r.lambda(c.qj);
    const Mat Li = c.empty_lambda_i ? Mat(Mat::Identity(qi * ni, qi * ni)) : dense_kron(li, ni);
    Mat want = Li.transpose() * Mat(src) * dense_kron(lj, nj);
    if (c.add_identity) want += Mat::Identity(want.rows(), want.cols());
    SpMat t0;
    if (c.same_pattern_target) {
      t0 = src;
      for (Index k = 0; k < t0.nonZeros(); ++k) t0.valuePtr()[k] = 99.0;  // stale values
    }
    Block target = t0;
    lmm::detail::scale(target, Block(src), li, lj, c.add_identity);
    EXPECT_TRUE(close(Mat(std::get<SpMat>(target)), want));
  }
}

TEST(BlockKernels, ScaleAnySourceIntoDense) {
  Random r(5);
  const Index n = 4;
  const int q = 2;
  const Mat li = r.lambda(q), lj = r.lambda(q);
  const Mat dense_src = r.dense(q * n, q * n);
  const SpMat sparse_src = r.sparse(q * n, q * n, 0.4);
  const Mat Li = dense_kron(li, n), Lj = dense_kron(lj, n);
  for (bool add_identity : {false, true}) {
    const Mat I = add_identity ? Mat(Mat::Identity(q * n, q * n)) : Mat(Mat::Zero(q * n, q * n));
    Block t1 = Mat();
    lmm::detail::scale(t1, Block(dense_src), li, lj, add_identity);
    EXPECT_TRUE(close(std::get<Mat>(t1), Li.transpose() * dense_src * Lj + I)) << "dense source";
    Block t2 = Mat();
    lmm::detail::scale(t2, Block(sparse_src), li, lj, add_identity);
    EXPECT_TRUE(close(std::get<Mat>(t2), Li.transpose() * Mat(sparse_src) * Lj + I)) << "sparse source";
    // The [X y] row of blocks: Λ_i is the identity (an empty λ).
    const Mat xy = r.dense(3, q * n);
    Block t3 = Mat();
    lmm::detail::scale(t3, Block(xy), Mat(), lj, false);
    EXPECT_TRUE(close(std::get<Mat>(t3), xy * Lj)) << "[X y] row";
  }
}

TEST(BlockKernels, ScaleWithoutAKernelThrows) {
  Random r(6);
  const Mat lam = r.lambda(1);
  Block bd_target = BlockDiag{};
  EXPECT_THROW(lmm::detail::scale(bd_target, Block(r.sparse(3, 3, 0.5)), lam, lam, false), std::logic_error);
  Block sp_target = SpMat();
  EXPECT_THROW(lmm::detail::scale(sp_target, Block(r.blockdiag_general(1, 3)), lam, lam, false),
               std::logic_error);
}

// ---------------------------------------------------------------- rank_downdate: T -= S S'

TEST(BlockKernels, RankDowndateOfADenseBlock) {
  Random r(7);
  const Index m = 6;
  const Mat T0 = r.dense(m, m);
  Named sources = {
      {"dense", Block(r.dense(m, 4))},
      {"sparse", Block(r.sparse(m, 5, 0.4))},
      {"sparse, uncompressed", Block(r.sparse(m, 5, 0.4))},
      {"block-diagonal q=2", Block(r.blockdiag_general(2, 3))},
      {"block-diagonal q=1", Block(r.blockdiag_general(1, 6))}};
  uncompress_named(sources);
  for (const auto& [name, S] : sources) {
    SCOPED_TRACE(name);
    const Mat Sd = lmm::detail::to_dense(S);
    Block T = T0;
    lmm::detail::rank_downdate(T, S);
    // Only the lower triangle counts (it is all a dense Cholesky reads).
    EXPECT_TRUE(close(lower(std::get<Mat>(T)), lower(T0 - Sd * Sd.transpose())));
  }
}

// A dense block of 1,024 rows or more is downdated column by column from S's row lists, in
// parallel: the same lower triangle, and the strict upper triangle left alone. Columns of S with few
// and with many entries, one empty, and one with entries only in the last rows.
TEST(BlockKernels, RankDowndateOfALargeDenseBlockByPanels) {
  Random r(17);
  const Index m = 1100;
  SpMat S = r.sparse(m, 60, 0.02);
  SpMat heavy = r.sparse(m, 3, 0.5);
  std::vector<Eigen::Triplet<double>> t;
  for (Index c = 0; c < S.outerSize(); ++c)
    for (SpMat::InnerIterator it(S, c); it; ++it)
      if (c != 5) t.emplace_back(it.row(), it.col(), it.value());
  for (Index c = 0; c < heavy.outerSize(); ++c)
    for (SpMat::InnerIterator it(heavy, c); it; ++it) t.emplace_back(it.row(), 60 + it.col(), it.value());
  for (Index i = m - 3; i < m; ++i) t.emplace_back(i, 63, 1.5);
  SpMat all(m, 64);
  all.setFromTriplets(t.begin(), t.end());
  const Mat T0 = r.dense(m, m);
  const Mat Sd(all);
  Block T = T0;
  lmm::detail::rank_downdate(T, all);
  const Mat& got = std::get<Mat>(T);
  EXPECT_TRUE(close(lower(got), lower(T0 - Sd * Sd.transpose())));
  EXPECT_EQ(Mat(got.triangularView<Eigen::StrictlyUpper>()), Mat(T0.triangularView<Eigen::StrictlyUpper>()));
}

// The same path where some columns of S hold one value throughout (an intercept with one
// observation per pair of levels), which it updates from their row indices alone, beside columns
// with differing values, a column with one entry and an empty one: each T(a, b) must receive the
// products column by column of S in increasing order, exactly as the plain scatter below does.
TEST(BlockKernels, RankDowndateOfALargeDenseBlockByUniformColumns) {
  Random r(18);
  const Index m = 1300, ncols = 90;
  std::mt19937 gen(19);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<Eigen::Triplet<double>> t;
  for (Index c = 0; c < ncols; ++c) {
    const double density = c % 10 == 0 ? 0.4 : 0.03;  // a few heavy columns
    const double v = r.normal();                        // odd columns: this value throughout
    for (Index i = 0; i < m; ++i)
      if (c % 7 != 3 && u(gen) < density) t.emplace_back(i, c, c % 2 ? v : r.normal());
  }
  t.emplace_back(m - 1, 3, 0.75);  // column 3: one entry, in the last row
  SpMat S(m, ncols);
  S.setFromTriplets(t.begin(), t.end());
  ASSERT_GT(S.nonZeros(), 2000);
  const Mat T0 = r.dense(m, m);
  Mat want = T0;
  for (Index c = 0; c < ncols; ++c)
    for (SpMat::InnerIterator b(S, c); b; ++b)
      for (SpMat::InnerIterator a(S, c); a; ++a)
        if (a.row() >= b.row()) want(a.row(), b.row()) -= a.value() * b.value();
  const Mat Sd(S);
  ASSERT_TRUE(close(lower(want), lower(T0 - Sd * Sd.transpose())));
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    lmm::set_num_threads(threads);
    Block T = T0;
    lmm::detail::rank_downdate(T, Block(S));
    EXPECT_EQ(std::get<Mat>(T), want);
  }
  lmm::set_num_threads(0);
}

// A plan kept between calls: made at the first, reused for S with the same pattern and other
// values (some of its columns no longer hold one value throughout), made again for S of another
// pattern; each call gives the plain downdate.
TEST(BlockKernels, RankDowndateKeepsItsPlanForOnePattern) {
  Random r(20);
  const Index m = 1100;
  const Mat T0 = r.dense(m, m);
  SpMat S = r.sparse(m, 40, 0.03);
  for (Index c = 0; c < S.outerSize(); c += 2)
    for (SpMat::InnerIterator it(S, c); it; ++it) it.valueRef() = 0.5 + static_cast<double>(c);
  SpMat same_pattern = S;
  for (Index c = 0; c < S.outerSize(); ++c)
    for (SpMat::InnerIterator it(same_pattern, c); it; ++it) it.valueRef() = r.normal();
  const SpMat other = r.sparse(m, 40, 0.03);
  lmm::detail::DowndatePlan plan;
  for (const auto& [name, s] : std::vector<std::pair<const char*, const SpMat*>>{
           {"first", &S}, {"same pattern", &same_pattern}, {"other pattern", &other}, {"first again", &S}}) {
    SCOPED_TRACE(name);
    Block T = T0;
    lmm::detail::rank_downdate(T, Block(*s), &plan);
    const Mat Sd(*s);
    EXPECT_TRUE(close(lower(std::get<Mat>(T)), lower(T0 - Sd * Sd.transpose())));
    EXPECT_TRUE(plan.matches(*s));
  }
}

TEST(BlockKernels, RankDowndateOfABlockDiagonalBlock) {
  // The symbolic analysis sends a block-diagonal target only updates whose S S' is block-diagonal
  // (S has, in every column, entries in one q-block of rows): e.g. a nested factor's L[j][k].
  Random r(8);
  for (int q : {1, 2, 3}) {
    SCOPED_TRACE(q);
    const Index n = 4;
    const BlockDiag T0 = r.blockdiag_general(q, n);
    // Each column of S touches one q-block of rows (column c the block c % n), some entries zero.
    std::vector<Eigen::Triplet<double>> trip;
    const Index ncols = 7;
    for (Index c = 0; c < ncols; ++c)
      for (int i = 0; i < q; ++i)
        if ((c + i) % 3 != 2) trip.emplace_back((c % n) * q + i, c, r.normal());
    SpMat S(q * n, ncols);
    S.setFromTriplets(trip.begin(), trip.end());
    const Mat want = dense_blocks(T0) - Mat(S) * Mat(S).transpose();
    ASSERT_TRUE(close(diagonal_blocks(want, q), want)) << "the test's S must keep S S' block-diagonal";

    Block from_sparse = T0;
    lmm::detail::rank_downdate(from_sparse, Block(S));
    EXPECT_TRUE(close(dense_blocks(std::get<BlockDiag>(from_sparse)), want)) << "sparse S";

    Block from_dense = T0;
    lmm::detail::rank_downdate(from_dense, Block(Mat(S)));
    EXPECT_TRUE(close(dense_blocks(std::get<BlockDiag>(from_dense)), want)) << "dense S";

    Named su = {{"uncompressed", Block(S)}};
    uncompress_named(su);
    Block from_uncompressed = T0;
    lmm::detail::rank_downdate(from_uncompressed, su[0].second);
    EXPECT_TRUE(close(dense_blocks(std::get<BlockDiag>(from_uncompressed)), want)) << "uncompressed S";
  }
}

TEST(BlockKernels, RankDowndateOfASparseCholBlock) {
  Random r(9);
  SparseChol c;
  c.M = r.sparse_spd(8, 0.2);
  const Mat M0(c.M);
  const SpMat S = r.sparse(8, 5, 0.3);
  Block T = std::move(c);
  lmm::detail::rank_downdate(T, Block(S));
  EXPECT_TRUE(close(Mat(std::get<SparseChol>(T).M), M0 - Mat(S) * Mat(S).transpose()));
}

TEST(BlockKernels, RankDowndateWithoutAKernelThrows) {
  Random r(10);
  Block sp_target = r.sparse(4, 4, 0.5);
  EXPECT_THROW(lmm::detail::rank_downdate(sp_target, Block(r.dense(4, 2))), std::logic_error);
  Block bd_target = r.blockdiag_general(2, 2);
  EXPECT_THROW(lmm::detail::rank_downdate(bd_target, Block(r.blockdiag_general(2, 2))), std::logic_error);
  SparseChol c;
  c.M = r.sparse_spd(4, 0.5);
  Block chol_target = std::move(c);
  EXPECT_THROW(lmm::detail::rank_downdate(chol_target, Block(r.dense(4, 2))), std::logic_error);
}

// ---------------------------------------------------------------- downdate: T -= Lik Ljk'

TEST(BlockKernels, DowndateOfADenseBlockForEveryPairOfFactors) {
  Random r(11);
  const Index mi = 5, mj = 6, k = 7;
  const Mat T0 = r.dense(mi, mj);
  Named lik = {{"dense", Block(r.dense(mi, k))},
               {"sparse", Block(r.sparse(mi, k, 0.4))},
               {"sparse, uncompressed", Block(r.sparse(mi, k, 0.4))}};
  Named ljk = {{"dense", Block(r.dense(mj, k))},
               {"sparse", Block(r.sparse(mj, k, 0.4))},
               {"sparse, uncompressed", Block(r.sparse(mj, k, 0.4))}};
  uncompress_named(lik);
  uncompress_named(ljk);
  for (const auto& [ni, Li] : lik)
    for (const auto& [nj, Lj] : ljk) {
      SCOPED_TRACE(::testing::Message() << "Lik " << ni << ", Ljk " << nj);
      Block T = T0;
      lmm::detail::downdate(T, Li, Lj);
      const Mat want = T0 - lmm::detail::to_dense(Li) * lmm::detail::to_dense(Lj).transpose();
      EXPECT_TRUE(close(std::get<Mat>(T), want));  // the whole block, not a triangle
    }
}

// The [X y] rows' downdate by a sparse block, T -= A S' with A of R = p + 1 rows: the kernels for
// R = 1..8 (fixed sizes) and above, against the product written out entry by entry, in the same
// order (so equal to the bit); columns of S without entries included.
TEST(BlockKernels, DowndateOfFewDenseRowsBySparseColumnsForEveryRowCount) {
  Random r(14);
  const Index mj = 9, k = 11;
  for (Index R = 1; R <= 12; ++R) {
    SCOPED_TRACE(::testing::Message() << R << " rows");
    const Mat T0 = r.dense(R, mj), A = r.dense(R, k);
    SpMat S = r.sparse(mj, k, 0.35);
    for (Index b = 0; b < mj; ++b) S.coeffRef(b, 3) = 0;  // an empty column
    S.prune(0.0);
    S.makeCompressed();
    Mat want = T0;
    const Mat Sd(S);
    for (Index c = 0; c < k; ++c)
      for (Index b = 0; b < mj; ++b)
        if (Sd(b, c) != 0)
          for (Index i = 0; i < R; ++i) want(i, b) -= Sd(b, c) * A(i, c);
    Block T = T0;
    lmm::detail::downdate(T, Block(A), Block(S));
    EXPECT_EQ(std::get<Mat>(T), want);
  }
}

TEST(BlockKernels, DowndateOfASparseBlock) {
  Random r(12);
  const SpMat T0 = r.sparse(5, 6, 0.3);
  const SpMat Li = r.sparse(5, 4, 0.4), Lj = r.sparse(6, 4, 0.4);
  Block T = T0;
  lmm::detail::downdate(T, Block(Li), Block(Lj));
  EXPECT_TRUE(close(Mat(std::get<SpMat>(T)), Mat(T0) - Mat(Li) * Mat(Lj).transpose()));
}

TEST(BlockKernels, DowndateWithoutAKernelThrows) {
  Random r(13);
  Block sp_target = r.sparse(4, 4, 0.5);
  EXPECT_THROW(lmm::detail::downdate(sp_target, Block(r.dense(4, 2)), Block(r.dense(4, 2))), std::logic_error);
  Block dense_target = r.dense(4, 4);
  EXPECT_THROW(lmm::detail::downdate(dense_target, Block(r.blockdiag_general(2, 2)), Block(r.dense(4, 4))),
               std::logic_error);
}

// ---------------------------------------------------------------- cholesky and logdet

TEST(BlockKernels, CholeskyOfEachDiagonalTypeReproducesTheBlock) {
  Random r(14);
  for (int q : {1, 2, 3}) {
    SCOPED_TRACE(q);
    const BlockDiag A = r.blockdiag_spd(q, 4);
    const Mat M = dense_blocks(A);
    Block L = A;
    ASSERT_TRUE(lmm::detail::cholesky(L));
    const Mat Ld = dense_blocks(std::get<BlockDiag>(L));
    EXPECT_TRUE(close(Ld, lower(Ld))) << "lower triangular";
    EXPECT_TRUE(close(Ld * Ld.transpose(), M));
    EXPECT_NEAR(lmm::detail::logdet(L), std::log(M.determinant()), kTol * std::max(1.0, std::abs(std::log(M.determinant()))));
  }
  {
    const Mat G = r.dense(6, 8);
    const Mat M = G * G.transpose() + Mat::Identity(6, 6);
    Block L = M;
    ASSERT_TRUE(lmm::detail::cholesky(L));
    const Mat& Ld = std::get<Mat>(L);
    EXPECT_TRUE(close(Ld, lower(Ld))) << "dense: lower triangular";
    EXPECT_TRUE(close(Ld * Ld.transpose(), M)) << "dense";
    EXPECT_NEAR(lmm::detail::logdet(L), std::log(M.determinant()), kTol * std::max(1.0, std::abs(std::log(M.determinant()))));
  }
  {
    Mat M;
    SparseChol c = factored_sparse_chol(r, 10, &M);
    Block L = std::move(c);
    const Mat Ld = lmm::detail::to_dense(L);  // P'L̂: not triangular, but L L' = M
    EXPECT_TRUE(close(Ld * Ld.transpose(), M)) << "sparse";
    EXPECT_NEAR(lmm::detail::logdet(L), std::log(M.determinant()), kTol * std::max(1.0, std::abs(std::log(M.determinant()))));
    // A second factorisation reuses the analysed pattern with new values.
    auto& sc = std::get<SparseChol>(L);
    sc.M.coeffs() *= 2.0;  // cholesky leaves M as it was; same pattern, new values
    const Mat M2 = 2.0 * M;
    ASSERT_TRUE(lmm::detail::cholesky(L));
    const Mat L2 = lmm::detail::to_dense(L);
    EXPECT_TRUE(close(L2 * L2.transpose(), M2)) << "sparse, refactored";
  }
}

// A dense block as large as the filled-in block of a crossed design: from 256 rows on, the build
// with OpenBLAS factors it with LAPACK's dpotrf instead of Eigen's LLT (src/linalg/blocks.cpp).
TEST(BlockKernels, CholeskyOfALargeDenseBlock) {
  Random r(16);
  const Index n = 300;
  const Mat G = r.dense(n, 40);
  const Mat M = G * G.transpose() + Mat::Identity(n, n);
  Block L = M;
  ASSERT_TRUE(lmm::detail::cholesky(L));
  const Mat& Ld = std::get<Mat>(L);
  EXPECT_TRUE(close(Ld, lower(Ld))) << "lower triangular";
  EXPECT_TRUE(close(Ld * Ld.transpose(), M));
  const double want = 2 * Eigen::LLT<Mat>(M).matrixLLT().diagonal().array().log().sum();
  EXPECT_NEAR(lmm::detail::logdet(L), want, kTol * std::abs(want));
  for (Index k : {Index{0}, n / 2, n - 1}) {  // a negative pivot first, midway, last
    Mat bad = M;
    bad(k, k) = -1.0;
    Block b = bad;
    EXPECT_FALSE(lmm::detail::cholesky(b)) << "pivot " << k;
  }
}

TEST(BlockKernels, CholeskyReportsABlockThatIsNotPositiveDefinite) {
  Random r(15);
  BlockDiag d1 = r.blockdiag_spd(1, 4);
  d1.data(0, 2) = -1.0;
  Block b1 = d1;
  EXPECT_FALSE(lmm::detail::cholesky(b1));
  BlockDiag d3 = r.blockdiag_spd(3, 3);
  d3.block(1)(2, 2) = -50.0;
  Block b3 = d3;
  EXPECT_FALSE(lmm::detail::cholesky(b3));
  Mat m = Mat::Identity(4, 4);
  m(3, 3) = -1e-3;
  Block bm = m;
  EXPECT_FALSE(lmm::detail::cholesky(bm));
  SparseChol c;
  c.M = r.sparse_spd(6, 0.3);
  c.M.coeffRef(4, 4) = -1.0;
  Block bc = std::move(c);
  EXPECT_FALSE(lmm::detail::cholesky(bc));
  Block sparse = r.sparse(3, 3, 1.0);
  EXPECT_THROW(lmm::detail::cholesky(sparse), std::logic_error);
}

TEST(BlockKernels, LogdetKeepsItsDigitsWhenTheDiagonalSpansManyDecades) {
  // LogSum multiplies entries together and takes a log now and then; entries far outside
  // [1e-100, 1e100] and long runs that overflow a product must still give Σ log exactly.
  BlockDiag d;
  d.q = 1;
  d.nblocks = 400;
  d.data.resize(1, 400);
  double want = 0;
  for (Index b = 0; b < 400; ++b) {
    const double v = b % 7 == 0 ? 1e150 : b % 11 == 0 ? 1e-160 : 1.0 + 1e3 * static_cast<double>(b);
    d.data(0, b) = v;
    want += 2 * std::log(v);
  }
  EXPECT_NEAR(lmm::detail::logdet(Block(d)), want, kTol * std::abs(want));
  EXPECT_THROW(lmm::detail::logdet(Block(SpMat(3, 3))), std::logic_error);
}

// ---------------------------------------------------------------- solves with a factored block

struct Factored {
  const char* name;
  Block L;
  Mat dense;  // to_dense(L): L L' = the factored matrix
};

std::vector<Factored> factored_blocks(Random& r) {
  std::vector<Factored> out;
  out.reserve(4);  // no reallocation: a copied SparseChol would start an unfactored solver
  for (int q : {1, 3}) {
    Block b = r.blockdiag_spd(q, 4);
    EXPECT_TRUE(lmm::detail::cholesky(b));
    out.push_back({q == 1 ? "block-diagonal q=1" : "block-diagonal q=3", b, lmm::detail::to_dense(b)});
  }
  const Mat G = r.dense(7, 9);
  Block d = Mat(G * G.transpose() + Mat::Identity(7, 7));
  EXPECT_TRUE(lmm::detail::cholesky(d));
  out.push_back({"dense", d, lmm::detail::to_dense(d)});
  Mat M;
  Block c = factored_sparse_chol(r, 9, &M);
  Mat cd = lmm::detail::to_dense(c);
  out.push_back({"sparse Cholesky", std::move(c), std::move(cd)});
  return out;
}

TEST(BlockKernels, RdivLowerTransposeForEveryFactorAndTarget) {
  Random r(16);
  for (auto& f : factored_blocks(r)) {
    SCOPED_TRACE(f.name);
    const Index m = f.dense.rows();
    const Mat inv_t = f.dense.inverse().transpose();
    const Mat T0 = r.dense(5, m);
    Block T = T0;
    lmm::detail::rdiv_lower_transpose(T, f.L);
    EXPECT_TRUE(close(std::get<Mat>(T), T0 * inv_t)) << "dense target";
    if (std::holds_alternative<BlockDiag>(f.L)) {
      const SpMat S0 = r.sparse(5, m, 0.4);
      Block S = S0;
      lmm::detail::rdiv_lower_transpose(S, f.L);
      EXPECT_TRUE(close(Mat(std::get<SpMat>(S)), Mat(S0) * inv_t)) << "sparse target";
    }
  }
}

TEST(BlockKernels, RdivLowerTransposeWithoutAKernelThrows) {
  Random r(17);
  Block L = Mat(Mat::Identity(3, 3));
  Block sparse_target = r.sparse(2, 3, 0.5);
  EXPECT_THROW(lmm::detail::rdiv_lower_transpose(sparse_target, L), std::logic_error);
}

TEST(BlockKernels, TriangularSolvesForEveryFactor) {
  Random r(18);
  for (auto& f : factored_blocks(r)) {
    SCOPED_TRACE(f.name);
    const Index m = f.dense.rows();
    const VectorXd x0 = r.dense(m, 1);
    VectorXd x = x0;
    lmm::detail::solve_lower(f.L, x);
    EXPECT_TRUE(close(x, f.dense.inverse() * x0)) << "L⁻¹ x";
    x = x0;
    lmm::detail::solve_lower_transpose(f.L, x);
    EXPECT_TRUE(close(x, f.dense.transpose().inverse() * x0)) << "L⁻ᵀ x";
  }
}

TEST(BlockKernels, SubtractProductsForEveryOffDiagonalType) {
  Random r(19);
  const std::vector<std::pair<const char*, Block>> blocks = {{"dense", Block(r.dense(6, 4))},
                                                             {"sparse", Block(r.sparse(6, 4, 0.4))},
                                                             {"block-diagonal", Block(r.blockdiag_general(2, 3))}};
  for (const auto& [name, B] : blocks) {
    SCOPED_TRACE(name);
    const Mat Bd = lmm::detail::to_dense(B);
    const VectorXd x = r.dense(Bd.rows(), 1), y0 = r.dense(Bd.cols(), 1);
    VectorXd y = y0;
    lmm::detail::sub_transpose_times(B, x, y);
    EXPECT_TRUE(close(y, y0 - Bd.transpose() * x)) << "y -= B'x";
    const VectorXd u = r.dense(Bd.cols(), 1), v0 = r.dense(Bd.rows(), 1);
    VectorXd v = v0;
    lmm::detail::sub_times(B, u, v);
    EXPECT_TRUE(close(v, v0 - Bd * u)) << "y -= B x";
  }
}

// ---------------------------------------------------------------- the sparse-or-dense choice

TEST(BlockKernels, SparseFactorPaysOnlyForLargeBlocksWithLittleFill) {
  const double old_limit = lmm::detail::sparse_fill_limit();
  const Index old_min = lmm::detail::sparse_min_size();
  lmm::detail::sparse_min_size() = 50;
  const Index n = 60;
  // A chain: every level meets its neighbour, so the factor of the tridiagonal pattern stays thin.
  std::vector<Eigen::Triplet<double>> t;
  for (Index i = 0; i + 1 < n; ++i) {
    t.emplace_back(i, i + 1, 1.0);
    t.emplace_back(i + 1, i, 1.0);
  }
  SpMat chain(n, n);
  chain.setFromTriplets(t.begin(), t.end());
  EXPECT_TRUE(lmm::detail::sparse_factor_pays(chain, 1, n));
  // Every level meets every other: the fill is dense.
  SpMat full = Mat::Ones(n, n).sparseView();
  EXPECT_FALSE(lmm::detail::sparse_factor_pays(full, 1, n));
  // Below the minimum size the dense factorisation is kept whatever the fill.
  lmm::detail::sparse_min_size() = 61;
  EXPECT_FALSE(lmm::detail::sparse_factor_pays(chain, 1, n));
  lmm::detail::sparse_min_size() = old_min;
  lmm::detail::sparse_fill_limit() = old_limit;
}

// ---------------------------------------------------------------- selected inversion

// A blocked lower factor (blocks owned by `blocks`, row i of the result pointing at blocks
// i(i+1)/2 .. i(i+1)/2 + i), its dense form, and the selected inverse checked against the dense
// inverse on the pattern: BlockDiag Σ on its diagonal blocks, SpMat Σ on L's entries, Mat whole.
// Returns whether crossed_diagonal_blocks() took the design (and was checked).
bool check_selected_inverse(const std::vector<Block>& blocks, int nb) {
  std::vector<std::vector<const Block*>> L(static_cast<std::size_t>(nb));
  std::vector<Index> off(static_cast<std::size_t>(nb + 1), 0);
  std::size_t k = 0;
  for (int i = 0; i < nb; ++i)
    for (int j = 0; j <= i; ++j) L[i].push_back(&blocks[k++]);
  for (int i = 0; i < nb; ++i) off[i + 1] = off[i] + lmm::detail::rows(*L[i][i]);
  Mat D = Mat::Zero(off[nb], off[nb]);
  for (int i = 0; i < nb; ++i)
    for (int j = 0; j <= i; ++j) {
      const Block& b = *L[i][j];
      Mat d = std::holds_alternative<BlockDiag>(b) ? dense_blocks(std::get<BlockDiag>(b)) : lmm::detail::to_dense(b);
      if (i == j) d = lower(d);
      D.block(off[i], off[j], d.rows(), d.cols()) = d;
    }
  const Mat Sigma = (D * D.transpose()).inverse();
  const auto S = lmm::detail::selected_inverse(L);
  for (int i = 0; i < nb; ++i)
    for (int j = 0; j <= i; ++j) {
      const Mat want = Sigma.block(off[i], off[j], off[i + 1] - off[i], off[j + 1] - off[j]);
      if (const auto* bd = std::get_if<BlockDiag>(&S[i][j])) {
        EXPECT_TRUE(close(dense_blocks(*bd), diagonal_blocks(want, bd->q))) << i << "," << j;
      } else if (const auto* sp = std::get_if<SpMat>(&S[i][j])) {
        const SpMat& pat = std::get<SpMat>(*L[i][j]);
        EXPECT_EQ(sp->nonZeros(), pat.nonZeros());
        if (sp->nonZeros() != pat.nonZeros()) return false;
        for (Index c = 0; c < pat.outerSize(); ++c)
          for (SpMat::InnerIterator it(pat, c); it; ++it)
            EXPECT_NEAR(sp->coeff(it.row(), c), want(it.row(), c), 1e-12 * (1 + std::abs(want(it.row(), c))));
      } else {
        EXPECT_TRUE(close(std::get<Mat>(S[i][j]), want)) << i << "," << j;
      }
    }
  // The sums of the diagonal blocks alone (a first block of scalar levels, then a dense tail), by
  // either route to the first block's trace.
  using Route = lmm::detail::SumRoute;
  for (Route route : {Route::Auto, Route::Gather, Route::Full}) {
    const auto sums = lmm::detail::diagonal_block_sums(L, std::vector<int>(static_cast<std::size_t>(nb), 1), route);
    const auto* first = std::get_if<BlockDiag>(L[0][0]);
    const bool crossed = first && first->q == 1 && std::holds_alternative<Mat>(*L[1][1]);
    EXPECT_EQ(sums.size(), crossed ? static_cast<std::size_t>(nb) : 0u);
    if (sums.size() != (crossed ? static_cast<std::size_t>(nb) : 0u)) return false;
    for (std::size_t i = 0; i < sums.size(); ++i)
      EXPECT_NEAR(sums[i](0, 0), Sigma.diagonal().segment(off[i], off[i + 1] - off[i]).sum(),
                  1e-11 * static_cast<double>(off[i + 1] - off[i]))
          << i << " route " << static_cast<int>(route);
    // A tail block of two effects per level: its 2 x 2 diagonal blocks summed.
    const Index rows = off[nb] - off[nb - 1];
    if (!crossed || nb < 3 || rows % 2 != 0) continue;
    std::vector<int> q2(static_cast<std::size_t>(nb), 1);
    q2.back() = 2;
    const auto sums2 = lmm::detail::diagonal_block_sums(L, q2, route);
    Mat want = Mat::Zero(2, 2);
    for (Index r = off[nb - 1]; r < off[nb]; r += 2) want += Sigma.block(r, r, 2, 2);
    EXPECT_TRUE(close(sums2.back(), want)) << "route " << static_cast<int>(route);
  }
  // Every diagonal entry of Σ, block by block, from the tail's L⁻¹ (where that route is taken).
  const auto diag = lmm::detail::crossed_diagonal_blocks(L, std::vector<int>(static_cast<std::size_t>(nb), 1));
  for (int i = 0; i < static_cast<int>(diag.size()); ++i) {
    EXPECT_EQ(diag[i].cols(), off[i + 1] - off[i]);
    if (diag[i].cols() != off[i + 1] - off[i]) return false;
    for (Index r = 0; r < diag[i].cols(); ++r)
      EXPECT_NEAR(diag[i](0, r), Sigma(off[i] + r, off[i] + r), 1e-12 * (1 + std::abs(Sigma(off[i] + r, off[i] + r))))
          << i << "," << r;
  }
  return !diag.empty();
}

Mat lower_factor(Random& r, Index m) {
  Mat L = lower(r.dense(m, m));
  L.diagonal() = L.diagonal().cwiseAbs().array() + 1.0;
  return L;
}

BlockDiag blockdiag_factor(Random& r, int q, Index nblocks) {
  BlockDiag B = r.blockdiag_general(q, nblocks);
  for (Index b = 0; b < nblocks; ++b) B.block(b) = lower_factor(r, q);
  return B;
}

// rows x cols with `per_col` entries per column block of width q, at rows given by `row_of`.
SpMat level_pattern(Random& r, Index rows, Index cols, int q, const std::function<std::vector<Index>(Index)>& row_of) {
  std::vector<Eigen::Triplet<double>> t;
  for (Index c = 0; c < cols; ++c)
    for (Index i : row_of(c / q)) t.emplace_back(i, c, r.normal());
  SpMat S(rows, cols);
  S.setFromTriplets(t.begin(), t.end());
  return S;
}

TEST(SelectedInverse, NestedBlocksThenADenseTail) {
  // (1 + x | cask) + (1 | batch) and two fixed effects: each cask in one batch, so the batch block
  // stays block-diagonal.
  Random r(71);
  std::vector<Block> b;
  b.emplace_back(blockdiag_factor(r, 2, 6));
  b.emplace_back(level_pattern(r, 3, 12, 2, [](Index l) { return std::vector<Index>{l / 2}; }));
  b.emplace_back(blockdiag_factor(r, 1, 3));
  b.emplace_back(r.dense(2, 12));
  b.emplace_back(r.dense(2, 3));
  b.emplace_back(lower_factor(r, 2));
  check_selected_inverse(b, 3);
}

TEST(SelectedInverse, CrossedBlocksWithAFilledInBlock) {
  // (1 | subject) + (1 | item) + (1 | dept): the item block fills in and is dense, and so is
  // everything after it.
  Random r(72);
  std::vector<Block> b;
  b.emplace_back(blockdiag_factor(r, 1, 8));
  b.emplace_back(level_pattern(r, 5, 8, 1, [](Index l) { return std::vector<Index>{l % 5, (l + 2) % 5}; }));
  b.emplace_back(lower_factor(r, 5));
  b.emplace_back(level_pattern(r, 2, 8, 1, [](Index l) { return std::vector<Index>{l % 2}; }));
  b.emplace_back(r.dense(2, 5));
  b.emplace_back(lower_factor(r, 2));
  b.emplace_back(r.dense(3, 8));
  b.emplace_back(r.dense(3, 5));
  b.emplace_back(r.dense(3, 2));
  b.emplace_back(lower_factor(r, 3));
  check_selected_inverse(b, 4);
}

TEST(SelectedInverse, LargeFilledInBlock) {
  // (1 | subject) + (1 | item) and two fixed effects: 400 subjects meeting 3 of 300 items each.
  // The item block and the X rows after it (302 rows) are inverted by LAPACK's dpotri where the
  // build has OpenBLAS (256 rows or more), and read entry by entry by every subject.
  Random r(74);
  std::vector<Block> b;
  b.emplace_back(blockdiag_factor(r, 1, 400));
  b.emplace_back(level_pattern(r, 300, 400, 1, [](Index l) {
    return std::vector<Index>{l % 300, (l + 100) % 300, (l + 200) % 300};
  }));
  Mat item = lower_factor(r, 300);
  item.diagonal().array() += 20.0;  // a random triangular factor is otherwise badly conditioned
  b.emplace_back(std::move(item));
  b.emplace_back(r.dense(2, 400));
  b.emplace_back(r.dense(2, 300));
  b.emplace_back(lower_factor(r, 2));
  EXPECT_TRUE(check_selected_inverse(b, 3));  // three items a subject: the tail's L⁻¹ route
}

TEST(SelectedInverse, RefusesAPatternThatIsNotClosedOrASparseCholesky) {
  Random r(73);
  // Two levels of a later block-diagonal block meet in one column: the factor would fill in.
  std::vector<std::vector<const Block*>> L(2);
  const Block l00 = blockdiag_factor(r, 1, 4);
  const Block l10 = level_pattern(r, 3, 4, 1, [](Index l) { return std::vector<Index>{l % 3, (l + 1) % 3}; });
  const Block l11 = blockdiag_factor(r, 1, 3);
  L[0] = {&l00};
  L[1] = {&l10, &l11};
  EXPECT_THROW(lmm::detail::selected_inverse(L), std::logic_error);
  Mat M;
  const Block sc = factored_sparse_chol(r, 6, &M);
  L[1] = {&l10, &sc};
  EXPECT_THROW(lmm::detail::selected_inverse(L), std::logic_error);
}

}  // namespace
