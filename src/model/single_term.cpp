// One random-effects term (the longitudinal case, `(time | id)`): the blocked Cholesky factor and
// the gradient of the profiled objective in one sweep over the levels (several terms:
// src/model/multi_term.cpp), with kernels whose sizes
// (q = 1 to 3, p + 1 = 2 to 8; q = 4 alone) are fixed at compile time, and no allocation per level.
//
// Factor (Bates et al. 2015, J. Stat. Softw. 67(1), eq. 18, in blocks): for each level b,
//   L_b L_b' = λ'A_b λ + I,   C_b = A_{[Xy],b} λ L_b^{-T},
// then L_KK L_KK' = A_KK - Σ_b C_b C_b'. L_KK holds R_X, R_Xy and r (its last diagonal entry).
//
// Gradient. Write M = Λ̃'AΛ̃ + diag(I, 0) with Λ̃ = diag(Λ, I) over [Z X], so that
// log|M| = log|L_θ|² + log|R_X|². Then ∂log|M|/∂λ_rc = 2 tr(M⁻¹ Λ̃'A ∂Λ̃/∂λ_rc) = 2 Σ_b G_b(c, r) with
//   G_b = (M⁻¹)_bb λ'A_b + (M⁻¹)_{bX} A_{X,b},
// and the blocks of M⁻¹ that appear follow from the factor (Takahashi's equations for M⁻¹ = L^{-T}L⁻¹):
//   (M⁻¹)_XX = (R_X R_X')⁻¹,  (M⁻¹)_Xb = -(M⁻¹)_XX W_b L_b⁻¹,  (M⁻¹)_bb = L_b^{-T}L_b⁻¹ + V_b'(M⁻¹)_XX V_b
// with W_b the X rows of C_b and V_b = W_b L_b⁻¹. ML needs log|L_θ|² alone: G_b = L_b^{-T}L_b⁻¹λ'A_b.
// The sweep forms P_b = L_b^{-T}L_b⁻¹ = (L_b L_b')⁻¹ once per level (from L_b⁻¹: q divisions
// rather than one per step of 2q + 1 triangular solves); as V_b = A_{X,b} λ P_b,
//   G_b = P_b λ'A_b + P_b λ'U_b (λ P_b λ'A_b - I),   U_b = A_{X,b}'(M⁻¹)_XX A_{X,b} = Y_b'Y_b,
// with Y_b = R_X⁻¹ A_{X,b}, so that the p-sized work per level is one triangular product.
// r² is a minimum over (u, β), so (envelope theorem) ∂r²/∂λ_rc = -2 Σ_b (Z_b'e)_r u_b,c with
// e = y - Xβ̂ - ZΛû and Z_b'e = A_{y,b} - A_{X,b}'β̂ - A_b λ u_b, both from A.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

#include "model/model_impl.h"
#include "model/residual.h"
#include "util/parallel.h"

