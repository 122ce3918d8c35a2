// lme4's convergence check (lme4 1.1-31: deriv12() in R/deriv.R, checkConv() and checkHess() in
// R/checkConv.R) and, when it fails, a refit from the optimum with a second optimizer.
// The gradient and Hessian come from deriv12's finite differences of the objective, or, for models
// where the analytic gradient pays (gradient_pays), from that gradient and central differences
// of it (analytic_derivatives): same figures to O(δ²), same codes and statuses, fewer evaluations
// and no differencing noise in the gradient. After Newton's method (src/model/optimize.cpp) the
// Hessian is the optimizer's, formed within 1e-3 of the optimum (near_optimizer_hessian), or, where
// Satterthwaite's df are to come, the Hessian from their H (detail::profiled_hessian,
// src/inference/varpar.h: exact where their derivatives are analytic, central differences of the
// gradient beyond; see check_convergence).
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <limits>
#include <fmt/format.h>

#include "inference/internal.h"
#include "inference/varpar.h"
#include "lmm/inference.h"
#include "lmm/fit.h"
#include "model/model_access.h"
#include "model/multi_term.h"

namespace lmm {

namespace {

constexpr double kGradTol = 0.002;  // lmerControl()$checkConv$check.conv.grad$tol
constexpr double kHessTol = 1e-6;   // check.conv.hess$tol
constexpr double kDelta = 1e-4;     // deriv12()'s step

struct Derivatives {
  Eigen::VectorXd g;
  Eigen::MatrixXd H;
};

// Central finite differences of the objective (deriv12): g_j = (f(x+δe_j) - f(x-δe_j))/2δ,
// H_jj = (f(x+δe_j) - 2f(x) + f(x-δe_j))/δ², H_ij from the four corners. x is in the optimizer's
// conditioned coordinates (detail::ThetaMap), where the step δ means the same whatever the units
// of the covariates; lme4 differentiates in θ, where a slope on a covariate in large units has a
// tiny θ and δ = 1e-4 is no longer small (its false "failed to converge" on rescaled data).
Derivatives deriv12(LinearMixedModel& model, const detail::ThetaMap& map, const std::vector<double>& x, double fx) {
  const auto n = static_cast<Eigen::Index>(x.size());
  Derivatives d{Eigen::VectorXd::Zero(n), Eigen::MatrixXd::Zero(n, n)};
  auto f = [&](const std::vector<double>& y) { return model.set_theta(map.to_theta(y)); };
  for (Eigen::Index j = 0; j < n; ++j) {
    std::vector<double> a = x, s = x;
    a[j] += kDelta;
    s[j] -= kDelta;
    const double fa = f(a), fs = f(s);
    d.H(j, j) = (fa - 2 * fx + fs) / (kDelta * kDelta);
    d.g(j) = (fa - fs) / (2 * kDelta);
    for (Eigen::Index i = 0; i < j; ++i) {
      std::vector<double> aa = x, as = x, sa = x, ss = x;
      aa[i] += kDelta, aa[j] += kDelta;
      as[i] += kDelta, as[j] -= kDelta;
      sa[i] -= kDelta, sa[j] += kDelta;
      ss[i] -= kDelta, ss[j] -= kDelta;
      d.H(i, j) = d.H(j, i) = (f(aa) - f(as) - f(sa) + f(ss)) / (4 * kDelta * kDelta);
    }
  }
  return d;
}

// The same figures from the analytic gradient (gradient_pays; src/model/single_term.cpp and
// multi_term.cpp): g is the gradient at x itself, in the same conditioned coordinates
// (ThetaMap::gradient_conditioned), and column j of H is the difference of the gradient,
// central (∇f(x+δe_j) - ∇f(x-δe_j))/2δ on small models (fewer than 1,000 random effects), forward
// (∇f(x+δe_j) - ∇f(x))/δ on larger ones, symmetrised as (H + H')/2. g carries no differencing error
// at all, and the model must be at x on entry (its factor is used for g).
// - Small models: the central difference's error is O(δ²) as deriv12's, with 2n evaluations of the
//   factor and gradient instead of deriv12's 2n² evaluations of the objective. The gradient's
//   exactness is what counts there: deriv12's differences carry rounding noise of about 1e-10 into
//   the finishing Newton step, enough for two builds (SSE2 and AVX2 kernels) to differ by 6e-9 in
//   Satterthwaite's df on Penicillin (issue 17).
// - Larger models: n evaluations and gradients. The forward difference's O(δ) error (about 1e-4
//   relative) moves no verdict of the check and the finishing step's θ by nothing that counts.
//   Used for one term, for θ of four values or more, and for crossed designs whose gradient costs
//   r evaluations (crossed_gradient_cost, an estimate from the pattern) with r < (2n² + n)/(n + 2):
//   the check and its finishing step then take (n + 1) evaluations and n + 2 gradients against
//   deriv12's 2n² + 2n + 1 evaluations (InstEval, r about 1.5: 4 + 5 · 1.5 against 25).
//   Nested designs with two or three scalar terms keep deriv12 (a gradient of up to eight
//   evaluations where many small levels are nested; (1 | pupil) + (1 | class) + (1 | school) on
//   80,000 rows: the fit with the check took 0.14 s with deriv12 against 0.39 s with the gradient).
constexpr Eigen::Index kSmallModel = 1000;

bool small_model(const detail::ModelState& m) {
  Eigen::Index effects = 0;
  for (int j = 0; j < m.K; ++j) effects += m.q[j] * m.nlev[j];
  return effects < kSmallModel;
}

bool gradient_pays(const LinearMixedModel& model) {
  if (!model.has_gradient()) return false;
  const detail::ModelState& m = detail::model_state(model);
  if (m.K == 1 || small_model(m) || m.theta.size() >= 4) return true;
  const auto n = static_cast<double>(m.theta.size());
  return detail::crossed_gradient_cost(m) < (2 * n * n + n) / (n + 2);
}

// The Newton optimizer's Hessian (src/model/optimize.cpp) was formed from differences of the
// gradient within 1e-3 of x (and updated by the steps since): the check takes it instead of
// differencing again (n evaluations and gradients, and one more evaluation to come back; on the
// 10M ratings set about 40 s). The Hessian only scales the gradient and gives the eigenvalues'
// verdict, which so short a distance does not move (as for the finishing step below).
bool near_optimizer_hessian(const detail::ModelState& state, const std::vector<double>& x) {
  if (state.hessian_at.size() != x.size() || state.optimizer_hessian.rows() != static_cast<Eigen::Index>(x.size()))
    return false;
  for (std::size_t k = 0; k < x.size(); ++k)
    if (!(std::abs(x[k] - state.hessian_at[k]) <= detail::ModelState::hessian_reach)) return false;
  return true;
}

Derivatives analytic_derivatives(LinearMixedModel& model, const detail::ThetaMap& map, const std::vector<double>& x) {
  Derivatives d{detail::conditioned_gradient_vector(detail::model_state(model), map, x), {}};
  // Forward differences from g(x) on models of 1,000 random effects or more: n evaluations and
  // gradients instead of 2n, where each costs tens of milliseconds to seconds; their O(δ) error
  // (about 1e-4 relative) does not move the check's verdicts or the finishing step's θ by anything
  // that counts. Small models keep the central O(δ²) differences.
  const bool forward = !small_model(detail::model_state(model));
  d.H = inference::gradient_difference_hessian(model, map, x, forward ? &d.g : nullptr, kDelta);
  return d;
}

bool is_singular(const LinearMixedModel& model) {
  for (bool b : model.singular_positions()) if (b) return true;
  return false;
}

std::string describe_theta(const ConvergenceReport& r, const std::vector<std::string>& vnames, std::size_t k) {
  return fmt::format("θ '{}' (behind {})", r.theta_names[k], vnames[k]);
}

// The gradient and Hessian at the model's current θ, which is left unchanged. The model is at its
// optimum here (fit(), the Newton steps and the refit below leave it there), as the analytic path
// needs.
Derivatives derivatives(LinearMixedModel& model) {
  const detail::ModelState& state = detail::model_state(model);
  const detail::ThetaMap map(state);
  const auto theta = model.theta();
  const auto x = map.from_theta(theta);
  if (gradient_pays(model) && near_optimizer_hessian(state, x))
    return {detail::conditioned_gradient_vector(state, map, x), state.optimizer_hessian};
  const double fx = model.objective();
  const Derivatives d = gradient_pays(model) ? analytic_derivatives(model, map, x) : deriv12(model, map, x, fx);
  model.set_theta(theta);  // back to the optimum
  return d;
}

// The gradient alone at the model's current θ (left unchanged): the analytic one where it pays,
// else deriv12's central differences g_j = (f(x+δe_j) - f(x-δe_j))/2δ, 2n evaluations against the
// 2n² of the gradient and Hessian together.
Eigen::VectorXd gradient(LinearMixedModel& model) {
  const detail::ThetaMap map(detail::model_state(model));
  const auto theta = model.theta();
  const auto x = map.from_theta(theta);
  const auto n = static_cast<Eigen::Index>(x.size());
  if (gradient_pays(model)) {
    const auto g = detail::conditioned_gradient(detail::model_state(model), map, x);
    return Eigen::Map<const Eigen::VectorXd>(g.data(), n);
  }
  Eigen::VectorXd g(n);
  for (Eigen::Index j = 0; j < n; ++j) {
    std::vector<double> a = x, s = x;
    a[static_cast<std::size_t>(j)] += kDelta;
    s[static_cast<std::size_t>(j)] -= kDelta;
    g(j) = (model.set_theta(map.to_theta(a)) - model.set_theta(map.to_theta(s))) / (2 * kDelta);
  }
  model.set_theta(theta);
  return g;
}

// Fills the gradient and Hessian figures and lme4's code from d, the derivatives at the model's
// current θ; returns the index of the component with the largest gradient.
std::size_t evaluate(const LinearMixedModel& model, const Derivatives& d, ConvergenceReport& r) {
  const auto n = d.g.size();
  r.gradient.assign(d.g.data(), d.g.data() + n);
  r.scaled_gradient.assign(n, std::numeric_limits<double>::quiet_NaN());
  r.hessian_eigenvalues.clear();
  r.code = 0;
  r.status = "ok";
  r.parameter_at_fault.clear();
  std::size_t worst = 0;
  if (!d.g.allFinite()) {
    r.code = -5;
    r.status = "gradient";
    return worst;
  }
  if (d.H.allFinite()) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(d.H, Eigen::EigenvaluesOnly);
    const Eigen::VectorXd ev = es.eigenvalues().reverse();  // decreasing, as R's eigen()
    r.hessian_eigenvalues.assign(ev.data(), ev.data() + ev.size());
  }
  if (is_singular(model)) {
    // lme4 checks nothing further on a boundary fit: the gradient need not vanish there.
    r.status = "singular";
    r.max_grad = d.g.cwiseAbs().maxCoeff();
    return worst;
  }
  // Scaled gradient solve(chol(H), g) = R⁻¹g with H = R'R (R = L').
  Eigen::LLT<Eigen::MatrixXd> llt(d.H);
  if (llt.info() != Eigen::Success) {
    r.code = -1;
    r.status = "gradient";
    r.max_grad = d.g.cwiseAbs().maxCoeff();
    d.g.cwiseAbs().maxCoeff(&worst);
  } else {
    const Eigen::VectorXd sc = llt.matrixU().solve(d.g);
    r.scaled_gradient.assign(sc.data(), sc.data() + n);
    const Eigen::VectorXd mingrad = sc.cwiseAbs().cwiseMin(d.g.cwiseAbs());
    Eigen::Index w = 0;
    r.max_grad = mingrad.maxCoeff(&w);
    worst = static_cast<std::size_t>(w);
    if (r.max_grad > r.tolerance) {
      r.code = -1;
      r.status = "gradient";
    }
  }
  // checkHess(): its code replaces the gradient's, as in lme4.
  if (!r.hessian_eigenvalues.empty()) {
    const auto& ev = r.hessian_eigenvalues;
    const auto negative = std::count_if(ev.begin(), ev.end(), [](double v) { return v < -kHessTol; });
    const auto zero = std::count_if(ev.begin(), ev.end(), [](double v) { return std::abs(v) < kHessTol; });
    if (negative > 0) {
      r.code = -3;
      r.status = "hessian_negative";
    } else if (zero > 0 || llt.info() != Eigen::Success) {
      r.code = -4;
      r.status = "hessian_singular";
    } else if (ev.front() * kHessTol > 1 || ev.back() / ev.front() < kHessTol) {
      if (r.code == 0) r.code = ev.front() * kHessTol > 1 ? 2 : 3;  // a warning, not a failure
    }
  } else {
    r.code = -6;
    r.status = "hessian_singular";
  }
  return worst;
}

// Newton steps x ← x - H⁻¹g from the analytic gradient and its differenced Hessian, for a fit
// that failed the check on the gradient alone (models with the analytic gradient). On very large
// data the objective's rounding noise (about 1e-12 of |f|, which grows with n) hides the decrease
// that the last steps of a line search need, so L-BFGS stops where the scaled gradient is still
// above lme4's tolerance; a Newton step needs no such decrease, only an accurate gradient. A step
// is kept only if the objective does not rise beyond that noise. d holds the derivatives at the
// model's θ on entry and on return (with keep_hessian, the gradient at the new θ and the Hessian
// from before the step). Returns the steps kept.
// max_step: a step longer than that (largest coordinate) is not taken; rise: the relative rise of
// the objective tolerated.
int newton_polish(LinearMixedModel& model, Derivatives& d, int max_steps,
                  double max_step = std::numeric_limits<double>::infinity(), double rise = 1e-10,
                  bool keep_hessian = false) {
  const detail::ThetaMap map(detail::model_state(model));
  const auto lower = model.theta_lower();
  int kept = 0;
  for (int it = 0; it < max_steps; ++it) {
    if (!d.g.allFinite() || !d.H.allFinite()) break;
    Eigen::LLT<Eigen::MatrixXd> llt(d.H);
    if (llt.info() != Eigen::Success) break;
    const Eigen::VectorXd step = llt.solve(d.g);
    if (!(step.cwiseAbs().maxCoeff() <= max_step)) break;
    const auto theta0 = model.theta();
    const double f0 = model.objective();
    std::vector<double> xn = map.from_theta(theta0);
    bool inside = true;
    for (std::size_t k = 0; k < xn.size(); ++k) {
      xn[k] -= step(static_cast<Eigen::Index>(k));
      inside = inside && xn[k] >= lower[k];
    }
    const double fn = inside ? model.set_theta(map.to_theta(xn)) : std::numeric_limits<double>::infinity();
    if (!(fn <= f0 + rise * std::abs(f0))) {
      model.set_theta(theta0);
      break;
    }
    ++kept;
    if (keep_hessian) {
      d.g = gradient(model);
    } else {
      d = derivatives(model);
    }
  }
  return kept;
}

// For a fit that failed the check on the gradient alone: Newton steps (newton_polish), kept if
// they pass the check or lower the scaled gradient. Updates r, worst and the optimizer's summary.
void try_newton_polish(LinearMixedModel& model, OptimizerSummary& optimizer, Derivatives& d, ConvergenceReport& r,
                       std::size_t& worst) {
  if (!(gradient_pays(model) && r.status == "gradient" && !r.scaled_gradient.empty() &&
        !std::isnan(r.scaled_gradient[0]) && optimizer.converged))
    return;
  const double before = r.max_grad;
  const double f_before = model.objective();
  const int steps = newton_polish(model, d, 3);
  if (steps == 0) return;
  ConvergenceReport polished = r;
  const std::size_t w = evaluate(model, d, polished);
  if (!(polished.code >= 0 || polished.max_grad < before)) {
    model.set_theta(optimizer.theta);
    return;
  }
  r = polished;
  worst = w;
  optimizer.theta = model.theta();
  optimizer.objective = model.objective();
  optimizer.stop_reason += fmt::format("; {} Newton step{} from the analytic gradient and Hessian", steps,
                                       steps == 1 ? "" : "s");
  r.messages.push_back(fmt::format(
      "the optimizer stopped where the scaled gradient was {:.3g} (above lme4's tolerance {}): {} Newton "
      "step{} from the analytic gradient and Hessian brought it to {:.3g} (the objective changed by {:+.3g})",
      before, r.tolerance, steps, steps == 1 ? "" : "s", r.max_grad, model.objective() - f_before));
}

// The last step of every fit that passes the check away from the boundary: one Newton step
// x ← x − H⁻¹g from the derivatives the check has just computed, kept where it is short (below
// 1e-3 in the conditioned coordinates) and the objective does not rise beyond its rounding noise;
// the check's figures are then those at the new point. An optimizer stops anywhere within its
// tolerance on a flat optimum (θ about 1e-7 apart for two runs on blocks A that differ by
// rounding: another order of summation, statistics merged from chunks); the step takes θ to the
// stationary point of the same derivatives up to O(|step|²), so such fits end at the same θ and
// their estimates agree to 1e-8 (tests/statistics_test.cpp).
// After the step only the gradient is evaluated again: the Hessian is the check's, from at most
// 1e-3 away in the conditioned coordinates (typically the optimizer's tolerance, 1e-5 or less),
// and serves only to scale the gradient and for the eigenvalues' verdict, which are insensitive
// to that. For deriv12 that is 2n evaluations of the objective instead of 2n² (6 instead of 18
// for InstEval's three terms).
void finishing_newton_step(LinearMixedModel& model, OptimizerSummary& optimizer, Derivatives& d,
                           ConvergenceReport& r, std::size_t& worst) {
  if (!(r.code >= 0 && r.status == "ok" && optimizer.converged)) return;
  const Derivatives before = d;
  if (newton_polish(model, d, 1, 1e-3, 1e-14, true) == 0) return;
  ConvergenceReport polished = r;
  const std::size_t w = evaluate(model, d, polished);
  if (polished.code < 0 || polished.status != "ok") {
    model.set_theta(optimizer.theta);
    d = before;
    return;
  }
  r = polished;
  worst = w;
  optimizer.theta = model.theta();
  optimizer.objective = model.objective();
}

// The check's verdict in words: why it failed, or a near-unidentifiability warning.
// `confounded`: a design that cannot identify a variance, named before the symptoms.
void explain_check(ConvergenceReport& r, const std::vector<std::string>& vnames, std::size_t worst,
                   const std::string& confounded) {
  if (!confounded.empty()) r.messages.push_back(confounded);
  if (r.code < 0) {
    if (r.status == "gradient" && !r.scaled_gradient.empty() && !std::isnan(r.scaled_gradient[0])) {
      r.messages.push_back(fmt::format(
          "convergence check failed: the scaled gradient of the objective at the optimum is {:.3g} for {} "
          "(tolerance {}; lme4 would warn \"Model failed to converge\")",
          r.max_grad, describe_theta(r, vnames, worst), r.tolerance));
    } else if (r.status == "gradient") {
      r.messages.push_back(fmt::format(
          "convergence check failed: the Hessian of the objective is not positive definite, so the gradient "
          "({:.3g} largest, for {}) cannot be scaled",
          r.max_grad, describe_theta(r, vnames, worst)));
    } else if (r.status == "hessian_negative") {
      r.messages.push_back(
          "convergence check failed: the Hessian of the objective at the optimum has negative eigenvalues, so the "
          "optimizer stopped at a saddle point or short of the minimum");
    } else {
      r.messages.push_back(
          "convergence check failed: the Hessian of the objective at the optimum is singular, so some variance "
          "parameters are not determined by the data (the likelihood is flat in some direction)");
    }
  } else if (r.code == 2 || r.code == 3) {
    r.messages.push_back(inference::eigenvalue_warning(r.hessian_eigenvalues, confounded.empty()));
  }
}

// The second optimizer's outcome in words.
void explain_second_opinion(ConvergenceReport& r, double f1, double f2, double dtheta) {
  const std::string who = r.parameter_at_fault.empty() ? "" : " (parameter at fault: " + r.parameter_at_fault + ")";
  if (r.optimizers_agree) {
    r.messages.push_back(fmt::format(
        "a second optimizer (Nelder-Mead) started from the optimum reached the same point (objective within "
        "{:.1e}, θ within {:.1e}): the estimates can be trusted; the check is sensitive to directions in which the "
        "likelihood is flat{}",
        std::abs(f2 - f1), dtheta, who));
  } else if (r.switched_to_second) {
    r.messages.push_back(fmt::format(
        "a second optimizer (Nelder-Mead) started from the optimum found a lower objective (by {:.3g}; θ moved by "
        "up to {:.3g}): lmm reports its optimum{}. If the check still fails below, simplify the random effects",
        f1 - f2, dtheta, who));
  } else {
    r.messages.push_back(fmt::format(
        "a second optimizer (Nelder-Mead) started from the optimum did not improve the objective (difference "
        "{:.3g}) but moved θ by up to {:.3g}: the likelihood is flat there{}; treat that variance parameter's "
        "estimate with caution or simplify the random effects",
        f1 - f2, dtheta, who));
  }
}

// Second opinion: Nelder-Mead (a different search strategy from BOBYQA's quadratic models) from
// the first optimizer's optimum, in the conditioned coordinates as the first optimizer
// (detail::ThetaMap); the model moves to its optimum if that is lower. Then the check again at the
// final optimum.
void second_opinion(LinearMixedModel& model, OptimizerSummary& optimizer, const FitOptions& options,
                    ConvergenceReport& r) {
  const detail::ThetaMap map(detail::model_state(model));
  const auto theta1 = model.theta();
  const auto x1 = map.from_theta(theta1);
  const double f1 = model.objective();
  const auto lower = model.theta_lower();
  std::vector<double> upper(lower.size(), std::numeric_limits<double>::infinity());
  std::vector<double> step(x1.size());
  for (std::size_t k = 0; k < step.size(); ++k) step[k] = std::max(0.1 * std::abs(x1[k]), 0.05);
  auto f = [&](const std::vector<double>& x) { return model.set_theta(map.to_theta(x)); };
  auto res = inference::minimize(f, x1, lower, upper, step, detail::NloptMethod::NelderMead, options.ftol_rel,
                                 options.xtol_abs, std::max(options.max_evaluations, 1000));
  double dtheta = 0;  // in the conditioned coordinates: unit-free
  for (std::size_t k = 0; k < x1.size(); ++k) dtheta = std::max(dtheta, std::abs(x1[k] - res.x[k]));
  res.x = map.to_theta(res.x);
  r.refitted = true;
  r.second_algorithm = detail::nlopt_name(detail::NloptMethod::NelderMead);
  r.first_objective = f1;
  r.second_objective = res.f;
  r.max_theta_difference = dtheta;
  r.optimizers_agree = std::abs(res.f - f1) < 1e-6 && dtheta < 1e-3;
  if (res.f < f1 - 1e-8) {
    r.switched_to_second = true;
    model.set_theta(res.x);
    optimizer.algorithm += " then ";
    optimizer.algorithm += r.second_algorithm;
    optimizer.evaluations += res.evaluations;
    optimizer.objective = res.f;
    optimizer.theta = res.x;
    optimizer.converged = res.converged;
    optimizer.stop_reason = res.stop_reason;
  } else {
    model.set_theta(theta1);
    if (r.optimizers_agree && !optimizer.converged) {
      optimizer.converged = true;
      optimizer.stop_reason += "; the optimum was confirmed by a second optimizer (Nelder-Mead)";
    }
  }
  explain_second_opinion(r, f1, res.f, dtheta);
  // The figures below are those at the final optimum.
  ConvergenceReport again = r;
  evaluate(model, derivatives(model), again);
  r.code = again.code;
  r.status = again.status;
  r.max_grad = again.max_grad;
  r.gradient = again.gradient;
  r.scaled_gradient = again.scaled_gradient;
  r.hessian_eigenvalues = again.hessian_eigenvalues;
  if (r.code >= 0 && !optimizer.converged && r.status != "singular") r.status = "optimizer_limit";
  if (r.code >= 0 && r.status == "ok") {
    // The story in order: the first check's failure is history, the verdict is the last line's.
    for (auto& m : r.messages)
      if (m.rfind("convergence check failed:", 0) == 0) m = "the first " + m;
    r.messages.push_back(
        fmt::format("at the final optimum the check passes (max|grad| {:.2g}): the fit converged", r.max_grad));
  }
}

}  // namespace

