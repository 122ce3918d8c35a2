// PIRLS (penalized iteratively reweighted least squares) for the conditional modes, as lme4's
// pwrssUpdate and MixedModels.jl's pirls!: Newton steps on the penalized deviance
// Σ devresid + |u|² with Fisher weights, halved until the penalized deviance does not increase,
// until the Newton decrement reaches rounding level. On return the weights and the factor of M are
// those at the final modes, so log|M| in the Laplace deviance is taken at the converged weights
// (lme4 takes it from the factor before its last step; see the GLMM references' README).
#include <cmath>
#include <limits>

#include "glmm/glmm_impl.h"

namespace lmm {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxIterations = 200;
constexpr double kFullStep = 1e-8;  // relative decrement below which Newton steps are not halved

// Converged: the decrement is at rounding level, or it has stopped shrinking once it is tiny.
bool pirls_converged(double dec, double prev_dec, double pdev) {
  return dec < 1e-20 * (1 + pdev) || (dec < 1e-11 * (1 + pdev) && dec > 0.5 * prev_dec);
}

// Step halving: the largest step 1, 1/2, ... whose penalized deviance (from `trial`) does not
// exceed `pdev`, which it then holds. Near the mode (a small decrement) the decrease is below the
// rounding of the penalized deviance's sum, which would stop the search early and leave u off by
// about the square root of the decrement: there the full Newton step is taken.
template <class Trial>
bool halving_search(double& pdev, double dec, Trial&& trial) {
  const bool newton = dec < kFullStep * (1 + pdev);
  for (double step = 1; step > 1e-10; step /= 2) {
    const double pd = trial(step);
    if (pd <= pdev || newton) {
      pdev = pd;
      return true;
    }
  }
  return false;
}

}  // namespace

bool GlmmModel::pirls_u() {
  eta_fixed_ = X_ * beta_ + offset_;
  linear_predictor(u_, eta_fixed_, eta_);
  dev_ = deviance_rows(eta_, mu_);
  double pdev = dev_ + u_.squaredNorm(), prev_dec = kInf, dev_new = 0;
  if (!std::isfinite(pdev)) return false;
  Eigen::VectorXd u_new, eta_new;
  for (int it = 0; it < kMaxIterations; ++it) {
    update_weights();
    if (!factor()) return false;
    const Eigen::VectorXd rhs = zl_.transpose() * w_.cwiseProduct(wres_) - u_;
    const Eigen::VectorXd delta = solve(rhs);
    const double dec = rhs.dot(delta);
    if (!std::isfinite(dec)) return false;
    if (pirls_converged(dec, prev_dec, pdev)) return true;
    prev_dec = dec;
    const bool ok = halving_search(pdev, dec, [&](double step) {
      u_new = u_ + step * delta;
      linear_predictor(u_new, eta_fixed_, eta_new);
      dev_new = deviance_rows(eta_new, mu_new_);
      return dev_new + u_new.squaredNorm();
    });
    if (!ok) return false;
    u_.swap(u_new);
    eta_.swap(eta_new);
    mu_.swap(mu_new_);
    dev_ = dev_new;
  }
  return false;
}