namespace lmm {

using detail::BlockDiag;
using detail::Mat;

namespace {

constexpr std::size_t kLevelsPerChunk = 2048;

// The per-level kernels below are plain loops over column-major arrays: q (Q when known at compile
// time, so the loops unroll) is 1 to 4 and m = p + 1 is small, sizes at which Eigen's general
// products and solves cost more in dispatch than in arithmetic.

// In-place lower Cholesky factor of the q x q matrix T (column-major), with the reciprocals of
// its diagonal in invd (one division per column, the entries below it multiplied by it); the
// strict upper triangle is left as it is. T is λ'Aλ + I ≥ I, so the pivots are at least 1.
template <int Q>
inline void chol_small(double* T, double* invd, int qd) {
  const int q = Q > 0 ? Q : qd;
  for (int j = 0; j < q; ++j) {
    double d = T[j * q + j];
    for (int k = 0; k < j; ++k) d -= T[k * q + j] * T[k * q + j];
    d = std::sqrt(d);
    T[j * q + j] = d;
    const double inv = 1.0 / d;
    invd[j] = inv;
    for (int i = j + 1; i < q; ++i) {
      double v = T[j * q + i];
      for (int k = 0; k < j; ++k) v -= T[k * q + i] * T[k * q + j];
      T[j * q + i] = v * inv;
    }
  }
}

// Scratch for one level: on the stack when the sizes are known at compile time (so that the
// compiler keeps it in registers and knows it does not alias the output), else on the heap once
// per chunk.
template <int N>
struct Scratch {
  explicit Scratch(std::size_t) {}
  double* data() { return a; }
  double a[N];
};
template <>
struct Scratch<0> {
  explicit Scratch(std::size_t n) : v(n) {}
  double* data() { return v.data(); }
  std::vector<double> v;
};

// One level's diagonal block of the factor: W = A_b λ, then L_b = λ'W + I (only λ's lower
// triangle is nonzero), factored in place; invd receives 1 / diag(L_b).
template <int Q>
inline void factor_level(const double* Ab, const double* lam, double* W, double* Lb, double* invd, int q_) {
  const int q = Q > 0 ? Q : q_;
  for (int j = 0; j < q; ++j)
    for (int i = 0; i < q; ++i) {
      double v = 0;
      for (int k = j; k < q; ++k) v += Ab[k * q + i] * lam[j * q + k];
      W[j * q + i] = v;
    }
  for (int j = 0; j < q; ++j)
    for (int i = 0; i < q; ++i) {
      double v = i == j ? 1.0 : 0.0;
      for (int k = i; k < q; ++k) v += lam[i * q + k] * W[j * q + k];
      Lb[j * q + i] = i >= j ? v : 0.0;
    }
  chol_small<Q>(Lb, invd, q);
}

// One level's block of the factor's [X y] rows: C = A_{[Xy],b} λ L_b^{-T} column by column
// (C L_b' = A_{[Xy],b} λ, forward substitution over the columns, each a vector over the rows)
// into cl and C, and S += C C' (lower triangle).
template <int Q, int R>
inline void cross_level(const double* Akb, const double* lam, const double* Lb, const double* ib, double* cl,
                        double* C, double* S, int q_, int rows_) {
  const int q = Q > 0 ? Q : q_;
  const int rows = R > 0 ? R : rows_;
  for (int j = 0; j < q; ++j) {
    double* cj = cl + j * rows;
    for (int r = 0; r < rows; ++r) {
      double v = 0;
      for (int k = j; k < q; ++k) v += Akb[k * rows + r] * lam[j * q + k];
      for (int k = 0; k < j; ++k) v -= cl[k * rows + r] * Lb[k * q + j];
      cj[r] = v * ib[j];
    }
  }
  for (int e = 0; e < rows * q; ++e) C[e] = cl[e];
  for (int cc = 0; cc < rows; ++cc)
    for (int r = cc; r < rows; ++r) {
      double v = 0;
      for (int a = 0; a < q; ++a) v += cl[a * rows + r] * cl[a * rows + cc];
      S[cc * rows + r] += v;
    }
}

// Q = q and R = p + 1 (the rows of [X y]) when known at compile time (0: at run time).
template <int Q, int R>
void factor_levels(detail::ModelState& m) {
  const int q = Q > 0 ? Q : m.q[0];
  const int rows = R > 0 ? R : static_cast<int>(m.p()) + 1;
  const Eigen::Index nlev = m.nlev[0];
  const auto& A00 = std::get<BlockDiag>(m.A[0][0]);
  const Mat& AK0 = std::get<Mat>(m.A[1][0]);
  auto& L00 = std::get<BlockDiag>(m.L[0][0]);
  Mat& LK0 = std::get<Mat>(m.L[1][0]);
  if (L00.data.cols() != A00.data.cols()) {
    L00.q = q;
    L00.nblocks = nlev;
    L00.data.resize(q, q * nlev);
  }
  if (LK0.rows() != rows || LK0.cols() != q * nlev) LK0.resize(rows, q * nlev);
  const Mat lam_m = m.lambda[0].triangularView<Eigen::Lower>();
  const double* lam = lam_m.data();
  const double* A00d = A00.data.data();
  const double* AK0d = AK0.data();
  double* L00d = L00.data.data();
  double* LK0d = LK0.data();

  const int nchunks = detail::chunk_count(static_cast<std::size_t>(nlev), kLevelsPerChunk);
  std::vector<double> partial(static_cast<std::size_t>(nchunks * rows * rows), 0.0);
  detail::parallel_for(nchunks, [&](int c) {
    const auto lb = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c));
    const auto le = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c + 1));
    constexpr int kScratch = Q > 0 && R > 0 ? Q * Q + Q * R + R * R : 0;
    Scratch<kScratch> scratch(static_cast<std::size_t>(q * q + q * rows + rows * rows));
    double* W = scratch.data();  // A_b λ, q x q
    double* cl = W + q * q;      // C_b, rows x q column-major
    double* S = cl + q * rows;   // this chunk's Σ_b C_b C_b', rows x rows (lower triangle)
    for (int e = 0; e < rows * rows; ++e) S[e] = 0.0;
    // Two sweeps over the chunk's levels: the first factors the L_b, a chain of square roots and
    // divisions within a level but independent across levels, so that the processor overlaps
    // consecutive levels in this short loop; the second forms C_b and C_b C_b' from them.
    std::vector<double> invd(static_cast<std::size_t>((le - lb) * q));  // 1 / diag(L_b)
    for (Eigen::Index b = lb; b < le; ++b)
      factor_level<Q>(A00d + b * q * q, lam, W, L00d + b * q * q, invd.data() + (b - lb) * q, q);
    for (Eigen::Index b = lb; b < le; ++b)
      cross_level<Q, R>(AK0d + b * rows * q, lam, L00d + b * q * q, invd.data() + (b - lb) * q, cl,
                        LK0d + b * rows * q, S, q, rows);
    double* out = partial.data() + static_cast<std::size_t>(c * rows * rows);
    for (int e = 0; e < rows * rows; ++e) out[e] = S[e];
  });
  Mat& LKK = std::get<Mat>(m.L[1][1]);
  LKK = std::get<Mat>(m.A[1][1]);
  for (int c = 0; c < nchunks; ++c) {
    const double* S = partial.data() + static_cast<std::size_t>(c * rows * rows);
    for (Eigen::Index j = 0; j < rows; ++j)
      for (Eigen::Index i = j; i < rows; ++i) LKK(i, j) -= S[j * rows + i];
  }
  Eigen::LLT<Eigen::Ref<Mat>> llt(LKK);
  LKK.triangularView<Eigen::StrictlyUpper>().setZero();
  m.factor_ok = llt.info() == Eigen::Success;
}

