// The power simulation's loop: per sample size, nsim studies simulated, fitted and tested on a pool
// of threads (as the parametric bootstrap: each thread owns its models and replaces only their
// response), then the rejection rate with its Monte Carlo SE and Wilson interval.
#include <algorithm>
#include <atomic>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <chrono>
#include <cmath>
#include <exception>
#include <fmt/format.h>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "lmm/error.h"
#include "lmm/parallel.h"
#include "lmm/rng.h"
#include "inference/vinv_parts.h"
#include "power/power_internal.h"

namespace lmm::power_detail {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The result of one simulated study.
struct Outcome {
  bool ran = false, reject = false, singular = false, converged = true;
  double estimate = kNaN, df = kNaN;
};

// The rows of `f` where keep[i] (X, the terms' refs and z, weights, offset), with response y.
ModelFrame subset_frame(const ModelFrame& f, const std::vector<double>& y, const std::vector<char>& keep) {
  ModelFrame s = frame_coding(f);  // the coding without the rows
  s.columns = f.columns;
  const std::size_t n = f.n(), p = f.p();
  std::size_t m = 0;
  for (char k : keep) m += k ? 1 : 0;
  s.X.assign(m * p, 0.0);
  for (std::size_t i = 0, r = 0; i < n; ++i) {
    if (!keep[i]) continue;
    s.y.push_back(y[i]);
    s.rows.push_back(f.rows[i]);
    for (std::size_t c = 0; c < p; ++c) s.X[c * m + r] = f.X[c * n + i];
    ++r;
  }
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const auto q = static_cast<std::size_t>(f.re[j].q());
    for (std::size_t i = 0; i < n; ++i) {
      if (!keep[i]) continue;
      s.re[j].refs.push_back(f.re[j].refs[i]);
      s.re[j].z.insert(s.re[j].z.end(), f.re[j].z.begin() + static_cast<std::ptrdiff_t>(i * q),
                       f.re[j].z.begin() + static_cast<std::ptrdiff_t>((i + 1) * q));
    }
  }
  auto pick = [&](const std::vector<double>& v) {
    std::vector<double> out;
    if (v.empty()) return out;
    for (std::size_t i = 0; i < n; ++i)
      if (keep[i]) out.push_back(v[i]);
    return out;
  };
  s.weights = pick(f.weights);
  s.offset = pick(f.offset);
  return s;
}

// Monotone dropout: person l (level of the first term) leaves before wave t ≥ 1 with probability
// `dropout`; one uniform per person and wave after baseline, drawn in level order.
std::vector<char> dropout_rows(const SizeProblem& pb, Rng& rng) {
  const ReTermData& persons = pb.frame.re[0];
  const int waves = pb.wave.empty() ? 0 : *std::max_element(pb.wave.begin(), pb.wave.end()) + 1;
  std::vector<int> last(persons.nlevels(), waves);  // first wave missed
  for (std::size_t l = 0; l < persons.nlevels(); ++l)
    for (int t = 1; t < waves; ++t)
      if (rng.uniform() < pb.dropout && last[l] == waves) last[l] = t;
  std::vector<char> keep(pb.frame.n());
  for (std::size_t i = 0; i < keep.size(); ++i)
    keep[i] = pb.wave[i] < last[static_cast<std::size_t>(persons.refs[i])] ? 1 : 0;
  return keep;
}

double mixture_pvalue(double stat, int q, bool mixture) {
  using boost::math::chi_squared;
  const double d = std::max(stat, 0.0);
  const double full = boost::math::cdf(boost::math::complement(chi_squared(q), d));
  if (!mixture) return full;
  const double lower = q > 1 ? boost::math::cdf(boost::math::complement(chi_squared(q - 1), d))
                             : (d > 0 ? 0.0 : 1.0);
  return 0.5 * lower + 0.5 * full;
}

