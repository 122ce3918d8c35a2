#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <map>

#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "model/conditioning.h"
#include "model/model_impl.h"

namespace lmm {

namespace {

// R's quantile type 7 at ascending probabilities. Only the order statistics it reads are put in
// place (nth_element on what is left to the right), not the whole vector sorted: a million rows'
// sort was a tenth of a large fit's time.
std::vector<double> quantiles7(std::vector<double>& v, const std::vector<double>& probs) {
  std::vector<double> out;
  if (v.empty()) return std::vector<double>(probs.size(), NaN);
  auto first = v.begin();
  std::size_t placed = 0;  // v[0 .. placed) hold the smallest values, v[placed - 1] in its place
  auto at = [&](std::size_t k) {
    if (k + 1 == v.size() && k > placed) {
      // The largest: a scan. Ascending probabilities ask for nothing below it afterwards.
      std::iter_swap(v.end() - 1, std::max_element(first, v.end()));
      first = v.end();
      placed = v.size();
    } else if (k == placed) {
      // The next order statistic is the smallest of the rest: a scan, not a selection.
      std::iter_swap(first, std::min_element(first, v.end()));
      first = v.begin() + static_cast<std::ptrdiff_t>(k) + 1;
      placed = k + 1;
    } else if (k > placed) {
      std::nth_element(first, v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
      first = v.begin() + static_cast<std::ptrdiff_t>(k) + 1;
      placed = k + 1;
    }
    return v[k];
  };
  for (double prob : probs) {
    const double h = (static_cast<double>(v.size()) - 1) * prob;
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    const double a = at(lo), b = at(hi);
    out.push_back(a + (h - static_cast<double>(lo)) * (b - a));
  }
  return out;
}

}  // namespace

FitResult summarize(const LinearMixedModel& model, const OptimizerSummary& optimizer) {
  const auto& m = model.impl();
  const auto& f = model.frame();
  FitResult r;
  r.formula = f.formula.text;
  r.method = model.method();
  r.nobs = f.n();
  r.n_dropped = f.n_dropped;
  r.aliased = f.aliased;
  r.optimizer = optimizer;
  r.theta = model.theta();
  r.sigma = model.sigma();
  r.objective = model.objective();
  r.loglik = model.loglik();
  r.npar = model.npar();
  r.aic = -2 * r.loglik + 2 * r.npar;
  r.bic = -2 * r.loglik + std::log(static_cast<double>(r.nobs)) * r.npar;
  r.df_residual = static_cast<double>(f.n()) - static_cast<double>(f.p());

  const auto beta = model.beta();
  r.vcov = model.vcov();
  const std::size_t p = f.p();
  for (std::size_t i = 0; i < p; ++i) {
    FixedEffect fe;
    fe.term = f.fixed_names[i];
    fe.estimate = beta[i];
    fe.std_error = std::sqrt(r.vcov[i * p + i]);
    fe.t = fe.estimate / fe.std_error;
    r.fixed.push_back(fe);
  }

  // Variance components: Σ = σ² λλ' per term; lme4 suffixes repeated group names.
  // The singular check of lme4's isSingular (a diagonal element of λ below 1e-4), applied in the
  // conditioned coordinates of the optimizer so that it does not depend on the covariates' units
  // (lme4's check calls a slope on time in milliseconds singular and the same slope in days not).
  const detail::ThetaMap map(m);
  const std::vector<double> conditioned = map.from_theta(model.theta());
  std::map<std::string, int> seen;
  const double s2 = r.sigma * r.sigma;
  for (int j = 0; j < m.K; ++j) {
    const auto& t = f.re[j];
    int& count = seen[t.group];
    const std::string gname = count == 0 ? t.group : t.group + "." + std::to_string(count);
    ++count;
    bool already = false;
    for (const auto& g : r.ngroups) already = already || g.group == t.group;
    if (!already) r.ngroups.push_back({t.group, t.nlevels()});
    const detail::Mat S = s2 * m.lambda[j] * m.lambda[j].transpose();
    const int q = t.q();
    for (int a = 0; a < q; ++a) {
      VarianceComponent vc;
      vc.group = gname;
      vc.term1 = t.names[a];
      vc.variance = S(a, a);
      vc.sd = std::sqrt(S(a, a));
      r.random.push_back(vc);
    }
    for (int a = 0; a < q; ++a)
      for (int b = a + 1; b < q; ++b) {
        VarianceComponent vc;
        vc.group = gname;
        vc.term1 = t.names[a];
        vc.term2 = t.names[b];
        const double d = std::sqrt(S(a, a) * S(b, b));
        vc.cor = d > 0 ? S(a, b) / d : NaN;
        r.random.push_back(vc);
      }
    // Singular fit (lme4's isSingular: a diagonal element of λ below the tolerance), with the
    // component responsible named.
    for (int a = 0, k = m.theta_offset[j]; a < q; k += q - a, ++a) {
      if (conditioned[k] >= kSingularTolerance) continue;
      r.singular = true;
      const double sd_rel = std::sqrt(S(a, a)) / r.sigma;
      if (sd_rel < kSingularTolerance) {
        r.singular_reasons.push_back(fmt::format("the variance of '{}' for {} is estimated as 0", t.names[a],
                                                 gname));
      } else {
        std::string partner;
        for (int b = 0; b < a; ++b) {
          const double c = S(a, b) / std::sqrt(S(a, a) * S(b, b));
          if (std::abs(c) > 1 - 1e-3) partner = fmt::format("the correlation of '{}' and '{}' for {} is estimated as {:+.0f}",
                                                             t.names[b], t.names[a], gname, c);
        }
        r.singular_reasons.push_back(partner.empty()
                                         ? fmt::format("the covariance matrix of the random effects for {} is singular "
                                                       "('{}' is a linear combination of the terms before it)",
                                                       gname, t.names[a])
                                         : partner);
      }
    }
  }
  {
    VarianceComponent res;
    res.group = "Residual";
    res.variance = s2;
    res.sd = r.sigma;
    r.random.push_back(res);
  }

  r.ranef = random_effects(model);
  r.coef = coefficients(model, r.ranef);

  auto resid = model.residuals();
  for (double& v : resid) v /= r.sigma;
  const auto qs = quantiles7(resid, {0, 0.25, 0.5, 0.75, 1});
  std::copy(qs.begin(), qs.end(), r.scaled_residuals.begin());

  if (f.n_dropped > 0)
    r.messages.push_back(fmt::format("{} observation{} deleted due to missingness", f.n_dropped,
                                     f.n_dropped == 1 ? "" : "s"));
  if (!f.aliased.empty()) {
    std::string names;
    for (const auto& a : f.aliased) names += (names.empty() ? "" : ", ") + a;
    r.messages.push_back(fmt::format("fixed-effect model matrix is rank deficient so dropping {} column{}: {}",
                                     f.aliased.size(), f.aliased.size() == 1 ? "" : "s", names));
  }
  if (!optimizer.converged)
    r.messages.push_back("the optimizer did not converge: " + optimizer.stop_reason);
  {
    const detail::Conditioning c = detail::assess_conditioning(m);
    r.condition_number = c.kappa_x;
    r.messages.insert(r.messages.end(), c.warnings.begin(), c.warnings.end());
  }
  r.variance_partition = variance_partition(model);
  r.confint_wald = wald_intervals(r);
  r.singular_advice = singular_advice(model);
  return r;
}

Fitted fit(const DataFrame& data, const std::string& formula, const FitOptions& options) {
  using clock = std::chrono::steady_clock;
  auto t = clock::now();
  auto lap = [&t] {
    const auto now = clock::now();
    const double s = std::chrono::duration<double>(now - t).count();
    t = now;
    return s;
  };
  FitResult::Timings timings;
  Formula fm = parse_formula(formula);
  ModelFrame frame = build_model_frame(data, fm, options.frame);
  timings.model_frame = lap();
  LinearMixedModel model(std::move(frame), options.method);
  timings.setup = lap();
  OptimizerSummary opt = model.fit(options);
  ConvergenceReport conv = check_convergence(model, opt, options);  // may move to a better optimum
  timings.optimize = lap();
  FitResult result = summarize(model, opt);
  for (auto& w : detail::data_warnings(data, model.frame().formula)) result.messages.push_back(std::move(w));
  result.convergence = std::move(conv);
  timings.summary = lap();
  add_inference(model, result, options.ddf);  // df, p and the type III ANOVA (lmm/inference.h)
  timings.inference = lap();
  result.timings = timings;
  return {std::move(model), std::move(result)};
}

}  // namespace lmm