// L_b⁻¹ column by column (forward substitution on the identity), then P = L_b^{-T}L_b⁻¹: two
// divisions per level instead of one per step of each triangular solve.
template <int Q>
inline void level_inverse(const double* Lb, double* Li, double* P, int q_) {
  const int q = Q > 0 ? Q : q_;
  for (int a = 0; a < q; ++a) Li[a * q + a] = 1.0 / Lb[a * q + a];
  for (int j = 0; j < q; ++j)
    for (int i = j + 1; i < q; ++i) {
      double v = 0;
      for (int k = j; k < i; ++k) v -= Lb[k * q + i] * Li[j * q + k];
      Li[j * q + i] = v * Li[i * q + i];
    }
  for (int j = 0; j < q; ++j)
    for (int i = j; i < q; ++i) {
      double v = 0;
      for (int k = i; k < q; ++k) v += Li[i * q + k] * Li[j * q + k];
      P[j * q + i] = P[i * q + j] = v;
    }
}

// u_b = L_b^{-T}(c_b - W_b'β̂), the spherical random effects (B15 eq. 20), lu = λ u_b, the
// level's residual cross-product ze = Z_b'e = A_{y,b} - A_{X,b}'β̂ - A_b λ u_b, and Fsum += ze u_b'.
template <int Q, int R>
inline void level_residual(const double* C, const double* Akb, const double* Ab, const double* beta,
                           const double* lam, const double* Li, double* u, double* lu, double* ze, double* Fsum,
                           int q_, int rows_) {
  const int q = Q > 0 ? Q : q_;
  const int rows = R > 0 ? R : rows_;
  const int p = rows - 1;
  for (int a = 0; a < q; ++a) {
    double v = C[a * rows + p];
    for (int r = 0; r < p; ++r) v -= C[a * rows + r] * beta[r];
    lu[a] = v;
  }
  for (int a = 0; a < q; ++a) {
    double v = 0;
    for (int k = a; k < q; ++k) v += Li[a * q + k] * lu[k];
    u[a] = v;
  }
  for (int a = 0; a < q; ++a) {
    double v = 0;
    for (int k = 0; k <= a; ++k) v += lam[k * q + a] * u[k];
    lu[a] = v;
  }
  for (int a = 0; a < q; ++a) {
    double v = Akb[a * rows + p];
    for (int r = 0; r < p; ++r) v -= Akb[a * rows + r] * beta[r];
    for (int k = 0; k < q; ++k) v -= Ab[k * q + a] * lu[k];
    ze[a] = v;
  }
  for (int cc = 0; cc < q; ++cc)
    for (int r = 0; r < q; ++r) Fsum[cc * q + r] += ze[r] * u[cc];
}

