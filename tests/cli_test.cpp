// The command line: bad input gets a one-line error that says what and where, exit code 2, and
// nothing on stdout; good input gives the summary or JSON.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;

using lmm::testing::CliRun;
using lmm::testing::run_cli;

fs::path write_temp(const std::string& name, const std::string& text) {
  const fs::path dir = lmm::testing::scratch_dir("lmm_cli_data_");
  std::ofstream(dir / name, std::ios::binary) << text;
  return dir / name;
}

const std::string kData = LMM_TEST_DATA;

// One line on stderr, containing `what`; exit 2; nothing on stdout.
void expect_error(const CliRun& r, const std::string& what) {
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(what), std::string::npos) << "stderr was: " << r.err;
  EXPECT_EQ(r.err.rfind("lmm: ", 0), 0u) << r.err;
}

std::string small_csv() {
  std::string s = "id,time,y,label\n";
  for (int i = 0; i < 6; ++i)
    for (int t = 0; t < 3; ++t) s += "p" + std::to_string(i) + "," + std::to_string(t) + "," + std::to_string(10 + i + 2 * t + (i * t) % 3) + ",a\n";
  return s;
}

TEST(Cli, FitPrintsSummary) {
  CliRun r = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("REML criterion at convergence: 1743.6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Number of obs: 180, groups:  Subject, 18"), std::string::npos) << r.out;
}

TEST(Cli, FitJsonHasFullPrecisionAndNoNonFinite) {
  CliRun r = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "--ml", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["method"], "ML");
  EXPECT_EQ(j["nobs"], 180);
  EXPECT_NEAR(j["deviance"].get<double>(), 1751.93934448, 1e-3);
  EXPECT_TRUE(j["reml_criterion"].is_null());
  EXPECT_EQ(r.out.find("nan"), std::string::npos);
  EXPECT_EQ(r.out.find("inf"), std::string::npos);
}

TEST(Cli, HelpExplainsFormulaAndMethods) {
  CliRun r = run_cli({"fit", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("(x || g)"), std::string::npos);
  EXPECT_NE(r.out.find("REML"), std::string::npos);
  EXPECT_NE(r.out.find("Singular"), std::string::npos);
}

TEST(CliErrors, MissingFile) { expect_error(run_cli({"fit", "/nonexistent/x.csv", "y ~ 1 + (1 | g)"}), "/nonexistent/x.csv"); }

TEST(CliErrors, EmptyFile) { expect_error(run_cli({"fit", write_temp("empty.csv", "").string(), "y ~ 1 + (1 | g)"}), "empty"); }

TEST(CliErrors, RaggedRows) {
  expect_error(run_cli({"fit", write_temp("ragged.csv", "a,b,c\n1,2,3\n4,5\n").string(), "a ~ b + (1 | c)"}), "line 3");
}

TEST(CliErrors, DuplicateColumns) {
  expect_error(run_cli({"fit", write_temp("dup.csv", "a,b,a\n1,2,3\n").string(), "a ~ b + (1 | c)"}), "duplicate column name 'a'");
}

TEST(CliErrors, FormulaDoesNotParse) {
  CliRun r = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject))"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("^"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Reaction ~ Days + (Days | Subject))"), std::string::npos) << r.err;
}

TEST(CliErrors, VariableNotInData) {
  expect_error(run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Dayz + (1 | Subject)"}), "Dayz");
  CliRun r = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Dayz + (1 | Subject)"});
  EXPECT_NE(r.err.find("Subject, Days, Reaction"), std::string::npos) << r.err;
}

TEST(CliErrors, NonNumericResponse) {
  expect_error(run_cli({"fit", write_temp("small.csv", small_csv()).string(), "label ~ time + (1 | id)"}), "not numeric");
}

TEST(CliErrors, NoRandomEffects) {
  expect_error(run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days"}), "no random-effects term");
}

TEST(CliErrors, GroupingFactorWithOneLevel) {
  expect_error(run_cli({"fit", write_temp("small.csv", small_csv()).string(), "y ~ time + (1 | label)"}), "label");
}

TEST(CliErrors, TooManyRandomEffects) {
  // 18 observations, 6 ids x 3 random effects = 18: lme4 refuses.
  expect_error(run_cli({"fit", write_temp("small.csv", small_csv()).string(), "y ~ time + (time + I(time^2) | id)"}),
               "number of observations");
}

TEST(CliErrors, EveryRowDropped) {
  expect_error(run_cli({"fit", write_temp("allna.csv", "y,g\nNA,a\nNA,b\n").string(), "y ~ 1 + (1 | g)"}), "no observations left");
}

TEST(CliErrors, InfiniteValue) {
  std::string s = small_csv();
  s += "p9,1,1e400,a\n";
  expect_error(run_cli({"fit", write_temp("inf.csv", s).string(), "y ~ time + (1 | id)"}), "infinite");
}

}  // namespace
