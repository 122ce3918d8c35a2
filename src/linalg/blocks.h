// Block types of the blocked Cholesky factor and one kernel per pair of types
// (MixedModels.jl's linalg/). A pair without a kernel is a logic error and throws loudly.
#pragma once
#include <Eigen/Dense>
#include <Eigen/SparseCholesky>
#include <Eigen/SparseCore>
#include <cstdint>
#include <memory>
#include <variant>
#include <vector>

namespace lmm::detail {

using Mat = Eigen::MatrixXd;
using SpMat = Eigen::SparseMatrix<double, Eigen::ColMajor>;

/// nblocks diagonal blocks of size q x q, stored side by side: block b = data.middleCols(b*q, q).
/// q = 1 is a diagonal matrix.
struct BlockDiag {
  int q = 1;
  Eigen::Index nblocks = 0;
  Mat data;  // q x (q*nblocks)
  Eigen::Index size() const { return q * nblocks; }
  auto block(Eigen::Index b) { return data.middleCols(b * q, q); }
  auto block(Eigen::Index b) const { return data.middleCols(b * q, q); }
};

/// A diagonal block that fills in but stays sparse (a grouping factor crossed with an earlier one
/// whose levels meet few of its own): Eigen's simplicial Cholesky with an approximate minimum
/// degree ordering, the pattern analysed at the first factorisation and reused after. Before
/// cholesky() it holds the block M; after, the factor L = P'L̂ with P M P' = L̂L̂' (L is not
/// triangular, but L L' = M, which is all the blocked algorithm needs).
struct SparseChol {
  using Solver = Eigen::SimplicialLLT<SpMat, Eigen::Lower, Eigen::AMDOrdering<int>>;
  SpMat M;
  std::unique_ptr<Solver> llt = std::make_unique<Solver>();
  bool analyzed = false;
  SparseChol() = default;
  SparseChol(SparseChol&&) noexcept = default;
  SparseChol& operator=(SparseChol&&) noexcept = default;
  // A copy starts a solver of its own (and analyses the pattern again when factorised).
  SparseChol(const SparseChol& o) : M(o.M) {}
  SparseChol& operator=(const SparseChol& o) {
    M = o.M;
    llt = std::make_unique<Solver>();
    analyzed = false;
    return *this;
  }
  Eigen::Index size() const { return M.rows(); }
};

using Block = std::variant<BlockDiag, SpMat, Mat, SparseChol>;

Eigen::Index rows(const Block& b);
Eigen::Index cols(const Block& b);
Mat to_dense(const Block& b);

/// Whether a diagonal block of q x q blocks whose off-block pattern after the downdates is
/// `fill` (nlevels q-blocks) is better factored by SparseChol than densely: it must be large
/// enough for the dense O(m³) factorisation to matter, and its AMD-ordered factor must hold at
/// most `sparse_fill_limit()` of the dense triangle.
bool sparse_factor_pays(const SpMat& fill, int q, Eigen::Index nlevels);
/// The fraction of the dense triangle above which the dense factorisation is used (default 0.1);
/// settable so that tests can force either path. Sizes below `sparse_min_size()` stay dense.
double& sparse_fill_limit();
Eigen::Index& sparse_min_size();

/// The block-diagonal Λ = I_nlevels ⊗ λ as a sparse matrix.
SpMat kron_identity(const Mat& lambda, Eigen::Index nlevels);

/// target = Λ_i' source Λ_j (Λ_i = I ⊗ lambda_i; an empty lambda means the identity), with the
/// result converted to target's type. Adds `add_identity` to the diagonal.
void scale(Block& target, const Block& source, const Mat& lambda_i, const Mat& lambda_j,
           bool add_identity);

/// M = M Λ and M = Λ' M for Λ = I ⊗ lambda (blocks of width lambda.rows()).
void right_mult_lambda(Mat& M, const Mat& lambda);
void left_mult_lambda_t(Mat& M, const Mat& lambda);

/// What rank_downdate of a dense block of 1,024 rows or more by a sparse S reads of S's pattern (its
/// row lists), made at the first call and kept by the caller for the next ones with S of the same
/// pattern (a factor's L[j][k] at every evaluation); made again when S's pattern differs.
struct DowndatePlan {
  Eigen::Index rows = 0;
  std::vector<int> outer;                  // S's column starts
  std::vector<std::uint16_t> index16;      // S's row indices, where S has at most 65,536 rows
  std::vector<int> index32;                // otherwise
  std::vector<int> start, pos, col;        // per row j: its entries' positions in S and columns
  std::vector<Eigen::Index> bound;         // chunks of T's columns of about equal work
  bool matches(const SpMat& s) const;
};

/// Symmetric downdate of a diagonal block: target -= S S' (lower triangle is what counts). `plan`
/// (optional) keeps S's row lists between calls.
void rank_downdate(Block& target, const Block& S, DowndatePlan* plan = nullptr);

/// target -= Lik Ljk'.
void downdate(Block& target, const Block& Lik, const Block& Ljk);

/// In-place lower Cholesky factor of a diagonal block. Returns false if not positive definite.
bool cholesky(Block& diag);

/// target = target L^{-T} where L is a factored diagonal block.
void rdiv_lower_transpose(Block& target, const Block& L);

/// Sum of log of the diagonal of a factored diagonal block, times 2: log|L|².
double logdet(const Block& L);

/// x = L^{-T} x for a factored diagonal block (back-substitution step).
void solve_lower_transpose(const Block& L, Eigen::Ref<Eigen::VectorXd> x);
/// x = L^{-1} x.
void solve_lower(const Block& L, Eigen::Ref<Eigen::VectorXd> x);
/// y -= B' x for an off-diagonal block B (rows(B) = size of x).
void sub_transpose_times(const Block& B, const Eigen::VectorXd& x, Eigen::Ref<Eigen::VectorXd> y);
/// y -= B x.
void sub_times(const Block& B, const Eigen::VectorXd& x, Eigen::Ref<Eigen::VectorXd> y);

}  // namespace lmm::detail
