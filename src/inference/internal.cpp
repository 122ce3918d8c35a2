#include "inference/internal.h"

#include "lmm/fit.h"

#include <nlopt.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace lmm::inference {

namespace {

struct Ctx {
  const std::function<double(const std::vector<double>&)>* f;
  std::vector<double> x;
  int evaluations = 0;
};

double trampoline(unsigned n, const double* x, double* /*grad*/, void* data) {
  auto* c = static_cast<Ctx*>(data);
  c->x.assign(x, x + n);
  ++c->evaluations;
  const double v = (*c->f)(c->x);
  return std::isfinite(v) ? v : 1e300;
}

}  // namespace

MinimizeResult minimize(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x0,
                        const std::vector<double>& lower, const std::vector<double>& upper,
                        const std::vector<double>& initial_step, int algorithm, double ftol_rel, double xtol_abs,
                        int max_evaluations) {
  MinimizeResult r;
  const auto n = static_cast<unsigned>(x0.size());
  if (n == 0) {
    r.x = x0;
    r.f = f(x0);
    r.converged = true;
    r.stop_reason = "no free parameters";
    return r;
  }
  for (unsigned i = 0; i < n; ++i) x0[i] = std::clamp(x0[i], lower[i], upper[i]);
  Ctx ctx{&f, {}, 0};
  nlopt_opt opt = nlopt_create(algorithm < 0 ? NLOPT_LN_BOBYQA : static_cast<nlopt_algorithm>(algorithm), n);
  nlopt_set_lower_bounds(opt, lower.data());
  nlopt_set_upper_bounds(opt, upper.data());
  nlopt_set_min_objective(opt, trampoline, &ctx);
  nlopt_set_ftol_rel(opt, ftol_rel);
  nlopt_set_xtol_abs1(opt, xtol_abs);
  nlopt_set_maxeval(opt, max_evaluations);
  // The initial step must fit inside the box on at least one side of x0.
  std::vector<double> step(initial_step);
  for (unsigned i = 0; i < n; ++i) {
    const double room = std::max(upper[i] - x0[i], x0[i] - lower[i]);
    if (std::isfinite(room) && room > 0) step[i] = std::min(step[i], 0.5 * room);
    if (!(step[i] > 0)) step[i] = 1e-3;
  }
  nlopt_set_initial_step(opt, step.data());
  double fmin = 0;
  const nlopt_result res = nlopt_optimize(opt, x0.data(), &fmin);
  nlopt_destroy(opt);
  r.evaluations = ctx.evaluations;
  r.converged = res == NLOPT_SUCCESS || res == NLOPT_FTOL_REACHED || res == NLOPT_XTOL_REACHED ||
                res == NLOPT_ROUNDOFF_LIMITED || res == NLOPT_FTOL_REACHED;
  r.stop_reason = res == NLOPT_MAXEVAL_REACHED ? "maximum number of evaluations reached"
                  : r.converged               ? "tolerance reached"
                                              : "NLopt status " + std::to_string(static_cast<int>(res));
  r.x = x0;
  r.f = f(x0);  // leaves any state behind f at the optimum
  return r;
}

void set_response(LinearMixedModel::Impl& m, const std::vector<double>& y_new) {
  const auto n = static_cast<Eigen::Index>(m.n());
  const auto p = static_cast<Eigen::Index>(m.p());
  // A holds the response shifted by X beta0 (see response_shift() in model.cpp); keeping the
  // model's beta0 keeps beta() = beta_shifted() + beta0 right and, for responses simulated near
  // X beta-hat, the digits the shift is there to keep.
  std::vector<double> y = y_new;
  if (p > 0) {
    Eigen::Map<const detail::Mat> X0(m.frame.X.data(), n, p);
    Eigen::Map<Eigen::VectorXd> ys(y.data(), n);
    ys.noalias() -= X0 * m.beta0;
  }
  for (int j = 0; j < m.K; ++j) {
    const auto& t = m.frame.re[j];
    const int q = m.q[j];
    auto& xy = std::get<detail::Mat>(m.A[m.K][j]);
    xy.row(p).setZero();
    for (Eigen::Index i = 0; i < n; ++i) {
      const Eigen::Index lev = t.refs[i];
      const double* z = &t.z[static_cast<std::size_t>(i) * q];
      for (int b = 0; b < q; ++b) xy(p, lev * q + b) += y[i] * z[b];
    }
  }
  auto& xx = std::get<detail::Mat>(m.A[m.K][m.K]);
  Eigen::Map<const detail::Mat> X(m.frame.X.data(), n, p);
  Eigen::Map<const Eigen::VectorXd> yv(y.data(), n);
  const Eigen::VectorXd xty = X.transpose() * yv;
  xx.block(p, 0, 1, p) = xty.transpose();
  xx.block(0, p, p, 1) = xty;
  xx(p, p) = yv.squaredNorm();
  m.frame.y = y_new;
  m.factor_ok = false;
}

