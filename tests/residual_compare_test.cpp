// Likelihood-ratio test of two residual structures (independent against AR(1)) with the same fixed
// and random effects, REML criteria compared, against nlme's anova() of the two lme fits
// (tests/data/residual/compare_ovary.json, made by make_compare_refs.R).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "lmm/compare.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/residual.h"

namespace {

using lmm::testing::run_cli;
using nlohmann::json;
const std::string kDir = std::string(LMM_TEST_DATA) + "/residual/";

json compare_reference() {
  std::ifstream in(kDir + "compare_ovary.json");
  return json::parse(in);
}

TEST(ResidualCompare, RemlStructuresEqualNlmeAnova) {
  const json ref = compare_reference();
  const lmm::DataFrame d = lmm::read_table(kDir + "data/" + ref["data"].get<std::string>());
  lmm::CompareOptions o;
  o.reml = true;
  o.residual.resize(2);
  lmm::parse_residual_structure(ref["residual"][1].get<std::string>(), o.residual[1]);
  const std::string f = ref["formula"].get<std::string>();
  const lmm::ModelComparison c = lmm::compare_models(d, {f, f}, o);
  ASSERT_EQ(c.loglik.size(), 2u);
  const double n = 308;  // BIC: lmm counts log(n) as lme4; nlme's REML BIC uses log(n - p)
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(c.npar[i], ref["npar"][i].get<int>());
    EXPECT_NEAR(c.loglik[i], ref["loglik"][i].get<double>(), 1e-6);
    EXPECT_NEAR(c.aic[i], ref["aic"][i].get<double>(), 2e-6);
    EXPECT_NEAR(c.bic[i], ref["aic"][i].get<double>() + (std::log(n) - 2) * c.npar[i], 2e-6);
  }
  ASSERT_EQ(c.tests.size(), 1u);
  EXPECT_EQ(c.tests[0].df, ref["df"].get<int>());
  EXPECT_NEAR(c.tests[0].chisq, ref["chisq"].get<double>(), 2e-6);
  EXPECT_NEAR(c.tests[0].p, ref["p"].get<double>(), 1e-6 * ref["p"].get<double>());
  bool noted = false;
  for (const auto& m : c.messages)
    noted = noted || m.find("differ only in their residual structure") != std::string::npos;
  EXPECT_TRUE(noted);
  EXPECT_NE(c.formulas[1].find("ar1(t | Mare)"), std::string::npos) << c.formulas[1];
}

TEST(ResidualCompare, CliOnePerModelAndErrors) {
  const json ref = compare_reference();
  const std::string data = kDir + "data/" + ref["data"].get<std::string>();
  const std::string f = ref["formula"].get<std::string>();
  const auto r = run_cli({"compare", data, f, f, "--residual", "none", "--residual",
                          "ar1(t | Mare)", "--reml", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_NEAR(j["tests"][0]["chisq"].get<double>(), ref["chisq"].get<double>(), 2e-6) << r.out;

  const auto three = run_cli({"compare", data, f, f, "--residual", "none", "--residual",
                              "ar1(t | Mare)", "--residual", "cs(1 | Mare)"});
  EXPECT_EQ(three.code, 2);
  EXPECT_EQ(std::count(three.err.begin(), three.err.end(), '\n'), 1) << three.err;
  EXPECT_NE(three.err.find("--residual: given 3 times for 2 models"), std::string::npos)
      << three.err;
}

}  // namespace
