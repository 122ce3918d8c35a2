// The data-quirk corpus (tests/data/quirks, made by make_quirks.py): every file is run through the
// real command line as cases.tsv says, and the outcome checked: a fit with the number of rows and
// groups the data mean, the fixed-effect columns, and the note that says what lmm did; or an error
// naming the column, the row and the text. No quirk may give another model without a word.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace {

using lmm::testing::run_cli;

const std::string kDir = std::string(LMM_TEST_DATA) + "/quirks/";

struct QuirkCase {
  std::string name, command, file, formula, args, expect, nobs, ngroups, terms, contains;
};

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + sep.size();
  }
}

std::vector<QuirkCase> load_cases() {
  std::ifstream in(kDir + "cases.tsv");
  std::vector<QuirkCase> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto f = split(line, "\t");
    if (f.size() != 10) ADD_FAILURE() << "cases.tsv: a line without 10 fields: " << line;
    if (f.size() != 10) continue;
    out.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]});
  }
  return out;
}

std::vector<std::string> arguments(const QuirkCase& c) {
  std::vector<std::string> a{c.command, kDir + c.file};
  for (const std::string& fm : split(c.formula, " ;; ")) a.push_back(fm);
  if (c.args != "-")
    for (const std::string& x : split(c.args, " ")) a.push_back(x);
  if (c.command == "fit" && c.expect == "fit") a.push_back("--json");
  return a;
}

void check_fit_json(const QuirkCase& c, const std::string& out) {
  const auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << c.name << ": not JSON: " << out.substr(0, 300);
  if (c.nobs != "-") EXPECT_EQ(j.at("nobs").get<std::size_t>(), std::stoul(c.nobs)) << c.name;
  if (c.ngroups != "-")
    for (const std::string& g : split(c.ngroups, ",")) {
      const auto eq = g.rfind('=');
      const std::string group = g.substr(0, eq);
      ASSERT_TRUE(j.at("ngroups").contains(group)) << c.name << ": no group " << group << " in " << j.at("ngroups");
      EXPECT_EQ(j.at("ngroups").at(group).get<std::size_t>(), std::stoul(g.substr(eq + 1))) << c.name << ": " << group;
    }
  if (c.terms != "-") {
    std::vector<std::string> terms;
    for (const auto& f : j.at("fixed")) terms.push_back(f.at("term").get<std::string>());
    EXPECT_EQ(terms, split(c.terms, ",")) << c.name;
  }
}

TEST(Quirks, CorpusHasAtLeastThirtyCases) { EXPECT_GE(load_cases().size(), 30u); }

TEST(Quirks, EveryCaseGivesTheExpectedOutcome) {
  for (const QuirkCase& c : load_cases()) {
    SCOPED_TRACE(c.name);
    const auto r = run_cli(arguments(c));
    if (c.expect == "error") {
      EXPECT_EQ(r.code, 2) << c.name << ": " << r.out << r.err;
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << c.name << ": not one line: " << r.err;
    } else {
      ASSERT_EQ(r.code, 0) << c.name << ": " << r.err;
      if (c.command == "fit") check_fit_json(c, r.out);
    }
    const std::string all = r.out + r.err;
    if (c.contains == "-") continue;
    for (const std::string& want : split(c.contains, "&&")) {
      if (!want.empty() && want[0] == '!')
        EXPECT_EQ(all.find(want.substr(1)), std::string::npos) << c.name << ": should not say '" << want.substr(1) << "'";
      else
        EXPECT_NE(all.find(want), std::string::npos) << c.name << ": does not say '" << want << "':\n" << all;
    }
  }
}

// --residuals writes the rows the model dropped with their grouping level (and NA residuals).
TEST(Quirks, ResidualsKeepTheGroupOfDroppedRows) {
  const auto dir = lmm::testing::scratch_dir("lmm_quirks_");
  const std::string out = (dir / "res.csv").string();
  const auto r = run_cli({"fit", kDir + "na_slash.csv", "y ~ x + (1 | id)", "--residuals", out});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = split(lmm::testing::slurp(out), "\n");
  ASSERT_GE(lines.size(), 33u);
  EXPECT_EQ(lines[0], "row,id,fitted,residual,scaled_residual");
  // Rows 3, 10 and 17 have x = N/A: persons 1, 3 and 5.
  EXPECT_EQ(lines[3], "3,1,NA,NA,NA");
  EXPECT_EQ(lines[10], "10,3,NA,NA,NA");
  EXPECT_EQ(lines[17], "17,5,NA,NA,NA");
  EXPECT_EQ(lines[4].rfind("4,1,", 0), 0u) << lines[4];
}

}  // namespace