// The Wald test without df (DdfMethod::None): z for one coefficient, χ² for a term.
double wald_pvalue(const LinearMixedModel& m, const TestSpec& t, double& estimate) {
  const auto beta = m.beta();
  const auto v = m.vcov();
  const std::size_t p = beta.size();
  if (t.kind == TestSpec::Kind::Coefficient) {
    estimate = beta[t.column];
    const double z = estimate / std::sqrt(v[t.column * p + t.column]);
    return 2 * boost::math::cdf(boost::math::normal(), -std::abs(z));
  }
  // W = (Lβ)'(L V L')⁻¹(Lβ) by Gaussian elimination (L has few rows).
  const std::size_t r = t.L.size();
  std::vector<double> a(r * (r + 1), 0.0);  // [L V L' | Lβ], row-major
  for (std::size_t i = 0; i < r; ++i) {
    for (std::size_t j = 0; j < r; ++j)
      for (std::size_t k = 0; k < p; ++k)
        for (std::size_t l = 0; l < p; ++l) a[i * (r + 1) + j] += t.L[i][k] * v[l * p + k] * t.L[j][l];
    for (std::size_t k = 0; k < p; ++k) a[i * (r + 1) + r] += t.L[i][k] * beta[k];
  }
  std::vector<double> lb(r);
  for (std::size_t i = 0; i < r; ++i) lb[i] = a[i * (r + 1) + r];
  for (std::size_t c = 0; c < r; ++c)
    for (std::size_t i = c + 1; i < r; ++i) {
      const double f = a[i * (r + 1) + c] / a[c * (r + 1) + c];
      for (std::size_t j = c; j <= r; ++j) a[i * (r + 1) + j] -= f * a[c * (r + 1) + j];
    }
  std::vector<double> x(r);
  for (std::size_t i = r; i-- > 0;) {
    double s = a[i * (r + 1) + r];
    for (std::size_t j = i + 1; j < r; ++j) s -= a[i * (r + 1) + j] * x[j];
    x[i] = s / a[i * (r + 1) + i];
  }
  double w = 0;
  for (std::size_t i = 0; i < r; ++i) w += lb[i] * x[i];
  estimate = w / static_cast<double>(r);
  return mixture_pvalue(w, static_cast<int>(r), false);
}

// The p-value of a t test of column c (when `c` is set) or of the F test of t.L, with the df of
// `tester` (Satterthwaite or KenwardRoger).
template <class Tester>
double tested(const Tester& tester, const std::vector<double>& c, const TestSpec& t, Outcome& out) {
  if (!c.empty()) {
    const TTest tt = tester.test(c);
    out.estimate = tt.estimate;
    out.df = tt.df;
    return tt.p;
  }
  const FTest f = tester.test(t.L);
  out.estimate = f.F;
  out.df = f.den_df;
  return f.p;
}

// The p-value of a fixed-effect test at the model's optimum, with the chosen df.
double fixed_pvalue(LinearMixedModel& m, const TestSpec& t, DdfMethod ddf, Outcome& out) {
  if (ddf == DdfMethod::None) return wald_pvalue(m, t, out.estimate);
  std::vector<double> c;
  if (t.kind == TestSpec::Kind::Coefficient) {
    c.assign(m.frame().p(), 0.0);
    c[t.column] = 1;
  }
  if (ddf == DdfMethod::Satterthwaite) return tested(Satterthwaite(m), c, t, out);
  return tested(KenwardRoger(m), c, t, out);
}

// A thread's models for one size: reused across its simulations when the rows do not change.
struct Workspace {
  std::unique_ptr<LinearMixedModel> full, null;
};

FitOptions start_at(const std::vector<double>& theta) {
  FitOptions fo;
  fo.method = Method::REML;
  fo.theta_start = theta;
  return fo;
}

