// Minimising the profiled objective over θ: L-BFGS with the analytic gradient
// (src/model/single_term.cpp) where the model has it, else NEWUOA, or BOBYQA (as lme4) on request.
// All work in the conditioned coordinates θ̃ of ThetaMap (model_impl.h); L-BFGS and BOBYQA with
// θ̃'s diagonal bounded below by 0.
#include <nlopt.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "lmm/error.h"
#include "model/model_impl.h"

namespace lmm {

namespace {

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
  // L-BFGS: the projected gradient's largest entry at the best point, and the optimizer to stop.
  double best_pg = std::numeric_limits<double>::infinity();
  nlopt_opt opt = nullptr;
};

// Where the objective's rounding noise (about 1e-12 relative) swamps the decrease a step can
// make, L-BFGS's line search fails instead of stopping; a projected gradient this small means
// the optimum is reached to within far less than the reference tolerances.
double gradient_tolerance(double f) { return 1e-6 * std::sqrt(std::max(1.0, std::abs(f))); }

double evaluate(OptContext& ctx, unsigned n, const double* x) {
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

double bobyqa_objective(unsigned n, const double* x, double* /*grad*/, void* data) {
  const double f = evaluate(*static_cast<OptContext*>(data), n, x);
  // BOBYQA's quadratic model cannot digest infinities: a failed factor is a very bad point.
  return std::isfinite(f) ? f : 1e300;
}

double lbfgs_objective(unsigned n, const double* x, double* grad, void* data) {
  auto& ctx = *static_cast<OptContext*>(data);
  const double f = evaluate(ctx, n, x);
  if (!std::isfinite(f)) {
    if (grad) std::fill(grad, grad + n, 0.0);
    return 1e300;
  }
  if (grad) {
    const auto g = ctx.map->gradient_conditioned(ctx.x, ctx.model->impl().gradient_full());
    std::copy(g.begin(), g.end(), grad);
    // Projected gradient: a component pushing against its bound does not count.
    double pg = 0;
    for (unsigned k = 0; k < n; ++k)
      if (!(x[k] <= (*ctx.lower)[k] && g[k] > 0)) pg = std::max(pg, std::abs(g[k]));
    if (f <= ctx.best_f) ctx.best_pg = pg;
    if (pg <= gradient_tolerance(f) && ctx.opt) nlopt_force_stop(ctx.opt);
  }
  return f;
}

std::string describe(nlopt_result r) {
  switch (r) {
    case NLOPT_SUCCESS: return "success";
    case NLOPT_STOPVAL_REACHED: return "stopval reached";
    case NLOPT_FTOL_REACHED: return "ftol_rel reached";
    case NLOPT_XTOL_REACHED: return "xtol reached";
    case NLOPT_MAXEVAL_REACHED: return "maximum number of evaluations reached";
    case NLOPT_MAXTIME_REACHED: return "time limit reached";
    case NLOPT_FAILURE: return "generic failure";
    case NLOPT_INVALID_ARGS: return "invalid arguments";
    case NLOPT_OUT_OF_MEMORY: return "out of memory";
    case NLOPT_ROUNDOFF_LIMITED: return "roundoff limited";
    case NLOPT_FORCED_STOP: return "forced stop";
    default: return "unknown status " + std::to_string(static_cast<int>(r));
  }
}

bool stopped_by_tolerance(nlopt_result r) {
  return r == NLOPT_SUCCESS || r == NLOPT_FTOL_REACHED || r == NLOPT_XTOL_REACHED || r == NLOPT_ROUNDOFF_LIMITED;
}

nlopt_result run(nlopt_algorithm algorithm, nlopt_func f, OptContext& ctx, const std::vector<double>& lower,
                 std::vector<double>& x, double initial_step) {
  const FitOptions& o = *ctx.options;
  nlopt_opt opt = nlopt_create(algorithm, static_cast<unsigned>(x.size()));
  ctx.opt = opt;
  if (algorithm != NLOPT_LN_NEWUOA) nlopt_set_lower_bounds(opt, lower.data());
  nlopt_set_min_objective(opt, f, &ctx);
  nlopt_set_ftol_rel(opt, o.ftol_rel);
  nlopt_set_xtol_abs1(opt, o.xtol_abs);
  nlopt_set_maxeval(opt, std::max(1, o.max_evaluations - ctx.evaluations));
  if (algorithm != NLOPT_LD_LBFGS) nlopt_set_initial_step1(opt, initial_step);
  double minf = 0;
  const nlopt_result r = nlopt_optimize(opt, x.data(), &minf);
  ctx.opt = nullptr;
  nlopt_destroy(opt);
  return r;
}

}  // namespace

OptimizerSummary LinearMixedModel::fit(const FitOptions& options) {
  impl_->method = options.method;
  const detail::ThetaMap map(*impl_);
  if (!options.theta_start.empty() && options.theta_start.size() != ntheta())
    throw Error("theta_start has " + std::to_string(options.theta_start.size()) + " values; the model has " +
                std::to_string(ntheta()));
  const bool lbfgs = options.optimizer != Optimizer::BOBYQA && impl_->has_gradient();
  const std::vector<double> lower = theta_lower();
  OptContext ctx(this, &map, &options, &lower);

  // Start at lme4's start in the conditioned coordinates, or at the caller's θ mapped into them;
  // for L-BFGS and NEWUOA at the moment estimate instead where it is lower (on a crossed design
  // NEWUOA then needs half the evaluations). BOBYQA, asked for to reproduce lme4, starts as lme4.
  std::vector<double> x = options.theta_start.empty() ? theta_start() : map.from_theta(options.theta_start);
  if (options.optimizer != Optimizer::BOBYQA && options.theta_start.empty() && options.moment_start) {
    const std::vector<detail::Mat> cov = impl_->moment_covariance();
    if (!cov.empty()) {
      std::vector<double> xm = map.from_covariance(cov);
      evaluate(ctx, static_cast<unsigned>(x.size()), x.data());
      const double f0 = ctx.best_f;
      if (evaluate(ctx, static_cast<unsigned>(xm.size()), xm.data()) < f0) x = std::move(xm);
    }
  }

  OptimizerSummary s;
  nlopt_result r;
  bool by_gradient = false;
  if (lbfgs) {
    s.algorithm = "NLOPT_LD_LBFGS";
    r = run(NLOPT_LD_LBFGS, lbfgs_objective, ctx, lower, x, options.initial_step);
    if (!ctx.best_x.empty()) x = ctx.best_x;
    const bool gradient_small = ctx.best_pg <= 10 * gradient_tolerance(ctx.best_f);
    if (!stopped_by_tolerance(r) && gradient_small) {
      r = NLOPT_SUCCESS;
      by_gradient = true;
    }
    // BOBYQA from L-BFGS's best point finishes the fit when L-BFGS stopped short of its
    // tolerances (its line search can fail near the optimum), and when a diagonal element of λ̃ is
    // at its bound 0: there the gradient with respect to that element vanishes whatever the
    // curvature (λλ' does not change to first order), so L-BFGS cannot tell a singular optimum
    // from a saddle, and BOBYQA's interpolation model can.
    bool at_bound = false;
    for (std::size_t k = 0; k < x.size(); ++k)
      if (lower[k] == 0.0 && x[k] < 1e-3) at_bound = true;
    const bool short_stop = !stopped_by_tolerance(r) && r != NLOPT_MAXEVAL_REACHED && !gradient_small;
    if ((short_stop || at_bound) && ctx.evaluations < options.max_evaluations) {
      s.algorithm += "+NLOPT_LN_BOBYQA";
      r = run(NLOPT_LN_BOBYQA, bobyqa_objective, ctx, lower, x, at_bound ? 0.1 : 1e-3);
      by_gradient = false;
      if (!ctx.best_x.empty()) x = ctx.best_x;
    }
  } else {
    // NEWUOA, Powell's unconstrained predecessor of BOBYQA, needs no bounds here: the objective
    // depends on each λ̃ only through λ̃λ̃', unchanged when a column changes sign, and to_theta
    // returns λ with a non-negative diagonal whatever the signs of x. Without the bound it does
    // not crawl along θ = 0 and, on crossed designs, needs about half of BOBYQA's evaluations.
    const bool newuoa = options.optimizer != Optimizer::BOBYQA;
    s.algorithm = newuoa ? "NLOPT_LN_NEWUOA" : "NLOPT_LN_BOBYQA";
    r = run(newuoa ? NLOPT_LN_NEWUOA : NLOPT_LN_BOBYQA, bobyqa_objective, ctx, lower, x, options.initial_step);
  }
  s.evaluations = ctx.evaluations;
  s.stop_reason = by_gradient ? "projected gradient below tolerance" : describe(r);
  s.converged = stopped_by_tolerance(r);
  if (r < 0 && r != NLOPT_ROUNDOFF_LIMITED && ctx.x.empty())
    throw Error("the optimizer failed before evaluating the objective: " + s.stop_reason);
  // Leave the model at the optimum (the last point evaluated need not be it).
  s.theta = map.to_theta(x);
  s.objective = set_theta(s.theta);
  return s;
}

}  // namespace lmm
