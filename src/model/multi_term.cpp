// The gradient of the profiled objective for several random-effects terms (crossed, nested, a
// vector-valued term beside others), from the blocked factor; src/model/single_term.cpp has the
// fused one-term version of the same formulas.
//
// With Λ̃ = diag(Λ, I_p) over [Z X] and M = Λ̃'A_{ZX}Λ̃ + diag(I, 0), log|M| = log|L_θ|² + log|R_X|²
// (REML's determinants); ML's log|L_θ|² alone is log|M_Z| of the Z rows and columns. Either way
//   ∂log|M|/∂λ_j(r, c) = 2 tr(M⁻¹ Λ̃'A ∂Λ̃/∂λ_j(r, c)) = 2 G_j(c, r),
//   G_j = Σ_b [Σ_i (M⁻¹)_{ji} Λ_i'A_{ij}]_bb   (i over the terms, and X for REML),
// the sum over the levels b of term j of the q_j x q_j diagonal blocks. (M⁻¹)_{ji} is read only
// where A_{ij} (a block of the factor's pattern) is nonzero: the selected inverse of the factor
// (linalg/selected_inverse.h) has it. r² is a minimum over (u, β), so (envelope theorem)
//   ∂r²/∂λ_j(r, c) = -2 Σ_b (Z_jb'e)_r u_jb,c,   Z_j'e = A_{yj} - A_{Xj}'β̂ - Σ_i A_{ji} Λ_i u_i,
// all from A. The objective's last term adds (n or n - p) / r² times that.
//
// Where λ_j is nonsingular G_j needs only the diagonal blocks of Σ = M⁻¹: with D = diag(I, 0),
// Λ̃'AΛ̃ = M - D, and Λ̃ E_j = E_j (I ⊗ λ_j) for the selector E_j of term j's columns, so
//   Λ̃'A E_j = (M - D) E_j (I ⊗ λ_j⁻¹)   and   Σ Λ̃'A E_j = (I - Σ D) E_j (I ⊗ λ_j⁻¹);
// D E_j = E_j, and the diagonal blocks of the trace give
//   G_j = Σ_b (I - Σ_bb) λ_j⁻¹ = (n_j I - Σ_b Σ_bb) λ_j⁻¹,
// for REML and ML alike (REML's Σ has the X rows in it). Near the boundary (λ_j nearly singular)
// n_j I - Σ_b Σ_bb is a difference of nearly equal numbers and the general formula above is used
// (trace_identity_floor in multi_term.h).
#include "model/multi_term.h"

#include <Eigen/Eigenvalues>
#include <Eigen/SVD>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "linalg/selected_inverse.h"
#include "model/condvar.h"
#include "model/model_impl.h"

