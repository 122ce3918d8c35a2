// Every lme4 reference case (tests/data/reference/*.json, made by R's lme4 1.1-31) agrees with lmm
// in the core fields, with the tolerances of two correct optimizers reaching the same optimum
// (those of scripts/compare_reference.py): fixed effects 1e-4 relative, standard errors and SDs
// 2e-3 relative (or 1e-3 σ), correlations 5e-3 absolute, log-likelihood 1e-3 absolute.
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

using lmm::testing::close;

// 'Subject.1' is lme4's name for a second term on Subject; 'a:b' matches 'b:a'.
std::string group_key(std::string g) {
  auto dot = g.rfind('.');
  if (dot != std::string::npos && !g.empty() && std::isdigit(static_cast<unsigned char>(g.back()))) g = g.substr(0, dot);
  return lmm::testing::sorted_parts(g);
}

class FitReference : public ::testing::TestWithParam<std::string> {};

TEST_P(FitReference, CoreFieldsMatchLme4) {
  const json ref = lmm::testing::load_reference(GetParam());
  const auto [model, r] = lmm::testing::fit_reference(ref);

  EXPECT_EQ(r.nobs, ref["nobs"].get<std::size_t>());
  EXPECT_TRUE(r.optimizer.converged) << r.optimizer.stop_reason;
  const double sigma = ref["sigma"].get<double>();
  // lmm must reach lme4's optimum or a better one.
  EXPECT_NEAR(r.loglik, ref["loglik"].get<double>(), 1e-3);
  EXPECT_GE(r.loglik, ref["loglik"].get<double>() - 1e-6);
  if (!ref["reml_criterion"].is_null()) EXPECT_NEAR(r.objective, ref["reml_criterion"].get<double>(), 2e-3);
  if (!ref["deviance"].is_null()) EXPECT_NEAR(r.objective, ref["deviance"].get<double>(), 2e-3);
  EXPECT_NEAR(r.aic, ref["aic"].get<double>(), 2e-3);
  EXPECT_NEAR(r.bic, ref["bic"].get<double>(), 2e-3);
  EXPECT_TRUE(close(r.sigma, sigma, 2e-3)) << r.sigma << " vs " << sigma;
  EXPECT_EQ(r.singular, ref["singular"].get<bool>());

  std::map<std::string, const lmm::FixedEffect*> ours;
  for (const auto& f : r.fixed) ours[f.term] = &f;
  ASSERT_EQ(r.fixed.size(), ref["fixed"].size());
  for (const auto& f : ref["fixed"]) {
    const std::string term = f["term"];
    ASSERT_TRUE(ours.count(term)) << "fixed term missing: " << term;
    const auto* o = ours[term];
    EXPECT_TRUE(close(o->estimate, f["estimate"], 1e-4, 1e-6 * sigma)) << term << ": " << o->estimate << " vs " << f["estimate"];
    EXPECT_TRUE(close(o->std_error, f["std_error"], 2e-3)) << term << ": " << o->std_error << " vs " << f["std_error"];
    EXPECT_TRUE(close(o->t, f["t"], 2e-3)) << term;
  }

  std::map<std::tuple<std::string, std::string, std::string>, const lmm::VarianceComponent*> comps;
  for (const auto& vc : r.random) comps[{group_key(vc.group), vc.term1, vc.term2}] = &vc;
  ASSERT_EQ(r.random.size(), ref["random"].size());
  for (const auto& c : ref["random"]) {
    const std::string t1 = c["term1"].is_null() ? "" : c["term1"].get<std::string>();
    const std::string t2 = c.contains("term2") ? c["term2"].get<std::string>() : "";
    const auto key = std::make_tuple(group_key(c["group"]), t1, t2);
    ASSERT_TRUE(comps.count(key)) << "component missing: " << c.dump();
    const auto* o = comps[key];
    if (c.contains("cor")) {
      EXPECT_NEAR(o->cor, c["cor"].get<double>(), 5e-3) << c.dump();
    } else {
      EXPECT_TRUE(close(o->sd, c["sd"], 2e-3, 1e-3 * sigma)) << c.dump() << " ours " << o->sd;
    }
  }
  for (const auto& item : ref["ngroups"].items()) {
    // Not a structured binding: clang 14 (the sanitizer build's compiler) cannot capture one.
    const std::string g = item.key();
    const auto& n = item.value();
    auto it = std::find_if(r.ngroups.begin(), r.ngroups.end(), [&](const lmm::GroupCount& c) { return group_key(c.group) == group_key(g); });
    ASSERT_NE(it, r.ngroups.end()) << g;
    EXPECT_EQ(it->levels, n.get<std::size_t>());
  }
}

INSTANTIATE_TEST_SUITE_P(Lme4, FitReference,
                         ::testing::Values("sleepstudy_slope_reml", "sleepstudy_slope_ml", "sleepstudy_intercept_reml",
                                           "sleepstudy_intercept_ml", "sleepstudy_zerocorr_reml",
                                           "sleepstudy_missing_reml", "growth200_reml", "growth200_ml",
                                           "growth200_null_reml", "penicillin_crossed_reml", "pastes_nested_reml",
                                           "cake_factor_reml", "dyestuff2_singular_reml", "kr_unbalanced_reml"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
