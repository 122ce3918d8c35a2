#include "inference/internal.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lmm::inference {

MinimizeResult minimize(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x0,
                        const std::vector<double>& lower, const std::vector<double>& upper,
                        const std::vector<double>& initial_step, detail::NloptMethod method, double ftol_rel,
                        double xtol_abs, int max_evaluations) {
  MinimizeResult r;
  const std::size_t n = x0.size();
  if (n == 0) {
    r.x = x0;
    r.f = f(x0);
    r.converged = true;
    r.stop_reason = "no free parameters";
    return r;
  }
  for (std::size_t i = 0; i < n; ++i) x0[i] = std::clamp(x0[i], lower[i], upper[i]);
  detail::NloptSettings s;
  s.method = method;
  s.lower = lower;
  s.upper = upper;
  s.ftol_rel = ftol_rel;
  s.xtol_abs = xtol_abs;
  s.max_evaluations = max_evaluations;
  // The initial step must fit inside the box on at least one side of x0.
  s.initial_step = initial_step;
  for (std::size_t i = 0; i < n; ++i) {
    const double room = std::max(upper[i] - x0[i], x0[i] - lower[i]);
    if (std::isfinite(room) && room > 0) s.initial_step[i] = std::min(s.initial_step[i], 0.5 * room);
    if (!(s.initial_step[i] > 0)) s.initial_step[i] = 1e-3;
  }
  std::vector<double> x;
  const auto outcome = detail::nlopt_minimize(
      s,
      [&](const double* p, double*, bool&) {
        x.assign(p, p + n);
        ++r.evaluations;
        const double v = f(x);
        // BOBYQA's quadratic model cannot digest infinities.
        return std::isfinite(v) ? v : 1e300;
      },
      x0);
  r.converged = outcome.by_tolerance();
  r.stop_reason = outcome.max_evaluations_reached() ? "maximum number of evaluations reached"
                  : r.converged                     ? "tolerance reached"
                                                    : "NLopt status " + std::to_string(outcome.status);
  r.x = x0;
  r.f = f(x0);  // leaves any state behind f at the optimum
  return r;
}

}  // namespace lmm::inference
