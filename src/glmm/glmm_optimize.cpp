// Optimizing a GLMM to glmer's optimum: BOBYQA over θ with β inside PIRLS (the nAGQ = 0 stage),
// then Newton steps over (θ, β) on the Laplace or quadrature deviance (a finite-difference Hessian
// updated by BFGS; BOBYQA where they fail), and the finite-difference Hessian at the optimum that
// gives the standard errors (lme4's default vcov). The differences' evaluations are independent:
// with threads, two models compute them.
#include "glmm/glmm_optimize.h"

#include <cmath>
#include <limits>
#include <memory>

#include "lmm/parallel.h"
#include "util/parallel.h"

#include "util/nlopt_driver.h"

namespace lmm::glmm_detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

using Objective = std::function<double(const Eigen::VectorXd&)>;

Eigen::VectorXd steps(const Eigen::VectorXd& x) {
  return (1e-3 * x.cwiseAbs().cwiseMax(1.0)).eval();
}

// f at several points (independent evaluations, on two models where the engine has threads).
using Batch = std::function<std::vector<double>(const std::vector<Eigen::VectorXd>&)>;

// Central differences with steps h_j: the gradient (2k evaluations), with f(x ± h_j e_j) in
// fp, fm when given.
Eigen::VectorXd gradient(const Batch& fb, const Eigen::VectorXd& x, Eigen::VectorXd* fp = nullptr,
                         Eigen::VectorXd* fm = nullptr) {
  const Eigen::Index k = x.size();
  const Eigen::VectorXd h = steps(x);
  std::vector<Eigen::VectorXd> pts;
  for (Eigen::Index j = 0; j < k; ++j)
    for (double sign : {1.0, -1.0}) {
      pts.push_back(x);
      pts.back()[j] += sign * h[j];
    }
  const std::vector<double> v = fb(pts);
  Eigen::VectorXd g(k), p(k), m(k);
  for (Eigen::Index j = 0; j < k; ++j) {
    p[j] = v[static_cast<std::size_t>(2 * j)];
    m[j] = v[static_cast<std::size_t>(2 * j + 1)];
    g[j] = (p[j] - m[j]) / (2 * h[j]);
  }
  if (fp) *fp = p;
  if (fm) *fm = m;
  return g;
}

// The gradient and Hessian by finite differences: the diagonal from the gradient's points, the
// off-diagonal from f(x + h_j e_j + h_l e_l) and, unless `rough`, f(x - h_j e_j - h_l e_l) too
// (second order, as lme4's deriv12's four points: 2k + k(k-1) evaluations; rough: first order,
// 2k + k(k-1)/2). With `known`, the gradient's points are those already computed at x.
struct GradientPoints {
  Eigen::VectorXd g, fp, fm;  // the central-difference gradient and f(x ± h_j e_j)
};
void derivatives(const Batch& fb, const Eigen::VectorXd& x, double f0, GradientPoints& gp, Eigen::MatrixXd& H,
                 bool rough = false, bool known = false) {
  const Eigen::Index k = x.size();
  const Eigen::VectorXd h = steps(x);
  if (!known) gp.g = gradient(fb, x, &gp.fp, &gp.fm);
  const Eigen::VectorXd &fp = gp.fp, &fm = gp.fm;
  H.resize(k, k);
  for (Eigen::Index j = 0; j < k; ++j) H(j, j) = (fp[j] - 2 * f0 + fm[j]) / (h[j] * h[j]);
  std::vector<Eigen::VectorXd> pts;
  for (Eigen::Index j = 0; j < k; ++j)
    for (Eigen::Index l = 0; l < j; ++l)
      for (double sign : {1.0, -1.0}) {
        if (rough && sign < 0) continue;
        pts.push_back(x);
        pts.back()[j] += sign * h[j];
        pts.back()[l] += sign * h[l];
      }
  const std::vector<double> v = fb(pts);
  std::size_t i = 0;
  for (Eigen::Index j = 0; j < k; ++j)
    for (Eigen::Index l = 0; l < j; ++l) {
      const double fpp = v[i++];
      if (rough) {
        H(j, l) = H(l, j) = (fpp - fp[j] - fp[l] + f0) / (h[j] * h[l]);
        continue;
      }
      const double fmm = v[i++];
      H(j, l) = H(l, j) = (fpp - fp[j] - fp[l] + 2 * f0 - fm[j] - fm[l] + fmm) / (2 * h[j] * h[l]);
    }
}

struct Stage {
  double f = kInf;
  std::vector<double> x;
  int evaluations = 0;
  bool converged = false;
};

