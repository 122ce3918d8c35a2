// Regression tests for hostile input found while building the corpus (tests/corpus_test.cpp) and
// the fuzzers (fuzz/): messages stay one bounded line, spreadsheet exports with ';' and decimal
// commas are recognised and explained.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <cmath>
#include <string>

#include "io/number_text.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/formula.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

using lmm::testing::error_of;


TEST(HostileError, ControlBytesAreEscapedAndTheMessageIsBounded) {
  // A NUL used to end what() early: the rest of the message (", g") was lost.
  EXPECT_EQ(std::string(lmm::Error(std::string("columns are: y, x\0z, g", 22)).what()),
            "columns are: y, x\\x00z, g");
  EXPECT_EQ(std::string(lmm::Error("a\rb\x1b[2Jc\x7f").what()), "a\\x0db\\x1b[2Jc\\x7f");
  // Line breaks stay: the formula parser's caret display uses them.
  EXPECT_EQ(std::string(lmm::Error("formula: x\n  y ~\n     ^").what()), "formula: x\n  y ~\n     ^");
  const std::string big(10'000'000, 'x');
  const std::string msg = lmm::Error("column '" + big + "'").what();
  EXPECT_LT(msg.size(), lmm::Error::kMaxLength + 40);
  EXPECT_NE(msg.find("... (9998009 more bytes)"), std::string::npos) << msg.substr(msg.size() - 40);
  // Never cut inside a UTF-8 sequence.
  std::string utf8;
  while (utf8.size() < 3000) utf8 += "\xc3\xa9";  // é
  const std::string cut = lmm::Error(" " + utf8).what();
  const std::size_t dots = cut.find("...");
  ASSERT_NE(dots, std::string::npos);
  EXPECT_EQ(dots % 2, 1u);  // the leading space, then whole two-byte characters
}

