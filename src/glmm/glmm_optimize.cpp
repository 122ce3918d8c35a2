// Optimizing a GLMM as glmer does: BOBYQA over θ with β inside PIRLS (the nAGQ = 0 stage), then
// BOBYQA over (θ, β) on the Laplace or quadrature deviance, polished by Newton steps on the
// finite-difference Hessian that also gives the standard errors (lme4's default vcov).
#include "glmm/glmm_optimize.h"

#include <cmath>
#include <limits>

#include "util/nlopt_driver.h"

namespace lmm::glmm_detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

using Objective = std::function<double(const Eigen::VectorXd&)>;

// Central differences with steps h_j: the gradient and Hessian (2k + 2k(k-1) evaluations).
void derivatives(const Objective& f, const Eigen::VectorXd& x, double f0, Eigen::VectorXd& g, Eigen::MatrixXd& H) {
  const Eigen::Index k = x.size();
  Eigen::VectorXd h(k), fp(k), fm(k);
  for (Eigen::Index j = 0; j < k; ++j) h[j] = 1e-3 * std::max(1.0, std::abs(x[j]));
  g.resize(k);
  H.resize(k, k);
  for (Eigen::Index j = 0; j < k; ++j) {
    Eigen::VectorXd xp = x, xm = x;
    xp[j] += h[j];
    xm[j] -= h[j];
    fp[j] = f(xp);
    fm[j] = f(xm);
    g[j] = (fp[j] - fm[j]) / (2 * h[j]);
    H(j, j) = (fp[j] - 2 * f0 + fm[j]) / (h[j] * h[j]);
  }
  for (Eigen::Index j = 0; j < k; ++j)
    for (Eigen::Index l = 0; l < j; ++l) {
      double s = 0;
      for (int a : {1, -1})
        for (int b : {1, -1}) {
          Eigen::VectorXd xx = x;
          xx[j] += a * h[j];
          xx[l] += b * h[l];
          s += a * b * f(xx);
        }
      H(j, l) = H(l, j) = s / (4 * h[j] * h[l]);
    }
}

struct Stage {
  double f = kInf;
  std::vector<double> x;
  int evaluations = 0;
  bool converged = false;
};

Stage run_bobyqa(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x,
                 const std::vector<double>& lower, const std::vector<double>& step, int max_evaluations) {
  detail::NloptSettings s;
  s.method = detail::NloptMethod::BOBYQA;
  s.lower = lower;
  s.upper.assign(x.size(), kInf);
  s.initial_step = step;
  s.ftol_rel = 1e-15;
  s.xtol_abs = 1e-10;
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
  return run_bobyqa(f, start, m.theta_lower(), std::vector<double>(start.size(), 0.25), o.max_evaluations);
}

std::vector<double> join(const std::vector<double>& th, const Eigen::VectorXd& b) {
  std::vector<double> x = th;
  x.insert(x.end(), b.data(), b.data() + b.size());
  return x;
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
  if (o.fast) return r;

  const std::size_t nt = m.ntheta();
  const Eigen::VectorXd u0 = m.u();
  const Eigen::MatrixXd v = m.vcov_rx();
  int derivative_evaluations = 0;
  Objective f = [&](const Eigen::VectorXd& x) {
    ++derivative_evaluations;
    std::vector<double> th(x.data(), x.data() + nt);
    m.set_u(u0);
    return m.deviance_at(th, x.tail(x.size() - static_cast<Eigen::Index>(nt)), o.nagq);
  };
  std::vector<double> lower = m.theta_lower(), step(nt, 0.1);
  for (Eigen::Index j = 0; j < r.beta.size(); ++j) {
    lower.push_back(-kInf);
    step.push_back(std::isfinite(v(j, j)) && v(j, j) > 0 ? 0.5 * std::sqrt(v(j, j)) : 0.1);
  }
  auto fv = [&](const std::vector<double>& x) { return f(Eigen::Map<const Eigen::VectorXd>(x.data(), Eigen::Index(x.size()))); };
  Stage s2 = run_bobyqa(fv, join(r.theta, r.beta), lower, step, o.max_evaluations);
  for (double& s : step) s *= 0.01;
  const Stage s3 = run_bobyqa(fv, s2.x, lower, step, o.max_evaluations);
  if (s3.f <= s2.f) s2.x = s3.x, s2.f = s3.f;
  r.evaluations += s2.evaluations + s3.evaluations;
  r.converged = s2.converged || s3.converged;
  r.optimizer = "NLOPT_LN_BOBYQA (nAGQ = 0) + NLOPT_LN_BOBYQA";

  Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXd>(s2.x.data(), Eigen::Index(s2.x.size()));
  double fx = s2.f;
  derivatives(f, x, fx, r.gradient, r.hessian);
  // Newton polish: BOBYQA's last digits of β and θ are loose where the deviance is flat.
  for (int it = 0; it < 3; ++it) {
    Eigen::LLT<Eigen::MatrixXd> llt(r.hessian);
    if (llt.info() != Eigen::Success) break;
    Eigen::VectorXd xn = x - llt.solve(r.gradient);
    bool inside = true;
    for (std::size_t j = 0; j < nt; ++j) inside = inside && xn[Eigen::Index(j)] >= lower[j];
    const double fn = inside ? f(xn) : kInf;
    if (!(fn < fx)) break;
    x = xn;
    fx = fn;
    derivatives(f, x, fx, r.gradient, r.hessian);
  }
  r.evaluations += derivative_evaluations - s2.evaluations - s3.evaluations;  // the Hessians' and Newton steps'
  r.theta.assign(x.data(), x.data() + nt);
  r.beta = x.tail(x.size() - static_cast<Eigen::Index>(nt));
  m.set_u(u0);
  r.objective = m.deviance_at(r.theta, r.beta, o.nagq);
  return r;
}

}  // namespace lmm::glmm_detail
