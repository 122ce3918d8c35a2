#include "json_inference.h"

namespace lmm::cli {

void write_intervals(JsonWriter& w, const std::vector<Interval>& ivs) {
  w.begin_array();
  for (const auto& iv : ivs) {
    SortedObject e;
    e.add("parameter", iv.parameter).add("estimate", iv.estimate).add("lower", iv.lower).add("upper", iv.upper);
    if (!iv.note.empty()) e.add("note", iv.note);
    e.write(w);
  }
  w.end_array();
}

namespace {

void write_variance_partition(JsonWriter& w, const VariancePartition& v) {
  SortedObject()
      .add("var_fixed", v.var_fixed)
      .add("var_random", v.var_random)
      .add("var_random_all_terms", v.var_random_all_terms)
      .add("var_residual", v.var_residual)
      .add("note", [&](JsonWriter& w) { w.string_or_null(v.note); })
      .write(w);
}

void write_convergence(JsonWriter& w, const ConvergenceReport& c) {
  SortedObject conv;
  conv.add("status", c.status).add("code", c.code).add("max_grad", c.max_grad).add("tolerance", c.tolerance);
  conv.add("theta_names", c.theta_names).add("gradient", c.gradient).add("scaled_gradient", c.scaled_gradient);
  conv.add("hessian_eigenvalues", c.hessian_eigenvalues);
  conv.add("parameter_at_fault", [&](JsonWriter& w) { w.string_or_null(c.parameter_at_fault); });
  conv.add("messages", c.messages);
  if (c.refitted)
    conv.add("second_optimizer", [&](JsonWriter& w) {
      SortedObject()
          .add("algorithm", c.second_algorithm)
          .add("first_objective", c.first_objective)
          .add("second_objective", c.second_objective)
          .add("max_theta_difference", c.max_theta_difference)
          .add("agree", c.optimizers_agree)
          .add("switched", c.switched_to_second)
          .write(w);
    });
  conv.write(w);
}

}  // namespace

void write_bootstrap(JsonWriter& w, const BootstrapResult& b) {
  SortedObject()
      .add("replicates", b.replicates)
      .add("failed", b.failed)
      .add("seed", b.seed)
      .add("threads", b.threads)
      .add("level", b.level)
      .add("method", "parametric, percentile")
      .write(w);
}

void add_inference_members(SortedObject& j, const FitResult& r) {
  const auto& v = r.variance_partition;
  j.add("icc_adjusted", v.icc_adjusted).add("icc_unadjusted", v.icc_unadjusted);
  j.add("r2_marginal", v.r2_marginal).add("r2_conditional", v.r2_conditional);
  j.add("variance_partition", [&v](JsonWriter& w) { write_variance_partition(w, v); });
  j.add("confint_wald", [&r](JsonWriter& w) { write_intervals(w, r.confint_wald); });
  if (!r.confint_residual.empty())
    j.add("confint_residual", [&r](JsonWriter& w) { write_intervals(w, r.confint_residual); });
  if (!r.confint_profile.empty())
    j.add("confint_profile", [&r](JsonWriter& w) { write_intervals(w, r.confint_profile); });
  if (r.bootstrap.replicates > 0) {
    j.add("confint_boot", [&r](JsonWriter& w) { write_intervals(w, r.bootstrap.intervals); });
    j.add("bootstrap", [&r](JsonWriter& w) { write_bootstrap(w, r.bootstrap); });
  }
  j.add("convergence", [&r](JsonWriter& w) { write_convergence(w, r.convergence); });
  j.add("singular_advice", r.singular_advice);
}

void write_comparison_json(JsonWriter& w, const ModelComparison& c) {
  SortedObject j;
  j.add("formulas", c.formulas).add("method", c.method == Method::REML ? "REML" : "ML").add("refit_ml", c.refit_ml);
  j.add("npar", c.npar).add("aic", c.aic).add("bic", c.bic).add("loglik", c.loglik).add("deviance", c.deviance);
  j.add("tests", [&c](JsonWriter& w) {
    w.begin_array();
    for (const auto& t : c.tests) {
      SortedObject e;
      e.add("models", std::vector<std::size_t>{t.smaller + 1, t.larger + 1});
      e.add("chisq", t.chisq).add("df", t.df).add("p", t.p).write(w);
    }
    w.end_array();
  });
  if (!c.tests.empty()) {
    const auto& t = c.tests.back();
    j.add("chisq", t.chisq).add("df", t.df).add("p", t.p);
  }
  j.add("messages", c.messages);
  j.write(w);
}

}  // namespace lmm::cli
