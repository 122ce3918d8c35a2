// Satterthwaite's degrees of freedom for fixed-effect contrasts, as lmerTest 3.1-3 computes them
// (Kuznetsova, Brockhoff & Christensen 2017, J. Stat. Softw. 82(13), sections 3.2 and 5.1).
//
// The variance parameters are φ = (θ, σ). With β profiled out, the REML or ML deviance at (θ, σ) is
// (lmerTest's devfun_vp, from the factor L_θ of Λ'Z'ZΛ + I and R_X of the fixed-effect block):
//   ML:   log|L_θ|² + r²(θ)/σ² + n log(2πσ²)
//   REML: log|L_θ|² + r²(θ)/σ² + (n - p) log(2πσ²) + log|R_X|²
// where r²(θ) is the penalised residual sum of squares. A = 2 H⁻¹ (H its Hessian at the optimum) is
// the asymptotic covariance of φ; Vcov(β)(θ, σ) = σ² (R_X R_X')⁻¹(θ). For a contrast c,
//   df = 2 (c'Vc)² / (g'Ag),  g_i = c' (∂V/∂φ_i) c.
// lmerTest differentiates numerically with numDeriv's Richardson extrapolation; so does this file
// (inference/numderiv.h), with the same steps, so that the figures agree to many digits.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <variant>

#include "inference/distributions.h"
#include "inference/internal.h"
#include "inference/numderiv.h"
#include "inference/varpar.h"
#include "inference/vinv_parts.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "model/model_access.h"
#include "model/multi_term.h"

