// Wald and profile-likelihood confidence intervals (lme4's confint(method = "Wald" / "profile")).
//
// The profile follows lme4 1.1-31 (R/profile.R, profile.merMod and devfun2; Bates, Mächler, Bolker &
// Walker 2015, J. Stat. Softw. 67(1), §5.1): the model is refitted by ML, and for each parameter
// ζ(x) = sign(x - x̂) √(d(x) - d̂), where d(x) is the ML deviance minimised over the other
// parameters with this one fixed at x. Variance parameters are on the standard deviation /
// correlation / σ scale, with the deviance of devfun2
//     d(s, σ) = log|L_θ|² + r²_θ/σ² + n log(2πσ²),  θ = Λ-factor of (s, σ),
// minimised over the others with bounds sd ≥ 0, -1 ≤ cor ≤ 1, σ ≥ 0. A fixed effect β_j is
// profiled by moving x_j β_j into an offset and minimising the ML deviance of the model without
// column j over θ. lme4 interpolates ζ with splines through a grid of points; we solve ζ(x) = ±z
// for the interval's ends directly (bracketing, then Brent/TOMS 748), which is at least as accurate.
#include <boost/math/distributions/normal.hpp>
#include <boost/math/tools/roots.hpp>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <numbers>

#include "inference/internal.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "model/model_access.h"
#include "model/residual.h"
#include "model/sdcor.h"