// G_b = P λ'A_b (LA receives λ'A_b).
template <int Q>
inline void level_g(const double* lam, const double* Ab, const double* P, double* LA, double* G, int q_) {
  const int q = Q > 0 ? Q : q_;
  for (int cc = 0; cc < q; ++cc)
    for (int a = 0; a < q; ++a) {
      double v = 0;
      for (int k = a; k < q; ++k) v += lam[a * q + k] * Ab[cc * q + k];
      LA[cc * q + a] = v;
    }
  for (int cc = 0; cc < q; ++cc)
    for (int a = 0; a < q; ++a) {
      double v = 0;
      for (int k = 0; k < q; ++k) v += P[k * q + a] * LA[cc * q + k];
      G[cc * q + a] = v;
    }
}

// REML's addition to G_b: P λ'U_b (λ P λ'A_b - I), with U_b = A_{X,b}'(M⁻¹)_XX A_{X,b}; it is
// V_b'(M⁻¹)_XX (V_b λ'A_b - A_{X,b}) with V_b = W_b L_b⁻¹ = A_{X,b} λ P. tx: T = R_X⁻¹.
template <int Q, int R>
inline void level_reml_term(const double* tx, const double* Akb, const double* lam, const double* P, double* Y,
                            double* U, double* E, double* LA, double* PU, double* G, int q_, int rows_) {
  const int q = Q > 0 ? Q : q_;
  const int rows = R > 0 ? R : rows_;
  const int p = rows - 1;
  // Y = T A_{X,b} (T lower triangular), U = Y'Y.
  for (int j = 0; j < q; ++j)
    for (int r = 0; r < p; ++r) {
      double v = 0;
      for (int k = 0; k <= r; ++k) v += tx[k * p + r] * Akb[j * rows + k];
      Y[j * p + r] = v;
    }
  for (int j = 0; j < q; ++j)
    for (int i = j; i < q; ++i) {
      double v = 0;
      for (int r = 0; r < p; ++r) v += Y[i * p + r] * Y[j * p + r];
      U[j * q + i] = U[i * q + j] = v;
    }
  // E = λ G1 - I, with G1 = P λ'A_b the G computed so far.
  for (int cc = 0; cc < q; ++cc)
    for (int a = 0; a < q; ++a) {
      double v = a == cc ? -1.0 : 0.0;
      for (int k = 0; k <= a; ++k) v += lam[k * q + a] * G[cc * q + k];
      E[cc * q + a] = v;
    }
  // PU = P λ'U: first λ'U into LA (no longer needed), then P times it.
  for (int cc = 0; cc < q; ++cc)
    for (int a = 0; a < q; ++a) {
      double v = 0;
      for (int k = a; k < q; ++k) v += lam[a * q + k] * U[cc * q + k];
      LA[cc * q + a] = v;
    }
  for (int cc = 0; cc < q; ++cc)
    for (int a = 0; a < q; ++a) {
      double v = 0;
      for (int k = 0; k < q; ++k) v += P[k * q + a] * LA[cc * q + k];
      PU[cc * q + a] = v;
    }
  for (int cc = 0; cc < q; ++cc)
    for (int a = 0; a < q; ++a) {
      double v = 0;
      for (int k = 0; k < q; ++k) v += PU[k * q + a] * E[cc * q + k];
      G[cc * q + a] += v;
    }
}

