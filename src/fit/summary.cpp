// The layer above the model and the inference code: lmm::fit() parses, builds the model frame,
// fits, checks convergence and adds the df, p-values, intervals and ICC; summarize() gathers a
// fitted model's results into a FitResult. src/model depends on nothing here.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <memory>

#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "fit/components.h"
#include "inference/vinv_parts.h"
#include "model/conditioning.h"
#include "model/model_access.h"
#include "model/model_impl.h"
#include "util/stats.h"

namespace lmm {

namespace {

void add_fixed_effects(const LinearMixedModel& model, FitResult& r) {
  const auto& f = model.frame();
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
}

// Why effect a of a term (group `gname`, covariance S) is at the boundary: its variance is 0, it
// is perfectly correlated with an effect before it, or a combination of several.
std::string singular_reason(const ReTermData& t, const std::string& gname, const detail::Mat& S, int a,
                            double sigma) {
  const double sd_rel = std::sqrt(S(a, a)) / sigma;
  if (sd_rel < kSingularTolerance)
    return fmt::format("the variance of '{}' for {} is estimated as 0", t.names[a], gname);
  std::string partner;
  for (int b = 0; b < a; ++b) {
    const double c = S(a, b) / std::sqrt(S(a, a) * S(b, b));
    if (std::abs(c) > 1 - 1e-3)
      partner = fmt::format("the correlation of '{}' and '{}' for {} is estimated as {:+.0f}", t.names[b], t.names[a],
                            gname, c);
  }
  return partner.empty() ? fmt::format("the covariance matrix of the random effects for {} is singular "
                                       "('{}' is a linear combination of the terms before it)",
                                       gname, t.names[a])
                         : partner;
}

// Variance components: Σ = σ² λλ' per term; lme4 suffixes repeated group names. The singular check
// of lme4's isSingular (a diagonal element of λ below 1e-4), applied in the conditioned coordinates
// of the optimizer so that it does not depend on the covariates' units (lme4's check calls a slope
// on time in milliseconds singular and the same slope in days not), with the component
// responsible named.
void add_variance_components(const LinearMixedModel& model, FitResult& r) {
  const auto& m = detail::model_state(model);
  const auto& f = model.frame();
  const std::vector<bool> at_boundary = model.singular_positions();
  std::map<std::string, int> seen;
  const double s2 = r.sigma * r.sigma;
  for (int j = 0; j < m.K; ++j) {
    const auto& t = f.re[j];
    const std::string gname = detail::next_component_group(seen, t.group);
    bool already = false;
    for (const auto& g : r.ngroups) already = already || g.group == t.group;
    if (!already) r.ngroups.push_back({t.group, t.nlevels()});
    const detail::Mat S = s2 * m.lambda[j] * m.lambda[j].transpose();
    detail::add_term_components(t, gname, S, r.random);
    const int q = t.q();
    for (int a = 0, k = m.theta_offset[j]; a < q; k += q - a, ++a) {
      if (!at_boundary[static_cast<std::size_t>(k)]) continue;
      r.singular = true;
      r.singular_reasons.push_back(singular_reason(t, gname, S, a, r.sigma));
    }
  }
  VarianceComponent res;
  res.group = "Residual";
  res.variance = s2;
  res.sd = r.sigma;
  r.random.push_back(res);
}

void add_messages(const LinearMixedModel& model, const OptimizerSummary& optimizer, FitResult& r) {
  const auto& f = model.frame();
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
  const detail::Conditioning c = detail::assess_conditioning(detail::model_state(model));
  r.condition_number = c.kappa_x;
  r.messages.insert(r.messages.end(), c.warnings.begin(), c.warnings.end());
}

// cs and us beside a random intercept on the same groups: ρ (or the correlations) trade off
// against the intercept's variance at the same likelihood.
void check_residual_identifiable(const ModelFrame& f) {
  const ResidualOptions& o = f.residual.options;
  if (o.structure != "cs" && o.structure != "us") return;
  for (const auto& t : f.re) {
    if (t.group != o.group || std::find(t.names.begin(), t.names.end(), "(Intercept)") == t.names.end()) continue;
    const std::string s = o.structure == "cs" ? "cs(1 | " + o.group + ")" : "us(" + o.time + " | " + o.group + ")";
    throw Error("ModelFrameOptions::residual " + s + " beside a random intercept for " + o.group +
                " is not identifiable (the residual correlation trades off against the intercept's variance at "
                "the same likelihood): drop (1 | " + o.group + ") from the formula" +
                (o.structure == "cs" ? " (cs with rho >= 0 is that model), or drop the structure"
                                     : ", or use ar1 or car1 beside the random intercept"));
  }
}

}  // namespace

FitResult summarize(const LinearMixedModel& model, const OptimizerSummary& optimizer) {
  return detail::summarize(model, optimizer, true);
}

FitResult detail::summarize(const LinearMixedModel& model, const OptimizerSummary& optimizer, bool level_tables) {
  const auto& f = model.frame();
  FitResult r;
  r.formula = f.formula.text;
  r.method = model.method();
  r.nobs = detail::model_state(model).n();  // (a model fitted from statistics has no rows)
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
  r.df_residual = static_cast<double>(r.nobs) - static_cast<double>(f.p());
  add_fixed_effects(model, r);
  add_variance_components(model, r);
  r.residual_structure = model.residual_estimates();
  const ResidualData& rd = f.residual;
  if (!rd.options.structure.empty() &&
      std::none_of(r.ngroups.begin(), r.ngroups.end(), [&](const GroupCount& g) { return g.group == rd.options.group; }))
    r.ngroups.push_back({rd.options.group, rd.group_levels.size()});

  if (level_tables) {
    r.ranef = random_effects(model);
    r.coef = coefficients(model, r.ranef);
  }

  auto resid = model.residuals();  // lme4's summary: Pearson residuals √w r / σ (nlme's: r / (σ δ))
  const auto& ratios = r.residual_structure.sd_ratios;
  for (std::size_t i = 0; i < resid.size(); ++i)
    resid[i] *= (f.weights.empty() ? 1.0 : std::sqrt(f.weights[i])) / r.sigma /
                (rd.sd_by.empty() ? 1.0 : ratios[static_cast<std::size_t>(rd.sd_by[i])]);
  const auto qs = detail::quantiles7(resid, {0, 0.25, 0.5, 0.75, 1});
  std::copy(qs.begin(), qs.end(), r.scaled_residuals.begin());

  add_messages(model, optimizer, r);
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
  if (!options.frame.weights.empty() && options.ddf == DdfMethod::KenwardRoger)
    throw Error("FitOptions::ddf KenwardRoger is not available with ModelFrameOptions::weights: Kenward-Roger's "
                "covariance here, as pbkrtest's, has no prior weights; use Satterthwaite");
  Formula fm = parse_formula(formula);
  ModelFrame frame = build_model_frame(data, fm, options.frame);
  check_residual_identifiable(frame);
  if (options.ddf == DdfMethod::KenwardRoger) {
    const std::string why = detail::kenward_roger_unavailable(frame);
    if (!why.empty()) throw Error("FitOptions::ddf KenwardRoger: " + why + "; use DdfMethod::Satterthwaite");
  }
  timings.model_frame = lap();
  // The factor at lme4's start is left to the optimizer's first evaluation (model_impl.h's analyse()).
  LinearMixedModel model(std::make_unique<detail::ModelState>(std::move(frame), options.method, false));
  timings.setup = lap();
  OptimizerSummary opt = model.fit(options);
  ConvergenceReport conv = check_convergence(model, opt, options);  // may move to a better optimum
  timings.optimize = lap();
  FitResult result = summarize(model, opt);
  for (auto& w : detail::data_warnings(data, model.frame().formula)) result.messages.push_back(std::move(w));
  result.convergence = std::move(conv);
  timings.summary = lap();
  add_inference(model, result, options.ddf);  // df, p and the type III ANOVA (lmm/inference.h)
  if (options.frame.residual.any()) result.confint_residual = residual_wald_intervals(model);
  timings.inference = lap();
  result.timings = timings;
  return {std::move(model), std::move(result)};
}

namespace detail {

std::string next_component_group(std::map<std::string, int>& seen, const std::string& group) {
  int& count = seen[group];
  return count++ == 0 ? group : group + "." + std::to_string(count - 1);
}

void add_term_components(const ReTermData& t, const std::string& gname, const Eigen::MatrixXd& S,
                         std::vector<VarianceComponent>& out) {
  const int q = t.q();
  for (int a = 0; a < q; ++a) {
    VarianceComponent vc;
    vc.group = gname;
    vc.term1 = t.names[a];
    vc.variance = S(a, a);
    vc.sd = std::sqrt(S(a, a));
    out.push_back(vc);
  }
  for (int a = 0; a < q; ++a)
    for (int b = a + 1; b < q; ++b) {
      VarianceComponent vc;
      vc.group = gname;
      vc.term1 = t.names[a];
      vc.term2 = t.names[b];
      const double d = std::sqrt(S(a, a) * S(b, b));
      vc.cor = d > 0 ? S(a, b) / d : NaN;
      out.push_back(vc);
    }
}

}  // namespace detail

}  // namespace lmm
