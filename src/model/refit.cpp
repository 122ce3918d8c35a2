// The model's operations for refitting and for the layers above the model: a new response
// (bootstrap, simulation), an offset (profiles of a fixed effect), and read-only quantities.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "lmm/error.h"
#include "lmm/statistics.h"
#include "model/model_access.h"
#include "model/sdcor.h"

namespace lmm {

using detail::Mat;

void detail::ModelState::require_cross_products(const char* operation) const {
  if (A.empty())
    throw Error(std::string(operation) + " needs the model's cross-products, which release_cross_products() freed");
}

void release_cross_products(LinearMixedModel& model) {
  detail::ModelState& m = detail::ModelAccess::mutable_state(model);
  std::vector<std::vector<detail::Block>>().swap(m.A);
  std::vector<std::vector<std::vector<detail::Block>>>().swap(m.A_keys);
  std::vector<detail::ModelState::GroupedDowndate>().swap(m.grouped);
}

void LinearMixedModel::set_response(const std::vector<double>& y_new) {
  impl_->require_cross_products("LinearMixedModel::set_response");
  detail::ModelState& m = *impl_;
  const auto n = static_cast<Eigen::Index>(m.n());
  const auto p = static_cast<Eigen::Index>(m.p());
  if (y_new.size() != m.n())
    throw Error("LinearMixedModel::set_response: y has " + std::to_string(y_new.size()) +
                                " values; the model has " + std::to_string(m.n()) + " rows");
  // A holds the response shifted by X beta0 (see response_shift() in model.cpp); keeping the
  // model's beta0 keeps beta() = beta_shifted() + beta0 right and, for responses simulated near
  // X beta-hat, the digits the shift is there to keep.
  // With an offset the model's response is y - offset; with prior weights A holds the rows times
  // √w, so each product below is weighted by w (the shift beta0 is on the √w scale and is taken
  // off the unweighted rows, which is the same).
  std::vector<double> y = y_new;
  for (std::size_t i = 0; i < m.frame.offset.size(); ++i) y[i] -= m.frame.offset[i];
  if (p > 0) {
    Eigen::Map<const Mat> X0(m.frame.X.data(), n, p);
    Eigen::Map<Eigen::VectorXd> ys(y.data(), n);
    ys.noalias() -= X0 * m.beta0;
  }
  if (m.residual) {  // the correlated pairs' products, formed again from the new response
    m.set_residual_response(y);
    m.frame.y = y_new;
    m.mark_stale();
    return;
  }
  std::vector<double> wy = y;  // W y
  for (std::size_t i = 0; i < m.frame.weights.size(); ++i) wy[i] *= m.frame.weights[i];
  for (int j = 0; j < m.K; ++j) {
    const auto& t = m.frame.re[j];
    const int q = m.q[j];
    auto& xy = std::get<Mat>(m.A[m.K][j]);
    xy.row(p).setZero();
    for (Eigen::Index i = 0; i < n; ++i) {
      const Eigen::Index lev = t.refs[i];
      const double* z = &t.z[static_cast<std::size_t>(i) * q];
      for (int b = 0; b < q; ++b) xy(p, lev * q + b) += wy[i] * z[b];
    }
  }
  auto& xx = std::get<Mat>(m.A[m.K][m.K]);
  Eigen::Map<const Mat> X(m.frame.X.data(), n, p);
  Eigen::Map<const Eigen::VectorXd> yv(y.data(), n), wyv(wy.data(), n);
  const Eigen::VectorXd xty = X.transpose() * wyv;
  xx.block(p, 0, 1, p) = xty.transpose();
  xx.block(0, p, p, 1) = xty;
  xx(p, p) = yv.dot(wyv);
  m.frame.y = y_new;
  m.mark_stale();
}

namespace {

// The [X y] blocks of the model without fixed-effect column j and response y - b x_j, from the
// full model's: row c of [X y]'Z is x_c'Z, the last is y'Z; (y - b x_j)'Z = y'Z - b x_j'Z.
void offset_response_blocks(const std::vector<std::vector<detail::Block>>& Af,
                            std::vector<std::vector<detail::Block>>& Ar, int K, Eigen::Index j, double b) {
  const Eigen::Index pf = std::get<Mat>(Af[K][K]).rows() - 1, pr = pf - 1;
  for (int i = 0; i < K; ++i) {
    const auto& af = std::get<Mat>(Af[K][i]);
    auto& ar = std::get<Mat>(Ar[K][i]);
    ar.row(pr) = af.row(pf) - b * af.row(j);
  }
  const auto& kf = std::get<Mat>(Af[K][K]);
  auto& kr = std::get<Mat>(Ar[K][K]);
  for (Eigen::Index c = 0, k = 0; c < pf; ++c) {
    if (c == j) continue;
    const double v = kf(c, pf) - b * kf(c, j);
    kr(k, pr) = v;
    kr(pr, k) = v;
    ++k;
  }
  kr(pr, pr) = kf(pf, pf) - 2 * b * kf(j, pf) + b * b * kf(j, j);
}

}  // namespace

void LinearMixedModel::set_offset_response(const LinearMixedModel& full_model, std::size_t jcol, double b) {
  impl_->require_cross_products("LinearMixedModel::set_offset_response");
  full_model.impl_->require_cross_products("LinearMixedModel::set_offset_response");
  detail::ModelState& reduced = *impl_;
  const detail::ModelState& full = *full_model.impl_;
  const auto pf = static_cast<Eigen::Index>(full.p());
  const auto pr = static_cast<Eigen::Index>(reduced.p());  // pf - 1
  const auto j = static_cast<Eigen::Index>(jcol);
  if (pr + 1 != pf || j >= pf || reduced.K != full.K)
    throw Error("LinearMixedModel::set_offset_response: the model is not `full` without column j");
  // Both A's hold shifted responses (response_shift() in model.cpp): the full model's is
  // y_s = y - X beta0. The reduced model's response y - b x_j is, up to X_{-j} beta0_{-j} (which
  // the reduced model's own fixed effects absorb), y_s - (b - beta0_j) x_j, with beta0_{-j} as
  // the reduced model's shift.
  for (Eigen::Index c = 0, k = 0; c < pf; ++c)
    if (c != j) reduced.beta0[k++] = full.beta0[c];
  b -= full.beta0[j];
  offset_response_blocks(full.A, reduced.A, full.K, j, b);
  // With a residual structure the same linear change applies to each A_k (A = Σ c_k A_k).
  if (full.residual && reduced.residual && full.A_keys.size() == reduced.A_keys.size()) {
    for (std::size_t k = 0; k < full.A_keys.size(); ++k)
      offset_response_blocks(full.A_keys[k], reduced.A_keys[k], full.K, j, b);
    reduced.residual_eta = full.residual_eta;
    reduced.recombine_residual();
  }
  reduced.mark_stale();
}

bool LinearMixedModel::factor_ok() const { return impl_->factor_ok; }
bool LinearMixedModel::has_gradient() const { return !impl_->A.empty() && impl_->has_gradient(); }
std::vector<double> LinearMixedModel::gradient() const {
  impl_->require_cross_products("LinearMixedModel::gradient");
  return impl_->gradient();
}

std::vector<double> LinearMixedModel::vcov_unscaled() const {
  const Mat v = impl_->vcov_unscaled();
  return {v.data(), v.data() + v.size()};
}

std::vector<bool> LinearMixedModel::singular_positions() const {
  const detail::ModelState& m = *impl_;
  const detail::ThetaMap map(m);
  const std::vector<double> conditioned = map.from_theta(m.theta);
  std::vector<bool> out(conditioned.size(), false);
  for (int j = 0; j < m.K; ++j)
    for (int a = 0, k = m.theta_offset[j]; a < m.q[j]; k += m.q[j] - a, ++a)
      out[static_cast<std::size_t>(k)] = conditioned[static_cast<std::size_t>(k)] < kSingularTolerance;
  return out;
}

namespace {

// Σ/σ² of one term from its SDs (diagonal) and correlations (below it), column-wise from v[off];
// false for a negative SD or a correlation outside [-1, 1].
bool relative_covariance(const std::vector<double>& v, int off, int q, double sigma, Mat& S) {
  S.resize(q, q);
  for (int c = 0, k = off; c < q; ++c)
    for (int r = c; r < q; ++r, ++k) {
      if (r == c) {
        if (v[k] < 0) return false;
        S(r, r) = v[k] * v[k];
      }
    }
  for (int c = 0, k = off; c < q; ++c)
    for (int r = c; r < q; ++r, ++k)
      if (r != c) {
        if (std::abs(v[k]) > 1) return false;
        S(r, c) = S(c, r) = v[k] * std::sqrt(S(r, r) * S(c, c));
      }
  S /= sigma * sigma;
  return true;
}

// The lower Cholesky factor of a positive semi-definite S (a zero pivot gives a zero column, as at
// a boundary of the parameter space); false if S is not positive semi-definite.
bool semidefinite_cholesky(const Mat& S, Mat& L) {
  const auto q = S.rows();
  L = Mat::Zero(q, q);
  for (Eigen::Index c = 0; c < q; ++c) {
    double d = S(c, c);
    for (Eigen::Index k = 0; k < c; ++k) d -= L(c, k) * L(c, k);
    const double scale = std::max(S(c, c), 1.0);
    if (d < -1e-10 * scale) return false;
    L(c, c) = d > 0 ? std::sqrt(d) : 0.0;
    for (Eigen::Index r = c + 1; r < q; ++r) {
      double s = S(r, c);
      for (Eigen::Index k = 0; k < c; ++k) s -= L(r, k) * L(c, k);
      if (L(c, c) > 0) {
        L(r, c) = s / L(c, c);
      } else if (std::abs(s) > 1e-10 * std::max(S(r, r), 1.0)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

namespace detail {

std::optional<std::vector<double>> theta_from_sdcor(const std::vector<double>& v, const std::vector<int>& q,
                                                    double sigma) {
  std::vector<double> theta;
  Mat S, L;
  int off = 0;
  for (const int qj : q) {
    if (!relative_covariance(v, off, qj, sigma, S) || !semidefinite_cholesky(S, L)) return std::nullopt;
    for (int c = 0; c < qj; ++c)
      for (int r = c; r < qj; ++r) theta.push_back(L(r, c));
    off += qj * (qj + 1) / 2;
  }
  return theta;
}

}  // namespace detail

std::optional<std::vector<double>> LinearMixedModel::theta_from_sdcor(const std::vector<double>& v) const {
  const detail::ModelState& m = *impl_;
  if (v.size() != m.theta.size() + 1)
    throw Error("LinearMixedModel::theta_from_sdcor: expected " + std::to_string(m.theta.size() + 1) +
                                " values, got " + std::to_string(v.size()));
  const double sigma = v.back();
  if (!(sigma > 0) || !std::isfinite(sigma)) return std::nullopt;
  return detail::theta_from_sdcor(v, m.q, sigma);
}

}  // namespace lmm