template <int Q, int R>
Mat gradient_levels(const detail::ModelState& m) {
  const int q = Q > 0 ? Q : m.q[0];
  const int rows = R > 0 ? R : static_cast<int>(m.p()) + 1;
  const int p = rows - 1;
  const Eigen::Index nlev = m.nlev[0];
  const bool reml = m.method == Method::REML;
  const auto& A00 = std::get<BlockDiag>(m.A[0][0]);
  const Mat& AK0 = std::get<Mat>(m.A[1][0]);
  const auto& L00 = std::get<BlockDiag>(m.L[0][0]);
  const Mat& LK0 = std::get<Mat>(m.L[1][0]);
  const Mat lam_m = m.lambda[0].triangularView<Eigen::Lower>();
  const double* lam = lam_m.data();
  const double* A00d = A00.data.data();
  const double* AK0d = AK0.data();
  const double* L00d = L00.data.data();
  const double* LK0d = LK0.data();

  const Eigen::VectorXd beta_v = m.beta_shifted();  // A holds y - X beta0 (response_shift in model.cpp)
  const double* beta = beta_v.data();
  // (M⁻¹)_XX = (R_X R_X')⁻¹ = T'T with T = R_X⁻¹ (lower triangular).
  Mat T;
  if (reml) {
    T = Mat::Identity(p, p);
    m.LKK().topLeftCorner(p, p).triangularView<Eigen::Lower>().solveInPlace(T);
  }
  const double* tx = T.data();
  const double r2 = m.pwrss();
  const double coef = static_cast<double>(reml ? m.n() - m.p() : m.n()) / r2;

  const int nchunks = detail::chunk_count(static_cast<std::size_t>(nlev), kLevelsPerChunk);
  // Per chunk: Σ_b G_b and Σ_b (Z_b'e) u_b', q x q each.
  const std::size_t qq = static_cast<std::size_t>(q * q);
  std::vector<double> partial(static_cast<std::size_t>(nchunks) * 2 * qq, 0.0);
  detail::parallel_for(nchunks, [&](int c) {
    const auto lb = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c));
    const auto le = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c + 1));
    constexpr int kScratch = Q > 0 && R > 0 ? 3 * Q + 10 * Q * Q + (R - 1) * Q : 0;
    Scratch<kScratch> buf(static_cast<std::size_t>(3 * q + 10 * q * q + p * q));
    double* u = buf.data();
    double* lu = u + q;
    double* ze = lu + q;
    double* Li = ze + q;          // L_b⁻¹, q x q lower
    double* P = Li + q * q;       // (L_b L_b')⁻¹ = L_b^{-T} L_b⁻¹
    double* LA = P + q * q;       // λ'A_b
    double* G = LA + q * q;       // G_b
    double* E = G + q * q;        // λ G1_b - I
    double* U = E + q * q;        // A_{X,b}'(M⁻¹)_XX A_{X,b}
    double* PU = U + q * q;       // P λ'U
    double* Gsum = PU + q * q;    // this chunk's Σ_b G_b
    double* Fsum = Gsum + q * q;  // and Σ_b (Z_b'e) u_b'
    double* Y = Fsum + q * q;     // T A_{X,b}, p x q
    for (int e = 0; e < q * q; ++e) Gsum[e] = Fsum[e] = 0.0;
    for (Eigen::Index b = lb; b < le; ++b) {
      const double* Ab = A00d + b * q * q;
      const double* Lb = L00d + b * q * q;
      const double* Akb = AK0d + b * rows * q;
      const double* C = LK0d + b * rows * q;
      level_inverse<Q>(Lb, Li, P, q);
      level_residual<Q, R>(C, Akb, Ab, beta, lam, Li, u, lu, ze, Fsum, q, rows);
      level_g<Q>(lam, Ab, P, LA, G, q);
      if (reml) level_reml_term<Q, R>(tx, Akb, lam, P, Y, U, E, LA, PU, G, q, rows);
      for (int e = 0; e < q * q; ++e) Gsum[e] += G[e];
    }
    double* out = partial.data() + static_cast<std::size_t>(c) * 2 * qq;
    for (int e = 0; e < q * q; ++e) {
      out[e] = Gsum[e];
      out[qq + static_cast<std::size_t>(e)] = Fsum[e];
    }
  });
  Mat Gt = Mat::Zero(q, q), Ft = Mat::Zero(q, q);
  for (int c = 0; c < nchunks; ++c) {
    Gt += Eigen::Map<Mat>(partial.data() + static_cast<std::size_t>(c) * 2 * qq, q, q);
    Ft += Eigen::Map<Mat>(partial.data() + static_cast<std::size_t>(c) * 2 * qq + qq, q, q);
  }
  // ∂d/∂λ_rc for every (r, c), not only the lower triangle: the conditioned coordinates of the
  // optimizer reach λ through a rotation (ThetaMap::gradient_conditioned).
  return 2 * Gt.transpose() - 2 * coef * Ft;
}