namespace lmm {

namespace {

using detail::Mat;
using Eigen::MatrixXd;
using Eigen::VectorXd;

double quad(const std::vector<double>& c, const std::vector<double>& A) {  // c'Ac, A column-major
  const auto p = c.size();
  double s = 0;
  for (std::size_t j = 0; j < p; ++j) {
    double a = 0;
    for (std::size_t i = 0; i < p; ++i) a += A[j * p + i] * c[i];
    s += a * c[j];
  }
  return s;
}

}  // namespace

namespace detail {

double varpar_deviance(LinearMixedModel& model, const std::vector<double>& theta, double sigma) {
  if (model.theta() != theta) model.set_theta(theta);
  if (!model.factor_ok()) return std::numeric_limits<double>::quiet_NaN();
  constexpr double two_pi = 2 * std::numbers::pi;
  const double n = static_cast<double>(detail::model_state(model).n());
  const double p = static_cast<double>(model.frame().p());
  const double s2 = sigma * sigma;
  double d = model.logdet_re() + model.logdet_residual() + model.pwrss() / s2 + n * std::log(two_pi * s2);
  if (model.method() == Method::REML) d += model.logdet_x() - p * std::log(two_pi * s2);
  return d;
}

std::vector<double> varpar_covbeta(LinearMixedModel& model, const std::vector<double>& theta, double sigma) {
  if (model.theta() != theta) model.set_theta(theta);
  const Mat V = detail::model_state(model).vcov_unscaled() * (sigma * sigma);
  return {V.data(), V.data() + V.size()};
}

}  // namespace detail

namespace {

// ∂(ΛΛ')/∂u_i for each θ̃ entry i of each term: with M = S λ̃ (ΛΛ' = I ⊗ MM') and F_i = S e_r e_c',
// E_i = F_i M' + M F_i'; the second derivatives (same term) are F_i F_j' + F_j F_i'.
struct UDerivatives {
  std::vector<detail::TermDerivative> d;
  std::vector<MatrixXd> F;
};

UDerivatives u_derivatives(const detail::ModelState& m, const detail::ThetaMap& map, const VectorXd& u) {
  UDerivatives out;
  for (int k = 0; k < m.K; ++k) {
    const int q = m.q[k];
    const MatrixXd& S = map.scale(k);
    MatrixXd lam = MatrixXd::Zero(q, q);
    for (int c = 0, i = m.theta_offset[k]; c < q; ++c)
      for (int r = c; r < q; ++r, ++i) lam(r, c) = u(i);
    const MatrixXd M = S * lam;
    for (int c = 0; c < q; ++c)
      for (int r = c; r < q; ++r) {
        MatrixXd F = MatrixXd::Zero(q, q);
        F.col(c) = S.col(r);
        out.d.push_back({k, F * M.transpose() + M * F.transpose()});
        out.F.push_back(std::move(F));
      }
  }
  return out;
}

// The pieces of the derivatives that do not depend on the pair (i, j).
struct DerivativeParts {
  MatrixXd Phi, Wx;  // (X'Ṽ⁻¹X)⁻¹; Z'Ṽ⁻¹X
  VectorXd w;        // Z'Ṽ⁻¹(y - Xβ̂)
  double r2 = 0;     // (y - Xβ̂)'Ṽ⁻¹(y - Xβ̂)
  std::vector<MatrixXd> DW, MDW, P;  // D_i W, M D_i W, W'D_i W
  std::vector<VectorXd> Dw, MDw, WDw;
};

DerivativeParts derivative_parts(const detail::VinvParts& vp, const UDerivatives& ud, Eigen::Index p, bool reml) {
  DerivativeParts a;
  const MatrixXd& xvx = vp.xvx();
  const Eigen::LLT<MatrixXd> lx(xvx.topLeftCorner(p, p));
  a.Phi = lx.solve(MatrixXd::Identity(p, p));
  const VectorXd beta = lx.solve(xvx.col(p).head(p));
  a.r2 = xvx(p, p) - xvx.col(p).head(p).dot(beta);
  a.Wx = vp.zvx().leftCols(p);
  a.w = vp.zvx().col(p) - a.Wx * beta;
  for (const auto& d : ud.d) {
    a.DW.push_back(vp.apply(d, a.Wx));
    a.Dw.push_back(vp.apply(d, MatrixXd(a.w)));
    a.MDw.push_back(vp.apply(MatrixXd(a.Dw.back())));
    a.MDW.push_back(reml ? vp.apply(a.DW.back()) : MatrixXd());
    a.P.push_back(a.Wx.transpose() * a.DW.back());
    a.WDw.push_back(a.Wx.transpose() * a.Dw.back());
  }
  return a;
}

// ∂²/∂u_i∂u_j of log|Ṽ| (+ log|X'Ṽ⁻¹X| for REML) + r²/σ², with Ṽ_i = Z D_i Z' and P the REML projection:
//   ML:   tr(Ṽ⁻¹Ṽ_ij) - tr(Ṽ⁻¹Ṽ_iṼ⁻¹Ṽ_j);   REML: tr(PṼ_ij) - tr(PṼ_iPṼ_j);
//   r²:   -y'PṼ_ijPy + 2 y'PṼ_iPṼ_jPy.
double hessian_entry(const detail::VinvParts& vp, const UDerivatives& ud, const DerivativeParts& a, std::size_t i,
                     std::size_t j, double t2, bool reml, double s2) {
  double ldet = -t2;
  double d2r2 = 2 * (a.Dw[i].dot(a.MDw[j]) - a.WDw[i].dot(a.Phi * a.WDw[j]));
  if (reml) {
    ldet += 2 * (a.Phi.array() * (a.DW[i].transpose() * a.MDW[j]).array()).sum();
    ldet -= ((a.Phi * a.P[j]).array() * (a.Phi * a.P[i]).transpose().array()).sum();
  }
  if (ud.d[i].term == ud.d[j].term) {
    const detail::TermDerivative d2{ud.d[i].term, ud.F[i] * ud.F[j].transpose() + ud.F[j] * ud.F[i].transpose()};
    ldet += vp.trace(d2);
    d2r2 -= a.w.dot(vp.apply(d2, MatrixXd(a.w)).col(0));
    if (reml) ldet -= (a.Phi.array() * (a.Wx.transpose() * vp.apply(d2, a.Wx)).array()).sum();
  }
  return ldet + d2r2 / s2;
}

// Where the derivatives are taken: the number of θ̃ entries, p, REML or not, and σ = u_σ·σ̂ (and σ²).
struct DerivativePoint {
  Eigen::Index nth, p;
  bool reml;
  double sigma, s2;
  DerivativePoint(const detail::ModelState& m, const VectorXd& u, double sig)
      : nth(u.size() - 1), p(static_cast<Eigen::Index>(m.p())), reml(m.method == Method::REML),
        sigma(u(nth) * sig), s2(sigma * sigma) {}
};

// H (the deviance's Hessian) and J (Vcov(β)'s Jacobian) in u = (θ̃, σ/σ̂) from Ṽ⁻¹'s products.
void analytic_derivatives(const detail::ModelState& m, const detail::ThetaMap& map, const VectorXd& u, double sig,
                          MatrixXd& H, MatrixXd& J) {
  const auto [nth, p, reml, sigma, s2] = DerivativePoint(m, u, sig);
  const detail::VinvParts vp(m);
  const UDerivatives ud = u_derivatives(m, map, u);
  const DerivativeParts a = derivative_parts(vp, ud, p, reml);
  const MatrixXd T2 = vp.trace_pairs(ud.d);
  H.resize(nth + 1, nth + 1);
  J.resize(p * p, nth + 1);
  for (Eigen::Index i = 0; i < nth; ++i) {
    const auto si = static_cast<std::size_t>(i);
    for (Eigen::Index j = i; j < nth; ++j)
      H(i, j) = H(j, i) = hessian_entry(vp, ud, a, si, static_cast<std::size_t>(j), T2(i, j), reml, s2);
    const double dr2 = -a.w.dot(a.Dw[si]);
    H(i, nth) = H(nth, i) = -2 * dr2 / (s2 * sigma) * sig;
    const MatrixXd dV = s2 * a.Phi * a.P[si] * a.Phi;
    J.col(i) = Eigen::Map<const VectorXd>(dV.data(), p * p);
  }
  const double c = static_cast<double>(m.n()) - (reml ? static_cast<double>(p) : 0.0);
  H(nth, nth) = (6 * a.r2 / (s2 * s2) - 2 * c / s2) * sig * sig;
  J.col(nth) = Eigen::Map<const VectorXd>(a.Phi.data(), p * p) * (2 * sigma * sig);
}

// One random-effects term (K = 1): the same H and J as analytic_derivatives, level by level. Ṽ⁻¹'s
// products are then block-diagonal by level (N_b = B_b S_b with B_b = I - S_b T_b, VinvParts with
// no terms after the first), so every piece of derivative_parts and hessian_entry is a sum over
// levels of q x q and q x p products: nothing of the size of the random effects is held, where
// VinvParts and derivative_parts hold a dozen (q·levels) x p matrices (800 MB for a million
// persons with two effects each).
class OneTermSums {
 public:
  OneTermSums(const detail::ModelState& m, const UDerivatives& ud)
      : m_(m), ud_(ud), d0_(std::get<detail::BlockDiag>(m.A[0][0])), AX_(std::get<Mat>(m.A[1][0])),
        q_(m.q[0]), p_(static_cast<Eigen::Index>(m.p())), nd_(ud.d.size()) {}