namespace lmm {

using detail::Block;
using detail::BlockDiag;
using detail::Mat;
using detail::SpMat;

namespace {

// G_j += Σ_b [Σ_{ji} B]_bb for B = Λ_i'A_{ij} (rows: term i; columns: term j, q_j per level) and
// Σ_{ij} = S (same shape as B): G_j(c, r) += Σ_m S(m, (b,c)) B(m, (b,r)).
void add_lower(Mat& Gj, const Block& S, const SpMat& B, int qj) {
  for (Eigen::Index col = 0; col < B.outerSize(); ++col) {
    const Eigen::Index b0 = col - col % qj;
    const Eigen::Index r = col % qj;
    for (SpMat::InnerIterator it(B, col); it; ++it)
      for (int c = 0; c < qj; ++c) Gj(c, r) += detail::selected_entry(S, it.row(), b0 + c) * it.value();
  }
}

// G_i += Σ_b [Σ_{ij} C']_bb for C = A_{ij}Λ_j (rows: term i, q_i per level): G_i(c, r) +=
// Σ_m S((b,c), m) C((b,r), m).
void add_upper(Mat& Gi, const Block& S, const SpMat& C, int qi) {
  for (Eigen::Index m = 0; m < C.outerSize(); ++m)
    for (SpMat::InnerIterator it(C, m); it; ++it) {
      const Eigen::Index b0 = it.row() - it.row() % qi;
      const Eigen::Index r = it.row() % qi;
      for (int c = 0; c < qi; ++c) Gi(c, r) += detail::selected_entry(S, b0 + c, m) * it.value();
    }
}

// The diagonal q x q block b of a diagonal block of Σ.
Mat diagonal_block(const Block& S, Eigen::Index b, int q) {
  if (const BlockDiag* d = std::get_if<BlockDiag>(&S)) return d->block(b);
  return std::get<Mat>(S).block(b * q, b * q, q, q);
}

// Term j's G_j by the general formula, from the blocks of Σ and A that meet its columns.
Mat general_trace(const detail::ModelState& m, const std::vector<std::vector<Block>>& S, int j, bool with_x) {
  const int qj = m.q[j];
  Mat G = Mat::Zero(qj, qj);
  const auto& Ajj = std::get<BlockDiag>(m.A[j][j]);
  for (Eigen::Index b = 0; b < m.nlev[j]; ++b)
    G.noalias() += diagonal_block(S[j][j], b, qj) * m.lambda[j].transpose() * Ajj.block(b);
  for (int i = j + 1; i < m.K; ++i) {  // Σ_{ij} below, with Λ_i'A_{ij}
    const SpMat& Aij = std::get<SpMat>(m.A[i][j]);
    add_lower(G, S[i][j], SpMat(SpMat(detail::kron_identity(m.lambda[i], m.nlev[i]).transpose()) * Aij), qj);
  }
  for (int i = 0; i < j; ++i) {  // Σ_{ji} to the left, with A_{ji}Λ_i
    const SpMat& Aji = std::get<SpMat>(m.A[j][i]);
    add_upper(G, S[j][i], SpMat(Aji * detail::kron_identity(m.lambda[i], m.nlev[i])), qj);
  }
  if (with_x) {
    // Σ_{Xj} and A_{Xj} are dense: G_j(c, r) += Σ_b Σ_m Σ_{Xj}(m, (b,c)) A_{Xj}(m, (b,r)).
    const auto np = static_cast<Eigen::Index>(m.p());
    const Mat& SX = std::get<Mat>(S[m.K][j]);
    const auto AX = std::get<Mat>(m.A[m.K][j]).topRows(np);
    for (Eigen::Index b = 0; b < m.nlev[j]; ++b)
      G.noalias() += SX.middleCols(b * qj, qj).transpose() * AX.middleCols(b * qj, qj);
  }
  return G;
}

// Σ_b Σ_bb over the levels of term j, from the blocks of Σ.
Mat diagonal_sum(const Block& Sjj, Eigen::Index nlev, int q) {
  Mat sum = Mat::Zero(q, q);
  if (const BlockDiag* d = std::get_if<BlockDiag>(&Sjj))
    for (Eigen::Index b = 0; b < nlev; ++b) sum += d->block(b);
  else
    for (Eigen::Index b = 0; b < nlev; ++b) sum += std::get<Mat>(Sjj).block(b * q, b * q, q, q);
  return sum;
}

// G_j = (n_j I - Σ_b Σ_bb) λ_j⁻¹ from `sum` = Σ_b Σ_bb, where that difference keeps its digits
// (trace_identity_floor); false, G untouched, where it does not.
bool identity_trace(const Mat& lambda, Eigen::Index nlev, const Mat& sum, Mat& G) {
  const auto qj = lambda.rows();
  Mat D = Mat::Identity(qj, qj) * static_cast<double>(nlev) - sum;
  D = (D + D.transpose()).eval() / 2;  // Σ_bb is symmetric up to rounding
  const Eigen::VectorXd sv = Eigen::JacobiSVD<Mat>(lambda).singularValues();
  if (!(sv(qj - 1) > 0)) return false;
  const double smallest = Eigen::SelfAdjointEigenSolver<Mat>(D, Eigen::EigenvaluesOnly).eigenvalues()(0);
  if (!(smallest >= detail::trace_identity_floor() * static_cast<double>(nlev) * sv(0) / sv(qj - 1))) return false;
  // D λ⁻¹ = (λ⁻ᵀ D)' with D symmetric.
  G = lambda.transpose().triangularView<Eigen::Upper>().solve(D).transpose();
  return true;
}

// The traces G_j of every term: for a crossed design (a first term of scalar levels, then a
// dense tail) from the sums of Σ's diagonal blocks alone where the identity holds for every
// term; else from the selected inverse, term by term by the identity or the general formula.
std::vector<Mat> traces(const detail::ModelState& m, const std::vector<std::vector<const Block*>>& V, bool with_x) {
  std::vector<Mat> G(static_cast<std::size_t>(m.K));
  std::vector<int> qs(m.q.begin(), m.q.end());
  qs.resize(V.size(), 1);  // REML's X rows: not a term
  // Without X rows in the tail (ML), its L⁻¹ is the one trailing_re_inverse() and the conditional
  // variances want at this factor: kept for them (model/condvar.h).
  // So are Σ's diagonal blocks, read off the same pass.
  std::shared_ptr<Mat> tail_inverse;
  std::vector<Mat> blocks;
  const std::vector<Mat> sums =
      detail::diagonal_block_sums(V, qs, detail::SumRoute::Auto, with_x ? nullptr : &tail_inverse, &blocks);
  if (tail_inverse) detail::keep_tail_inverse_factor(m, std::move(tail_inverse), std::move(blocks));
  bool all = !sums.empty();
  for (int j = 0; j < m.K && all; ++j) all = identity_trace(m.lambda[j], m.nlev[j], sums[j], G[j]);
  if (all) return G;
  const std::vector<std::vector<Block>> S = detail::selected_inverse(V);
  for (int j = 0; j < m.K; ++j)
    if (!identity_trace(m.lambda[j], m.nlev[j], diagonal_sum(S[j][j], m.nlev[j], m.q[j]), G[j]))
      G[j] = general_trace(m, S, j, with_x);
  return G;
}

}  // namespace

Eigen::Index detail::dense_term_rows(const ModelState& m) {
  Eigen::Index rows = 0;
  for (int j = 0; j < m.K; ++j)
    if (const Mat* d = std::get_if<Mat>(&m.L[j][j])) rows += d->rows();
  return rows;
}

double detail::crossed_gradient_cost(const ModelState& m) {
  if (!m.has_gradient() || m.K < 2) return std::numeric_limits<double>::infinity();
  std::vector<std::vector<const Block*>> V(static_cast<std::size_t>(m.K));
  for (int i = 0; i < m.K; ++i)
    for (int j = 0; j <= i; ++j) V[i].push_back(&m.L[i][j]);
  const detail::SumsCost c = detail::diagonal_block_sums_cost(V);
  if (!std::isfinite(c.sums)) return c.sums;
  // A grouped downdate (src/model/grouped_downdate.cpp) replaces the scatter by a few dense axpys.
  double downdate = c.scatter;
  for (int i = 1; i < m.K && i < static_cast<int>(m.grouped.size()); ++i)
    if (!m.grouped[static_cast<std::size_t>(i)].B.empty()) {
      const auto r = static_cast<double>(std::get<Mat>(m.L[i][i]).rows());
      downdate = static_cast<double>(m.grouped[static_cast<std::size_t>(i)].B.size()) * r * r;
    }
  return c.sums / (c.cholesky + downdate);
}

double& detail::trace_identity_floor() {
  static double floor = 1e-6;
  return floor;
}

std::vector<Mat> detail::ModelState::gradient_multi() const {
  const bool reml = method == Method::REML;
  const auto np = static_cast<Eigen::Index>(p());
  const bool with_x = reml && np > 0;
  // The factor of M (REML: the X rows of the [X y] block too, without y's row).
  std::vector<Block> xrows;
  std::vector<std::vector<const Block*>> V(static_cast<std::size_t>(K + (with_x ? 1 : 0)));
  for (int i = 0; i < K; ++i)
    for (int j = 0; j <= i; ++j) V[i].push_back(&L[i][j]);
  if (with_x) {
    xrows.reserve(static_cast<std::size_t>(K + 1));
    for (int j = 0; j < K; ++j) xrows.emplace_back(Mat(std::get<Mat>(L[K][j]).topRows(np)));
    xrows.emplace_back(Mat(LKK().topLeftCorner(np, np)));
    for (auto& b : xrows) V[K].push_back(&b);
  }
  const std::vector<Mat> G = traces(*this, V, with_x);

  const std::vector<Mat> dr2 = detail::pwrss_gradient(*this);
  const double coef = static_cast<double>(reml ? n() - p() : n()) / pwrss();
  std::vector<Mat> J(static_cast<std::size_t>(K));
  for (int j = 0; j < K; ++j) J[j] = 2 * G[j].transpose() + coef * dr2[j];
  return J;
}

std::vector<Mat> detail::pwrss_gradient(const ModelState& m) {
  // Z_j'e from A, with b_i = Λ_i u_i.
  const auto np = static_cast<Eigen::Index>(m.p());
  const Eigen::VectorXd beta_v = m.beta_shifted();
  const std::vector<Eigen::VectorXd> uu = m.u();
  std::vector<Eigen::VectorXd> bvec(static_cast<std::size_t>(m.K));
  for (int i = 0; i < m.K; ++i) bvec[i] = detail::kron_identity(m.lambda[i], m.nlev[i]) * uu[i];
  std::vector<Mat> D(static_cast<std::size_t>(m.K));
  for (int j = 0; j < m.K; ++j) {
    const int qj = m.q[j];
    const Mat& AK = std::get<Mat>(m.A[m.K][j]);
    Eigen::VectorXd ze = AK.row(np).transpose();
    ze.noalias() -= AK.topRows(np).transpose() * beta_v;
    detail::subtract_ztz_times(m, j, bvec, ze);
    Mat F = Mat::Zero(qj, qj);  // F(r, c) = Σ_b (Z_jb'e)_r u_jb,c
    for (Eigen::Index b = 0; b < m.nlev[j]; ++b)
      F.noalias() += ze.segment(b * qj, qj) * uu[j].segment(b * qj, qj).transpose();
    D[j] = -2 * F;
  }
  return D;
}

template <class V>
void detail::subtract_ztz_times(const ModelState& m, int j, const std::vector<V>& v, V& out) {
  const int qj = m.q[j];
  const auto& Ajj = std::get<BlockDiag>(m.A[j][j]);
  for (Eigen::Index b = 0; b < m.nlev[j]; ++b)
    out.middleRows(b * qj, qj).noalias() -= Ajj.block(b) * v[j].middleRows(b * qj, qj);
  for (int i = 0; i < m.K; ++i) {
    if (i > j) out.noalias() -= std::get<SpMat>(m.A[i][j]).transpose() * v[i];
    if (i < j) out.noalias() -= std::get<SpMat>(m.A[j][i]) * v[i];
  }
}

template void detail::subtract_ztz_times(const ModelState&, int, const std::vector<Eigen::VectorXd>&, Eigen::VectorXd&);
template void detail::subtract_ztz_times(const ModelState&, int, const std::vector<Mat>&, Mat&);

}  // namespace lmm
