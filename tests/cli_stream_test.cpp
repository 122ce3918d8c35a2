// `lmm fit --stream`: the file read in chunks through sufficient statistics prints the summary the
// in-memory fit prints (the residual quantiles come from a second pass), writes the same
// --residuals rows, and refuses the options that need the rows in memory by name.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_runner.h"

namespace {

using lmm::testing::run_cli;

const std::string kData = LMM_TEST_DATA;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CliStream, SummaryEqualsTheInMemoryFit) {
  for (const auto& [file, formula] : {std::pair<std::string, std::string>{"growth200.csv", "y ~ time * group + (time | id)"},
                                      {"pastes.csv", "strength ~ 1 + (1 | batch/cask)"},
                                      {"penicillin.csv", "diameter ~ 1 + (1 | plate) + (1 | sample)"}}) {
    const auto mem = run_cli({"fit", kData + "/" + file, formula});
    const auto str = run_cli({"fit", kData + "/" + file, formula, "--stream", "--quiet"});
    ASSERT_EQ(str.code, 0) << str.err;
    EXPECT_EQ(str.out, mem.out) << file;
    EXPECT_TRUE(str.err.empty()) << str.err;  // no progress line when stderr is not a terminal
  }
}

TEST(CliStream, ResidualsFileHasTheRowsOfTheInMemoryOne) {
  const auto dir = lmm::testing::scratch_dir("lmm_stream_");
  const std::string f = kData + "/sleepstudy_missing.csv", formula = "Reaction ~ Days + (Days | Subject)";
  ASSERT_EQ(run_cli({"fit", f, formula, "--residuals", (dir / "a.csv").string()}).code, 0);
  ASSERT_EQ(run_cli({"fit", f, formula, "--stream", "--residuals", (dir / "b.csv").string()}).code, 0);
  std::istringstream a(slurp(dir / "a.csv")), b(slurp(dir / "b.csv"));
  std::string la, lb;
  int rows = 0;
  while (std::getline(a, la) && std::getline(b, lb)) {
    ++rows;
    const bool dropped = la.find(",NA,NA,NA") != std::string::npos;
    EXPECT_EQ(dropped, lb.find(",NA,NA,NA") != std::string::npos) << la << " | " << lb;
    if (rows == 1 || dropped) continue;
    // row and level equal; fitted value to 1e-8 relative
    EXPECT_EQ(la.substr(0, la.find(',', la.find(',') + 1)), lb.substr(0, lb.find(',', lb.find(',') + 1)));
    const double fa = std::stod(la.substr(la.find(',', la.find(',') + 1) + 1));
    const double fb = std::stod(lb.substr(lb.find(',', lb.find(',') + 1) + 1));
    EXPECT_NEAR(fa, fb, 1e-8 * std::abs(fa)) << la << " | " << lb;
  }
  EXPECT_FALSE(std::getline(b, lb));
  EXPECT_EQ(rows, 181);  // header + 180 data rows
}

TEST(CliStream, RefusesOptionsThatNeedTheRows) {
  const auto r = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "--stream", "--boot", "10"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--boot is not available when the file is read in chunks"), std::string::npos) << r.err;
}

}  // namespace
