// `lmm fit` with --ddf and --anova: the keys in --json, the tables in text, and user errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace {

using lmm::testing::CliRun;
using lmm::testing::run_cli;

const std::string kGrowth = std::string(LMM_TEST_DATA) + "/growth200.csv";
const std::string kSleep = std::string(LMM_TEST_DATA) + "/sleepstudy.csv";
const std::string kGrowthFormula = "y ~ time * group + (time | id)";

TEST(CliInference, JsonHasDfPAndTheAnovaTable) {
  const CliRun r = run_cli({"fit", kGrowth, kGrowthFormula, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ddf"], "Satterthwaite");
  for (const auto& f : j["fixed"]) {
    EXPECT_TRUE(f["df"].is_number()) << f.dump();
    EXPECT_TRUE(f["p"].is_number()) << f.dump();
  }
  ASSERT_EQ(j["anova_type3"].size(), 3u);
  EXPECT_EQ(j["anova_type3"][2]["term"], "time:group");
  for (const auto& a : j["anova_type3"])
    for (const char* k : {"num_df", "den_df", "F", "p"}) EXPECT_TRUE(a[k].is_number()) << a.dump();
}

TEST(CliInference, KenwardRogerChangesStandardErrorsAndDf) {
  const CliRun s = run_cli({"fit", kGrowth, kGrowthFormula, "--json"});
  const CliRun k = run_cli({"fit", kGrowth, kGrowthFormula, "--json", "--ddf", "kenward-roger"});
  ASSERT_EQ(k.code, 0) << k.err;
  const auto js = nlohmann::json::parse(s.out), jk = nlohmann::json::parse(k.out);
  EXPECT_EQ(jk["ddf"], "Kenward-Roger");
  // pbkrtest: SE of time 0.200098 -> 0.200099 (adjusted), df 193.85 -> 195.20.
  EXPECT_NEAR(jk["fixed"][1]["df"].get<double>(), 195.19782, 0.02);
  EXPECT_GT(jk["fixed"][1]["std_error"].get<double>(), js["fixed"][1]["std_error"].get<double>());
}

TEST(CliInference, NoneLeavesDfAndPOut) {
  const CliRun r = run_cli({"fit", kSleep, "Reaction ~ Days + (Days | Subject)", "--json", "--ddf", "none"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const auto& f : j["fixed"]) {
    EXPECT_FALSE(f.contains("df"));
    EXPECT_FALSE(f.contains("p"));
  }
  EXPECT_TRUE(j["ddf"].is_null());
  EXPECT_TRUE(j["anova_type3"][0]["den_df"].is_null());
}

TEST(CliInference, TextShowsDfColumnsAndTheAnovaWithTheFlag) {
  const CliRun r = run_cli({"fit", kGrowth, kGrowthFormula, "--anova"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Pr(>|t|)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Satterthwaite"), std::string::npos);
  EXPECT_NE(r.out.find("Type III Analysis of Variance Table"), std::string::npos) << r.out;
  const CliRun plain = run_cli({"fit", kGrowth, kGrowthFormula});
  EXPECT_EQ(plain.out.find("Type III Analysis of Variance Table"), std::string::npos);
}

TEST(CliInference, BadDdfAndKenwardRogerWithMlAreUserErrors) {
  const CliRun bad = run_cli({"fit", kSleep, "Reaction ~ Days + (Days | Subject)", "--ddf", "wald"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(bad.out.empty());
  EXPECT_NE(bad.err.find("unknown df method 'wald'"), std::string::npos) << bad.err;
  const CliRun ml = run_cli({"fit", kSleep, "Reaction ~ Days + (Days | Subject)", "--ml", "--ddf", "kenward-roger"});
  EXPECT_EQ(ml.code, 2);
  EXPECT_TRUE(ml.out.empty());
  EXPECT_NE(ml.err.find("REML"), std::string::npos) << ml.err;
}

}  // namespace
