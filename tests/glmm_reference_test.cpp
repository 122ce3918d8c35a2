// Generalized linear mixed models against lme4::glmer fits made by tests/data/glmm/make_glmm_refs.R
// (cases in cases_glmm_public.R; tolerances of tests/data/glmm's README, the same as
// compare_glmm.py): a log-likelihood within 1e-4 of lme4's means the same optimum, and then every
// estimate, standard error (the Hessian's), variance, conditional mode and SD, fitted value and
// prediction must agree to 1e-3 relative; a higher log-likelihood is at least as good.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/glmm.h"

namespace {

using nlohmann::json;
const std::string kDir = std::string(LMM_TEST_DATA) + "/glmm/";

json reference(const std::string& name) {
  std::ifstream in(kDir + name + ".json");
  return json::parse(in);
}

std::vector<double> as_vector(const json& j) {
  if (!j.is_array()) return {j.get<double>()};
  return j.get<std::vector<double>>();
}

// |a - b| <= max(rel * max(|a|, |b|), floor), as compare_glmm.py's close().
void expect_close(double ours, double ref, double rel, double floor, const std::string& what) {
  EXPECT_LE(std::abs(ours - ref), std::max(rel * std::max(std::abs(ours), std::abs(ref)), floor))
      << what << ": ours " << ours << ", lme4 " << ref;
}

lmm::GlmmOptions options_of(const json& ref) {
  lmm::GlmmOptions o;
  o.family = lmm::parse_family(ref["family"]);
  o.link = lmm::parse_link(ref["link"]);
  o.nagq = ref["nAGQ"];
  return o;
}

void compare_fixed(const lmm::GlmmResult& r, const json& ref) {
  ASSERT_EQ(r.fixed.size(), ref["fixed"].size());
  for (std::size_t j = 0; j < r.fixed.size(); ++j) {
    const json& f = ref["fixed"][j];
    const std::string t = f["term"];
    const double se = f["std_error"];
    EXPECT_EQ(r.fixed[j].term, t);
    expect_close(r.fixed[j].estimate, f["estimate"], 1e-3, 1e-3 * se, t + " estimate");
    expect_close(r.fixed[j].std_error, se, 1e-3, 0, t + " std_error");
    expect_close(r.fixed[j].t, f["z"], 1e-3, 1e-3, t + " z");
    const double z = f["z"];
    expect_close(r.fixed[j].p, f["p"], std::max(1e-2, 3e-3 * z * z), 1e-10, t + " p");
  }
}

void compare_random(const lmm::GlmmResult& r, const json& ref) {
  std::map<std::string, const lmm::VarianceComponent*> ours;
  for (const auto& c : r.random) ours[c.group + "|" + c.term1 + "|" + c.term2] = &c;
  for (const json& c : ref["random"]) {
    const std::string key = c["group"].get<std::string>() + "|" + c["term1"].get<std::string>() + "|" +
                            (c.contains("term2") ? c["term2"].get<std::string>() : "");
    ASSERT_TRUE(ours.count(key)) << key;
    if (c.contains("cor"))
      expect_close(ours[key]->cor, c["cor"], 0, 1e-3, key + " cor");
    else
      expect_close(ours[key]->sd, c["sd"], 1e-3, 1e-4, key + " sd");
  }
  const auto th = as_vector(ref["theta"]);
  ASSERT_EQ(r.theta.size(), th.size());
  for (std::size_t k = 0; k < th.size(); ++k) expect_close(r.theta[k], th[k], 1e-3, 1e-4, "theta");
}

void compare_ranef(const lmm::GlmmResult& r, const json& ref) {
  std::map<std::string, const lmm::RandomEffectLevel*> ours;
  for (const auto& l : r.ranef) ours[l.group + "|" + l.level] = &l;
  for (const json& l : ref["ranef"]) {
    const std::string key = l["group"].get<std::string>() + "|" + l["level"].get<std::string>();
    ASSERT_TRUE(ours.count(key)) << key;
    const auto* o = ours[key];
    for (std::size_t k = 0; k < o->terms.size(); ++k) {
      const double sd = l["condsd_" + o->terms[k]];
      expect_close(o->mode[k], l[o->terms[k]], 1e-3, 1e-3 * sd, key + " mode");
      expect_close(o->condsd[k], sd, 1e-3, 1e-8, key + " condsd");
    }
  }
}

void compare_predictions(const lmm::GlmmFitted& f, const json& ref) {
  const auto fv = as_vector(ref["fitted_response_first10"]);
  for (std::size_t i = 0; i < fv.size(); ++i) expect_close(f.result.fitted.at(i), fv[i], 1e-3, 1e-6, "fitted");
  const lmm::DataFrame nd = lmm::read_table(kDir + "data/" + ref["case"].get<std::string>() + "_newdata.csv");
  const auto pop = lmm::glmm_predict_link(f, nd, false), cond = lmm::glmm_predict_link(f, nd, true);
  const json& p = ref["predict_link_newdata"];
  ASSERT_EQ(pop.size(), p.size());
  for (std::size_t i = 0; i < pop.size(); ++i) {
    expect_close(pop[i], p[i]["re_form_na"], 1e-3, 1e-4, "re_form_na");
    expect_close(cond[i], p[i]["allow_new_levels"], 1e-3, 1e-4, "allow_new_levels");
  }
}

// performance 0.10.2's icc() and r2_nakagawa() where make_latent_refs.R made them for the case:
// binomial π²/3, 1, π²/6 exactly; Poisson ln(1 + 1/λ) with λ from the refitted null model.
void compare_latent(const lmm::GlmmResult& r, const std::string& case_name) {
  const json refs = reference("latent_refs");
  if (!refs.contains(case_name)) return;
  const json& v = refs[case_name];
  const bool poisson = v["family"] == "poisson";
  if (poisson) expect_close(std::log(r.latent.lambda), v["null_intercept"], 1e-3, 1e-4, "null model intercept");
  expect_close(r.latent.fixed, v["var_fixed"], 1e-3, 1e-6, "var_fixed");
  expect_close(r.latent.random, v["var_random"], 1e-3, 1e-6, "var_random");
  expect_close(r.latent.dispersion, v["var_dispersion"], 1e-3, 1e-6, "var_dispersion");
  expect_close(r.latent.distribution, v["var_distribution"], poisson ? 1e-3 : 1e-12, 0, "var_distribution");
  expect_close(r.latent.icc_adjusted, v["icc_adjusted"], 1e-3, 1e-6, "icc_adjusted");
  expect_close(r.latent.icc_unadjusted, v["icc_unadjusted"], 1e-3, 1e-6, "icc_unadjusted");
  expect_close(r.latent.r2_marginal, v["r2_marginal"], 1e-3, 1e-6, "r2_marginal");
  expect_close(r.latent.r2_conditional, v["r2_conditional"], 1e-3, 1e-6, "r2_conditional");
}

lmm::GlmmFitted check_case(const std::string& name) {
  const json ref = reference(name);
  const lmm::DataFrame data = lmm::read_table(kDir + "data/" + ref["data"].get<std::string>());
  lmm::GlmmFitted f = lmm::fit_glmm(data, ref["formula"], options_of(ref));
  const auto& r = f.result;
  EXPECT_EQ(r.nobs, ref["nobs"].get<std::size_t>());
  for (const auto& g : r.ngroups) EXPECT_EQ(g.levels, ref["ngroups"][g.group].get<std::size_t>()) << g.group;
  EXPECT_TRUE(r.converged) << name;
  double ll_ref = ref["loglik"];
  if (ref.contains("loglik_recheck_warm") && ref["loglik_recheck_warm"].is_number())
    ll_ref = std::max(ll_ref, ref["loglik_recheck_warm"].get<double>());
  EXPECT_GE(r.loglik, ll_ref - 1e-4) << name << ": a worse optimum";
  EXPECT_NEAR(r.aic - (-2 * r.loglik), ref["aic"].get<double>() - ref["minus_twice_loglik"].get<double>(), 1e-6);
  EXPECT_NEAR(r.bic - (-2 * r.loglik), ref["bic"].get<double>() - ref["minus_twice_loglik"].get<double>(), 1e-6);
  if (r.loglik > ll_ref + 1e-4) return f;  // a better optimum: estimates are not lme4's
  expect_close(r.deviance, ref["deviance"], 1e-3, 0, "deviance");
  compare_fixed(r, ref);
  compare_random(r, ref);
  compare_ranef(r, ref);
  compare_predictions(f, ref);
  compare_latent(r, ref["case"]);
  return f;
}

TEST(GlmmReference, CbppBinomialLaplace) { check_case("cbpp_binomial_laplace"); }
TEST(GlmmReference, CbppBinomialAgq9) { check_case("cbpp_binomial_agq9"); }
TEST(GlmmReference, GrouseticksPoissonCrossed) { check_case("grouseticks_poisson_crossed"); }
TEST(GlmmReference, VerbaggBinaryCrossed) { check_case("verbagg_binary_crossed"); }
TEST(GlmmReference, BinaryGrowth500Logit) { check_case("binary_growth500_logit"); }
TEST(GlmmReference, ExposurePoissonOffset) { check_case("exposure_poisson_offset"); }
// An observation-level random effect (INDEX is the row number): insight counts its variance as
// dispersion, part of the residual variance, not of the random-effect variance.
TEST(GlmmReference, GrouseticksPoissonObservationLevelLatent) {
  const lmm::DataFrame data = lmm::read_table(kDir + "data/grouseticks.csv");
  lmm::GlmmOptions o;
  o.family = lmm::GlmmFamily::Poisson;
  const auto f = lmm::fit_glmm(data, "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX)", o);
  EXPECT_GT(f.result.latent.dispersion, 0.1);
  compare_latent(f.result, "grouseticks_poisson_olre");
}
// the other links (tests/data/glmm/cases_glmm_links.R)
TEST(GlmmReference, CbppBinomialProbit) { check_case("links/cbpp_binomial_probit"); }
TEST(GlmmReference, CbppBinomialCloglogAgq5) { check_case("links/cbpp_binomial_cloglog_agq5"); }
TEST(GlmmReference, BinaryGrowth500Probit) { check_case("links/binary_growth500_probit"); }

}  // namespace

namespace {

// lme4's anova(m0, m) of the exposure case: both log-likelihoods, χ² and df.
TEST(GlmmReference, ExposurePoissonLikelihoodRatioTest) {
  const json ref = reference("exposure_poisson_offset");
  const json& a = ref["anova_lrt"];
  const lmm::DataFrame data = lmm::read_table(kDir + "data/" + ref["data"].get<std::string>());
  const auto c = lmm::compare_glmms(data, {ref["formula"], a["null_formula"]}, options_of(ref));
  ASSERT_EQ(c.npar, (std::vector<int>{2, 3}));
  EXPECT_EQ(c.formulas[0], a["null_formula"].get<std::string>());  // ordered by npar
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(c.loglik[i], a["loglik"][i].get<double>(), 1e-4);
  ASSERT_EQ(c.tests.size(), 1u);
  EXPECT_NEAR(c.tests[0].chisq, a["chisq"].get<double>(), 4e-4);
  EXPECT_EQ(c.tests[0].df, a["df"].get<int>());
  EXPECT_NEAR(std::log(c.tests[0].p), std::log(a["p"].get<double>()), 1e-2 * std::abs(std::log(a["p"].get<double>())));
}

}  // namespace