  // [X y]'Ṽ⁻¹[X y] = [X y]'[X y] - Σ_b S0X_b' T_b S0X_b; then (X'Ṽ⁻¹X)⁻¹, β̂ and r².
  void first_pass() {
    xvx_ = std::get<Mat>(m_.A[1][1]).selfadjointView<Eigen::Lower>();
    for (Eigen::Index b = 0; b < m_.nlev[0]; ++b) {
      level(b);
      xvx_.noalias() -= SX_.transpose() * (T_ * SX_);
    }
    xvx_ = (0.5 * (xvx_ + xvx_.transpose())).eval();
    const Eigen::LLT<MatrixXd> lx(xvx_.topLeftCorner(p_, p_));
    Phi = lx.solve(MatrixXd::Identity(p_, p_));
    beta_ = lx.solve(xvx_.col(p_).head(p_));
    r2 = xvx_(p_, p_) - xvx_.col(p_).head(p_).dot(beta_);
  }

  // The sums over levels of hessian_entry's and analytic_derivatives' products.
  void second_pass(bool reml) {
    const auto nd = static_cast<Eigen::Index>(nd_);
    P.assign(nd_, MatrixXd::Zero(p_, p_));
    WDw.assign(nd_, VectorXd::Zero(p_));
    wDw = VectorXd::Zero(nd);
    DwMDw = T2 = tr2 = wE2w = MatrixXd::Zero(nd, nd);
    DWMDW.assign(nd_ * nd_, MatrixXd::Zero(p_, p_));
    XE2X.assign(nd_ * nd_, MatrixXd::Zero(p_, p_));
    std::vector<MatrixXd> E2(nd_ * nd_), EW(nd_), NEW(nd_);
    std::vector<VectorXd> Ew(nd_), NEw(nd_);
    for (std::size_t i = 0; i < nd_; ++i)
      for (std::size_t j = i; j < nd_; ++j)
        E2[i * nd_ + j] = ud_.F[i] * ud_.F[j].transpose() + ud_.F[j] * ud_.F[i].transpose();
    for (Eigen::Index b = 0; b < m_.nlev[0]; ++b) {
      level(b);
      N_.noalias() = B_ * S_;
      W1_.noalias() = B_ * SX_;
      const auto Wx = W1_.leftCols(p_);
      const VectorXd w = W1_.col(p_) - Wx * beta_;
      for (std::size_t i = 0; i < nd_; ++i) {
        const Mat& E = ud_.d[i].E;
        Ew[i].noalias() = E * w;
        NEw[i].noalias() = N_ * Ew[i];
        EW[i].noalias() = E * Wx;
        if (reml) NEW[i].noalias() = N_ * EW[i];
        P[i].noalias() += Wx.transpose() * EW[i];
        WDw[i].noalias() += Wx.transpose() * Ew[i];
        wDw(static_cast<Eigen::Index>(i)) += w.dot(Ew[i]);
      }
      for (std::size_t i = 0; i < nd_; ++i)
        for (std::size_t j = i; j < nd_; ++j) {
          const auto ii = static_cast<Eigen::Index>(i), jj = static_cast<Eigen::Index>(j);
          const Mat& E2ij = E2[i * nd_ + j];
          DwMDw(ii, jj) += Ew[i].dot(NEw[j]);
          if (reml) DWMDW[i * nd_ + j].noalias() += EW[i].transpose() * NEW[j];
          T2(ii, jj) += ((ud_.d[i].E * N_ * ud_.d[j].E).array() * N_.transpose().array()).sum();
          tr2(ii, jj) += (E2ij.array() * N_.transpose().array()).sum();
          wE2w(ii, jj) += w.dot(E2ij * w);
          if (reml) XE2X[i * nd_ + j].noalias() += Wx.transpose() * (E2ij * Wx);
        }
    }
  }