Eigen::MatrixXd inference::gradient_difference_hessian(LinearMixedModel& model, const detail::ThetaMap& map,
                                                       const std::vector<double>& x, const Eigen::VectorXd* g0,
                                                       double delta) {
  const auto n = static_cast<Eigen::Index>(x.size());
  auto gradient_at = [&](const std::vector<double>& y) {
    if (!std::isfinite(model.set_theta(map.to_theta(y))))
      return Eigen::VectorXd(Eigen::VectorXd::Constant(n, std::numeric_limits<double>::quiet_NaN()));
    return detail::conditioned_gradient_vector(detail::model_state(model), map, y);
  };
  Eigen::MatrixXd H(n, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    std::vector<double> a = x, s = x;
    a[static_cast<std::size_t>(j)] += delta;
    s[static_cast<std::size_t>(j)] -= delta;
    H.col(j) = g0 ? Eigen::VectorXd((gradient_at(a) - *g0) / delta)
                  : Eigen::VectorXd((gradient_at(a) - gradient_at(s)) / (2 * delta));
  }
  const Eigen::MatrixXd Ht = H.transpose();
  return (H + Ht) / 2;
}

// lme4's "very large eigenvalue" compares the largest eigenvalue with an absolute 1e6, and the
// Hessian of the objective grows with the number of rows (1.3e6 for 10 million ratings): a large,
// well-posed fit trips it. Only a small ratio of the eigenvalues (lme4's "large eigenvalue ratio")
// says that some direction of θ is poorly determined.
std::string inference::eigenvalue_warning(const std::vector<double>& ev, bool advise_scaling) {
  const double ratio = ev.back() / ev.front();
  if (ratio < kHessTol)
    return fmt::format("the model is nearly unidentifiable: the Hessian's eigenvalues range from {:.3g} to {:.3g}{}",
                       ev.back(), ev.front(), advise_scaling ? "; centring and scaling the predictors usually helps" : "");
  return fmt::format(
      "the Hessian of the objective has a large eigenvalue ({:.3g}; lme4 would warn \"very large eigenvalue\"), which "
      "grows with the number of rows; the ratio of its smallest to its largest eigenvalue ({:.3g}) shows the variance "
      "parameters are well determined",
      ev.front(), ratio);
}