Stage run_bobyqa(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x,
                 const std::vector<double>& lower, const std::vector<double>& step, int max_evaluations,
                 double ftol_rel = 1e-15, double xtol_abs = 1e-10) {
  detail::NloptSettings s;
  s.method = detail::NloptMethod::BOBYQA;
  s.lower = lower;
  s.upper.assign(x.size(), kInf);
  s.initial_step = step;
  s.ftol_rel = ftol_rel;
  s.xtol_abs = xtol_abs;
  s.max_evaluations = max_evaluations;
  Stage st;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::max(x[i], lower[i]);
  const auto out = detail::nlopt_minimize(
      s,
      [&](const double* p, double*, bool&) {
        ++st.evaluations;
        const double v = f(std::vector<double>(p, p + x.size()));
        if (v < st.f) st.f = v, st.x.assign(p, p + x.size());
        return std::isfinite(v) ? v : 1e300;
      },
      x);
  st.converged = out.by_tolerance() && std::isfinite(st.f);
  if (st.x.empty()) st.x = x;
  return st;
}

// Stage 1: θ with β and u from PIRLS (warm-started from the previous evaluation).
Stage fast_stage(GlmmModel& m, const GlmmOptions& o) {
  m.set_beta(m.glm_start());
  auto f = [&m](const std::vector<double>& th) {
    m.set_theta(th);
    if (!m.pirls_joint()) {
      m.set_u(Eigen::VectorXd::Zero(m.nre()));
      m.set_beta(m.glm_start());
      if (!m.pirls_joint()) return kInf;
    }
    return m.objective(1);
  };
  const std::vector<double> start = m.theta_start();
  // a start for the second stage needs no more than a few digits (the nAGQ = 0 optimum is some way
  // from the Laplace one anyway, and Newton's steps cover that); the fast fit's answer is final
  const double ftol = o.fast ? 1e-15 : 1e-6, xtol = o.fast ? 1e-10 : 1e-4;
  return run_bobyqa(f, start, m.theta_lower(), std::vector<double>(start.size(), 0.25), o.max_evaluations, ftol, xtol);
}

std::vector<double> join(const std::vector<double>& th, const Eigen::VectorXd& b) {
  std::vector<double> x = th;
  x.insert(x.end(), b.data(), b.data() + b.size());
  return x;
}

// From x (f(x) = fx): a rough Hessian and the gradient there, then up to 10 Newton steps x - H⁻¹g
// taken while they lower f and stay inside the bounds, with a new gradient at each; `recenter`
// after each step taken. True once the Newton decrement g'H⁻¹g at x is below kNewtonDecrement (f
// within half of it of its quadratic model's minimum) and the step H⁻¹g (lme4's scaled gradient)
// below kNewtonStep: the caller's last step, with the final Hessian, ends there; or once a step
// below 1e-5 of x does not lower f (rounding). gp and H are then the gradient's points and the
// (BFGS-updated) Hessian at x, computed from the modes at x.
constexpr double kNewtonDecrement = 1e-5, kNewtonStep = 1e-4;
bool newton_polish(const Objective& f, const Batch& fb, const std::function<void()>& recenter,
                   const std::vector<double>& lower, std::size_t nt, Eigen::VectorXd& x, double& fx,
                   GradientPoints& gp, Eigen::MatrixXd& H) {
  derivatives(fb, x, fx, gp, H, true);
  for (int it = 0; it < 10; ++it) {
    Eigen::LLT<Eigen::MatrixXd> llt(H);
    if (llt.info() != Eigen::Success) return false;
    const Eigen::VectorXd step = llt.solve(gp.g);
    if (gp.g.dot(step) < kNewtonDecrement && step.lpNorm<Eigen::Infinity>() < kNewtonStep) return true;
    Eigen::VectorXd xn;
    double fn = kInf;
    for (double t = 1; t > 0.1; t /= 2) {  // halved (far from the optimum) while f does not decrease
      xn = x - t * step;
      bool inside = true;
      for (std::size_t j = 0; j < nt; ++j) inside = inside && xn[Eigen::Index(j)] >= lower[j];
      fn = inside ? f(xn) : kInf;
      if (fn <= fx) break;
    }
    const double size = step.lpNorm<Eigen::Infinity>() / (1 + x.lpNorm<Eigen::Infinity>());
    if (!(fn <= fx)) return size < 1e-5;  // a tiny step not lowering f: x is at the rounding floor
    const Eigen::VectorXd s = xn - x, g = gp.g;
    x = xn;
    fx = fn;
    recenter();
    gp.g = gradient(fb, x, &gp.fp, &gp.fm);
    const Eigen::VectorXd y = gp.g - g;
    // BFGS update of H with the step and the change of gradient: the rough Hessian's error no
    // longer limits the convergence to a linear rate
    const Eigen::VectorXd hs = H * s;
    if (y.dot(s) > 1e-12 * y.norm() * s.norm()) H += y * y.transpose() / y.dot(s) - hs * hs.transpose() / s.dot(hs);
  }
  return false;
}