// Simulation `sim` of `pb`: new response (and dropout), fit, test.
Outcome run_one(const SizeProblem& pb, std::uint64_t stream, const PowerOptions& opt, Workspace& ws) {
  Rng rng(opt.seed, stream);
  std::vector<double> y = simulate_responses(pb.design, pb.truth, 1, rng)[0];
  std::optional<std::vector<char>> keep;
  if (pb.dropout > 0) keep = dropout_rows(pb, rng);
  const bool lrt = pb.test.kind == TestSpec::Kind::RandomSlope;
  auto load = [&](std::unique_ptr<LinearMixedModel>& m, const ModelFrame& f) {
    if (keep) {
      m = std::make_unique<LinearMixedModel>(subset_frame(f, y, *keep), Method::REML);
      return;
    }
    if (!m) m = std::make_unique<LinearMixedModel>(f, Method::REML);
    m->set_response(y);
  };
  Outcome out;
  load(ws.full, pb.frame);
  const OptimizerSummary s1 = ws.full->fit(start_at(pb.theta_start));
  out.converged = s1.converged;
  const auto sing = ws.full->singular_positions();
  out.singular = std::find(sing.begin(), sing.end(), true) != sing.end();
  double p = kNaN;
  if (lrt) {
    load(ws.null, pb.null_frame);
    const OptimizerSummary s0 = ws.null->fit(start_at(pb.null_theta_start));
    out.converged = out.converged && s0.converged;
    out.estimate = s0.objective - s1.objective;
    const int q = pb.frame.re[pb.test.re_term].q();
    p = mixture_pvalue(out.estimate, q, opt.lrt_mixture);
  } else {
    p = fixed_pvalue(*ws.full, pb.test, opt.ddf, out);
  }
  out.reject = p < opt.alpha;
  out.ran = std::isfinite(p);
  return out;
}

// Progress over all sizes, reported from the working threads one at a time.
struct Progress {
  std::mutex mutex;
  std::size_t done = 0, total = 0;
  const std::function<void(std::size_t, std::size_t)>* callback = nullptr;
  void step() {
    if (!callback || !*callback) return;
    std::lock_guard<std::mutex> lock(mutex);
    (*callback)(++done, total);
  }
};

