// Advice that must not mislead, and the text summary's details as lme4/lmerTest print them: the
// correlation of fixed effects with R's abbreviate() labels (tests/data/designs/abbreviate_refs.json,
// made by make_abbreviate_refs.R) and lme4's cut-off at 12 fixed effects, the Data: line,
// significance codes, and the centering applied (text and JSON).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "lmm/compare.h"
#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/report_data.h"
#include "lmm/summary_text.h"
#include "test_util.h"

namespace {

const std::string kData = LMM_TEST_DATA;
using lmm::testing::run_cli;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The whitespace-separated words of a line.
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// A summary whose fixed effects are `terms` with an identity covariance.
lmm::FitResult with_terms(const std::vector<std::string>& terms) {
  lmm::FitResult r;
  r.formula = "y ~ x + (1 | g)";
  for (const auto& t : terms) r.fixed.push_back({t, 1.0, 0.5, 2.0, NAN, NAN});
  const std::size_t p = terms.size();
  r.vcov.assign(p * p, 0.0);
  for (std::size_t i = 0; i < p; ++i) r.vcov[i * p + i] = 0.25;
  return r;
}

TEST(SummaryText, CorrelationLabelsAreRsAbbreviations) {
  const auto refs = lmm::testing::load_json(kData + "/designs/abbreviate_refs.json");
  for (const auto& set : refs) {
    const auto names = set["names"].get<std::vector<std::string>>();
    const auto min6 = set["min6"].get<std::vector<std::string>>();
    const auto min11 = set["min11"].get<std::vector<std::string>>();
    const auto text = lmm::format_summary(with_terms(names));
    const auto ls = lines_of(text);
    std::size_t at = 0;
    while (at < ls.size() && ls[at] != "Correlation of Fixed Effects:") ++at;
    ASSERT_LT(at + names.size(), ls.size()) << text;
    // Header: the first p - 1 names abbreviated to 6; rows: names 2..p abbreviated to 11.
    EXPECT_EQ(words(ls[at + 1]), std::vector<std::string>(min6.begin(), min6.end() - 1));
    for (std::size_t i = 1; i < names.size(); ++i) EXPECT_EQ(words(ls[at + 1 + i]).at(0), min11[i]) << names[i];
  }
}

// lme4: "Correlation matrix not shown by default, as p = 13 > 12."
TEST(SummaryText, NoCorrelationMatrixBeyond12FixedEffects) {
  std::vector<std::string> terms{"(Intercept)"};
  for (int k = 1; k <= 12; ++k) terms.push_back("x" + std::to_string(k));
  const auto text = lmm::format_summary(with_terms(terms));
  EXPECT_TRUE(has(text, "Correlation matrix not shown by default, as p = 13 > 12.")) << text;
  EXPECT_FALSE(has(text, "Correlation of Fixed Effects:"));
  terms.pop_back();
  EXPECT_TRUE(has(lmm::format_summary(with_terms(terms)), "Correlation of Fixed Effects:"));
}

// summary(lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)) prints
//   (Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***
//   Days          10.467      1.546  17.000   6.771 3.26e-06 ***
// and "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"; lme4 prints "Data: sleepstudy".
TEST(SummaryText, DataLineAndSignificanceCodes) {
  const std::string file = kData + "/sleepstudy.csv";
  const auto r = lmm::fit(lmm::read_table(file), "Reaction ~ Days + (Days | Subject)").result;
  const auto text = lmm::format_summary(r, {file, {}});
  EXPECT_TRUE(has(text, "\n   Data: " + file + "\n")) << text;
  EXPECT_FALSE(has(lmm::format_summary(r), "Data:"));
  for (const auto& l : lines_of(text))
    if ((l.rfind("(Intercept)", 0) == 0 || l.rfind("Days ", 0) == 0) && words(l).size() >= 6)
      EXPECT_EQ(words(l).back(), "***") << l;
  EXPECT_TRUE(has(text, "---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1\n"));
  // No df, no p-values, no stars (lme4 without lmerTest).
  lmm::FitOptions none;
  none.ddf = lmm::DdfMethod::None;
  const auto plain = lmm::format_summary(lmm::fit(lmm::read_table(file), "Reaction ~ Days + (Days | Subject)", none).result);
  EXPECT_FALSE(has(plain, "Signif. codes"));
  EXPECT_FALSE(has(plain, "***"));
}

// The centering applied is reported: sleepstudy's Days has mean 4.5 (0..9 for every subject).
TEST(SummaryText, CenteringIsReportedInTextAndJson) {
  const auto text = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "--center", "Days"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_TRUE(has(text.out, "Centered: Days: minus its mean 4.5 (Days = 0 is the mean)")) << text.out;
  const auto json = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "--center",
                             "Days=2", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  ASSERT_EQ(j["centering"].size(), 1u);
  EXPECT_EQ(j["centering"][0]["variable"], "Days");
  EXPECT_EQ(j["centering"][0]["kind"], "value");
  EXPECT_EQ(j["centering"][0]["value"], 2.0);
  const auto person = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days_within + Days_between + (1 | Subject)",
                               "--center-person", "Days:Subject", "--json"});
  ASSERT_EQ(person.code, 0) << person.err;
  const auto jp = nlohmann::json::parse(person.out);
  EXPECT_EQ(jp["centering"][0]["kind"], "person_mean");
  EXPECT_EQ(jp["centering"][0]["group"], "Subject");
  EXPECT_EQ(jp["centering"][0]["levels"], 18);
  // Without centering there is no entry.
  const auto plain = run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "--json"});
  EXPECT_FALSE(nlohmann::json::parse(plain.out).contains("centering"));
}