namespace lmm {

double normal_quantile_two_sided(double level) {
  if (!(level > 0 && level < 1)) throw Error(fmt::format("confidence level {} is not between 0 and 1", level));
  return boost::math::quantile(boost::math::normal(), 0.5 + level / 2);
}

std::vector<Interval> wald_intervals(const FitResult& result, double level) {
  const double z = normal_quantile_two_sided(level);
  std::vector<Interval> out;
  for (const auto& f : result.fixed) {
    Interval iv;
    iv.parameter = f.term;
    iv.estimate = f.estimate;
    iv.lower = f.estimate - z * f.std_error;
    iv.upper = f.estimate + z * f.std_error;
    out.push_back(iv);
  }
  return out;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

// ζ is close to linear in x for fixed effects and smooth and monotone in general: walk out by
// secant extrapolation until ζ passes the target, then solve on the bracket.
double inference::profile_limit(const std::function<double(double)>& zeta, double x0, double step, int dir, double z, double lo,
                     double hi, std::string& note) {
  double a = x0, za = 0;
  const double bound = dir > 0 ? hi : lo;
  for (int it = 0; it < 60; ++it) {
    double b = a + dir * step;
    b = std::clamp(b, lo, hi);
    const double zb = zeta(b);
    if (!std::isfinite(zb)) {
      step /= 4;  // stepped into a region where the deviance cannot be evaluated
      if (step < 1e-12 * (1 + std::abs(x0))) break;
      continue;
    }
    if (dir * zb >= z) {
      // Bracket [a, b]: solve ζ(x) = dir·z.
      auto g = [&](double x) { return dir * (x == a ? za : x == b ? zb : zeta(x)) - z; };
      boost::uintmax_t max_iter = 60;
      const double lo_x = std::min(a, b), hi_x = std::max(a, b);
      const double glo = lo_x == a ? dir * za - z : dir * zb - z;
      const double ghi = hi_x == a ? dir * za - z : dir * zb - z;
      if (glo == 0) return lo_x;
      if (ghi == 0) return hi_x;
      auto r = boost::math::tools::toms748_solve(
          g, lo_x, hi_x, glo, ghi,
          [&](double u, double v) { return std::abs(u - v) <= 1e-9 * std::max(1.0, std::abs(x0) + std::abs(u)); },
          max_iter);
      return (r.first + r.second) / 2;
    }
    if (b == bound) {
      note = dir < 0 ? fmt::format("lower end at the boundary {}", bound) : fmt::format("upper end at the boundary {}", bound);
      return bound;
    }
    // Secant step towards the target, overshooting a little so that the next point brackets it.
    const double slope = (zb - za) / (b - a);
    if (dir * slope > 0) {
      const double need = (dir * z - zb) / slope;  // signed distance from b
      step = std::max(std::abs(need) * 1.15, 1e-6 * (1 + std::abs(x0)));
    } else {
      step *= 2;
    }
    a = b;
    za = zb;
  }
  note = "the profile did not reach the limit";
  return std::numeric_limits<double>::quiet_NaN();
}

namespace {
using inference::profile_limit;

// lme4's devfun2() profiles the ML deviance: the model refitted by ML from its θ, and from lme4's
// default start as a guard against a local optimum of the refit.
LinearMixedModel refit_ml(const LinearMixedModel& model) {
  LinearMixedModel ml(model.frame(), Method::ML);
  FitOptions o;
  o.method = Method::ML;
  o.theta_start = model.theta();
  ml.fit(o);
  LinearMixedModel alt(model.frame(), Method::ML);
  FitOptions o2;
  o2.method = Method::ML;
  alt.fit(o2);
  if (alt.objective() < ml.objective() - 1e-8) ml.set_theta(alt.theta());
  return ml;
}

std::string join_notes(const std::string& lo, const std::string& hi) {
  return lo + (lo.empty() || hi.empty() ? "" : "; ") + hi;
}

// The variance parameters: the random effects' SDs and correlations, σ, and the residual
// structure's parameters in natural units (φ, ρ, correlations, SD ratios), with their ranges.
struct VarianceSpace {
  LinearMixedModel& ml;
  double n = 0;
  std::size_t nre = 0;  // SDs, correlations and σ
  const detail::ResidualCovariance* rc = nullptr;
  std::vector<double> vhat, lo, hi;
  std::vector<std::string> names;

  explicit VarianceSpace(LinearMixedModel& m) : ml(m) {
    const auto& st = detail::model_state(ml);
    n = static_cast<double>(st.n());
    vhat = variance_parameters(ml);
    names = variance_parameter_names(ml);
    nre = vhat.size();
    lo.assign(nre, 0.0);
    hi.assign(nre, kInf);
    const auto tl = ml.theta_lower();
    for (std::size_t k = 0; k + 1 < nre; ++k)
      if (tl[k] != 0) lo[k] = -1, hi[k] = 1;
    if (!st.residual || st.residual->fixed()) return;
    rc = st.residual.get();
    const std::vector<double> nat = rc->natural(st.residual_eta.data());
    const std::vector<std::string> nn = rc->natural_names();
    std::vector<double> rlo, rhi;
    rc->natural_bounds(rlo, rhi);
    for (std::size_t k = 0; k < nat.size(); ++k) {
      vhat.push_back(nat[k]);
      names.push_back(nn[k]);
      // Open ranges: the ends themselves cannot be evaluated.
      lo.push_back(rlo[k] + 1e-8 * (std::isfinite(rhi[k]) ? rhi[k] - rlo[k] : 1.0));
      hi.push_back(std::isfinite(rhi[k]) ? rhi[k] - 1e-8 * (rhi[k] - rlo[k]) : kInf);
    }
  }
  bool correlation(std::size_t k) const { return lo[k] < 0 || (k >= nre && std::isfinite(hi[k])); }

  // lme4's devfun2, with the residual structure's log|DRD|: the ML deviance at v, β profiled out.
  double deviance(const std::vector<double>& v) const {
    const std::vector<double> vre(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(nre));
    auto th = detail::theta_from_sdcor(vre, detail::model_state(ml).q, vre.back());
    if (!th || !(vre.back() > 0)) return kInf;
    if (rc) {
      const auto eta = rc->eta_from_natural(std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(nre), v.end()));
      if (!eta) return kInf;
      th->insert(th->end(), eta->begin(), eta->end());
    } else {
      const auto all = ml.theta();  // a structure fixed at given values keeps them
      th->insert(th->end(), all.begin() + static_cast<std::ptrdiff_t>(th->size()), all.end());
    }
    const double obj = ml.set_theta(*th);
    if (!std::isfinite(obj)) return kInf;
    const double s2 = vre.back() * vre.back();
    return ml.logdet_re() + ml.logdet_residual() + ml.pwrss() / s2 + n * std::log(2 * std::numbers::pi * s2);
  }
};

// One variance parameter's interval: ζ from the deviance minimised over the others.
Interval variance_parameter_interval(const VarianceSpace& sp, std::size_t w, double z, double base) {
  const std::vector<double>& vhat = sp.vhat;
  const std::size_t nvp = vhat.size();
  const double sigma = vhat[sp.nre - 1];
  Interval iv;
  iv.parameter = sp.names[w];
  iv.estimate = vhat[w];
  // The other parameters, warm-started from the last point evaluated.
  std::vector<double> others, olo, ohi, ostep;
  for (std::size_t k = 0; k < nvp; ++k)
    if (k != w) {
      others.push_back(vhat[k]);
      olo.push_back(sp.lo[k]);
      ohi.push_back(sp.hi[k]);
      ostep.push_back(sp.correlation(k) ? 0.1 : std::max(0.1 * std::abs(vhat[k]), k < sp.nre ? 1e-3 * sigma : 1e-3));
    }
  std::vector<double> warm = others;
  auto zeta = [&](double x) {
    auto f = [&](const std::vector<double>& o) {
      std::vector<double> v(nvp);
      for (std::size_t k = 0, i = 0; k < nvp; ++k) v[k] = k == w ? x : o[i++];
      return sp.deviance(v);
    };
    auto r = others.empty() ? inference::MinimizeResult{{}, f({}), 1, true, ""} : inference::minimize(f, warm, olo, ohi, ostep);
    if (!std::isfinite(r.f)) return std::numeric_limits<double>::quiet_NaN();
    warm = r.x;
    const double d = std::max(0.0, r.f - base);
    return (x < vhat[w] ? -1.0 : 1.0) * std::sqrt(d);
  };
  const double scale = sp.correlation(w) ? 0.05 : std::max(0.05 * std::abs(vhat[w]), w < sp.nre ? 1e-3 * sigma : 1e-3);
  std::string note_lo, note_hi;
  if (vhat[w] <= sp.lo[w]) {
    iv.lower = sp.lo[w];
    note_lo = fmt::format("lower end at the boundary {}", sp.lo[w]);
  } else {
    warm = others;
    iv.lower = profile_limit(zeta, vhat[w], scale, -1, z, sp.lo[w], sp.hi[w], note_lo);
  }
  if (vhat[w] >= sp.hi[w]) {
    iv.upper = sp.hi[w];
    note_hi = fmt::format("upper end at the boundary {}", sp.hi[w]);
  } else {
    warm = others;
    iv.upper = profile_limit(zeta, vhat[w], scale, 1, z, sp.lo[w], sp.hi[w], note_hi);
  }
  iv.note = join_notes(note_lo, note_hi);
  return iv;
}

// The variance parameters (SDs, correlations, σ, and the residual structure's): devfun2, the ML
// deviance with β profiled out, minimised over the other parameters at each value of the one
// profiled.
void variance_parameter_intervals(LinearMixedModel& ml, double z, double base, std::vector<Interval>& out) {
  const std::vector<double> theta_hat = ml.theta();
  const VarianceSpace sp(ml);
  for (std::size_t w = 0; w < sp.vhat.size(); ++w) out.push_back(variance_parameter_interval(sp, w, z, base));
  // Back to the ML optimum for β̂ and its standard errors.
  ml.set_theta(theta_hat);
}

// The fixed effects: offset x_j b, ML deviance of the model without column j, minimised over θ.
void fixed_effect_intervals(const LinearMixedModel& ml, double z, double base, std::vector<Interval>& out) {
  const auto beta = ml.beta();
  const auto vc = ml.vcov();
  const std::size_t p = ml.frame().p();
  for (std::size_t j = 0; j < p; ++j) {
    Interval iv;
    iv.parameter = ml.frame().fixed_names[j];
    iv.estimate = beta[j];
    ModelFrame fr = ml.frame();
    const std::size_t nn = fr.n();
    fr.X.erase(fr.X.begin() + static_cast<std::ptrdiff_t>(j * nn), fr.X.begin() + static_cast<std::ptrdiff_t>((j + 1) * nn));
    fr.fixed_names.erase(fr.fixed_names.begin() + static_cast<std::ptrdiff_t>(j));
    if (fr.columns.size() > j) fr.columns.erase(fr.columns.begin() + static_cast<std::ptrdiff_t>(j));
    LinearMixedModel red(std::move(fr), Method::ML);
    std::vector<double> warm = ml.theta();
    auto zeta = [&](double b) {
      red.set_offset_response(ml, j, b);
      FitOptions o;
      o.method = Method::ML;
      o.theta_start = warm;
      o.initial_step = 0.1;
      const auto s = red.fit(o);
      if (!std::isfinite(s.objective)) return std::numeric_limits<double>::quiet_NaN();
      warm = s.theta;
      return (b < beta[j] ? -1.0 : 1.0) * std::sqrt(std::max(0.0, s.objective - base));
    };
    const double se = std::sqrt(vc[j * p + j]);
    std::string note_lo, note_hi;
    warm = ml.theta();
    iv.lower = profile_limit(zeta, beta[j], 0.5 * se, -1, z, -kInf, kInf, note_lo);
    warm = ml.theta();
    iv.upper = profile_limit(zeta, beta[j], 0.5 * se, 1, z, -kInf, kInf, note_hi);
    iv.note = join_notes(note_lo, note_hi);
    out.push_back(iv);
  }
}

}  // namespace

std::vector<Interval> profile_intervals(const LinearMixedModel& model, double level) {
  const double z = normal_quantile_two_sided(level);
  LinearMixedModel ml = refit_ml(model);
  const double base = ml.objective();  // the ML deviance at the optimum
  std::vector<Interval> out;
  variance_parameter_intervals(ml, z, base, out);
  fixed_effect_intervals(ml, z, base, out);
  return out;
}

namespace {

// The covariance of the residual structure's parameters η (θ's values after the terms'): the η
// block of 2 H⁺ over H's eigenvalues above 1e-8 (as Satterthwaite::varpar_vcov()). Where the model
// has the analytic gradient, H is the Hessian of the objective (σ profiled out) in the optimizer's
// coordinates (θ̃, η), by central differences of that gradient: at the optimum the η block of its
// inverse equals that of the inverse of the deviance's Hessian in (θ̃, η, σ) (the inverse of a Schur
// complement), and it costs 2 dim(θ) gradients where numDeriv's Richardson scheme of Satterthwaite
// costs about 4 dim(θ)² + 20 dim(θ) evaluations. Otherwise Satterthwaite's.
Eigen::MatrixXd eta_covariance(LinearMixedModel& model, std::size_t k0) {
  const std::size_t k = model.ntheta();
  const auto ne = static_cast<Eigen::Index>(k - k0);
  if (!(model.has_gradient() && detail::model_state(model).K == 1)) {
    const Satterthwaite sat(model);
    const auto& A = sat.varpar_vcov();  // (θ̃, η, σ/σ̂)
    Eigen::MatrixXd V(ne, ne);
    for (Eigen::Index a = 0; a < ne; ++a)
      for (Eigen::Index b = 0; b < ne; ++b)
        V(a, b) = A[(k0 + static_cast<std::size_t>(b)) * (k + 1) + k0 + static_cast<std::size_t>(a)];
    return V;
  }
  constexpr double kStep = 1e-4;  // as the convergence check's
  const std::vector<double> theta = model.theta();
  const detail::ThetaMap map(detail::model_state(model));
  const std::vector<double> x = map.from_theta(theta);
  const auto n = static_cast<Eigen::Index>(x.size());
  Eigen::MatrixXd H(n, n);
  auto gradient_at = [&](const std::vector<double>& y) {
    model.set_theta(map.to_theta(y));
    const auto g = detail::conditioned_gradient(detail::model_state(model), map, y);
    return Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(g.data(), n));
  };
  for (Eigen::Index j = 0; j < n; ++j) {
    std::vector<double> a = x, s = x;
    a[static_cast<std::size_t>(j)] += kStep;
    s[static_cast<std::size_t>(j)] -= kStep;
    H.col(j) = (gradient_at(a) - gradient_at(s)) / (2 * kStep);
  }
  model.set_theta(theta);  // bit-for-bit the factor at the optimum again
  const Eigen::MatrixXd Hs = (H + H.transpose()) / 2;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(Hs);
  if (eig.info() != Eigen::Success || !Hs.allFinite()) return Eigen::MatrixXd::Constant(ne, ne, std::numeric_limits<double>::quiet_NaN());
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(n, n);
  for (Eigen::Index e = 0; e < n; ++e) {
    const double ev = eig.eigenvalues()(e);
    if (ev > 1e-8) A += eig.eigenvectors().col(e) * eig.eigenvectors().col(e).transpose() / ev;
  }
  return 2 * A.bottomRightCorner(ne, ne);
}

// us: a correlation's interval on the Fisher-z scale, atanh(r) ± z se (nlme's intervals() for
// corSymm, whose natural parameter log((1 + r)/(1 - r)) is 2 atanh(r)), with se by the delta method
// from η's covariance V (the gradient of atanh(r) in η by central differences).
Interval us_correlation_interval(LinearMixedModel& model, const std::vector<double>& eta, const Eigen::MatrixXd& V,
                                 std::size_t pair, const std::string& name, double z) {
  const auto n = static_cast<Eigen::Index>(eta.size());
  const double r = detail::residual_estimates_at(model, eta).cor[pair];
  Eigen::VectorXd g(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double h = 1e-6 * std::max(1.0, std::abs(eta[static_cast<std::size_t>(i)]));
    std::vector<double> a = eta, b = eta;
    a[static_cast<std::size_t>(i)] += h;
    b[static_cast<std::size_t>(i)] -= h;
    g(i) = (std::atanh(detail::residual_estimates_at(model, a).cor[pair]) -
            std::atanh(detail::residual_estimates_at(model, b).cor[pair])) / (2 * h);
  }
  const double se = std::sqrt(g.dot(V * g));
  Interval iv;
  iv.parameter = name;
  iv.estimate = r;
  iv.lower = std::tanh(std::atanh(r) - z * se);
  iv.upper = std::tanh(std::atanh(r) + z * se);
  if (!std::isfinite(se)) iv.note = "the Hessian is singular in this direction";
  return iv;
}

}  // namespace

