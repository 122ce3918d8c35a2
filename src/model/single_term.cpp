// One random-effects term (the longitudinal case, `(time | id)`): the blocked Cholesky factor and
// the gradient of the profiled objective in one sweep over the levels, with q x q kernels of fixed
// size for q = 1 to 4 and no allocation per level.
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
// r² is a minimum over (u, β), so (envelope theorem) ∂r²/∂λ_rc = -2 Σ_b (Z_b'e)_r u_b,c with
// e = y - Xβ̂ - ZΛû and Z_b'e = A_{y,b} - A_{X,b}'β̂ - A_b λ u_b, both from A.
#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <vector>

#include "model/model_impl.h"
#include "util/parallel.h"

namespace lmm {

using detail::BlockDiag;
using detail::Mat;

namespace {

constexpr std::size_t kLevelsPerChunk = 2048;

// The per-level kernels below are plain loops over column-major arrays: q (Q when known at compile
// time, so the loops unroll) is 1 to 4 and m = p + 1 is small, sizes at which Eigen's general
// products and solves cost more in dispatch than in arithmetic.

// In-place lower Cholesky factor of the q x q matrix T (column-major); the strict upper triangle is
// zeroed. T is λ'Aλ + I ≥ I, so the pivots are at least 1.
template <int Q>
inline void chol_small(double* T, int qd) {
  const int q = Q > 0 ? Q : qd;
  for (int j = 0; j < q; ++j) {
    double d = T[j * q + j];
    for (int k = 0; k < j; ++k) d -= T[k * q + j] * T[k * q + j];
    d = std::sqrt(d);
    T[j * q + j] = d;
    for (int i = j + 1; i < q; ++i) {
      double v = T[j * q + i];
      for (int k = 0; k < j; ++k) v -= T[k * q + i] * T[k * q + j];
      T[j * q + i] = v / d;
      T[i * q + j] = 0.0;
    }
  }
}

// x = L^{-T} x for a q x q lower triangular L (back substitution).
template <int Q>
inline void solve_lt(const double* L, double* x, int qd) {
  const int q = Q > 0 ? Q : qd;
  for (int a = q - 1; a >= 0; --a) {
    double v = x[a];
    for (int k = a + 1; k < q; ++k) v -= L[a * q + k] * x[k];
    x[a] = v / L[a * q + a];
  }
}

// x = L⁻¹ x.
template <int Q>
inline void solve_l(const double* L, double* x, int qd) {
  const int q = Q > 0 ? Q : qd;
  for (int a = 0; a < q; ++a) {
    double v = x[a];
    for (int k = 0; k < a; ++k) v -= L[k * q + a] * x[k];
    x[a] = v / L[a * q + a];
  }
}

template <int Q>
void factor_levels(LinearMixedModel::Impl& m) {
  const int qd = m.q[0];
  const int q = Q > 0 ? Q : qd;
  const Eigen::Index nlev = m.nlev[0];
  const auto rows = static_cast<Eigen::Index>(m.p()) + 1;
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

  const int nchunks = detail::chunk_count(static_cast<std::size_t>(nlev), kLevelsPerChunk);
  std::vector<double> partial(static_cast<std::size_t>(nchunks * rows * rows), 0.0);
  detail::parallel_for(nchunks, [&](int c) {
    const auto lb = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c));
    const auto le = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c + 1));
    double* S = partial.data() + static_cast<std::size_t>(c * rows * rows);
    std::vector<double> scratch(static_cast<std::size_t>(q * q + q + rows * q));
    double* W = scratch.data();        // A_b λ, q x q
    double* invd = W + q * q;          // 1 / diag(L_b)
    double* crow = invd + q;           // C_b by rows: crow[r * q + j]
    for (Eigen::Index b = lb; b < le; ++b) {
      const double* Ab = A00.data.data() + b * q * q;
      double* Lb = L00.data.data() + b * q * q;
      // W = A_b λ, then L_b = λ'W + I (only λ's lower triangle is nonzero).
      for (int j = 0; j < q; ++j)
        for (int i = 0; i < q; ++i) {
          double v = 0;
          for (int k = j; k < q; ++k) v += Ab[k * q + i] * lam[j * q + k];
          W[j * q + i] = v;
        }
      for (int j = 0; j < q; ++j)
        for (int i = j; i < q; ++i) {
          double v = i == j ? 1.0 : 0.0;
          for (int k = i; k < q; ++k) v += lam[i * q + k] * W[j * q + k];
          Lb[j * q + i] = v;
        }
      chol_small<Q>(Lb, qd);
      for (int j = 0; j < q; ++j) invd[j] = 1.0 / Lb[j * q + j];
      // C = A_{[Xy],b} λ L_b^{-T}, row by row: c = a λ, then c L_b^{-T} by forward substitution.
      const double* Akb = AK0.data() + b * rows * q;
      double* C = LK0.data() + b * rows * q;
      for (Eigen::Index r = 0; r < rows; ++r) {
        double* cr = crow + r * q;
        for (int j = 0; j < q; ++j) {
          double v = 0;
          for (int k = j; k < q; ++k) v += Akb[k * rows + r] * lam[j * q + k];
          for (int k = 0; k < j; ++k) v -= cr[k] * Lb[k * q + j];
          cr[j] = v * invd[j];
          C[j * rows + r] = cr[j];
        }
      }
      // S += C C' (lower triangle).
      for (Eigen::Index cc = 0; cc < rows; ++cc) {
        const double* c2 = crow + cc * q;
        for (Eigen::Index r = cc; r < rows; ++r) {
          const double* c1 = crow + r * q;
          double v = 0;
          for (int a = 0; a < q; ++a) v += c1[a] * c2[a];
          S[cc * rows + r] += v;
        }
      }
    }
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

template <int Q>
Mat gradient_levels(const LinearMixedModel::Impl& m) {
  const int qd = m.q[0];
  const int q = Q > 0 ? Q : qd;
  const Eigen::Index nlev = m.nlev[0];
  const auto p = static_cast<Eigen::Index>(m.p());
  const Eigen::Index rows = p + 1;
  const bool reml = m.method == Method::REML;
  const auto& A00 = std::get<BlockDiag>(m.A[0][0]);
  const Mat& AK0 = std::get<Mat>(m.A[1][0]);
  const auto& L00 = std::get<BlockDiag>(m.L[0][0]);
  const Mat& LK0 = std::get<Mat>(m.L[1][0]);
  const Mat lam_m = m.lambda[0].triangularView<Eigen::Lower>();
  const double* lam = lam_m.data();

  const Eigen::VectorXd beta = m.beta_shifted();  // A holds y - X beta0 (response_shift in model.cpp)
  Mat SXX;  // (R_X R_X')⁻¹
  if (reml) SXX = m.vcov_unscaled();
  const double r2 = m.pwrss();
  const double coef = static_cast<double>(reml ? m.n() - m.p() : m.n()) / r2;

  const int nchunks = detail::chunk_count(static_cast<std::size_t>(nlev), kLevelsPerChunk);
  // Per chunk: Σ_b G_b and Σ_b (Z_b'e) u_b', q x q each.
  const std::size_t qq = static_cast<std::size_t>(q * q);
  std::vector<double> partial(static_cast<std::size_t>(nchunks) * 2 * qq, 0.0);
  detail::parallel_for(nchunks, [&](int c) {
    const auto lb = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c));
    const auto le = static_cast<Eigen::Index>(detail::chunk_begin(static_cast<std::size_t>(nlev), nchunks, c + 1));
    double* Gsum = partial.data() + static_cast<std::size_t>(c) * 2 * qq;
    double* Fsum = Gsum + qq;
    std::vector<double> buf(static_cast<std::size_t>(4 * q + 2 * q * q + 3 * p * q));
    double* u = buf.data();
    double* lu = u + q;
    double* ze = lu + q;
    double* LA = ze + q;      // λ'A_b, q x q
    double* G = LA + q * q;   // q x q
    double* V = G + q * q;    // p x q
    double* D = V + p * q;    // p x q
    double* SD = D + p * q;   // p x q
    for (Eigen::Index b = lb; b < le; ++b) {
      const double* Ab = A00.data.data() + b * q * q;
      const double* Lb = L00.data.data() + b * q * q;
      const double* Akb = AK0.data() + b * rows * q;
      const double* C = LK0.data() + b * rows * q;
      // u_b = L_b^{-T}(c_b - W_b'β̂), the spherical random effects (B15 eq. 20).
      for (int a = 0; a < q; ++a) {
        double v = C[a * rows + p];
        for (Eigen::Index r = 0; r < p; ++r) v -= C[a * rows + r] * beta[r];
        u[a] = v;
      }
      solve_lt<Q>(Lb, u, qd);
      for (int a = 0; a < q; ++a) {
        double v = 0;
        for (int k = 0; k <= a; ++k) v += lam[k * q + a] * u[k];
        lu[a] = v;
      }
      // Z_b'e = A_{y,b} - A_{X,b}'β̂ - A_b λ u_b.
      for (int a = 0; a < q; ++a) {
        double v = Akb[a * rows + p];
        for (Eigen::Index r = 0; r < p; ++r) v -= Akb[a * rows + r] * beta[r];
        for (int k = 0; k < q; ++k) v -= Ab[k * q + a] * lu[k];
        ze[a] = v;
      }
      for (int cc = 0; cc < q; ++cc)
        for (int r = 0; r < q; ++r) Fsum[cc * q + r] += ze[r] * u[cc];
      // G_b = L_b^{-T}L_b⁻¹ λ'A_b (+ for REML V_b'(M⁻¹)_XX (V_b λ'A_b - A_{X,b})).
      for (int cc = 0; cc < q; ++cc)
        for (int a = 0; a < q; ++a) {
          double v = 0;
          for (int k = a; k < q; ++k) v += lam[a * q + k] * Ab[cc * q + k];
          LA[cc * q + a] = v;
        }
      for (int cc = 0; cc < q; ++cc) {
        for (int a = 0; a < q; ++a) G[cc * q + a] = LA[cc * q + a];
        solve_l<Q>(Lb, G + cc * q, qd);
        solve_lt<Q>(Lb, G + cc * q, qd);
      }
      if (reml) {
        // V_b = W_b L_b⁻¹: solve V L_b = W_b column by column from the last.
        for (int j = q - 1; j >= 0; --j) {
          for (Eigen::Index r = 0; r < p; ++r) {
            double v = C[j * rows + r];
            for (int k = j + 1; k < q; ++k) v -= V[k * p + r] * Lb[j * q + k];
            V[j * p + r] = v / Lb[j * q + j];
          }
        }
        for (int cc = 0; cc < q; ++cc)
          for (Eigen::Index r = 0; r < p; ++r) {
            double v = -Akb[cc * rows + r];
            for (int k = 0; k < q; ++k) v += V[k * p + r] * LA[cc * q + k];
            D[cc * p + r] = v;
          }
        for (int cc = 0; cc < q; ++cc)
          for (Eigen::Index r = 0; r < p; ++r) {
            double v = 0;
            for (Eigen::Index k = 0; k < p; ++k) v += SXX(r, k) * D[cc * p + k];
            SD[cc * p + r] = v;
          }
        for (int cc = 0; cc < q; ++cc)
          for (int a = 0; a < q; ++a) {
            double v = 0;
            for (Eigen::Index r = 0; r < p; ++r) v += V[a * p + r] * SD[cc * p + r];
            G[cc * q + a] += v;
          }
      }
      for (std::size_t e = 0; e < qq; ++e) Gsum[e] += G[e];
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

}  // namespace

void LinearMixedModel::Impl::update_L_single() {
  switch (q[0]) {
    case 1: factor_levels<1>(*this); break;
    case 2: factor_levels<2>(*this); break;
    case 3: factor_levels<3>(*this); break;
    case 4: factor_levels<4>(*this); break;
    default: factor_levels<Eigen::Dynamic>(*this); break;
  }
}

std::vector<Mat> LinearMixedModel::Impl::gradient_full() const {
  if (!factor_ok) return {Mat::Constant(q[0], q[0], std::numeric_limits<double>::quiet_NaN())};
  switch (q[0]) {
    case 1: return {gradient_levels<1>(*this)};
    case 2: return {gradient_levels<2>(*this)};
    case 3: return {gradient_levels<3>(*this)};
    case 4: return {gradient_levels<4>(*this)};
    default: return {gradient_levels<Eigen::Dynamic>(*this)};
  }
}

std::vector<double> LinearMixedModel::Impl::gradient() const {
  const std::vector<Mat> J = gradient_full();
  std::vector<double> g(theta.size());
  for (int j = 0; j < K; ++j)
    for (int c = 0, k = theta_offset[j]; c < q[j]; ++c)
      for (int r = c; r < q[j]; ++r, ++k) g[static_cast<std::size_t>(k)] = J[static_cast<std::size_t>(j)](r, c);
  return g;
}

}  // namespace lmm