void set_offset_response(LinearMixedModel::Impl& reduced, const LinearMixedModel::Impl& full, int j, double b) {
  const auto pf = static_cast<Eigen::Index>(full.p());
  const auto pr = static_cast<Eigen::Index>(reduced.p());  // pf - 1
  // Both A's hold shifted responses (response_shift() in model.cpp): the full model's is
  // y_s = y - X beta0. The reduced model's response y - b x_j is, up to X_{-j} beta0_{-j} (which
  // the reduced model's own fixed effects absorb), y_s - (b - beta0_j) x_j, with beta0_{-j} as
  // the reduced model's shift.
  for (Eigen::Index c = 0, k = 0; c < pf; ++c)
    if (c != j) reduced.beta0[k++] = full.beta0[c];
  b -= full.beta0[j];
  // Rows of [X y]'Z: row c is x_c'Z, the last is y'Z; (y - b x_j)'Z = y'Z - b x_j'Z.
  for (int i = 0; i < full.K; ++i) {
    const auto& af = std::get<detail::Mat>(full.A[full.K][i]);
    auto& ar = std::get<detail::Mat>(reduced.A[reduced.K][i]);
    ar.row(pr) = af.row(pf) - b * af.row(j);
  }
  const auto& kf = std::get<detail::Mat>(full.A[full.K][full.K]);
  auto& kr = std::get<detail::Mat>(reduced.A[reduced.K][reduced.K]);
  for (Eigen::Index c = 0, k = 0; c < pf; ++c) {
    if (c == j) continue;
    const double v = kf(c, pf) - b * kf(c, j);
    kr(k, pr) = v;
    kr(pr, k) = v;
    ++k;
  }
  kr(pr, pr) = kf(pf, pf) - 2 * b * kf(j, pf) + b * b * kf(j, j);
  reduced.factor_ok = false;
}

bool sdcor_to_theta(const LinearMixedModel::Impl& m, const std::vector<double>& v, std::vector<double>& theta) {
  const double sigma = v.back();
  if (!(sigma > 0) || !std::isfinite(sigma)) return false;
  theta.assign(m.theta.size(), 0.0);
  for (int j = 0; j < m.K; ++j) {
    const int q = m.q[j];
    const int off = m.theta_offset[j];
    // Σ/σ² from sds and correlations, then its lower Cholesky factor (positive semi-definite:
    // a zero pivot gives a zero column, as at a boundary of the parameter space).
    detail::Mat S(q, q);
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
    detail::Mat L = detail::Mat::Zero(q, q);
    for (int c = 0; c < q; ++c) {
      double d = S(c, c);
      for (int k = 0; k < c; ++k) d -= L(c, k) * L(c, k);
      const double scale = std::max(S(c, c), 1.0);
      if (d < -1e-10 * scale) return false;
      L(c, c) = d > 0 ? std::sqrt(d) : 0.0;
      for (int r = c + 1; r < q; ++r) {
        double s = S(r, c);
        for (int k = 0; k < c; ++k) s -= L(r, k) * L(c, k);
        if (L(c, c) > 0) {
          L(r, c) = s / L(c, c);
        } else if (std::abs(s) > 1e-10 * std::max(S(r, r), 1.0)) {
          return false;
        }
      }
    }
    for (int c = 0, k = off; c < q; ++c)
      for (int r = c; r < q; ++r, ++k) theta[k] = L(r, c);
  }
  return true;
}

std::vector<bool> singular_positions(const LinearMixedModel::Impl& m) {
  const detail::ThetaMap map(m);
  const std::vector<double> conditioned = map.from_theta(m.theta);
  std::vector<bool> out(conditioned.size(), false);
  for (int j = 0; j < m.K; ++j)
    for (int a = 0, k = m.theta_offset[j]; a < m.q[j]; k += m.q[j] - a, ++a)
      out[static_cast<std::size_t>(k)] = conditioned[static_cast<std::size_t>(k)] < kSingularTolerance;
  return out;
}

double quantile7(const std::vector<double>& sorted, double prob) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = (static_cast<double>(sorted.size()) - 1) * prob;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace lmm::inference