// ∂objective/∂c_k for each key of A = Σ_k c_k A_k (a residual structure, src/model/residual.h):
// the objective depends on A through log|M| (REML; ML: log|L_θ|²) and r², so with Λ̃ = diag(Λ, I)
// and s = (-Λû, -β̂, 1) (r² is a minimum, so its derivative holds û and β̂ fixed)
//   ∂objective/∂A = Λ̃ M⁻¹ Λ̃' + κ s s',   κ = (n - p)/r² (REML; ML: n/r²),
// and ∂objective/∂c_k is its inner product with A_k, level by level: the level's q x q block takes
// λ(M⁻¹)_bbλ' + κ b b' (b = λ u_b), its [X y] x q block 2(M⁻¹)_Xb λ' + 2κ β̂ b' (X rows) and -2κ b'
// (the y row), and [X y]'[X y] takes (M⁻¹)_XX (padded) + κ (-β̂, 1)(-β̂, 1)'. The blocks of M⁻¹ as
// in the gradient above: (M⁻¹)_Xb = -(M⁻¹)_XX V_b, (M⁻¹)_bb = P_b + V_b'(M⁻¹)_XX V_b, V_b = A_{X,b} λ P_b.
template <int Q, int R>
inline void level_key_weights(const double* Akb, const double* C, const double* lam, const double* beta,
                              const double* mxx, double kappa, bool reml, double* buf, double* wz, double* wx,
                              int q_, int rows_) {
  const int q = Q > 0 ? Q : q_;
  const int rows = R > 0 ? R : rows_;
  const int p = rows - 1;
  double* Li = buf;          // q x q
  double* P = Li + q * q;    // q x q
  double* Mb = P + q * q;    // (M⁻¹)_bb, q x q
  double* b = Mb + q * q;    // λ u_b, q (u_b first)
  double* lu = b + q;        // q
  double* V = lu + q;        // p x q
  double* MV = V + p * q;    // (M⁻¹)_XX V, p x q
  for (int a = 0; a < q; ++a) {
    double v = C[a * rows + p];
    for (int r = 0; r < p; ++r) v -= C[a * rows + r] * beta[r];
    lu[a] = v;
  }
  for (int a = 0; a < q; ++a) {  // u = L_b^{-T} lu
    double v = 0;
    for (int k = a; k < q; ++k) v += Li[a * q + k] * lu[k];
    b[a] = v;
  }
  for (int a = q - 1; a >= 0; --a) {  // b = λ u (λ lower: row a uses u_0..u_a), in place from the end
    double v = 0;
    for (int k = 0; k <= a; ++k) v += lam[k * q + a] * b[k];
    b[a] = v;
  }
  for (int e = 0; e < q * q; ++e) Mb[e] = P[e];
  if (reml && p > 0) {
    for (int c = 0; c < q; ++c)  // V = A_{X,b} λ P: first A_{X,b} λ into MV
      for (int r = 0; r < p; ++r) {
        double v = 0;
        for (int k = c; k < q; ++k) v += Akb[k * rows + r] * lam[c * q + k];
        MV[c * p + r] = v;
      }
    for (int c = 0; c < q; ++c)
      for (int r = 0; r < p; ++r) {
        double v = 0;
        for (int k = 0; k < q; ++k) v += MV[k * p + r] * P[c * q + k];
        V[c * p + r] = v;
      }
    for (int c = 0; c < q; ++c)
      for (int r = 0; r < p; ++r) {
        double v = 0;
        for (int k = 0; k < p; ++k) v += mxx[k * p + r] * V[c * p + k];
        MV[c * p + r] = v;
      }
    for (int c = 0; c < q; ++c)
      for (int a = 0; a < q; ++a) {
        double v = 0;
        for (int r = 0; r < p; ++r) v += V[a * p + r] * MV[c * p + r];
        Mb[c * q + a] += v;
      }
  }
  // wz = λ Mb λ' + κ b b' (via Li as scratch for Mb λ').
  for (int c = 0; c < q; ++c)
    for (int a = 0; a < q; ++a) {
      double v = 0;
      for (int k = 0; k <= c; ++k) v += Mb[k * q + a] * lam[k * q + c];
      Li[c * q + a] = v;
    }
  for (int c = 0; c < q; ++c)
    for (int a = 0; a < q; ++a) {
      double v = kappa * b[a] * b[c];
      for (int k = 0; k <= a; ++k) v += lam[k * q + a] * Li[c * q + k];
      wz[c * q + a] = v;
    }
  for (int c = 0; c < q; ++c) {
    for (int r = 0; r < p; ++r) {
      double v = 2 * kappa * beta[r] * b[c];
      if (reml)
        for (int k = 0; k <= c; ++k) v -= 2 * MV[k * p + r] * lam[k * q + c];
      wx[c * rows + r] = v;
    }
    wx[c * rows + p] = -2 * kappa * b[c];
  }
}