ConvergenceReport check_convergence(LinearMixedModel& model, OptimizerSummary& optimizer, const FitOptions& options) {
  ConvergenceReport r;
  r.tolerance = kGradTol;
  r.theta_names = theta_names(model);
  const auto vnames = variance_parameter_names(model);
  // After Newton's method, where Satterthwaite's H is to be had (the optimizer then skipped its
  // closing Hessian), the optimizer's Hessian steers the finishing step, and the figures and
  // verdict are those of H's profiled form at the final θ, which Satterthwaite reuses.
  const detail::ModelState& state = detail::model_state(model);
  const bool varpar_after = state.optimizer_hessian.size() > 0 && detail::check_takes_varpar_hessian(state, options);
  Derivatives d = varpar_after ? Derivatives{gradient(model), state.optimizer_hessian} : derivatives(model);
  std::size_t worst = evaluate(model, d, r);
  try_newton_polish(model, optimizer, d, r, worst);
  finishing_newton_step(model, optimizer, d, r, worst);
  if (varpar_after) {
    const Eigen::MatrixXd H = detail::profiled_hessian(model);
    if (H.size() > 0 && H.allFinite()) {
      d = {gradient(model), H};
      worst = evaluate(model, d, r);
    }
  }
  const bool failed = r.code < 0;
  if (failed && r.status != "singular") r.parameter_at_fault = r.theta_names[worst];
  const std::string confounded =
      failed || r.code == 2 || r.code == 3 ? inference::confounded_grouping_advice(model.frame()) : "";
  explain_check(r, vnames, worst, confounded);
  if (!optimizer.converged) {
    r.messages.push_back("the optimizer stopped before converging (" + optimizer.stop_reason + ")");
    if (r.code >= 0 && r.status != "singular") r.status = "optimizer_limit";
  }
  if (failed || !optimizer.converged) second_opinion(model, optimizer, options, r);
  return r;
}

}  // namespace lmm
