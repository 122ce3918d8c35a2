// The inference options of the command line: `lmm compare`, --profile, --boot/--seed/--threads,
// --residuals; JSON keys and errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kData = LMM_TEST_DATA;

using lmm::testing::CliRun;
using lmm::testing::load_reference;
using lmm::testing::run_cli;

fs::path scratch() { return lmm::testing::scratch_dir("lmm_inference_cli_"); }

TEST(CliCompare, JsonMatchesLme4Anova) {
  const json ref = load_reference("compare_sleepstudy_intercept_vs_slope");
  CliRun r = run_cli({"compare", kData + "/sleepstudy.csv", "Reaction ~ Days + (1 | Subject)",
                   "Reaction ~ Days + (Days | Subject)", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_NEAR(j["chisq"].get<double>(), ref["chisq"].get<double>(), 1e-3 * ref["chisq"].get<double>());
  EXPECT_EQ(j["df"], ref["df"]);
  EXPECT_NEAR(j["p"].get<double>(), ref["p"].get<double>(), 1e-2 * ref["p"].get<double>());
  for (const char* k : {"npar", "aic", "bic", "loglik", "deviance"}) {
    ASSERT_EQ(j[k].size(), 2u) << k;
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(j[k][i].get<double>(), ref[k][i].get<double>(), 2e-3) << k;
  }
  EXPECT_EQ(j["refit_ml"], true);
  ASSERT_EQ(j["tests"].size(), 1u);
}

TEST(CliCompare, TextSaysModelsWereRefittedByMl) {
  CliRun r = run_cli({"compare", kData + "/sleepstudy.csv", "Reaction ~ 1 + (1 | Subject)", "Reaction ~ Days + (1 | Subject)"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Pr(>Chisq)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("maximum likelihood"), std::string::npos) << r.out;
}

TEST(CliCompare, RemlWithDifferentFixedEffectsIsAnError) {
  CliRun r = run_cli({"compare", kData + "/sleepstudy.csv", "Reaction ~ 1 + (1 | Subject)", "Reaction ~ Days + (1 | Subject)",
                   "--reml"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(r.err.rfind("lmm: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("same fixed effects"), std::string::npos) << r.err;
  // The library names CompareOptions::reml; the command line says it with its own flag.
  EXPECT_NE(r.err.find("drop --reml"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("CompareOptions"), std::string::npos) << r.err;
}

TEST(CliFit, JsonHasInferenceKeys) {
  CliRun r = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "--profile", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  for (const char* k : {"icc_adjusted", "icc_unadjusted", "r2_marginal", "r2_conditional"})
    EXPECT_TRUE(j[k].is_number()) << k;
  EXPECT_EQ(j["confint_wald"].size(), 2u);
  ASSERT_EQ(j["confint_profile"].size(), 6u);
  EXPECT_EQ(j["confint_profile"][1]["parameter"], "cor_Days.(Intercept)|Subject");
  EXPECT_EQ(j["convergence"]["status"], "ok");
  EXPECT_EQ(j["convergence"]["code"], 0);
  EXPECT_EQ(j["convergence"]["gradient"].size(), 3u);
}

TEST(CliFit, BootstrapSameOnOneAndTwoThreads) {
  const std::vector<std::string> base{"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)",
                                      "--boot", "40", "--seed", "11", "--json"};
  auto with = [&](const std::string& threads) {
    auto a = base;
    a.insert(a.end(), {"--threads", threads});
    CliRun r = run_cli(a);
    EXPECT_EQ(r.code, 0) << r.err;
    return json::parse(r.out);
  };
  const json one = with("1"), two = with("2");
  ASSERT_EQ(one["confint_boot"].size(), 10u);
  EXPECT_EQ(one["confint_boot"], two["confint_boot"]);
  EXPECT_EQ(one["bootstrap"]["threads"], 1);
  EXPECT_EQ(two["bootstrap"]["threads"], 2);
}

TEST(CliFit, ResidualsFileAndItsErrors) {
  const fs::path out = scratch() / "resid.csv";
  fs::remove(out);
  CliRun r = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "--residuals", out.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(out);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "row,Subject,fitted,residual,scaled_residual");
  int lines = 0;
  for (std::string l; std::getline(in, l);) ++lines;
  EXPECT_EQ(lines, 180);
  CliRun bad = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "--residuals",
                     (scratch() / "missing_dir" / "r.csv").string()});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(bad.out.empty()) << bad.out;
  EXPECT_NE(bad.err.find("residuals"), std::string::npos) << bad.err;
}

}  // namespace