TEST(HostileModelFrame, MissingVariableMessageListsFewBoundedNames) {
  // 10 MB column name: the message used to be 10 MB long.
  std::string csv = "y," + std::string(10'000'000, 'x') + ",g\n";
  for (int i = 0; i < 12; ++i) csv += std::to_string(i % 5) + ",1,g" + std::to_string(i % 3) + "\n";
  std::string msg = error_of([&] { lmm::fit(lmm::parse_table(csv, ','), "y ~ x + (1 | g)"); });
  EXPECT_NE(msg.find("variable 'x' in the formula is not a column of <text>; columns are: y, xxxx"), std::string::npos)
      << msg.substr(0, 200);
  EXPECT_LT(msg.size(), 300u);
  EXPECT_NE(msg.find("xxx..., g"), std::string::npos) << msg;

  // 100,000 columns: 50 are listed, then the count.
  std::string wide = "y,g";
  for (int j = 0; j < 99'998; ++j) wide += ",c" + std::to_string(j);
  wide += "\n";
  for (int i = 0; i < 6; ++i) {
    wide += std::to_string(i % 4) + ",g" + std::to_string(i % 2);
    for (int j = 0; j < 99'998; ++j) wide += ",0";
    wide += "\n";
  }
  msg = error_of([&] { lmm::fit(lmm::parse_table(wide, ','), "y ~ x + (1 | g)"); });
  EXPECT_NE(msg.find("columns are: y, g, c0, c1, "), std::string::npos) << msg.substr(0, 200);
  EXPECT_NE(msg.find(", c47, ... (100000 columns)"), std::string::npos) << msg;
}

TEST(HostileReader, SemicolonSeparatedDotCsvIsSniffed) {
  const fs::path p = fs::temp_directory_path() / ("lmm_hostile_" + std::to_string(::getpid()) + ".csv");
  std::ofstream(p) << "id;y;x\n1;2,5;0\n2;3,5;1\n";
  const lmm::DataFrame df = lmm::read_table(p.string());
  fs::remove(p);
  // Before: one column named "id;y;x", then "line 2 has 2 fields, the header has 1".
  ASSERT_EQ(df.names(), (std::vector<std::string>{"id", "y", "x"}));
  ASSERT_TRUE(df.at("y").is_numeric());  // decimal commas of a ';' export are read as such ...
  EXPECT_DOUBLE_EQ(df.at("y").numbers[1], 3.5);
  EXPECT_TRUE(df.at("x").is_numeric());
}

TEST(HostileReader, ForeignNumberNotation) {
  using lmm::detail::is_foreign_number;
  for (const char* s : {"1,5", "-0,25", "+3,0", "1,000", "12,345.6", "1.000,5", "1 000", "1'000", " 2,5 "})
    EXPECT_TRUE(is_foreign_number(s)) << s;
  for (const char* s : {"1.5", "1e5", "abc", "a,b", "1,", ",5", "1,5x", "", "-", "1-2", "2020-01-01", "1:30"})
    EXPECT_FALSE(is_foreign_number(s)) << s;
}

// ... and the messages say so.
TEST(HostileReader, DecimalCommasAreExplained) {
  std::string csv = "y,x,g\n";
  for (int i = 0; i < 24; ++i)
    csv += "\"" + std::to_string(i % 7) + "," + std::to_string(i % 3) + "\"," + std::to_string(i % 4) + ",g" +
           std::to_string(i % 6) + "\n";
  std::string msg = error_of([&] { lmm::fit(lmm::parse_table(csv, ','), "y ~ x + (1 | g)"); });
  EXPECT_NE(msg.find("column 'y' is read as text, not numbers (e.g. '0,0' in data row 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("its values look like numbers written with a decimal comma or digit-group separators"),
            std::string::npos)
      << msg;
  // As a predictor it would silently become a factor: an error names it.
  std::string csv2 = "y,x,g\n";
  for (int i = 0; i < 24; ++i)
    csv2 += std::to_string((i * 7) % 5 + i % 3) + ",\"" + std::to_string(i % 3) + ",5\",g" + std::to_string(i % 6) + "\n";
  msg = error_of([&] { lmm::fit(lmm::parse_table(csv2, ','), "y ~ x + (1 | g)"); });
  EXPECT_NE(msg.find("column 'x' is read as text, not numbers (e.g. '0,5' in data row 1"), std::string::npos) << msg;
  // factor(x) is categorical on purpose: no warning.
  const auto f = lmm::fit(lmm::parse_table(csv2, ','), "y ~ factor(x) + (1 | g)").result;
  for (const auto& m : f.messages) EXPECT_EQ(m.find("decimal comma"), std::string::npos) << m;
}

}  // namespace

// Found by fuzz/fuzz_formula ("y ~ (1 | g) - 1"): with no fixed effects the engine ran Eigen's rank
// update on an empty X, which reads through a null pointer (UBSan: reference binding to null).
// The fits themselves agree with lme4 (tests/data/bad/no_fixed_effects.R).
TEST(HostileEngine, NoFixedEffects) {
  std::ifstream in(std::string(LMM_TEST_DATA) + "/bad/no_fixed_effects.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  const lmm::DataFrame d = lmm::read_table(std::string(LMM_TEST_DATA) + "/sleepstudy.csv");
  {
    const auto& e = ref["reml_intercept"];
    const auto r = lmm::fit(d, e["formula"].get<std::string>()).result;
    EXPECT_TRUE(r.fixed.empty());
    EXPECT_NEAR(r.objective, e["reml_criterion"].get<double>(), 1e-6);
    EXPECT_NEAR(r.sigma, e["sigma"].get<double>(), 1e-5);
    EXPECT_NEAR(r.theta[0], e["theta"][0].get<double>(), 1e-5);
    EXPECT_TRUE(std::isnan(r.condition_number));
  }
  {
    const auto& e = ref["ml_slope"];
    lmm::FitOptions opt;
    opt.method = lmm::Method::ML;
    const auto r = lmm::fit(d, e["formula"].get<std::string>(), opt).result;
    EXPECT_NEAR(r.objective, e["deviance"].get<double>(), 1e-5);
    EXPECT_NEAR(r.sigma, e["sigma"].get<double>(), 1e-4);
    for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(r.theta[k], e["theta"][k].get<double>(), 1e-4);
    EXPECT_TRUE(r.messages.empty());
  }
}

// Found by fuzz/fuzz_formula: a line break followed by a UTF-8 continuation byte was kept as one
// two-byte "character" in the caret display, so the error had four lines instead of three.
TEST(HostileFormula, ErrorDisplayHasNoLineBreakFromTheFormula) {
  for (const char* f : {"y ~ x +\n\x81 >", "y \xff(y\xff\xff\n\x81\xdf\x86~ I * 1e-3>>~ >>>I>", "y ~ x\r\x80 | >"}) {
    const std::string msg = error_of([&] { lmm::parse_formula(f); });
    EXPECT_EQ(msg.rfind("formula: ", 0), 0u) << msg;
    EXPECT_EQ(std::count(msg.begin(), msg.end(), '\n'), 2) << msg;
  }
}

// Found by fuzz/fuzz_formula (CI): a backquoted name holding a line break was quoted as it was in
// the message line itself ("unexpected character", "is not a variable"), which then had more than
// three lines. Control characters in the message are now shown as escapes (\n, \x06).
TEST(HostileFormula, MessageQuotesNamesWithoutTheirLineBreaks) {
  const std::string crash("y~\xde `|\xff\xff\xff\xff\xff\xff\xff\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x06\x00\x00\x00\xff\xff\xff\xff\xff\x7f\xff\xff}< g\x9f\x9f\xcd`", 45);
  for (const std::string& f : {crash, std::string("y ~ `a\nb`(x)"), std::string("y ~ x + (1 | `g\n\th`) | z")}) {
    const std::string msg = error_of([&] { lmm::parse_formula(f); });
    EXPECT_EQ(msg.rfind("formula: ", 0), 0u) << msg;
    EXPECT_EQ(std::count(msg.begin(), msg.end(), '\n'), 2) << msg;
  }
  const std::string msg = error_of([&] { lmm::parse_formula("y ~ `a\nb`(x)"); });
  EXPECT_NE(msg.find("a\\nb"), std::string::npos) << msg;
}
