// Parametric bootstrap of a GLMM, as lme4's confint(glmer_fit, method = "boot") (bootMer with
// type = "parametric", use.u = FALSE) and the LMM's bootstrap (src/inference/bootstrap.cpp): replicate
// i draws from its own stream Rng(seed, i) new random effects u* ~ N(0, I), η* = Xβ̂ + offset + ZΛ̂u*
// and responses from the family at μ* = linkinv(η*) (lme4's simulate()), then refits from (θ̂, β̂)
// (the second optimizer stage; a fast fit is redone in full). Each thread owns a model and replaces
// only its response, so results depend on (seed, i), not on the threads.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <fmt/format.h>
#include <limits>
#include <mutex>
#include <thread>

#include "glmm/glmm_impl.h"
#include "glmm/glmm_optimize.h"
#include "glmm/glmm_simulate.h"
#include "lmm/error.h"
#include "lmm/glmm.h"
#include "lmm/inference.h"
#include "lmm/rng.h"
#include "report/text_format.h"
#include "util/stats.h"

namespace lmm {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One replicate's responses: Bernoulli, binomial out of the row's trials (as a proportion) or Poisson.
std::vector<double> simulate_response(const GlmmModel& m, Rng& rng) {
  Eigen::VectorXd u(m.nre());
  for (Eigen::Index k = 0; k < u.size(); ++k) u[k] = rng.normal();
  const Eigen::VectorXd eta = m.eta_at(u);
  const auto& fam = m.family();
  const auto& pw = m.prior_weights();
  std::vector<double> y(m.n());
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double mu = fam.linkinv(eta[Eigen::Index(i)]);
    if (fam.family() == GlmmFamily::Poisson) y[i] = glmm_detail::draw_poisson(mu, rng);
    else if (pw[i] == 1) y[i] = rng.uniform() < mu ? 1 : 0;
    else y[i] = pw[i] > 0 ? glmm_detail::draw_binomial(pw[i], mu, rng) / pw[i] : 0;
  }
  return y;
}

void check_bootstrap(const GlmmFitted& fitted, const BootstrapOptions& options) {
  if (options.replicates < 1)
    throw Error(fmt::format("BootstrapOptions::replicates must be at least 1 (got {})", options.replicates));
  normal_quantile_two_sided(options.level);  // validates the level
  const GlmmModel& m = *fitted.model;
  if (m.family().family() == GlmmFamily::Poisson)
    for (double w : m.prior_weights())
      if (w != 1)
        throw Error("glmm_bootstrap: a Poisson GLMM with prior weights has no simulation model (a weight multiplies "
                    "the row's log-likelihood); the bootstrap is not available for it");
}

// Percentile intervals (R's quantile type 7) per statistic over the replicates with a value.
void percentile_intervals(BootstrapResult& res, const std::vector<double>& estimate) {
  const std::size_t ns = res.names.size();
  const double alpha = (1 - res.level) / 2;
  for (std::size_t k = 0; k < ns; ++k) {
    std::vector<double> col;
    for (int i = 0; i < res.replicates; ++i)
      if (const double v = res.samples[std::size_t(i) * ns + k]; std::isfinite(v)) col.push_back(v);
    std::sort(col.begin(), col.end());
    Interval iv{res.names[k], estimate[k], detail::quantile7(col, alpha), detail::quantile7(col, 1 - alpha), {}};
    if (col.size() < std::size_t(res.replicates))
      iv.note = fmt::format("{} replicate(s) without a value", res.replicates - int(col.size()));
    res.intervals.push_back(iv);
  }
}

}  // namespace

BootstrapResult glmm_bootstrap(const GlmmFitted& fitted, const BootstrapOptions& options) {
  check_bootstrap(fitted, options);
  const GlmmModel& base = *fitted.model;
  const GlmmResult& r = fitted.result;
  BootstrapResult res;
  res.replicates = options.replicates;
  res.seed = options.seed;
  res.level = options.level;
  res.threads = std::clamp(options.threads > 0 ? options.threads : int(std::thread::hardware_concurrency()), 1,
                           options.replicates);
  res.names = base.sdcor_names();
  for (const auto& f : r.fixed) res.names.push_back(f.term);
  const std::size_t ns = res.names.size();
  res.samples.assign(std::size_t(options.replicates) * ns, kNaN);
  GlmmOptions o;
  o.nagq = std::max(r.nagq, 1);
  o.fast = r.nagq == 0;
  o.max_evaluations = 5000;
  const Eigen::VectorXd beta_hat = Eigen::Map<const Eigen::VectorXd>(r.beta.data(), Eigen::Index(r.beta.size()));
  std::atomic<int> next{0}, failed{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    try {
      GlmmModel m(base.frame(), base.y(), base.prior_weights(), base.family());
      for (int i = next++; i < options.replicates; i = next++) {
        Rng rng(options.seed, static_cast<std::uint64_t>(i));
        m.set_theta(r.theta);
        m.set_beta(beta_hat);
        m.set_response(simulate_response(m, rng));
        const auto opt = glmm_detail::refit_glmm(m, o, r.theta, beta_hat);
        if (!opt.converged || !std::isfinite(opt.objective)) ++failed;
        if (!std::isfinite(opt.objective)) continue;
        std::vector<double> st = m.sdcor();
        st.insert(st.end(), opt.beta.data(), opt.beta.data() + opt.beta.size());
        std::copy(st.begin(), st.end(), res.samples.begin() + std::ptrdiff_t(std::size_t(i) * ns));
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = options.replicates;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < res.threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  res.failed = failed;
  std::vector<double> estimate = base.sdcor();
  estimate.insert(estimate.end(), r.beta.begin(), r.beta.end());
  percentile_intervals(res, estimate);
  return res;
}

std::string format_glmm_bootstrap(const GlmmResult& r) {
  const BootstrapResult& b = r.bootstrap;
  if (b.replicates == 0) return "";
  const double pct = 100 * (1 - b.level) / 2;
  std::vector<std::vector<std::string>> rows{
      {"", "Estimate", fmt::format("{:g}%", pct), fmt::format("{:g}%", 100 - pct)}};
  for (const Interval& iv : b.intervals)
    rows.push_back({iv.parameter, detail::r_number(iv.estimate, 4, -4), detail::r_number(iv.lower, 4, -4),
                    detail::r_number(iv.upper, 4, -4)});
  std::string out = fmt::format("\nParametric bootstrap percentile intervals ({} replicates, seed {}):\n",
                                b.replicates, b.seed) +
                    glmm_detail::aligned_table(rows);
  out += "  As lme4's confint(m, method = \"boot\"): responses simulated from the fit (new random effects), "
         "each refitted from the estimates.\n";
  if (b.failed > 0) out += fmt::format("  {} replicate(s) did not converge (kept, as bootMer does)\n", b.failed);
  return out;
}

}  // namespace lmm