template <int Q, int R>
std::vector<double> key_gradient_levels(const detail::ModelState& m) {
  const int q = Q > 0 ? Q : m.q[0];
  const int rows = R > 0 ? R : static_cast<int>(m.p()) + 1;
  const int p = rows - 1;
  const Eigen::Index nlev = m.nlev[0];
  const bool reml = m.method == Method::REML;
  const std::size_t nk = m.A_keys.size();
  const Mat lam_m = m.lambda[0].triangularView<Eigen::Lower>();
  const double* lam = lam_m.data();
  const double* L00d = std::get<BlockDiag>(m.L[0][0]).data.data();
  const double* LK0d = std::get<Mat>(m.L[1][0]).data();
  const double* AK0d = std::get<Mat>(m.A[1][0]).data();
  std::vector<const double*> kz(nk), kx(nk);
  for (std::size_t k = 0; k < nk; ++k) {
    kz[k] = std::get<BlockDiag>(m.A_keys[k][0][0]).data.data();
    kx[k] = std::get<Mat>(m.A_keys[k][1][0]).data();
  }
  const Eigen::VectorXd beta_v = m.beta_shifted();
  const double* beta = beta_v.data();
  Mat T = Mat::Identity(p, p);  // R_X⁻¹; (M⁻¹)_XX = T'T
  m.LKK().topLeftCorner(p, p).triangularView<Eigen::Lower>().solveInPlace(T);
  const Mat mxx = T.transpose() * T;
  const double kappa = static_cast<double>(reml ? m.n() - m.p() : m.n()) / m.pwrss();

  const int nchunks = detail::chunk_count(static_cast<std::size_t>(nlev), kLevelsPerChunk);
  std::vector<double> partial(static_cast<std::size_t>(nchunks) * nk, 0.0);
  detail::parallel_for(nchunks, [&](int c) {
    const auto lb = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c));
    const auto le = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c + 1));
    constexpr int kScratch = Q > 0 && R > 0 ? 4 * Q * Q + 2 * Q + 2 * (R - 1) * Q + Q * R : 0;
    Scratch<kScratch> buf(static_cast<std::size_t>(4 * q * q + 2 * q + 2 * p * q + q * rows));
    double* work = buf.data();
    double* wz = work + 3 * q * q + 2 * q + 2 * p * q;
    double* wx = wz + q * q;
    double* out = partial.data() + static_cast<std::size_t>(c) * nk;
    for (Eigen::Index b = lb; b < le; ++b) {
      level_inverse<Q>(L00d + b * q * q, work, work + q * q, q);
      level_key_weights<Q, R>(AK0d + b * rows * q, LK0d + b * rows * q, lam, beta, mxx.data(), kappa, reml, work,
                              wz, wx, q, rows);
      for (std::size_t k = 0; k < nk; ++k) {
        const double* az = kz[k] + b * q * q;
        const double* ax = kx[k] + b * rows * q;
        double v = 0;
        for (int e = 0; e < q * q; ++e) v += wz[e] * az[e];
        for (int e = 0; e < rows * q; ++e) v += wx[e] * ax[e];
        out[k] += v;
      }
    }
  });
  // [X y]'[X y]: (M⁻¹)_XX (REML) + κ s s' with s = (-β̂, 1).
  Eigen::VectorXd s(rows);
  s.head(p) = -beta_v;
  s(p) = 1;
  Mat wkk = kappa * s * s.transpose();
  if (reml) wkk.topLeftCorner(p, p) += mxx;
  std::vector<double> g(nk, 0.0);
  for (std::size_t k = 0; k < nk; ++k) {
    for (int c = 0; c < nchunks; ++c) g[k] += partial[static_cast<std::size_t>(c) * nk + k];
    g[k] += (wkk.array() * std::get<Mat>(m.A_keys[k][1][1]).array()).sum();
  }
  return g;
}