// One Newton step x - H⁻¹g from the derivatives at x, kept (true, with x and fx updated and the
// model at the new x's modes) if it stays inside the bounds and does not raise f. x is then within
// Newton's tolerance of the optimum, so the step is small and the derivatives at x stand for those
// at the estimates (the gradient and Hessian reported are those at x, a step before).
bool last_newton_step(const Objective& f, const std::vector<double>& lower, std::size_t nt, const Eigen::VectorXd& g,
                      const Eigen::MatrixXd& H, Eigen::VectorXd& x, double& fx) {
  Eigen::LLT<Eigen::MatrixXd> llt(H);
  if (llt.info() != Eigen::Success || g.size() != x.size()) return false;
  const Eigen::VectorXd xn = x - llt.solve(g);
  for (std::size_t j = 0; j < nt; ++j)
    if (!(xn[Eigen::Index(j)] >= lower[j])) return false;
  const double fn = f(xn);
  if (!(fn <= fx)) return false;
  x = xn;
  fx = fn;
  return true;
}

// PIRLS's start at x: the modes u0 at the centre x0 moved along their sensitivity S, so that an
// evaluation near x0 starts within O(|x - x0|²) of its modes and converges in a step or two. The
// same start on either model or thread, so the values do not depend on which computes them.
struct WarmStart {
  Eigen::VectorXd x0, u0;
  Eigen::MatrixXd S;
  void recenter(const GlmmModel& m, const Eigen::VectorXd& x) {  // m at x's modes
    x0 = x;
    u0 = m.u();
    S = m.mode_sensitivity();
  }
  Eigen::VectorXd at(const Eigen::VectorXd& x) const { return S.size() == 0 ? u0 : Eigen::VectorXd(u0 + S * (x - x0)); }
};

// Batches of points on m and, when given, its twin (on two threads), each from ws's start.
Batch batch_objective(GlmmModel& m, GlmmModel* twin, const WarmStart& ws, int nagq, int& count) {
  return [&m, twin, &ws, nagq, &count](const std::vector<Eigen::VectorXd>& pts) {
    const auto nt = static_cast<Eigen::Index>(m.ntheta());
    std::vector<double> v(pts.size());
    auto run = [&](GlmmModel& mm, std::size_t first) {
      for (std::size_t i = first; i < pts.size(); i += twin ? 2 : 1) {
        const Eigen::VectorXd& x = pts[i];
        mm.set_u(ws.at(x));
        v[i] = mm.deviance_at(std::vector<double>(x.data(), x.data() + nt), x.tail(x.size() - nt), nagq);
      }
    };
    if (twin) detail::parallel_for(2, [&](int c) { run(c == 0 ? m : *twin, static_cast<std::size_t>(c)); });
    else run(m, 0);
    count += static_cast<int>(pts.size());
    return v;
  };
}