bool GlmmModel::pirls_joint() {
  const auto np = static_cast<Eigen::Index>(p());
  eta_fixed_ = X_ * beta_ + offset_;
  linear_predictor(u_, eta_fixed_, eta_);
  dev_ = deviance_rows(eta_, mu_);
  double pdev = dev_ + u_.squaredNorm(), prev_dec = kInf, dev_new = 0;
  if (!std::isfinite(pdev)) return false;
  Eigen::VectorXd u_new, b_new, fixed_new, eta_new;
  for (int it = 0; it < kMaxIterations; ++it) {
    update_weights();
    if (!factor()) return false;
    Eigen::VectorXd gu, gb;
    Eigen::MatrixXd rz, xwx;
    joint_blocks(gu, gb, rz, xwx);
    // Schur complement of M in [M, Λ'Z'WX; X'WZΛ, X'WX]
    const Eigen::MatrixXd c = solve(rz);
    const Eigen::MatrixXd s = xwx - rz.transpose() * c;
    const Eigen::VectorXd mg = solve(gu);
    Eigen::VectorXd db = np > 0 ? Eigen::VectorXd(s.ldlt().solve(gb - rz.transpose() * mg)) : Eigen::VectorXd(0);
    const Eigen::VectorXd du = mg - c * db;
    const double dec = gu.dot(du) + gb.dot(db);
    if (!std::isfinite(dec)) return false;
    if (pirls_converged(dec, prev_dec, pdev)) return true;
    prev_dec = dec;
    const Eigen::VectorXd xdb = X_ * db;  // the fixed part at a step t: Xβ + offset + t X δβ
    const bool ok = halving_search(pdev, dec, [&](double step) {
      u_new = u_ + step * du;
      b_new = beta_ + step * db;
      fixed_new = eta_fixed_ + step * xdb;
      linear_predictor(u_new, fixed_new, eta_new);
      dev_new = deviance_rows(eta_new, mu_new_);
      return dev_new + u_new.squaredNorm();
    });
    if (!ok) return false;
    u_.swap(u_new);
    beta_.swap(b_new);
    eta_fixed_.swap(fixed_new);
    eta_.swap(eta_new);
    mu_.swap(mu_new_);
    dev_ = dev_new;
  }
  return false;
}

Eigen::VectorXd GlmmModel::glm_start() const {
  const auto nrow = static_cast<Eigen::Index>(n());
  const auto np = static_cast<Eigen::Index>(p());
  Eigen::VectorXd eta(nrow), beta = Eigen::VectorXd::Zero(np);
  for (Eigen::Index i = 0; i < nrow; ++i) {
    const auto k = static_cast<std::size_t>(i);
    eta[i] = family_.linkfun(family_.mu_start(y_[k], pw_[k]));
  }
  if (np == 0) return beta;
  Eigen::VectorXd w(nrow), z(nrow);
  for (int it = 0; it < 50; ++it) {
    for (Eigen::Index i = 0; i < nrow; ++i) {
      const auto k = static_cast<std::size_t>(i);
      const auto r = family_.working(eta[i], y_[k], pw_[k]);
      w[i] = r.weight;
      z[i] = eta[i] - offset_[i] + r.residual;
    }
    const Eigen::MatrixXd wx = w.asDiagonal() * X_;
    const Eigen::VectorXd b = (X_.transpose() * wx).ldlt().solve(wx.transpose() * z);
    if (!b.allFinite()) break;
    const double change = (b - beta).lpNorm<Eigen::Infinity>();
    beta = b;
    eta = X_ * beta + offset_;
    if (change < 1e-10 * (1 + beta.lpNorm<Eigen::Infinity>())) break;
  }
  return beta;
}

double GlmmModel::objective(int nagq) const {
  if (!factor_ok_) return kInf;
  // lme4's glmerAGQ sums the deviance residuals where the Laplace deviance has -2 log p(y | μ):
  // its quadrature log-likelihood leaves out the saturated model's (a constant of the data), and
  // is what logLik() reports for nAGQ > 1; the same here, so that the numbers are lme4's.
  double d = nagq > 1 ? dev_ : log_constant_ + dev_;
  d += u_.squaredNorm() + logdet();
  if (nagq > 1) d += agq_adjustment(nagq);
  return std::isfinite(d) ? d : kInf;
}

double GlmmModel::deviance_at(const std::vector<double>& theta, const Eigen::VectorXd& beta, int nagq) {
  set_theta(theta);
  set_beta(beta);
  if (!pirls_u()) {  // a poor warm start: once more from u = 0
    u_.setZero();
    if (!pirls_u()) return kInf;
  }
  return objective(nagq);
}

double GlmmModel::sum_dev_resid() const {
  double d = 0;
  for (Eigen::Index i = 0; i < mu_.size(); ++i) {
    const auto k = static_cast<std::size_t>(i);
    d += family_.dev_resid(y_[k], mu_[i], pw_[k]);
  }
  return d;
}

double GlmmModel::pearson_chisq() const {
  double s = 0;
  for (Eigen::Index i = 0; i < mu_.size(); ++i) {
    const auto k = static_cast<std::size_t>(i);
    const double r = y_[k] - mu_[i];
    s += pw_[k] * r * r / family_.variance(mu_[i]);
  }
  return s;
}

}  // namespace lmm
