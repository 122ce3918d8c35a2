// GLMM profile-likelihood intervals against lme4's confint(glmer_fit, method = "profile")
// (tests/data/glmm/make_profile.R, cbpp binomial with a random herd intercept). lme4 interpolates
// the interval ends with splines through a grid of ζ values, so its ends carry an interpolation
// error of about 1e-3; ours are solved for directly. Tolerance: 2e-3 absolute or 1e-3 relative.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/glmm.h"
#include "lmm/table_io.h"

namespace {

using lmm::testing::run_cli;

const std::string kCbpp = std::string(LMM_TEST_DATA) + "/glmm/data/cbpp.csv";
const std::string kFormula = "cbind(incidence, failures) ~ period + (1 | herd)";

nlohmann::json reference() {
  std::ifstream in(std::string(LMM_TEST_DATA) + "/glmm/cbpp_profile.json");
  return nlohmann::json::parse(in);
}

void expect_close(double ours, double ref, const std::string& what) {
  EXPECT_LE(std::abs(ours - ref), std::max(2e-3, 1e-3 * std::abs(ref))) << what << ": " << ours << " vs lme4 " << ref;
}

TEST(GlmmProfile, MatchesLme4Confint) {
  const lmm::DataFrame data = lmm::read_table(kCbpp);
  lmm::GlmmFitted f = lmm::fit_glmm(data, kFormula);
  const auto ivs = lmm::glmm_profile_intervals(f);
  const auto ref = reference()["intervals"];
  ASSERT_EQ(ivs.size(), ref.size());
  for (std::size_t i = 0; i < ivs.size(); ++i) {
    const auto& r = ref[i];
    EXPECT_EQ(ivs[i].parameter, r["parameter"].get<std::string>());
    EXPECT_NEAR(ivs[i].estimate, r["estimate"].get<double>(), 1e-4) << ivs[i].parameter;
    expect_close(ivs[i].lower, r["lower"].get<double>(), ivs[i].parameter + " lower");
    expect_close(ivs[i].upper, r["upper"].get<double>(), ivs[i].parameter + " upper");
    EXPECT_TRUE(ivs[i].note.empty()) << ivs[i].note;
  }
  // The profile is of the likelihood: wider than Wald on the SD's upper side (skewed).
  EXPECT_GT(ivs[0].upper - ivs[0].estimate, ivs[0].estimate - ivs[0].lower);
}

TEST(GlmmProfile, FastFitIsRefused) {
  const lmm::DataFrame data = lmm::read_table(kCbpp);
  lmm::GlmmOptions o;
  o.fast = true;
  const lmm::GlmmFitted f = lmm::fit_glmm(data, kFormula, o);
  EXPECT_THROW(lmm::glmm_profile_intervals(f), lmm::Error);
}

TEST(GlmmProfile, CliJsonAndText) {
  const auto r = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--profile", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out)["confint_profile"];
  const auto ref = reference()["intervals"];
  ASSERT_EQ(j.size(), ref.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    EXPECT_EQ(j[i]["parameter"], ref[i]["parameter"]);
    expect_close(j[i]["lower"].get<double>(), ref[i]["lower"].get<double>(), "json lower");
    expect_close(j[i]["upper"].get<double>(), ref[i]["upper"].get<double>(), "json upper");
  }
  const auto t = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--profile"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("95% confidence intervals:"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Profile 2.5%"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("sd_(Intercept)|herd"), std::string::npos) << t.out;
  const auto q = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--profile", "--fast"});
  EXPECT_EQ(q.code, 2) << q.err;
  EXPECT_NE(q.err.find("--fast"), std::string::npos) << q.err;
}

}  // namespace