// lme4 on oats: lmer(yield ~ N + (N | Block)) is singular with every correlation +1. For a factor,
// (N || Block) keeps the correlations (lme4 expands a factor into one block), so that is no advice.
TEST(Advice, SingularFactorTermIsNotToldToUseDoubleBars) {
  const auto r = lmm::fit(lmm::read_table(kData + "/designs/oats.csv"), "yield ~ N + (N | Block)").result;
  ASSERT_TRUE(r.singular);
  ASSERT_FALSE(r.singular_advice.empty());
  for (const auto& a : r.singular_advice) EXPECT_FALSE(has(a, "Try (x || Block)") || has(a, "Try (N || Block)")) << a;
  EXPECT_TRUE(has(r.singular_advice[0], "'N' is a factor")) << r.singular_advice[0];
  EXPECT_TRUE(has(r.singular_advice[0], "(1 | Block) + (1 | Block:N)")) << r.singular_advice[0];
  // A numeric slope keeps the double-bar advice.
  const auto num = lmm::fit(lmm::read_table(kData + "/designs/oats.csv"), "yield ~ nitro + (nitro | Block)").result;
  ASSERT_TRUE(num.singular);
  for (const auto& a : num.singular_advice) EXPECT_FALSE(has(a, "is a factor")) << a;
}

// anova(lmer(Reaction ~ Days + (Days || Subject)), lmer(Reaction ~ Days + (Days | Subject))): one
// correlation tested, inside (-1, 1): no boundary caveat, chi-square with 1 df.
TEST(Advice, ComparingCorrelationsIsNoBoundaryTest) {
  const auto data = lmm::read_table(kData + "/sleepstudy.csv");
  const auto c = lmm::compare_models(data, {"Reaction ~ Days + (Days || Subject)", "Reaction ~ Days + (Days | Subject)"});
  ASSERT_EQ(c.tests.size(), 1u);
  EXPECT_EQ(c.tests[0].df, 1);
  bool told = false;
  for (const auto& m : c.messages) {
    EXPECT_FALSE(has(m, "variance sits on its boundary")) << m;
    told = told || (has(m, "differ only in correlations") && has(m, "df 1"));
  }
  EXPECT_TRUE(told);
  // Adding a variance keeps the boundary caveat.
  const auto v = lmm::compare_models(data, {"Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days || Subject)"});
  bool boundary = false;
  for (const auto& m : v.messages) boundary = boundary || has(m, "variance sits on its boundary");
  EXPECT_TRUE(boundary);
}

// lmer(MathAch ~ Sex + (1 | Sex), hsb): the fixed effect already gives both sexes their means, so
// the Sex variance is not identified; that is what is wrong, not the predictors' scaling.
TEST(Advice, GroupingFactorThatIsAlsoAFixedEffectIsNamed) {
  const auto r = lmm::fit(lmm::read_table(kData + "/designs/hsb.csv"), "MathAch ~ Sex + (1 | Sex)").result;
  bool named = false;
  for (const auto& m : r.convergence.messages) {
    named = named || has(m, "Sex is a grouping factor with 2 levels and also a fixed effect");
    EXPECT_FALSE(has(m, "scaling the predictors")) << m;
  }
  EXPECT_TRUE(named);
  const auto notes = lmm::report::explain_warnings(r);
  bool in_report = false;
  for (const auto& n : notes) in_report = in_report || has(n.explanation, "also a fixed effect");
  EXPECT_TRUE(in_report);
}

// A predictor far from zero (SES + 10000) makes the first gradient check fail; the section must
// still read as one verdict: the first line is the final one, an earlier failure is told as history.
TEST(SummaryText, ConvergenceSectionHasOneVerdict) {
  const auto r = lmm::fit(lmm::read_table(kData + "/designs/hsb.csv"),
                          "MathAch ~ I(SES + 10000) + (I(SES + 10000) | School)")
                     .result;
  const auto text = lmm::format_summary(r);
  const auto at = text.find("\nConvergence: ");
  ASSERT_NE(at, std::string::npos) << text;
  const auto section = lines_of(text.substr(at + 1));
  const bool ok = section[0].rfind("Convergence: ok", 0) == 0;
  EXPECT_EQ(ok, r.convergence.status == "ok");
  bool first_failed = false;
  for (std::size_t k = 1; k < section.size(); ++k) {
    if (ok) EXPECT_NE(section[k].rfind("  convergence check failed", 0), 0u) << section[k];
    first_failed = first_failed || has(section[k], "the first convergence check failed");
  }
  if (ok && first_failed) {
    EXPECT_TRUE(has(section[0], "the first check failed, as told below")) << section[0];
    EXPECT_TRUE(has(section.back(), "the check passes")) << section.back();
  }
}

}  // namespace