// Calls K<Q, R>::run(m) with the sizes fixed at compile time where they are common (q = 1 to 3
// with up to 7 fixed effects, q = 4 with run-time rows), else at run time.
template <template <int, int> class K, int Q, typename M>
auto dispatch_rows(M& m) {
  switch (m.p() + 1) {
    case 2: return K<Q, 2>::run(m);
    case 3: return K<Q, 3>::run(m);
    case 4: return K<Q, 4>::run(m);
    case 5: return K<Q, 5>::run(m);
    case 6: return K<Q, 6>::run(m);
    case 7: return K<Q, 7>::run(m);
    case 8: return K<Q, 8>::run(m);
    default: return K<Q, 0>::run(m);
  }
}
template <template <int, int> class K, typename M>
auto dispatch(M& m) {
  switch (m.q[0]) {
    case 1: return dispatch_rows<K, 1, M>(m);
    case 2: return dispatch_rows<K, 2, M>(m);
    case 3: return dispatch_rows<K, 3, M>(m);
    case 4: return K<4, 0>::run(m);
    default: return K<0, 0>::run(m);
  }
}
template <int Q, int R>
struct FactorKernel {
  static int run(detail::ModelState& m) {
    factor_levels<Q, R>(m);
    return 0;
  }
};
template <int Q, int R>
struct KeyGradientKernel {
  static std::vector<double> run(const detail::ModelState& m) { return key_gradient_levels<Q, R>(m); }
};
template <int Q, int R>
struct GradientKernel {
  static Mat run(const detail::ModelState& m) { return gradient_levels<Q, R>(m); }
};

}  // namespace

void detail::ModelState::update_L_single() { dispatch<FactorKernel>(*this); }

bool detail::ModelState::has_gradient() const {
  // A residual structure: its parameters' gradient has a kernel for one term (key_gradient_levels).
  if (residual && K != 1) return false;
  for (int j = 0; j < K; ++j)
    if (std::holds_alternative<detail::SparseChol>(L[j][j]) || !std::holds_alternative<BlockDiag>(A[j][j]))
      return false;
  return true;
}

std::vector<Mat> detail::ModelState::gradient_full() const {
  // Kept for the current factor: const callers on several threads read and write it under a lock.
  static std::mutex kept;
  {
    std::lock_guard<std::mutex> lock(kept);
    if (gradient_kept) return gradient_cache;
  }
  std::vector<Mat> J = gradient_full_uncached();
  std::lock_guard<std::mutex> lock(kept);
  gradient_cache = J;
  gradient_kept = true;
  return J;
}

std::vector<Mat> detail::ModelState::gradient_full_uncached() const {
  if (!factor_ok) {
    std::vector<Mat> nan;
    for (int j = 0; j < K; ++j) nan.push_back(Mat::Constant(q[j], q[j], std::numeric_limits<double>::quiet_NaN()));
    return nan;
  }
  if (K > 1) return gradient_multi();
  return {dispatch<GradientKernel>(*this)};
}

std::vector<double> detail::ModelState::gradient() const {
  const std::vector<Mat> J = gradient_full();
  std::vector<double> g(theta.size());
  for (int j = 0; j < K; ++j)
    for (int c = 0, k = theta_offset[j]; c < q[j]; ++c)
      for (int r = c; r < q[j]; ++r, ++k) g[static_cast<std::size_t>(k)] = J[static_cast<std::size_t>(j)](r, c);
  const std::vector<double> ge = gradient_residual();
  std::copy(ge.begin(), ge.end(), g.end() - static_cast<std::ptrdiff_t>(ge.size()));
  return g;
}

std::vector<double> detail::ModelState::gradient_residual() const {
  if (!residual || residual->fixed()) return {};
  if (!factor_ok) return std::vector<double>(residual_eta.size(), std::numeric_limits<double>::quiet_NaN());
  const std::vector<double> gk = dispatch<KeyGradientKernel>(*this);
  const Mat J = residual->coefficient_jacobian(residual_eta.data());
  std::vector<double> g = residual->logdet_gradient(residual_eta.data());
  for (std::size_t j = 0; j < g.size(); ++j)
    for (std::size_t k = 0; k < gk.size(); ++k)
      g[j] += J(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j)) * gk[k];
  return g;
}

std::vector<double> detail::conditioned_gradient(const ModelState& m, const ThetaMap& map,
                                                 const std::vector<double>& x) {
  std::vector<double> g = map.gradient_conditioned(x, m.gradient_full());
  const std::vector<double> ge = m.gradient_residual();  // η passes through the map unchanged
  std::copy(ge.begin(), ge.end(), g.end() - static_cast<std::ptrdiff_t>(ge.size()));
  return g;
}

}  // namespace lmm
