#include "util/nlopt_driver.h"

#include <nlopt.h>

namespace lmm::detail {

namespace {

nlopt_algorithm algorithm(NloptMethod m) {
  switch (m) {
    case NloptMethod::LBFGS: return NLOPT_LD_LBFGS;
    case NloptMethod::NEWUOA: return NLOPT_LN_NEWUOA;
    case NloptMethod::NelderMead: return NLOPT_LN_NELDERMEAD;
    case NloptMethod::BOBYQA: break;
  }
  return NLOPT_LN_BOBYQA;
}

struct Run {
  const NloptObjective* f;
  nlopt_opt opt;
};

double trampoline(unsigned /*n*/, const double* x, double* grad, void* data) {
  auto* run = static_cast<Run*>(data);
  bool stop = false;
  const double v = (*run->f)(x, grad, stop);
  if (stop) nlopt_force_stop(run->opt);
  return v;
}

}  // namespace

bool NloptOutcome::by_tolerance() const {
  return status == NLOPT_SUCCESS || status == NLOPT_FTOL_REACHED || status == NLOPT_XTOL_REACHED ||
         status == NLOPT_ROUNDOFF_LIMITED;
}

bool NloptOutcome::max_evaluations_reached() const { return status == NLOPT_MAXEVAL_REACHED; }

bool NloptOutcome::failed() const { return status < 0 && status != NLOPT_ROUNDOFF_LIMITED; }

std::string NloptOutcome::describe() const {
  switch (static_cast<nlopt_result>(status)) {
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
    default: return "unknown status " + std::to_string(status);
  }
}

NloptOutcome nlopt_minimize(const NloptSettings& s, const NloptObjective& f, std::vector<double>& x) {
  Run run{&f, nlopt_create(algorithm(s.method), static_cast<unsigned>(x.size()))};
  if (!s.lower.empty()) nlopt_set_lower_bounds(run.opt, s.lower.data());
  if (!s.upper.empty()) nlopt_set_upper_bounds(run.opt, s.upper.data());
  nlopt_set_min_objective(run.opt, trampoline, &run);
  nlopt_set_ftol_rel(run.opt, s.ftol_rel);
  nlopt_set_xtol_abs1(run.opt, s.xtol_abs);
  nlopt_set_maxeval(run.opt, s.max_evaluations);
  if (!s.initial_step.empty()) nlopt_set_initial_step(run.opt, s.initial_step.data());
  double minf = 0;
  const nlopt_result r = nlopt_optimize(run.opt, x.data(), &minf);
  nlopt_destroy(run.opt);
  return {static_cast<int>(r)};
}

std::string nlopt_name(NloptMethod method) {
  switch (method) {
    case NloptMethod::LBFGS: return "NLOPT_LD_LBFGS";
    case NloptMethod::NEWUOA: return "NLOPT_LN_NEWUOA";
    case NloptMethod::NelderMead: return "NLOPT_LN_NELDERMEAD";
    case NloptMethod::BOBYQA: break;
  }
  return "NLOPT_LN_BOBYQA";
}

}  // namespace lmm::detail
