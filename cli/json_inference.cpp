#include "json_inference.h"

#include <cmath>

namespace lmm::cli {

namespace {

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json numbers(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(number(x));
  return a;
}

nlohmann::json intervals(const std::vector<Interval>& ivs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& iv : ivs) {
    nlohmann::json e{{"parameter", iv.parameter},
                     {"estimate", number(iv.estimate)},
                     {"lower", number(iv.lower)},
                     {"upper", number(iv.upper)}};
    if (!iv.note.empty()) e["note"] = iv.note;
    a.push_back(e);
  }
  return a;
}

}  // namespace

void add_inference_json(nlohmann::json& j, const FitResult& r) {
  const auto& v = r.variance_partition;
  j["icc_adjusted"] = number(v.icc_adjusted);
  j["icc_unadjusted"] = number(v.icc_unadjusted);
  j["r2_marginal"] = number(v.r2_marginal);
  j["r2_conditional"] = number(v.r2_conditional);
  j["variance_partition"] = {{"var_fixed", number(v.var_fixed)},
                             {"var_random", number(v.var_random)},
                             {"var_random_all_terms", number(v.var_random_all_terms)},
                             {"var_residual", number(v.var_residual)},
                             {"note", v.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.note)}};
  j["confint_wald"] = intervals(r.confint_wald);
  if (!r.confint_profile.empty()) j["confint_profile"] = intervals(r.confint_profile);
  if (r.bootstrap.replicates > 0) {
    const auto& b = r.bootstrap;
    j["confint_boot"] = intervals(b.intervals);
    j["bootstrap"] = {{"replicates", b.replicates}, {"failed", b.failed}, {"seed", b.seed},
                      {"threads", b.threads},       {"level", b.level},   {"method", "parametric, percentile"}};
  }
  const auto& c = r.convergence;
  nlohmann::json conv{{"status", c.status},
                      {"code", c.code},
                      {"max_grad", number(c.max_grad)},
                      {"tolerance", c.tolerance},
                      {"theta_names", c.theta_names},
                      {"gradient", numbers(c.gradient)},
                      {"scaled_gradient", numbers(c.scaled_gradient)},
                      {"hessian_eigenvalues", numbers(c.hessian_eigenvalues)},
                      {"parameter_at_fault", c.parameter_at_fault.empty() ? nlohmann::json(nullptr)
                                                                          : nlohmann::json(c.parameter_at_fault)},
                      {"messages", c.messages}};
  if (c.refitted)
    conv["second_optimizer"] = {{"algorithm", c.second_algorithm},
                                {"first_objective", number(c.first_objective)},
                                {"second_objective", number(c.second_objective)},
                                {"max_theta_difference", number(c.max_theta_difference)},
                                {"agree", c.optimizers_agree},
                                {"switched", c.switched_to_second}};
  j["convergence"] = conv;
  j["singular_advice"] = r.singular_advice;
}

nlohmann::json comparison_json(const ModelComparison& c) {
  nlohmann::json j;
  j["formulas"] = c.formulas;
  j["method"] = c.method == Method::REML ? "REML" : "ML";
  j["refit_ml"] = c.refit_ml;
  j["npar"] = c.npar;
  j["aic"] = numbers(c.aic);
  j["bic"] = numbers(c.bic);
  j["loglik"] = numbers(c.loglik);
  j["deviance"] = numbers(c.deviance);
  nlohmann::json tests = nlohmann::json::array();
  for (const auto& t : c.tests)
    tests.push_back({{"models", {t.smaller + 1, t.larger + 1}},
                     {"chisq", number(t.chisq)},
                     {"df", t.df},
                     {"p", number(t.p)}});
  j["tests"] = tests;
  if (!c.tests.empty()) {
    const auto& t = c.tests.back();
    j["chisq"] = number(t.chisq);
    j["df"] = t.df;
    j["p"] = number(t.p);
  }
  j["messages"] = c.messages;
  return j;
}

}  // namespace lmm::cli
