// Conditional modes and conditional SDs of the random effects against lme4's
// ranef(m, condVar = TRUE) for every reference case in tests/data/reference (the `ranef` field),
// with scripts/compare_reference.py's tolerance: 5e-3 relative or 1e-3 σ absolute. Also coef() = fixef + ranef.
#include "lmm/ranef.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "test_util.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kData = LMM_TEST_DATA;

std::vector<std::string> reference_cases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kData / "reference")) {
    if (e.path().extension() != ".json") continue;
    const json j = lmm::testing::load_json(e.path());
    if (j.contains("ranef") && !j["ranef"].empty()) out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// As scripts/compare_reference.py: 'a:b' matches 'b:a' for groups; levels of an interaction in either order.
using lmm::testing::sorted_parts;

class Ranef : public ::testing::TestWithParam<std::string> {};

TEST_P(Ranef, ModesAndCondSdMatchLme4) {
  const json ref = lmm::testing::load_reference(GetParam());
  const auto [model, r] = lmm::testing::fit_reference(ref);
  const double sigma = ref["sigma"].get<double>();

  std::map<std::pair<std::string, std::string>, const lmm::RandomEffectLevel*> ours;
  for (const auto& re : r.ranef) ours[{sorted_parts(re.group), sorted_parts(re.level)}] = &re;
  ASSERT_EQ(r.ranef.size(), ref["ranef"].size());
  int compared = 0;
  for (const auto& row : ref["ranef"]) {
    const std::string g = row["group"], level = row["level"];
    const auto it = ours.find({sorted_parts(g), sorted_parts(level)});
    ASSERT_NE(it, ours.end()) << "missing " << g << " " << level;
    const lmm::RandomEffectLevel& o = *it->second;
    ASSERT_EQ(2 * o.terms.size(), row.size() - 2) << g << " " << level;
    for (std::size_t a = 0; a < o.terms.size(); ++a) {
      const std::string& t = o.terms[a];
      ASSERT_TRUE(row.contains(t)) << t;
      const double mode = row[t], sd = row["condsd_" + t];
      const double tol_m =
          std::max(5e-3 * std::max(std::abs(mode), std::abs(o.mode[a])), 1e-3 * sigma);
      const double tol_s = std::max(5e-3 * std::max(sd, o.condsd[a]), 1e-3 * sigma);
      EXPECT_NEAR(o.mode[a], mode, tol_m) << g << " " << level << " " << t;
      EXPECT_NEAR(o.condsd[a], sd, tol_s) << g << " " << level << " condsd_" << t;
      compared += 2;
    }
  }
  EXPECT_GT(compared, 0);

  // coef(): fixed effect + random effect for each level.
  const auto coefs = lmm::coefficients(model);
  ASSERT_EQ(coefs.size(), r.ranef.size());
  for (std::size_t k = 0; k < coefs.size(); ++k) {
    const auto& c = coefs[k];
    const auto& re = r.ranef[k];
    for (std::size_t i = 0; i < r.fixed.size(); ++i) {
      const auto pos = std::find(c.terms.begin(), c.terms.end(), r.fixed[i].term) - c.terms.begin();
      ASSERT_LT(static_cast<std::size_t>(pos), c.terms.size());
      const auto in_re = std::find(re.terms.begin(), re.terms.end(), r.fixed[i].term);
      const double b = in_re == re.terms.end()
                           ? 0.0
                           : re.mode[static_cast<std::size_t>(in_re - re.terms.begin())];
      EXPECT_DOUBLE_EQ(c.values[static_cast<std::size_t>(pos)], r.fixed[i].estimate + b);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Lme4, Ranef, ::testing::ValuesIn(reference_cases()),
                         [](const auto& info) { return info.param; });

}  // namespace