  MatrixXd Phi, DwMDw, T2, tr2, wE2w;
  std::vector<MatrixXd> P, DWMDW, XE2X;
  std::vector<VectorXd> WDw;
  VectorXd wDw;
  double r2 = 0;

 private:
  const detail::ModelState& m_;
  const UDerivatives& ud_;
  const detail::BlockDiag& d0_;
  const Mat& AX_;
  int q_;
  Eigen::Index p_;
  std::size_t nd_;
  MatrixXd xvx_;
  VectorXd beta_;
  Mat S_, T_, B_, SX_, N_, W1_;

  // Level b's S_b, T_b = λ(λ'S_bλ + I)⁻¹λ', B_b = I - S_b T_b and S0X_b (as VinvParts::build_first_term).
  void level(Eigen::Index b) {
    const Mat& lam = m_.lambda[0];
    S_ = d0_.block(b);
    Mat C = lam.transpose() * S_ * lam;
    C.diagonal().array() += 1.0;
    T_ = lam * Eigen::LLT<Mat>(C).solve(Mat(lam.transpose()));
    B_ = -S_ * T_;
    B_.diagonal().array() += 1.0;
    SX_ = AX_.middleCols(b * q_, q_).transpose();
  }
};

void one_term_derivatives(const detail::ModelState& m, const detail::ThetaMap& map, const VectorXd& u, double sig,
                          MatrixXd& H, MatrixXd& J) {
  const auto [nth, p, reml, sigma, s2] = DerivativePoint(m, u, sig);
  const UDerivatives ud = u_derivatives(m, map, u);
  OneTermSums a(m, ud);
  a.first_pass();
  a.second_pass(reml);
  H.resize(nth + 1, nth + 1);
  J.resize(p * p, nth + 1);
  const auto nd = static_cast<std::size_t>(nth);
  for (Eigen::Index i = 0; i < nth; ++i) {
    const auto si = static_cast<std::size_t>(i);
    for (Eigen::Index j = i; j < nth; ++j) {  // hessian_entry's terms, from the sums
      const auto sj = static_cast<std::size_t>(j);
      double ldet = -a.T2(i, j) + a.tr2(i, j);
      double d2r2 = 2 * (a.DwMDw(i, j) - a.WDw[si].dot(a.Phi * a.WDw[sj])) - a.wE2w(i, j);
      if (reml) {
        ldet += 2 * (a.Phi.array() * a.DWMDW[si * nd + sj].array()).sum();
        ldet -= ((a.Phi * a.P[sj]).array() * (a.Phi * a.P[si]).transpose().array()).sum();
        ldet -= (a.Phi.array() * a.XE2X[si * nd + sj].array()).sum();
      }
      H(i, j) = H(j, i) = ldet + d2r2 / s2;
    }
    H(i, nth) = H(nth, i) = 2 * a.wDw(i) / (s2 * sigma) * sig;
    const MatrixXd dV = s2 * a.Phi * a.P[si] * a.Phi;
    J.col(i) = Eigen::Map<const VectorXd>(dV.data(), p * p);
  }
  const double c = static_cast<double>(m.n()) - (reml ? static_cast<double>(p) : 0.0);
  H(nth, nth) = (6 * a.r2 / (s2 * s2) - 2 * c / s2) * sig * sig;
  J.col(nth) = Eigen::Map<const VectorXd>(a.Phi.data(), p * p) * (2 * sigma * sig);
}

// Several terms beyond VinvParts's limits (the 10M ratings set: 100,000 users x 10,000 items, whose
// M_0R alone would take 8 GB), with the analytic gradient of the objective:
// - H: the profiled objective's Hessian Hp in θ̃ by central differences of that gradient (2 n_θ
//   evaluations and gradients, against the ~20 n_θ² evaluations of Richardson's extrapolation of
//   the deviance; error O(δ²), about 1e-8 relative), and the rest of H exactly: with σ̂ where the
//   deviance's derivative in σ vanishes, Hp = H_θθ - H_θσ H_σσ⁻¹ H_σθ (profiled_hessian), so
//   H_θθ = Hp + h h'/H_σσ with h = H_θσ = -2 (∂r²/∂θ̃) σ̂/σ³ (r²'s gradient from the factor,
//   detail::pwrss_gradient) and H_σσ = (6 r²/σ⁴ - 2c/σ²) σ̂². The exact second derivatives of log|L_θ|
//   would need the norms of the blocks of (Λ'Z'ZΛ + I)⁻¹ off its diagonal, dense products of the
//   size of the filled-in block (10,000² times 10,000 on that set) per pair of terms.
// - J: exact, Vcov(β)'s derivatives σ² Φ W'D_iW Φ with W = Z'Ṽ⁻¹X = Z'X - Z'ZΛ A⁻¹Λ'Z'X and
//   A⁻¹Λ'Z'X = L⁻ᵀ L_XZ' (A = Λ'Z'ZΛ + I = L L', L_XZ the factor's X rows: one backward solve per
//   fixed effect).
// The model is left at its θ, its factor formed again there (bit for bit the same) and its gradient
// kept.
constexpr double kGradientDelta = 1e-4;  // in the conditioned coordinates, as Newton's and the check's

bool gradient_differences_available(const detail::ModelState& m) {
  return !m.residual && m.K >= 2 && m.has_gradient();
}

// W_j = Z_j'Ṽ⁻¹X (q_j nlev_j x p) for every term, from the factor.
std::vector<MatrixXd> z_vinv_x(const detail::ModelState& m) {
  const auto np = static_cast<Eigen::Index>(m.p());
  const auto K = static_cast<std::size_t>(m.K);
  std::vector<MatrixXd> LV(K);  // Λ_j (L⁻ᵀ L_XZ')_j, backward over the terms as ModelState::u()
  {
    std::vector<MatrixXd> V(K);
    for (int j = m.K - 1; j >= 0; --j) {
      V[j] = std::get<Mat>(m.L[m.K][j]).topRows(np).transpose();
      for (Eigen::Index c = 0; c < np; ++c) {
        for (int i = j + 1; i < m.K; ++i) detail::sub_transpose_times(m.L[i][j], VectorXd(V[i].col(c)), V[j].col(c));
        detail::solve_lower_transpose(m.L[j][j], V[j].col(c));
      }
    }
    for (std::size_t j = 0; j < K; ++j) LV[j] = detail::kron_identity(m.lambda[j], m.nlev[j]) * V[j];
  }
  std::vector<MatrixXd> W(K);
  for (int j = 0; j < m.K; ++j) {
    W[j] = std::get<Mat>(m.A[m.K][j]).topRows(np).transpose();
    detail::subtract_ztz_times(m, j, LV, W[j]);
  }
  return W;
}

// H and J as described above; false (model back at its θ) where the objective or the gradient is not
// finite at a step.
bool gradient_difference_derivatives(LinearMixedModel& model, const detail::ThetaMap& map, const VectorXd& u,
                                     double sig, MatrixXd& H, MatrixXd& J) {
  const detail::ModelState& m = detail::model_state(model);
  const auto [nth, p, reml, sigma, s2] = DerivativePoint(m, u, sig);
  const std::vector<double> x(u.data(), u.data() + nth);

  // J, and r²'s gradient for h, at the model's factor.
  const MatrixXd Phi = m.vcov_unscaled();
  const std::vector<MatrixXd> W = z_vinv_x(m);
  const UDerivatives ud = u_derivatives(m, map, u);
  J.resize(p * p, nth + 1);
  for (Eigen::Index i = 0; i < nth; ++i) {
    const detail::TermDerivative& d = ud.d[static_cast<std::size_t>(i)];
    const int qk = m.q[d.term];
    const MatrixXd& Wk = W[static_cast<std::size_t>(d.term)];
    MatrixXd P = MatrixXd::Zero(p, p);  // W'D_iW = Σ_b W_kb' E W_kb
    if (qk == 1) {
      P.noalias() = d.E(0, 0) * (Wk.transpose() * Wk);
    } else {
      for (Eigen::Index b = 0; b < m.nlev[d.term]; ++b) {
        const auto Wb = Wk.middleRows(b * qk, qk);
        P.noalias() += Wb.transpose() * (d.E * Wb);
      }
    }
    const MatrixXd dV = s2 * Phi * P * Phi;
    J.col(i) = Eigen::Map<const VectorXd>(dV.data(), p * p);
  }
  J.col(nth) = Eigen::Map<const VectorXd>(Phi.data(), p * p) * (2 * sigma * sig);
  const std::vector<double> dr2 = map.gradient_conditioned(x, detail::pwrss_gradient(m));
  const double r2 = m.pwrss();
  const double c = static_cast<double>(m.n()) - (reml ? static_cast<double>(p) : 0.0);

  // Hp by central differences of the gradient; then the factor and gradient at θ again.
  const std::vector<double> theta0 = model.theta();
  const std::vector<Mat> gradient0 = m.gradient_full();
  const MatrixXd Hp = inference::gradient_difference_hessian(model, map, x, nullptr, kGradientDelta);
  model.set_theta(theta0);
  m.gradient_cache = gradient0;
  m.gradient_kept = true;
  if (!Hp.allFinite()) return false;

  H.resize(nth + 1, nth + 1);
  VectorXd h(nth);
  for (Eigen::Index i = 0; i < nth; ++i) h(i) = -2 * dr2[static_cast<std::size_t>(i)] / (s2 * sigma) * sig;
  const double hss = (6 * r2 / (s2 * s2) - 2 * c / s2) * sig * sig;
  H.topLeftCorner(nth, nth) = Hp + h * h.transpose() / hss;
  H.col(nth).head(nth) = h;
  H.row(nth).head(nth) = h.transpose();
  H(nth, nth) = hss;
  return true;
}

// The analytic derivatives need no residual structure and the dense Schur complement of the
// terms after the first (inference/vinv_parts.h) within bounds (varpar_dense_limit); beyond,
// differences of the gradient (above) or numerical ones.
bool analytic_available(const detail::ModelState& m) {
  return !m.residual && m.K >= 1 && detail::VinvParts::infeasible(m.q, m.nlev, detail::varpar_dense_limit()).empty();
}

// H and J by numDeriv's Richardson extrapolation of the deviance and of Vcov(β), as lmerTest.
void numerical_derivatives(LinearMixedModel& model, const detail::ThetaMap& map, const VectorXd& u, double sig,
                           MatrixXd& H, MatrixXd& J) {
  const std::vector<double> theta0 = model.theta();
  const auto nth = u.size() - 1;
  auto theta_of = [&](const VectorXd& v) { return map.to_theta(std::vector<double>(v.data(), v.data() + nth)); };
  auto deviance = [&](const VectorXd& v) -> double { return detail::varpar_deviance(model, theta_of(v), v(nth) * sig); };
  auto covbeta = [&](const VectorXd& v) -> VectorXd {
    const auto V = detail::varpar_covbeta(model, theta_of(v), v(nth) * sig);
    return Eigen::Map<const VectorXd>(V.data(), static_cast<Eigen::Index>(V.size()));
  };
  try {
    H = detail::hessian(deviance, u);
    J = detail::jacobian(covbeta, u);
  } catch (...) {
    model.set_theta(theta0);
    throw;
  }
  model.set_theta(theta0);  // bit-for-bit the factor at the optimum again
}

// The point of the derivatives: u = (θ̃, σ/σ̂) at the model's θ, and σ̂ (1 where σ̂ is not positive).
VectorXd varpar_point(const LinearMixedModel& model, const detail::ThetaMap& map, double& sig) {
  const std::vector<double> theta0 = model.theta();
  const auto nth = static_cast<Eigen::Index>(theta0.size());
  const double sigma = model.sigma();
  sig = (std::isfinite(sigma) && sigma > 0) ? sigma : 1.0;
  VectorXd u(nth + 1);
  const std::vector<double> xc = map.from_theta(theta0);
  for (Eigen::Index i = 0; i < nth; ++i) u(i) = xc[static_cast<std::size_t>(i)];
  u(nth) = sigma / sig;
  return u;
}

}  // namespace

long& detail::varpar_dense_limit() {
  static long limit = 6000;
  return limit;
}

bool detail::varpar_analytic(const ModelState& m) { return m.K >= 2 && analytic_available(m); }

bool detail::varpar_from_gradient(const ModelState& m) {
  return !analytic_available(m) && gradient_differences_available(m);
}

Eigen::MatrixXd detail::profiled_hessian(LinearMixedModel& model) {
  const ModelState& state = model_state(model);
  if (!varpar_shared(state) || !model.factor_ok()) return {};
  if (!state.varpar_kept) {
    const ThetaMap map(state);
    double sig = 1;
    const VectorXd u = varpar_point(model, map, sig);
    if (varpar_analytic(state)) {
      analytic_derivatives(state, map, u, sig, state.varpar_hessian, state.varpar_jacobian);
    } else if (!gradient_difference_derivatives(model, map, u, sig, state.varpar_hessian, state.varpar_jacobian)) {
      return {};
    }
    state.varpar_kept = true;
  }
  // With σ̂(θ) where the deviance's derivative in σ vanishes, the profiled objective's Hessian is
  // the Schur complement H_θθ - H_θσ H_σσ⁻¹ H_σθ (σ's coordinate u_σ = σ/σ̂ is only a rescaling).
  const MatrixXd& H = state.varpar_hessian;
  const Eigen::Index k = H.rows() - 1;
  return H.topLeftCorner(k, k) - H.col(k).head(k) * H.row(k).head(k) / H(k, k);
}

Satterthwaite::Satterthwaite(LinearMixedModel& model) {
  const std::vector<double> theta0 = model.theta();
  const auto nth = static_cast<Eigen::Index>(theta0.size());
  sigma_ = model.sigma();
  beta_ = model.beta();
  vcov_ = model.vcov();

  VectorXd x(nth + 1);
  for (Eigen::Index i = 0; i < nth; ++i) x(i) = theta0[static_cast<std::size_t>(i)];
  x(nth) = sigma_;
  varpar_.assign(x.data(), x.data() + x.size());

  // The derivatives are taken in unit-free coordinates u = (θ̃, σ/σ̂), θ̃ the optimizer's
  // conditioned coordinates (detail::ThetaMap), rather than in (θ, σ) as lmerTest. θ's scale
  // follows the random-effect covariates (a slope on time + 100 makes θ large and the deviance
  // steep in some directions and flat in others), σ's the response's (a response in units of 1e9
  // puts σ's curvature far under the 1e-8 tolerance for the eigenvalues of H). The df are
  // invariant under this change of coordinates: where lmerTest's numerical derivatives are
  // accurate it gives the same figures, and where they are not (a covariate far from 0) it keeps
  // the figures of the centred model.
  const auto& state = detail::model_state(model);
  const detail::ThetaMap map(state);
  double sig = 1;
  const VectorXd u = varpar_point(model, map, sig);
  MatrixXd H, J;
  if (state.varpar_kept) {  // the convergence check's (detail::profiled_hessian), at this factor
    H = state.varpar_hessian;
    J = state.varpar_jacobian;
  } else if (!state.residual && state.K == 1 && std::holds_alternative<detail::BlockDiag>(state.A[0][0])) {
    one_term_derivatives(state, map, u, sig, H, J);
  } else if (analytic_available(state)) {
    analytic_derivatives(state, map, u, sig, H, J);
  } else if (!gradient_differences_available(state) || !gradient_difference_derivatives(model, map, u, sig, H, J)) {
    numerical_derivatives(model, map, u, sig, H, J);
  }

  hessian_.assign(H.data(), H.data() + H.size());
  // A = 2 H⁺ over the eigenvalues above lmerTest's tolerance 1e-8.
  const MatrixXd& Hs = H;
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig(Hs);
  MatrixXd A = MatrixXd::Zero(H.rows(), H.cols());
  if (eig.info() == Eigen::Success && H.allFinite()) {
    for (Eigen::Index k = 0; k < H.rows(); ++k) {
      const double ev = eig.eigenvalues()(k);
      if (ev > 1e-8) {
        A += eig.eigenvectors().col(k) * eig.eigenvectors().col(k).transpose() / ev;
      } else {
        ++nonpositive_;
      }
    }
    A *= 2;
  } else {
    A.setConstant(NaN);
  }
  varpar_vcov_.assign(A.data(), A.data() + A.size());
  for (Eigen::Index k = 0; k < J.cols(); ++k) jacobian_.emplace_back(J.col(k).data(), J.col(k).data() + J.rows());
}

TTest Satterthwaite::test(const std::vector<double>& c) const {
  TTest r;
  const std::size_t p = beta_.size();
  if (c.size() != p) throw std::invalid_argument("contrast length differs from the number of fixed effects");
  r.estimate = 0;
  for (std::size_t i = 0; i < p; ++i) r.estimate += c[i] * beta_[i];
  const double var = quad(c, vcov_);
  r.std_error = std::sqrt(var);
  r.t = r.estimate / r.std_error;
  const std::size_t k = jacobian_.size();
  VectorXd g(static_cast<Eigen::Index>(k));
  for (std::size_t i = 0; i < k; ++i) g(static_cast<Eigen::Index>(i)) = quad(c, jacobian_[i]);
  Eigen::Map<const MatrixXd> A(varpar_vcov_.data(), static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k));
  const double denom = g.dot(A * g);
  r.df = 2 * var * var / denom;
  r.p = detail::t_pvalue(r.t, r.df);
  return r;
}

