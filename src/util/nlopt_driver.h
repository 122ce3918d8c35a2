// The one driver of NLopt's local optimizers: the model's fit (src/model/optimize.cpp) and the
// inference code's bounded minimisations (src/inference/internal.cpp) both run through it. Not a
// public header; keeps <nlopt.h> out of its callers.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace lmm::detail {

enum class NloptMethod {
  LBFGS,       ///< NLOPT_LD_LBFGS, with the gradient
  BOBYQA,      ///< NLOPT_LN_BOBYQA
  NEWUOA,      ///< NLOPT_LN_NEWUOA (ignores bounds: none are set)
  NelderMead,  ///< NLOPT_LN_NELDERMEAD
};

struct NloptSettings {
  NloptMethod method = NloptMethod::BOBYQA;
  std::vector<double> lower, upper;  ///< bounds; empty: none
  /// Per coordinate; empty: NLopt's own choice (gradient methods use none).
  std::vector<double> initial_step;
  double ftol_rel = 1e-12;
  double xtol_abs = 1e-10;
  int max_evaluations = 100000;
};

/// f(x, grad, stop): the objective at x (x.size() values). grad is null unless the method uses
/// gradients, else it receives the gradient. Setting `stop` ends the run after this evaluation.
using NloptObjective = std::function<double(const double* x, double* grad, bool& stop)>;

/// How a run ended (NLopt's nlopt_result).
struct NloptOutcome {
  int status = 0;
  /// Stopped by a tolerance (success, ftol, xtol, or rounding limiting further progress), not by
  /// a limit, a forced stop or a failure.
  bool by_tolerance() const;
  bool max_evaluations_reached() const;
  /// An NLopt failure other than "roundoff limited".
  bool failed() const;
  std::string describe() const;  ///< "ftol_rel reached", "maximum number of evaluations reached", ...
};

/// Minimises f from x (left at NLopt's final point).
NloptOutcome nlopt_minimize(const NloptSettings& settings, const NloptObjective& f, std::vector<double>& x);

/// NLopt's name of the method, as lme4 and nloptr print it ("NLOPT_LN_BOBYQA").
std::string nlopt_name(NloptMethod method);

}  // namespace lmm::detail
