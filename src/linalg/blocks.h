// Block types of the blocked Cholesky factor and one kernel per pair of types
// (MixedModels.jl's linalg/). A pair without a kernel is a logic error and throws loudly.
#pragma once
#include <Eigen/Dense>
#include <Eigen/SparseCore>
#include <variant>

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

using Block = std::variant<BlockDiag, SpMat, Mat>;

Eigen::Index rows(const Block& b);
Eigen::Index cols(const Block& b);
Mat to_dense(const Block& b);

/// The block-diagonal Λ = I_nlevels ⊗ λ as a sparse matrix.
SpMat kron_identity(const Mat& lambda, Eigen::Index nlevels);

/// target = Λ_i' source Λ_j (Λ_i = I ⊗ lambda_i; an empty lambda means the identity), with the
/// result converted to target's type. Adds `add_identity` to the diagonal.
void scale(Block& target, const Block& source, const Mat& lambda_i, const Mat& lambda_j,
           bool add_identity);

/// Symmetric downdate of a diagonal block: target -= S S' (lower triangle is what counts).
void rank_downdate(Block& target, const Block& S);

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
