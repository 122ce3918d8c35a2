// build_model_frame on the reference data sets: the numbers of observations, fixed-effect names,
// grouping factors, their levels (in order) and the order of the random-effects terms must be
// those lme4 reports in tests/data/reference/*.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formula_test_helpers.h"
#include "lmm/formula.h"
#include "lmm/model_frame.h"

namespace lmm {
namespace {

using nlohmann::json;

class FrameReference : public ::testing::TestWithParam<std::string> {};

TEST_P(FrameReference, ModelFrameMatchesLme4) {
  const std::string dir = LMM_TEST_DATA;
  std::ifstream in(dir + "/reference/" + GetParam() + ".json");
  ASSERT_TRUE(in) << GetParam();
  const json ref = json::parse(in);
  const std::string data_name = ref.at("data");
  const DataFrame data = testing::load_simple_csv(dir + "/" + data_name, data_name);
  const ModelFrame m = build_model_frame(data, parse_formula(ref.at("formula").get<std::string>()));

  EXPECT_EQ(m.n(), ref.at("nobs").get<std::size_t>());
  EXPECT_EQ(m.n() + m.n_dropped, data.nrows);

  std::vector<std::string> fixed;
  for (const json& f : ref.at("fixed")) fixed.push_back(f.at("term"));
  EXPECT_EQ(m.fixed_names, fixed);
  EXPECT_TRUE(m.aliased.empty());

  // Random terms: group and column names in lme4's order (VarCorr lists the variances of each
  // term's columns, then its correlations; lme4 names a repeated group "Subject.1").
  std::vector<std::pair<std::string, std::vector<std::string>>> terms;
  std::string last;
  for (const json& r : ref.at("random")) {
    const std::string g = r.at("group");
    if (g == "Residual" || (r.contains("term2") && !r.at("term2").is_null())) continue;
    if (terms.empty() || g != last) terms.push_back({g, {}});
    terms.back().second.push_back(r.at("term1"));
    last = g;
  }
  ASSERT_EQ(m.re.size(), terms.size());
  for (std::size_t k = 0; k < terms.size(); ++k) {
    std::string g = terms[k].first;
    const auto dot = g.rfind('.');
    if (dot != std::string::npos && g.find_first_not_of("0123456789", dot + 1) == std::string::npos)
      g = g.substr(0, dot);
    EXPECT_EQ(m.re[k].group, g);
    EXPECT_EQ(m.re[k].names, terms[k].second);
  }

  for (const auto& [g, nl] : ref.at("ngroups").items()) {
    bool found = false;
    for (const ReTermData& t : m.re)
      if (t.group == g) {
        EXPECT_EQ(t.nlevels(), nl.get<std::size_t>()) << g;
        found = true;
      }
    EXPECT_TRUE(found) << g;
  }

  std::map<std::string, std::vector<std::string>> levels;
  for (const json& r : ref.at("ranef")) levels[r.at("group")].push_back(r.at("level"));
  for (const ReTermData& t : m.re) {
    ASSERT_TRUE(levels.count(t.group)) << t.group;
    EXPECT_EQ(t.levels, levels[t.group]) << t.group;
  }
}

INSTANTIATE_TEST_SUITE_P(Lme4, FrameReference,
                         ::testing::Values("cake_factor_reml", "dyestuff2_singular_reml",
                                           "growth200_ml", "growth200_null_reml", "growth200_reml",
                                           "pastes_nested_reml", "penicillin_crossed_reml",
                                           "sleepstudy_intercept_ml", "sleepstudy_intercept_reml",
                                           "sleepstudy_missing_reml", "sleepstudy_slope_ml",
                                           "sleepstudy_slope_reml", "sleepstudy_zerocorr_reml"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace lmm
