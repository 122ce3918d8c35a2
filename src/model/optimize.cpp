// Minimising the profiled objective over θ: L-BFGS with the analytic gradient
// (src/model/single_term.cpp; several terms: src/model/multi_term.cpp) where it pays (use_lbfgs),
// else NEWUOA, or BOBYQA (as lme4) on request.
// All work in the conditioned coordinates θ̃ of ThetaMap (model_impl.h); L-BFGS and BOBYQA with
// θ̃'s diagonal bounded below by 0.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <Eigen/Cholesky>

#include "lmm/error.h"
#include "inference/varpar.h"
#include "model/model_access.h"
#include "model/multi_term.h"
#include "util/nlopt_driver.h"

namespace lmm {

namespace {

using detail::NloptMethod;
using detail::NloptOutcome;

struct OptContext {
  OptContext(LinearMixedModel* m, const detail::ThetaMap* tm, const FitOptions* o, const std::vector<double>* lo)
      : model(m), map(tm), options(o), lower(lo) {}
  LinearMixedModel* model;
  const detail::ThetaMap* map;
  const FitOptions* options;
  const std::vector<double>* lower;
  int evaluations = 0;
  std::vector<double> x;
  std::vector<double> best_x;  // the lowest point seen (an optimizer's last point need not be it)
  double best_f = std::numeric_limits<double>::infinity();
  // L-BFGS: the projected gradient's largest entry at the best point.
  double best_pg = std::numeric_limits<double>::infinity();
  // L-BFGS was stopped at a point whose projected gradient met gradient_tolerance(); its objective
  // can be above best_f by rounding noise, which leaves best_pg at an earlier point's.
  bool gradient_stop = false;
};

// Where the objective's rounding noise (about 1e-12 relative) swamps the decrease a step can
// make, L-BFGS's line search fails instead of stopping; a projected gradient this small means
// the optimum is reached to within far less than the reference tolerances.
double gradient_tolerance(double f) { return 1e-6 * std::sqrt(std::max(1.0, std::abs(f))); }

// The model is left at the last point evaluated, ctx.x: asked for that point again (an
// optimizer's first point after the moment start, which starting_point() evaluated last), the
// objective is the model's own and the factor is not formed a second time.
double evaluate(OptContext& ctx, std::size_t n, const double* x) {
  if (!ctx.x.empty() && ctx.x.size() == n && std::equal(x, x + n, ctx.x.begin())) return ctx.model->objective();
  ctx.x.assign(x, x + n);
  ++ctx.evaluations;
  const double f = ctx.model->set_theta(ctx.map->to_theta(ctx.x));
  if (f < ctx.best_f) {
    ctx.best_f = f;
    ctx.best_x = ctx.x;
  }
  if (ctx.options->progress) ctx.options->progress(ctx.evaluations, ctx.best_f);
  return f;
}

double derivative_free_objective(OptContext& ctx, std::size_t n, const double* x) {
  const double f = evaluate(ctx, n, x);
  // BOBYQA's quadratic model cannot digest infinities: a failed factor is a very bad point.
  return std::isfinite(f) ? f : 1e300;
}

double lbfgs_objective(OptContext& ctx, std::size_t n, const double* x, double* grad, bool& stop) {
  const double f = evaluate(ctx, n, x);
  if (!std::isfinite(f)) {
    if (grad) std::fill(grad, grad + n, 0.0);
    return 1e300;
  }
  if (grad) {
    const auto g = detail::conditioned_gradient(detail::model_state(*ctx.model), *ctx.map, ctx.x);
    std::copy(g.begin(), g.end(), grad);
    // Projected gradient: a component pushing against its bound does not count.
    double pg = 0;
    for (std::size_t k = 0; k < n; ++k)
      if (!(x[k] <= (*ctx.lower)[k] && g[k] > 0)) pg = std::max(pg, std::abs(g[k]));
    if (f <= ctx.best_f) ctx.best_pg = pg;
    if (pg <= gradient_tolerance(f)) stop = ctx.gradient_stop = true;
  }
  return f;
}

// L-BFGS's box for the residual structure's parameters η (θ's values after the terms'), |η| ≤
// kResidualBox: its first step follows the gradient, whose η entries at the start (φ = 0) can be
// large enough to step to where R(η) is singular in floating point (tanh(η) = 1 beyond η ≈ 19), where
// the objective is infinite and the line search, halving its step from there, runs out of tries
// (100,000 persons x 10 waves: a step to η = 475,865). Inside the box φ = tanh(15) is 1 - 2e-13;
// an optimum on its edge is finished by BOBYQA without it (lbfgs_then_bobyqa).
constexpr double kResidualBox = 15;

void residual_box(const LinearMixedModel& model, std::vector<double>& lower, std::vector<double>& upper) {
  const std::size_t k0 = model.ntheta_random(), n = lower.size();
  if (k0 >= n) return;
  upper.assign(n, std::numeric_limits<double>::infinity());
  for (std::size_t k = k0; k < n; ++k) {
    lower[k] = -kResidualBox;
    upper[k] = kResidualBox;
  }
}

NloptOutcome run(NloptMethod method, OptContext& ctx, std::vector<double>& x, double initial_step) {
  const FitOptions& o = *ctx.options;
  detail::NloptSettings s;
  s.method = method;
  if (method != NloptMethod::NEWUOA) s.lower = *ctx.lower;
  if (method == NloptMethod::LBFGS) {
    residual_box(*ctx.model, s.lower, s.upper);
    for (std::size_t k = ctx.model->ntheta_random(); k < s.upper.size(); ++k)  // a caller's start outside it
      x[k] = std::clamp(x[k], -kResidualBox, kResidualBox);
  }
  s.ftol_rel = o.ftol_rel;
  s.xtol_abs = o.xtol_abs;
  s.max_evaluations = std::max(1, o.max_evaluations - ctx.evaluations);
  if (method != NloptMethod::LBFGS) s.initial_step.assign(x.size(), initial_step);
  const std::size_t n = x.size();
  if (method == NloptMethod::LBFGS)
    return detail::nlopt_minimize(
        s, [&](const double* p, double* grad, bool& stop) { return lbfgs_objective(ctx, n, p, grad, stop); }, x);
  return detail::nlopt_minimize(
      s, [&](const double* p, double*, bool&) { return derivative_free_objective(ctx, n, p); }, x);
}

// Starts at lme4's start in the conditioned coordinates, or at the caller's θ mapped into them;
// for L-BFGS and NEWUOA at the moment estimate instead where it is lower (on a crossed design
// NEWUOA then needs half the evaluations). BOBYQA, asked for to reproduce lme4, starts as lme4.
// Newton's method (`moment_only`) takes the moment estimate without evaluating lme4's start (it
// takes lme4's start where the objective is not finite at the moment estimate): Newton descends
// from wherever it starts, and for the designs Auto gives it (crossed, scalar terms) the moment
// start is the closer one (InstEval's ML deviance 2.9 above the optimum against 4,353 at lme4's
// start; the 10M ratings' REML criterion 6 above), while lme4's start costs an evaluation (12 ms
// on InstEval, 5 s on the 10M ratings set).
std::vector<double> starting_point(const LinearMixedModel& model, const detail::ThetaMap& map, OptContext& ctx,
                                   bool moment_only) {
  const FitOptions& options = *ctx.options;
  std::vector<double> x = options.theta_start.empty() ? model.theta_start() : map.from_theta(options.theta_start);
  if (options.optimizer != Optimizer::BOBYQA && options.theta_start.empty() && options.moment_start) {
    const std::vector<detail::Mat> cov = detail::model_state(model).moment_covariance();
    if (!cov.empty()) {
      std::vector<double> xm = map.from_covariance(cov);
      // θ's residual-structure values (after the terms') start where lme4's start has them.
      if (!xm.empty() && xm.size() < x.size()) xm.insert(xm.end(), x.begin() + static_cast<std::ptrdiff_t>(xm.size()), x.end());
      if (moment_only) return std::isfinite(evaluate(ctx, xm.size(), xm.data())) ? xm : x;
      evaluate(ctx, x.size(), x.data());
      const double f0 = ctx.best_f;
      if (evaluate(ctx, xm.size(), xm.data()) < f0) x = std::move(xm);
    }
  }
  return x;
}

struct RunResult {
  NloptOutcome outcome;
  bool by_gradient = false;  // L-BFGS stopped short of its tolerances with a negligible gradient
  bool converged() const { return by_gradient || outcome.by_tolerance(); }
};

// L-BFGS, finished by BOBYQA where needed; leaves x at the best point seen.
RunResult lbfgs_then_bobyqa(OptContext& ctx, std::vector<double>& x, OptimizerSummary& s) {
  const std::vector<double>& lower = *ctx.lower;
  RunResult r;
  s.algorithm = detail::nlopt_name(NloptMethod::LBFGS);
  r.outcome = run(NloptMethod::LBFGS, ctx, x, ctx.options->initial_step);
  if (!ctx.best_x.empty()) x = ctx.best_x;
  const bool gradient_small = ctx.gradient_stop || ctx.best_pg <= 10 * gradient_tolerance(ctx.best_f);
  r.by_gradient = !r.outcome.by_tolerance() && gradient_small;
  // BOBYQA from L-BFGS's best point finishes the fit when L-BFGS stopped short of its
  // tolerances (its line search can fail near the optimum), and when a diagonal element of λ̃ is
  // at its bound 0: there the gradient with respect to that element vanishes whatever the
  // curvature (λλ' does not change to first order), so L-BFGS cannot tell a singular optimum
  // from a saddle, and BOBYQA's interpolation model can.
  bool at_bound = false;
  for (std::size_t k = 0; k < x.size(); ++k)
    if ((lower[k] == 0.0 && x[k] < 1e-3) || (k >= ctx.model->ntheta_random() && std::abs(x[k]) > kResidualBox - 1e-3))
      at_bound = true;
  const bool short_stop = !r.outcome.by_tolerance() && !r.outcome.max_evaluations_reached() && !gradient_small;
  if ((short_stop || at_bound) && ctx.evaluations < ctx.options->max_evaluations) {
    s.algorithm += '+';
    s.algorithm += detail::nlopt_name(NloptMethod::BOBYQA);
    r.outcome = run(NloptMethod::BOBYQA, ctx, x, at_bound ? 0.1 : 1e-3);
    r.by_gradient = false;
    if (!ctx.best_x.empty()) x = ctx.best_x;
  }
  return r;
}

// Newton's method for a crossed design of two or three scalar terms, where one evaluation costs
// seconds (large dense tails: on the 10M ratings set, 10,000 items, about 5 s for the objective
// and 15-20 s for the gradient) and the moment start is close to the optimum. The Hessian is formed
// at the start, and once more where the step has shrunk below kNear (so that the convergence check
// can take it); BFGS updates keep it current between. It is the exact one where Satterthwaite's
// derivatives are analytic (detail::varpar_analytic: Ṽ⁻¹'s parts within VinvParts's limits;
// detail::profiled_hessian), whatever the df asked for, else from forward differences of the
// analytic gradient (n evaluations and gradients). On InstEval (ML) the exact one is one VinvParts,
// 35-50 ms, where the differences took 3 evaluations and gradients, about 80 ms; it agrees with the
// differences to 0.1%, and the fit takes the same 3 steps to the same optimum (7 evaluations with
// gradients -> 4; logLik equal to 16 digits, θ within 3e-9). A step is halved until the objective
// falls by Armijo's condition; a Hessian that is not positive definite, a step across a bound, a
// start near the boundary or a line search that fails hands the fit, from its best point, to
// L-BFGS (lbfgs_then_bobyqa). Stops as L-BFGS does on the gradient (gradient_tolerance), or where
// the Newton decrement g'H⁻¹g/2 is below ftol_rel |f|; the convergence check's finishing Newton
// step then lands on the stationary point. Without `closing_hessian` (where the check is to take
// the Hessian from Satterthwaite's H at the optimum, detail::profiled_hessian, which Satterthwaite
// then reuses), the Hessian from the start and the BFGS updates steer to the end. Measured
// (evaluations; evaluations with a gradient), with differences:
//   10M ratings (REML): default start, moment start, 2 differences, a step, 2 differences, a step:
//     8 and 7, 147 s; L-BFGS 12 and 11, 240 s, of which 4 to come back from its first step, the
//     raw gradient (1,134 in θ for the item term); the check then 1 evaluation and gradient
//     instead of 3 and 4 (it takes the Hessian above);
//   400,000 ratings (20,000 users x 2,000 items): 8 and 7, 1.1 s with the check; L-BFGS 11, 2.4 s.
constexpr double kNewtonDelta = 1e-4;  // the differences' step, in the conditioned coordinates
constexpr int kNewtonSteps = 20;
constexpr double kNear = detail::ModelState::hessian_reach;  // a Hessian formed this close serves the check

Eigen::VectorXd gradient_here(const OptContext& ctx) {
  return detail::conditioned_gradient_vector(detail::model_state(*ctx.model), *ctx.map, ctx.x);
}

struct NewtonOutcome {
  bool converged = false;
  std::string reason;  // why it stopped, where it converged
  Eigen::MatrixXd hessian;   // the last, formed at hessian_at and updated by BFGS since
  std::vector<double> hessian_at;
};

// The Hessian at x, where the model is (evaluated there, with its gradient g): exact where
// `analytic`, else from differences of the gradient, column j from x + δe_j.
bool newton_hessian(OptContext& ctx, const std::vector<double>& x, const Eigen::VectorXd& g, bool analytic,
                    Eigen::MatrixXd& H) {
  if (analytic) {
    H = detail::profiled_hessian(*ctx.model);
    if (H.size() > 0 && H.allFinite()) return true;
  }
  const auto n = static_cast<Eigen::Index>(x.size());
  H.resize(n, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    std::vector<double> xj = x;
    xj[static_cast<std::size_t>(j)] += kNewtonDelta;
    if (!std::isfinite(evaluate(ctx, xj.size(), xj.data()))) return false;
    H.col(j) = (gradient_here(ctx) - g) / kNewtonDelta;
  }
  H = ((H + H.transpose()) / 2).eval();
  return true;
}

NewtonOutcome newton(OptContext& ctx, std::vector<double>& x, bool closing_hessian) {
  const bool analytic = detail::varpar_analytic(detail::model_state(*ctx.model));
  const NewtonOutcome hand_over;
  const auto n = static_cast<Eigen::Index>(x.size());
  const std::vector<double>& lower = *ctx.lower;
  for (Eigen::Index k = 0; k < n; ++k)
    if (lower[k] == 0.0 && x[k] < 1e-3) return hand_over;  // near the boundary
  double f = evaluate(ctx, x.size(), x.data());
  if (!std::isfinite(f)) return hand_over;
  Eigen::VectorXd g = gradient_here(ctx);
  NewtonOutcome done{true, "projected gradient below tolerance", {}, {}};
  Eigen::MatrixXd& H = done.hessian;
  if (!newton_hessian(ctx, x, g, analytic, H)) return hand_over;
  done.hessian_at = x;
  for (int it = 0; it < kNewtonSteps && ctx.evaluations < ctx.options->max_evaluations; ++it) {
    if (g.cwiseAbs().maxCoeff() <= gradient_tolerance(f)) return done;
    Eigen::LLT<Eigen::MatrixXd> llt(H);
    if (llt.info() != Eigen::Success) return hand_over;
    Eigen::VectorXd p = -llt.solve(g);
    // Close to the optimum with a Hessian from further away: formed again here, so that the
    // convergence check can take this one (within kNear of its point).
    double from_h = 0;
    for (Eigen::Index k = 0; k < n; ++k) from_h = std::max(from_h, std::abs(x[k] - done.hessian_at[k]));
    if (closing_hessian && p.cwiseAbs().maxCoeff() <= kNear && from_h > kNear) {
      if (!newton_hessian(ctx, x, g, analytic, H)) return hand_over;
      done.hessian_at = x;
      llt.compute(H);
      if (llt.info() != Eigen::Success) return hand_over;
      p = -llt.solve(g);
    }
    const double slope = g.dot(p);  // -g'H⁻¹g < 0
    if (!(slope < 0)) return hand_over;
    if (-slope / 2 <= ctx.options->ftol_rel * std::abs(f)) {
      done.reason = "Newton decrement below ftol_rel";
      return done;
    }
    for (Eigen::Index k = 0; k < n; ++k)
      if (x[k] + p(k) < lower[k]) return hand_over;
    double alpha = 1, fn = f;
    std::vector<double> xn(x.size());
    bool accepted = false;
    for (int halving = 0; halving < 8 && !accepted; ++halving, alpha /= 2) {
      for (Eigen::Index k = 0; k < n; ++k) xn[k] = x[k] + alpha * p(k);
      fn = evaluate(ctx, xn.size(), xn.data());
      accepted = std::isfinite(fn) && fn <= f + 1e-4 * alpha * slope;
    }
    if (!accepted) {
      // The objective's rounding noise can hide the last decrease (as for L-BFGS).
      if (g.cwiseAbs().maxCoeff() <= 10 * gradient_tolerance(f)) {
        done.reason = "projected gradient below tolerance (the objective no longer decreased)";
        return done;
      }
      return hand_over;
    }
    const Eigen::VectorXd gn = gradient_here(ctx);
    // BFGS: H s = y for the step taken, where the curvature along it is positive.
    const Eigen::VectorXd step = Eigen::Map<const Eigen::VectorXd>(xn.data(), n) - Eigen::Map<const Eigen::VectorXd>(x.data(), n);
    const Eigen::VectorXd y = gn - g;
    const double sy = step.dot(y);
    if (sy > 0) {
      const Eigen::VectorXd Hs = H * step;
      H += y * y.transpose() / sy - Hs * Hs.transpose() / step.dot(Hs);
    }
    x = xn;
    f = fn;
    g = gn;
  }
  return g.cwiseAbs().maxCoeff() <= gradient_tolerance(f) ? done : hand_over;
}

// L-BFGS with the analytic gradient where the model has it and it pays (Auto), or where asked for.
// With several terms the gradient (src/model/multi_term.cpp) costs, where a term's block fills in
// (crossed factors), the tail's L⁻¹ (dtrtri, m³/3 as the factorisation's dpotrf) and a gather
// ‖L_t⁻¹X̃‖² of about m/2 operations per entry of the first term's column (or Σ_t in full and a
// scatter, whichever is cheaper: linalg's diagonal_block_sums_cost); and one to eight evaluations
// where the levels are block-diagonal (nested). NEWUOA needs few evaluations for two or three
// scalar terms and many more for vector-valued ones. Measured (CPU seconds of the optimizer, 2 cores
// shared with other jobs; evaluations; one evaluation and one gradient at the optimum):
//   InstEval ML, (1 | s) + (1 | d) + (1 | dept), dense 1,142 rows: 20 ms and 27 ms (CPU, one
//     thread; 60 ms with dpotri and the scatter, 190 ms before the trace identity); NEWUOA 50
//     evaluations, L-BFGS 14; REML: NEWUOA 42, L-BFGS 15;
//   ratings 1,000,000 x 10,000 items: 8.2 s and 11.9 s (CPU, two threads); L-BFGS 11;
//   InstEval ML, (1 | s) + (1 + service | d), dense 2,256 rows: NEWUOA 46 7.5 s, L-BFGS 19 9.4 s
//     (with the older gradient);
//   crossed 1,000 x 500 (100,000 rows, balanced: the grouped downdate makes an evaluation cheap):
//     3.0 ms and 7.3 ms; NEWUOA 24 0.11 s, L-BFGS 10;
//   y ~ x + (1 | school/class) (80,000 rows): NEWUOA 26 0.003 s, L-BFGS 9 0.014 s;
//     (1 | pupil) + (1 | class) + (1 | school): NEWUOA 36 0.05 s, L-BFGS 9 0.11 s;
//   (time | pupil) + (1 | school): 24 ms and 34 ms; NEWUOA 76 1.92 s, L-BFGS 18 0.63 s;
//     (time | pupil) + (1 | class) + (1 | school): NEWUOA 90 2.82 s, L-BFGS 20 1.12 s.
// So Auto takes L-BFGS for several terms when no term's block fills in and θ has at least four
// values (a vector-valued term), and for a crossed design whose gradient is estimated at two
// evaluations or less (crossed_gradient_cost), where with two or three scalar terms Newton's
// method above runs first (use_newton); NEWUOA otherwise.
bool use_lbfgs(const detail::ModelState& m, Optimizer o) {
  if (o == Optimizer::BOBYQA || o == Optimizer::NEWUOA || !m.has_gradient()) return false;
  if (o == Optimizer::LBFGS || o == Optimizer::Newton || m.K == 1) return true;
  // A crossed design: L-BFGS's evaluations and gradients (14 on InstEval, 10 on the crossed 1,000 x
  // 500 design) against NEWUOA's evaluations (50 and 24) where a gradient costs at most two.
  constexpr double kCheapGradient = 2;
  return (detail::dense_term_rows(m) == 0 && m.theta.size() >= 4) || detail::crossed_gradient_cost(m) <= kCheapGradient;
}

// Newton (above) where asked for, and for a crossed design of two or three scalar terms that Auto
// fits with the gradient (use_lbfgs), from the moment start.
bool use_newton(const detail::ModelState& m, const FitOptions& o) {
  if (o.optimizer == Optimizer::Newton) return true;
  if (o.optimizer != Optimizer::Auto || !o.theta_start.empty() || !o.moment_start || m.K > 3) return false;
  for (int j = 0; j < m.K; ++j)
    if (m.q[j] != 1) return false;
  return detail::dense_term_rows(m) > 0 && std::isfinite(detail::crossed_gradient_cost(m));
}

}  // namespace

OptimizerSummary LinearMixedModel::fit(const FitOptions& options) {
  impl_->require_cross_products("LinearMixedModel::fit");
  if (impl_->method != options.method) impl_->mark_stale();  // the objective differs at every θ
  impl_->method = options.method;
  impl_->optimizer_hessian.resize(0, 0);  // a previous fit's
  impl_->hessian_at.clear();
  const detail::ThetaMap map(*impl_);
  if (!options.theta_start.empty() && options.theta_start.size() != ntheta())
    throw Error("FitOptions::theta_start has " + std::to_string(options.theta_start.size()) +
                " values; the model has " + std::to_string(ntheta()));
  const bool lbfgs = use_lbfgs(*impl_, options.optimizer);
  const std::vector<double> lower = theta_lower();
  OptContext ctx(this, &map, &options, &lower);
  const bool newton_first = lbfgs && use_newton(*impl_, options);
  std::vector<double> x = starting_point(*this, map, ctx, newton_first);

  OptimizerSummary s;
  RunResult r;
  NewtonOutcome newton_run;
  if (newton_first) {
    // Without a closing Hessian only where the check's Hessian is to be exact and cheap
    // (varpar_analytic). From differences of the gradient (beyond VinvParts's limits) it costs 2n
    // gradients at the final θ, and Newton's decrement from the BFGS-updated Hessian of the start
    // stops short there (10M ratings: scaled gradient 0.006, then 3 polishing steps in the check).
    const bool exact_hessian_after = detail::check_takes_varpar_hessian(*impl_, options) && detail::varpar_analytic(*impl_);
    newton_run = newton(ctx, x, !exact_hessian_after);
    if (!newton_run.converged) {
      if (!ctx.best_x.empty()) x = ctx.best_x;
      r = lbfgs_then_bobyqa(ctx, x, s);
      s.algorithm = "Newton, then " + s.algorithm;
    }
  } else if (lbfgs) {
    r = lbfgs_then_bobyqa(ctx, x, s);
  } else {
    // NEWUOA, Powell's unconstrained predecessor of BOBYQA, needs no bounds here: the objective
    // depends on each λ̃ only through λ̃λ̃', unchanged when a column changes sign, and to_theta
    // returns λ with a non-negative diagonal whatever the signs of x. Without the bound it does
    // not crawl along θ = 0 and, on crossed designs, needs about half of BOBYQA's evaluations.
    // (NEWUOA needs at least 2 parameters: a gls with one structure parameter gets BOBYQA.)
    const NloptMethod method =
        options.optimizer != Optimizer::BOBYQA && x.size() >= 2 ? NloptMethod::NEWUOA : NloptMethod::BOBYQA;
    s.algorithm = detail::nlopt_name(method);
    r.outcome = run(method, ctx, x, options.initial_step);
  }
  s.evaluations = ctx.evaluations;
  if (newton_run.converged) {
    impl_->optimizer_hessian = newton_run.hessian;
    impl_->hessian_at = newton_run.hessian_at;
    s.algorithm = "Newton";
    s.stop_reason = newton_run.reason;
    s.converged = true;
  } else {
    s.stop_reason = r.by_gradient ? "projected gradient below tolerance" : r.outcome.describe();
    s.converged = r.converged();
  }
  if (!r.by_gradient && r.outcome.failed() && ctx.x.empty())
    throw Error("the optimizer failed before evaluating the objective: " + s.stop_reason);
  // Leave the model at the optimum (the last point evaluated need not be it; where it is,
  // set_theta() finds the factor formed there already).
  s.theta = map.to_theta(x);
  s.objective = set_theta(s.theta);
  return s;
}

}  // namespace lmm
