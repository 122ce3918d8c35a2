// `lmm fit` with --ddf and --anova: the keys in --json, the tables in text, and user errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// A crossed design whose second factor has more levels than Kenward-Roger's dense limit (4,000):
// 4,003 levels of a and of b, two rows each, and a two-level factor g.
std::string too_large_for_kenward_roger() {
  const auto path = lmm::testing::scratch_dir("lmm_cli_kr_") / "crossed.csv";
  std::ofstream out(path);
  out << "y,a,b,g\n";
  const int levels = 4003;
  for (int i = 0; i < 2 * levels; ++i)
    out << std::sin(i * 0.7) + 0.01 * (i % 13) << ",a" << i / 2 << ",b" << ((i + 1) / 2) % levels << ","
        << (i % 3 == 0 ? "u" : "v") << "\n";
  return path.string();
}

void expect_one_line_refusal(const CliRun& r, const std::string& what) {
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Kenward-Roger that cannot run is refused before the fit on every path that offers it: emmeans
// and report (dense matrices too large; emmeans with --ml), and fit --stream; nothing is written.
TEST(CliInference, KenwardRogerThatCannotRunIsRefusedBeforeTheFit) {
  const std::string data = too_large_for_kenward_roger(), formula = "y ~ g + (1 | a) + (1 | b)";
  expect_one_line_refusal(run_cli({"emmeans", data, formula, "--specs", "g", "--ddf", "kenward-roger"}),
                          "--ddf kenward-roger: Kenward-Roger for this model needs 4003 x 4003 dense matrices");
  expect_one_line_refusal(
      run_cli({"emmeans", kSleep, "Reaction ~ Days + (Days | Subject)", "--specs", "Days", "--ml", "--ddf", "kr"}),
      "needs a REML fit");
  const auto html = lmm::testing::scratch_dir("lmm_cli_kr_") / "report.html";
  expect_one_line_refusal(run_cli({"report", data, formula, "--out", html.string(), "--ddf", "kenward-roger"}),
                          "--ddf kenward-roger: Kenward-Roger for this model needs 4003 x 4003");
  EXPECT_FALSE(std::filesystem::exists(html));
  expect_one_line_refusal(run_cli({"fit", kSleep, "Reaction ~ Days + (Days | Subject)", "--stream", "--ddf",
                                   "kenward-roger", "--json"}),
                          "--ddf kenward-roger is not available when the file is read in chunks");
}

}  // namespace