// The outcomes of size `k`'s simulations, on `threads` threads.
std::vector<Outcome> simulate_size(const SizeProblem& pb, std::size_t k, const PowerOptions& opt,
                                   int threads, Progress& progress) {
  std::vector<Outcome> outcomes(static_cast<std::size_t>(opt.nsim));
  std::atomic<int> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    Workspace ws;
    for (int i = next++; i < opt.nsim; i = next++) {
      try {
        outcomes[static_cast<std::size_t>(i)] =
            run_one(pb, (static_cast<std::uint64_t>(k) << 32) | static_cast<std::uint64_t>(i), opt, ws);
      } catch (const Error&) {
        outcomes[static_cast<std::size_t>(i)] = Outcome{};  // a failed fit: counted, not tested
        ws = Workspace{};
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = opt.nsim;
      }
      progress.step();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return outcomes;
}

// The curve's point from the outcomes.
PowerPoint summarise(const std::vector<Outcome>& outcomes, const PowerOptions& opt) {
  PowerPoint pt;
  pt.nsim = static_cast<int>(outcomes.size());
  double est = 0, df = 0;
  for (const Outcome& o : outcomes) {
    if (!o.ran) {
      ++pt.failed;
      continue;
    }
    pt.rejections += o.reject ? 1 : 0;
    pt.singular += o.singular ? 1 : 0;
    pt.nonconverged += o.converged ? 0 : 1;
    est += o.estimate;
    df += o.df;
  }
  const int n = pt.nsim - pt.failed;
  if (n == 0) {
    pt.power = pt.mc_se = pt.lower = pt.upper = kNaN;
    pt.singular_share = pt.nonconverged_share = pt.mean_estimate = pt.mean_df = kNaN;
    return pt;
  }
  pt.power = static_cast<double>(pt.rejections) / n;
  pt.mc_se = std::sqrt(pt.power * (1 - pt.power) / n);
  std::tie(pt.lower, pt.upper) = wilson_interval(pt.rejections, n, opt.level);
  pt.singular_share = static_cast<double>(pt.singular) / n;
  pt.nonconverged_share = static_cast<double>(pt.nonconverged) / n;
  pt.mean_estimate = est / n;
  pt.mean_df = df / n;
  return pt;
}

// What the test is, in words.
std::string describe(const TestSpec& t, const PowerOptions& opt) {
  const std::string df = opt.ddf == DdfMethod::Satterthwaite ? "Satterthwaite df" : "Kenward-Roger df";
  switch (t.kind) {
    case TestSpec::Kind::Coefficient:
      return opt.ddf == DdfMethod::None ? "Wald z (no df)" : "Wald t (" + df + ")";
    case TestSpec::Kind::Term:
      return opt.ddf == DdfMethod::None ? "Wald chi-square (no df)" : "type III F (" + df + ")";
    case TestSpec::Kind::RandomSlope:
      break;
  }
  return opt.lrt_mixture ? "likelihood ratio (REML), 50:50 mixture of chi-square(q-1) and chi-square(q)"
                         : "likelihood ratio (REML), chi-square(q)";
}

// Kenward-Roger that cannot run for a size's design is refused before its simulations: each of
// them would otherwise fail in the test and be counted as a failed fit.
void check_ddf(const SizeProblem& pb, DdfMethod ddf) {
  if (ddf != DdfMethod::KenwardRoger || pb.test.kind == TestSpec::Kind::RandomSlope) return;
  const std::string why = detail::kenward_roger_unavailable(pb.frame);
  if (!why.empty())
    throw Error(fmt::format("PowerOptions::ddf KenwardRoger at {} persons: {}; use DdfMethod::Satterthwaite", pb.persons,
                            why));
}

}  // namespace

PowerResult run_power(const ProblemBuilder& build, const PowerOptions& opt) {
  if (const std::string bad = check_power_options(opt); !bad.empty()) throw Error(bad);
  PowerResult res;
  res.alpha = opt.alpha;
  res.level = opt.level;
  res.nsim = opt.nsim;
  res.seed = opt.seed;
  int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::thread::hardware_concurrency());
  res.threads = std::clamp(threads, 1, opt.nsim);
  // The simulations run side by side on their own threads: the engine's loops stay on each one
  // (as for the bootstrap), restored afterwards.
  struct EngineThreads {
    int saved = num_threads();
    EngineThreads() { set_num_threads(1); }
    ~EngineThreads() { set_num_threads(saved); }
  } engine_threads;
  Progress progress;
  progress.total = opt.persons.size() * static_cast<std::size_t>(opt.nsim);
  progress.callback = &opt.progress;
  for (std::size_t k = 0; k < opt.persons.size(); ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    const SizeProblem pb = build(opt.persons[k]);
    check_ddf(pb, opt.ddf);
    if (k == 0) {
      res.test = pb.test.label;
      res.test_method = describe(pb.test, opt);
      res.effect = pb.effect;
      res.formula = pb.frame.formula.deparse();
    }
    PowerPoint pt = summarise(simulate_size(pb, k, opt, res.threads, progress), opt);
    pt.persons = opt.persons[k];
    pt.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.curve.push_back(pt);
  }
  return res;
}

}  // namespace lmm::power_detail

namespace lmm {

std::pair<double, double> wilson_interval(int successes, int n, double level) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  if (n <= 0) return {nan, nan};
  const double z = boost::math::quantile(boost::math::normal(), 0.5 + level / 2);
  const double ph = static_cast<double>(successes) / n, z2n = z * z / n;
  const double centre = (ph + z2n / 2) / (1 + z2n);
  const double half = z / (1 + z2n) * std::sqrt(ph * (1 - ph) / n + z2n / (4.0 * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

}  // namespace lmm