std::vector<Interval> residual_wald_intervals(LinearMixedModel& model, double level) {
  std::vector<Interval> out;
  const std::size_t k0 = model.ntheta_random(), k = model.ntheta();
  const ResidualEstimates est = model.residual_estimates();
  if (k0 == k) return out;
  const std::size_t nsd = est.sd_ratios.empty() ? 0 : est.sd_ratios.size() - 1;
  const Eigen::MatrixXd V = eta_covariance(model, k0);
  const double z = normal_quantile_two_sided(level);
  const std::vector<double> theta = model.theta();
  const std::vector<double> eta(theta.begin() + static_cast<std::ptrdiff_t>(k0), theta.end());
  auto at = [&](std::size_t i, double shift) {
    std::vector<double> e = eta;
    e[i] += shift;
    return detail::residual_estimates_at(model, e);
  };
  if (est.structure == "us") {
    const std::size_t nv = est.visit_levels.size();
    for (std::size_t a = 0, pair = 0; a < nv; ++a)
      for (std::size_t b = a + 1; b < nv; ++b, ++pair)
        out.push_back(us_correlation_interval(model, eta, V, pair,
                                              "cor:" + est.visit_levels[a] + "," + est.visit_levels[b], z));
  }
  const std::size_t nstruct = eta.size() - nsd;
  for (std::size_t i = 0; i < eta.size(); ++i) {
    const double se = std::sqrt(V(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(i)));
    if (i < nstruct && est.structure == "us") continue;  // the correlations above
    const ResidualEstimates lo = at(i, -z * se), hi = at(i, z * se);
    Interval iv;
    if (i < nstruct) {
      const bool cs = est.structure == "cs";
      iv.parameter = cs ? "rho" : "phi";
      iv.estimate = cs ? est.rho : est.phi;
      iv.lower = cs ? lo.rho : lo.phi;
      iv.upper = cs ? hi.rho : hi.phi;
    } else {
      const std::size_t l = i - nstruct + 1;
      iv.parameter = "sd_ratio:" + est.sd_levels[l];
      iv.estimate = est.sd_ratios[l];
      iv.lower = lo.sd_ratios[l];
      iv.upper = hi.sd_ratios[l];
    }
    if (!std::isfinite(se)) iv.note = "the Hessian is singular in this direction";
    out.push_back(iv);
  }
  return out;
}

}  // namespace lmm
