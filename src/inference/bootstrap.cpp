// Parametric bootstrap (lme4's bootMer(type = "parametric", use.u = FALSE); Davison & Hinkley 1997,
// §2.2 and §5.3 for percentile intervals) on all cores.
//
// Replicate i simulates y* = Xβ̂ + Z Λ̂ u* + σ̂ ε*, u* ~ N(0, σ̂² I), ε* ~ N(0, I) (ε* ~ N(0, D̂R̂D̂)
// with a residual structure, its parameters then bootstrapped too), from its own random
// stream Rng(seed, i), and refits from θ̂ by the model's method. Each thread owns a copy of the model
// and only replaces its response (the cross-products with y, one pass over the rows), so results
// depend on (seed, i) only, never on which thread ran the replicate.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include "inference/internal.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "lmm/rng.h"
#include "lmm/simulate.h"
#include "model/residual.h"
#include "util/stats.h"

namespace lmm {

namespace {

// The residual structure's estimated parameters in natural units (none when fixed or absent).
const detail::ResidualCovariance* estimated_structure(const LinearMixedModel& m) {
  const auto& st = detail::model_state(m);
  return st.residual && !st.residual->fixed() ? st.residual.get() : nullptr;
}

// The statistics of one fitted model, in the order of the bootstrap's names.
std::vector<double> statistics(const LinearMixedModel& m) {
  std::vector<double> s = variance_parameters(m);
  if (const auto* rc = estimated_structure(m)) {
    const auto nat = rc->natural(detail::model_state(m).residual_eta.data());
    s.insert(s.end(), nat.begin(), nat.end());
  }
  const auto b = m.beta();
  s.insert(s.end(), b.begin(), b.end());
  const auto vp = variance_partition(m);
  s.insert(s.end(), {vp.icc_adjusted, vp.icc_unadjusted, vp.r2_marginal, vp.r2_conditional});
  return s;
}

// The names of statistics(): variance parameters, fixed effects, ICC and R².
std::vector<std::string> statistic_names(const LinearMixedModel& model) {
  std::vector<std::string> names = variance_parameter_names(model);
  if (const auto* rc = estimated_structure(model)) {
    const auto nn = rc->natural_names();
    names.insert(names.end(), nn.begin(), nn.end());
  }
  for (const auto& nm : model.frame().fixed_names) names.push_back(nm);
  names.insert(names.end(), {"icc_adjusted", "icc_unadjusted", "r2_marginal", "r2_conditional"});
  return names;
}

// Percentile intervals (R's quantile type 7) of each statistic over the replicates with a value.
void add_percentile_intervals(BootstrapResult& res, const std::vector<double>& estimate, const BootstrapOptions& options) {
  const std::size_t ns = res.names.size();
  const double alpha = (1 - options.level) / 2;
  for (std::size_t k = 0; k < ns; ++k) {
    std::vector<double> col;
    col.reserve(static_cast<std::size_t>(options.replicates));
    for (int i = 0; i < options.replicates; ++i) {
      const double v = res.samples[static_cast<std::size_t>(i) * ns + k];
      if (std::isfinite(v)) col.push_back(v);
    }
    std::sort(col.begin(), col.end());
    Interval iv;
    iv.parameter = res.names[k];
    iv.estimate = estimate[k];
    iv.lower = detail::quantile7(col, alpha);
    iv.upper = detail::quantile7(col, 1 - alpha);
    if (col.size() < static_cast<std::size_t>(options.replicates))
      iv.note = fmt::format("{} replicate(s) without a value", options.replicates - static_cast<int>(col.size()));
    res.intervals.push_back(iv);
  }
}

}  // namespace

BootstrapResult bootstrap(const LinearMixedModel& model, const BootstrapOptions& options) {
  if (options.replicates < 1) throw Error(fmt::format("BootstrapOptions::replicates must be at least 1 (got {})", options.replicates));
  normal_quantile_two_sided(options.level);  // validates the level
  BootstrapResult res;
  res.replicates = options.replicates;
  res.seed = options.seed;
  res.level = options.level;
  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::clamp(threads, 1, options.replicates);
  res.threads = threads;

  res.names = statistic_names(model);
  const std::size_t ns = res.names.size();
  const std::vector<double> estimate = statistics(model);

  // What every replicate needs from the fitted model.
  const ModelFrame& frame = model.frame();
  // New responses as lme4's simulate(): one draw of the random effects and residuals per replicate,
  // from its own stream (lmm/simulate.h), with the residual structure's correlated residuals.
  SimulationDesign design{frame.n(), frame.X, frame.re, frame.offset, frame.weights, {}};
  if (const auto& st = detail::model_state(model); st.residual)
    design.residual_blocks = detail::residual_blocks(frame, *st.residual, st.residual_eta.data());
  const SimulationParameters params{model.beta(), model.lambda(), model.sigma()};
  const auto theta_hat = model.theta();
  const Method method = model.method();

  res.samples.assign(static_cast<std::size_t>(options.replicates) * ns, std::numeric_limits<double>::quiet_NaN());
  std::atomic<int> next{0}, failed{0};
  std::exception_ptr error;
  std::mutex error_mutex;

  auto worker = [&] {
    try {
      LinearMixedModel m(frame, method);
      for (int i = next++; i < options.replicates; i = next++) {
        Rng rng(options.seed, static_cast<std::uint64_t>(i));
        m.set_response(simulate_responses(design, params, 1, rng)[0]);
        FitOptions fo;
        fo.method = method;
        fo.theta_start = theta_hat;
        const auto s = m.fit(fo);
        if (!s.converged) ++failed;
        const auto st = statistics(m);
        std::copy(st.begin(), st.end(), res.samples.begin() + static_cast<std::ptrdiff_t>(i * ns));
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = options.replicates;  // the others stop too
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  res.failed = failed;

  add_percentile_intervals(res, estimate, options);
  return res;
}

}  // namespace lmm