// The second stage over (θ, β) from r's θ and β (the model's modes at them): Newton, BOBYQA where
// it fails; with `final_derivatives` the gradient and Hessian at the end; with `twin` a second
// model computes half of the differences' evaluations.
void second_stage(GlmmModel& m, const GlmmOptions& o, GlmmOptimum& r, bool final_derivatives, bool twin_allowed) {
  const std::size_t nt = m.ntheta();
  // Each evaluation's PIRLS starts from ws (the deviance is then a smooth function for the finite
  // differences): from the first stage's modes, later from those at the derivatives' centre.
  WarmStart ws;
  ws.u0 = m.u();
  const Eigen::MatrixXd v = m.vcov_rx();
  int derivative_evaluations = 0;
  Objective f = [&](const Eigen::VectorXd& x) {
    ++derivative_evaluations;
    std::vector<double> th(x.data(), x.data() + nt);
    m.set_u(ws.at(x));
    return m.deviance_at(th, x.tail(x.size() - static_cast<Eigen::Index>(nt)), o.nagq);
  };
  std::unique_ptr<GlmmModel> twin;
  if (twin_allowed && num_threads() > 1 && m.n() >= 2000) twin = std::make_unique<GlmmModel>(m.frame(), m.y(), m.prior_weights(), m.family());
  const Batch fb = batch_objective(m, twin.get(), ws, o.nagq, derivative_evaluations);
  std::vector<double> lower = m.theta_lower(), step(nt, 0.1);
  for (Eigen::Index j = 0; j < r.beta.size(); ++j) {
    lower.push_back(-kInf);
    step.push_back(std::isfinite(v(j, j)) && v(j, j) > 0 ? 0.5 * std::sqrt(v(j, j)) : 0.1);
  }
  auto fv = [&](const std::vector<double>& x) { return f(Eigen::Map<const Eigen::VectorXd>(x.data(), Eigen::Index(x.size()))); };
  // Newton steps on a rough finite-difference Hessian from the first stage's optimum: they
  // converge quadratically where BOBYQA's last digits are slow. Where they do not converge (a
  // bound, a Hessian not positive definite, too far), BOBYQA to a moderate tolerance and Newton
  // again; failing that, BOBYQA with small steps and tight tolerances. The gradient and Hessian
  // (central differences) at the end, as lme4's.
  const int before = derivative_evaluations;
  const std::vector<double> x0 = join(r.theta, r.beta);
  Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXd>(x0.data(), Eigen::Index(x0.size()));
  r.optimizer = "NLOPT_LN_BOBYQA (nAGQ = 0) + Newton";
  GradientPoints gp;
  Eigen::MatrixXd H;
  double fx = kInf;
  auto polish = [&] {
    fx = f(x);
    ws.recenter(m, x);  // the derivatives' PIRLS from the modes at their centre
    return newton_polish(f, fb, [&] { ws.recenter(m, x); }, lower, nt, x, fx, gp, H);
  };
  bool done = polish();
  for (int round = 0; !done && round < 2; ++round) {
    const bool tight = round == 1;
    if (tight)
      for (double& s : step) s *= 0.01;
    const Stage st = run_bobyqa(fv, std::vector<double>(x.data(), x.data() + x.size()), lower, step, o.max_evaluations,
                                tight ? 1e-15 : 1e-7, tight ? 1e-10 : 1e-4);
    if (st.f <= f(x)) x = Eigen::Map<const Eigen::VectorXd>(st.x.data(), x.size());
    r.optimizer += " + NLOPT_LN_BOBYQA";
    done = !tight && polish();
    r.converged = st.converged || done;
  }
  if (!done) {
    fx = f(x);
    ws.recenter(m, x);
  }
  // the central differences at x (the gradient's points from Newton's last iterate where it converged)
  if (final_derivatives) {
    derivatives(fb, x, fx, gp, H, false, done);
    r.gradient = gp.g;
    r.hessian = H;
  }
  const bool stepped = (done || final_derivatives) && last_newton_step(f, lower, nt, gp.g, H, x, fx);
  r.evaluations += derivative_evaluations - before;
  r.theta.assign(x.data(), x.data() + nt);
  r.beta = x.tail(x.size() - static_cast<Eigen::Index>(nt));
  if (stepped) {  // the model holds the modes at x from the step's evaluation
    r.objective = fx;
    return;
  }
  m.set_u(ws.at(x));
  r.objective = m.deviance_at(r.theta, r.beta, o.nagq);
}

}  // namespace

GlmmOptimum optimize_glmm(GlmmModel& m, const GlmmOptions& o) {
  GlmmOptimum r;
  const Stage s1 = fast_stage(m, o);
  m.set_theta(s1.x);
  m.pirls_joint();
  r.theta = s1.x;
  r.beta = m.beta();
  r.objective = m.objective(1);
  r.evaluations = s1.evaluations;
  r.converged = s1.converged;
  r.optimizer = "NLOPT_LN_BOBYQA (nAGQ = 0)";
  if (!o.fast) second_stage(m, o, r, true, true);
  return r;
}

GlmmOptimum refit_glmm(GlmmModel& m, const GlmmOptions& o, const std::vector<double>& theta,
                       const Eigen::VectorXd& beta) {
  if (o.fast) return optimize_glmm(m, o);
  GlmmOptimum r;
  r.theta = theta;
  r.beta = beta;
  r.converged = true;
  m.set_u(Eigen::VectorXd::Zero(m.nre()));
  r.objective = m.deviance_at(theta, beta, o.nagq);
  second_stage(m, o, r, false, false);
  return r;
}

}  // namespace lmm::glmm_detail