FTest Satterthwaite::test(const ContrastMatrix& L) const {
  FTest r;
  const auto p = static_cast<Eigen::Index>(beta_.size());
  const auto m = static_cast<Eigen::Index>(L.size());
  if (m == 0) return r;
  if (m == 1) {
    const TTest t = test(L[0]);
    r.num_df = 1;
    r.F = t.t * t.t;
    r.den_df = t.df;
    r.p = detail::f_pvalue(r.F, 1, r.den_df);
    return r;
  }
  MatrixXd Lm(m, p);
  for (Eigen::Index i = 0; i < m; ++i) {
    if (static_cast<Eigen::Index>(L[static_cast<std::size_t>(i)].size()) != p)
      throw std::invalid_argument("contrast length differs from the number of fixed effects");
    for (Eigen::Index j = 0; j < p; ++j) Lm(i, j) = L[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
  }
  Eigen::Map<const MatrixXd> V(vcov_.data(), p, p);
  Eigen::Map<const VectorXd> beta(beta_.data(), p);
  const MatrixXd VL = Lm * V * Lm.transpose();
  // lmerTest's contestMD: eigen(L V L') in decreasing order; directions with eigenvalues above
  // sqrt(eps) times the largest count.
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig(VL);
  const VectorXd d = eig.eigenvalues().reverse();
  const MatrixXd P = eig.eigenvectors().rowwise().reverse();
  const double tol = std::max(std::sqrt(std::numeric_limits<double>::epsilon()) * d(0), 0.0);
  int q = 0;
  while (q < m && d(q) > tol) ++q;
  if (q == 0) return r;
  const MatrixXd PtL = (P.transpose() * Lm).topRows(q);
  if (q == 1) {
    std::vector<double> c(PtL.data(), PtL.data() + p);
    const TTest t = test(c);
    r.num_df = 1;
    r.F = t.t * t.t;
    r.den_df = t.df;
    r.p = detail::f_pvalue(r.F, 1, r.den_df);
    return r;
  }
  const std::size_t k = jacobian_.size();
  Eigen::Map<const MatrixXd> A(varpar_vcov_.data(), static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k));
  double F = 0;
  std::vector<double> nu(static_cast<std::size_t>(q));
  for (int j = 0; j < q; ++j) {
    std::vector<double> c(static_cast<std::size_t>(p));
    for (Eigen::Index i = 0; i < p; ++i) c[static_cast<std::size_t>(i)] = PtL(j, i);
    const double est = PtL.row(j).dot(beta);
    F += est * est / d(j);
    VectorXd g(static_cast<Eigen::Index>(k));
    for (std::size_t i = 0; i < k; ++i) g(static_cast<Eigen::Index>(i)) = quad(c, jacobian_[i]);
    nu[static_cast<std::size_t>(j)] = 2 * d(j) * d(j) / g.dot(A * g);
  }
  r.num_df = q;
  r.F = F / q;
  // lmerTest's get_Fstat_ddf: equal df are kept; otherwise E = Σ ν/(ν-2), df = 2E/(E - q), and 2
  // when some ν <= 2 (Fai & Cornelius 1996).
  bool all_equal = true;
  for (std::size_t j = 1; j < nu.size(); ++j) all_equal = all_equal && std::abs(nu[j] - nu[j - 1]) < 1e-8;
  if (all_equal) {
    double s = 0;
    for (double v : nu) s += v;
    r.den_df = s / static_cast<double>(nu.size());
  } else if (std::any_of(nu.begin(), nu.end(), [](double v) { return v <= 2; })) {
    r.den_df = 2;
  } else {
    double E = 0;
    for (double v : nu) E += v / (v - 2);
    r.den_df = 2 * E / (E - q);
  }
  r.p = detail::f_pvalue(r.F, q, r.den_df);
  return r;
}

}  // namespace lmm
