// Kenward-Roger and Satterthwaite df with a residual structure against an independent dense
// computation from their formulas (tests/data/residual/kr_refs.json, made by make_kr_refs.R:
// V = ZGZ' + σ²DRD per group in natural parameters, numDeriv derivatives, pbkrtest's formulas).
// The model is put at the reference's parameters (nlme's estimates polished by Newton steps on the
// dense REML deviance), so that both sides evaluate the formulas at the same point.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/formula.h"
#include "lmm/inference.h"
#include "lmm/model.h"
#include "lmm/residual.h"

namespace {

using nlohmann::json;
const std::string kDir = std::string(LMM_TEST_DATA) + "/residual/";

json kr_reference(const std::string& name) {
  std::ifstream in(kDir + "kr_refs.json");
  return json::parse(in)[name];
}

void near_rel(double ours, double ref, double tol, const std::string& what) {
  EXPECT_NEAR(ours, ref, tol * std::abs(ref)) << what;
}

// The model of `ref` at the reference's parameters: the structure's natural values (`value`, then
// estimated from there: θ's tail) and the random-intercept SD from `re_variance` (0 for none).
lmm::LinearMixedModel model_at(const json& ref, const std::string& data, std::vector<double> value,
                               double re_variance) {
  const json& a = ref["lmm_args"];
  lmm::ModelFrameOptions fo;
  for (std::size_t i = 1; i < a.size(); ++i) {
    if (a[i] == "--residual")
      lmm::parse_residual_structure(a[i + 1].get<std::string>(), fo.residual);
    if (a[i] == "--residual-sd-by") fo.residual.sd_by = a[i + 1].get<std::string>();
  }
  fo.residual.value = std::move(value);
  const lmm::DataFrame d = lmm::read_table(kDir + "data/" + data);
  lmm::LinearMixedModel m(
      lmm::build_model_frame(d, lmm::parse_formula(a[0].get<std::string>()), fo));
  std::vector<double> theta = m.theta();  // [random-effects θ, η at `value`]
  const double sigma = std::sqrt(ref["psi"]["sigma2"].get<double>());
  if (m.ntheta_random() == 1) theta[0] = std::sqrt(re_variance) / sigma;
  m.set_theta(theta);
  near_rel(m.sigma(), sigma, 1e-8, "σ profiled at the reference's θ");
  near_rel(m.loglik(), ref["loglik"].get<double>(), 1e-10, "REML log-likelihood");
  return m;
}

std::vector<double> unit(std::size_t p, std::size_t j) {
  std::vector<double> c(p, 0.0);
  c[j] = 1;
  return c;
}

void check_df(lmm::LinearMixedModel& m, const json& ref) {
  const lmm::Satterthwaite satt(m);
  const lmm::KenwardRoger kr(m);
  const std::vector<std::string> names = m.frame().fixed_names;
  const std::size_t p = names.size();
  ASSERT_EQ(p, ref["fixed"].size());
  for (std::size_t j = 0; j < p; ++j) {
    const json& fe = ref["fixed"][j];
    ASSERT_EQ(names[j], fe["term"].get<std::string>());
    const lmm::TTest s = satt.test(unit(p, j)), k = kr.test(unit(p, j));
    near_rel(s.std_error, fe["std_error"].get<double>(), 1e-8, names[j] + " SE");
    near_rel(s.df, fe["df_satterthwaite"].get<double>(), 1e-6, names[j] + " Satterthwaite df");
    near_rel(k.std_error, fe["std_error_kr"].get<double>(), 1e-7, names[j] + " KR SE");
    near_rel(k.df, fe["df_kr"].get<double>(), 1e-6, names[j] + " KR df");
  }
  for (const json& t : ref["ftests"]) {
    lmm::ContrastMatrix L;
    for (const auto& col : t["columns"]) {
      const auto it = std::find(names.begin(), names.end(), col.get<std::string>());
      ASSERT_NE(it, names.end());
      L.push_back(unit(p, static_cast<std::size_t>(it - names.begin())));
    }
    const std::string what = t["name"].get<std::string>();
    const lmm::FTest s = satt.test(L), k = kr.test(L);
    near_rel(s.F, t["F_satterthwaite"].get<double>(), 1e-7, what + " Satterthwaite F");
    near_rel(s.den_df, t["ddf_satterthwaite"].get<double>(), 1e-6, what + " Satterthwaite ddf");
    near_rel(k.F, t["F_kr"].get<double>(), 1e-7, what + " KR F");
    near_rel(k.den_df, t["ddf_kr"].get<double>(), 1e-6, what + " KR ddf");
  }
}

TEST(ResidualKenwardRoger, MmrmUnstructuredEqualsDenseFormulas) {
  const json ref = kr_reference("mmrm_us");
  std::vector<double> value;
  for (const auto& [k, v] : ref["psi"].items())
    if (k.rfind("cor:", 0) == 0) value.push_back(v.get<double>());
  for (const auto& [k, v] : ref["psi"].items())
    if (k.rfind("sd_ratio:", 0) == 0) value.push_back(v.get<double>());
  lmm::LinearMixedModel m = model_at(ref, "trial2.csv", value, 0);
  check_df(m, ref);
}

TEST(ResidualKenwardRoger, RandomInterceptAr1EqualsDenseFormulas) {
  const json ref = kr_reference("ovary_ar1");
  lmm::LinearMixedModel m = model_at(ref, "ovary.csv", {ref["psi"]["phi"].get<double>()},
                                     ref["psi"]["Mare:(Intercept):variance"].get<double>());
  check_df(m, ref);
}

// With the structure held at its null (φ = 0, SD ratios 1; ResidualOptions::fixed), the block
// computation must give pbkrtest's figures of the plain model (the existing Kenward-Roger code,
// checked against pbkrtest): random slopes with their correlation, and σ².
TEST(ResidualKenwardRoger, NullStructureEqualsPlainModel) {
  const lmm::DataFrame d = lmm::read_table(kDir + "data/sleepstudy.csv");
  const lmm::Formula fm = lmm::parse_formula("Reaction ~ Days + (Days | Subject)");
  lmm::LinearMixedModel plain(lmm::build_model_frame(d, fm, {}));
  plain.fit();
  lmm::ModelFrameOptions fo;
  lmm::parse_residual_structure("ar1(Days | Subject)", fo.residual);
  fo.residual.fixed = true;
  lmm::LinearMixedModel null(lmm::build_model_frame(d, fm, fo));
  null.set_theta(plain.theta());
  ASSERT_NEAR(null.loglik(), plain.loglik(), 1e-9 * std::abs(plain.loglik()));
  const lmm::KenwardRoger a(plain), b(null);
  for (std::size_t j = 0; j < 2; ++j) {
    const lmm::TTest ta = a.test(unit(2, j)), tb = b.test(unit(2, j));
    near_rel(tb.df, ta.df, 1e-9, "df");
    near_rel(tb.std_error, ta.std_error, 1e-9, "adjusted SE");
  }
}

// The CLI's fit with --ddf kenward-roger: the adjusted SEs and df at lmm's own optimum, which is
// within about 1e-5 of the reference's parameters.
TEST(ResidualKenwardRoger, CliFitUsesAdjustedCovariance) {
  const json ref = kr_reference("mmrm_us");
  std::vector<std::string> args = {"fit", kDir + "data/trial2.csv"};
  for (const auto& a : ref["lmm_args"]) args.push_back(a.get<std::string>());
  for (const char* s : {"--ddf", "kenward-roger", "--json"}) args.emplace_back(s);
  const lmm::testing::CliRun r = lmm::testing::run_cli(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["fixed"].size(), ref["fixed"].size());
  for (std::size_t i = 0; i < j["fixed"].size(); ++i) {
    const json& fe = ref["fixed"][i];
    near_rel(j["fixed"][i]["std_error"].get<double>(), fe["std_error_kr"].get<double>(), 1e-4,
             "CLI KR SE");
    near_rel(j["fixed"][i]["df"].get<double>(), fe["df_kr"].get<double>(), 1e-3, "CLI KR df");
  }
}

// Random effects crossed with the structure's groups link all 2211 rows into one block, more than
// is formed densely: one line pointing to Satterthwaite, exit 2.
TEST(ResidualKenwardRoger, CrossedBlockTooLargeIsRefused) {
  const auto r =
      lmm::testing::run_cli({"fit", kDir + "data/diary.csv", "mood ~ stress + (1 | id) + (1 | day)",
                             "--residual", "ar1(day | id)", "--ddf", "kenward-roger"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("2211 rows here, more than the 1500 allowed; use --ddf satterthwaite"),
            std::string::npos)
      << r.err;
}

}  // namespace
