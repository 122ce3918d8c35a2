// Fits where lme4 1.1-31 warns that it did not converge (tests/data/hard/lme4_convergence.json,
// made by tests/data/hard/make_refs.R): lmm reaches an optimum at least as good, and where the
// model is a reparametrisation of a well-scaled one, exactly the well-scaled fit's optimum.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "inference/internal.h"

namespace {

const std::string kHard = std::string(LMM_TEST_DATA) + "/hard/";

double loglik(const std::string& data, const std::string& formula) {
  return lmm::fit(lmm::read_table(kHard + data), formula).result.loglik;
}

TEST(Convergence, AtLeastAsGoodAsLme4WhereItWarns) {
  std::ifstream in(kHard + "lme4_convergence.json");
  const auto cases = nlohmann::json::parse(in);
  ASSERT_EQ(cases.size(), 4u);
  for (const auto& c : cases) {
    ASSERT_FALSE(c["messages"].empty()) << "each case is one where lme4 warned";
    const double ours = loglik(c["data"], c["formula"]);
    EXPECT_GE(ours, c["loglik"].get<double>() - 1e-6) << c["formula"];
  }
}

TEST(Convergence, RescaledTimeReachesTheWellScaledOptimum) {
  // REML is invariant to shifting a covariate and changes by log|T|² when columns of X are
  // scaled by T: DaysBig = 1000 Days scales one column, tb = 1000 time + 1e5 scales two.
  const double days = loglik("sleep_big.csv", "Reaction ~ Days + (Days | Subject)");
  EXPECT_NEAR(loglik("sleep_big.csv", "Reaction ~ DaysBig + (DaysBig | Subject)"), days - std::log(1000.0), 1e-6);
  const double time = loglik("growth_shift.csv", "y ~ time * group + (time | id)");
  EXPECT_NEAR(loglik("growth_shift.csv", "y ~ tc * group + (tc | id)"), time, 1e-6);
  EXPECT_NEAR(loglik("growth_shift.csv", "y ~ tb * group + (tb | id)"), time - 2 * std::log(1000.0), 1e-6);
}

TEST(Convergence, SingularCheckDoesNotDependOnUnits) {
  auto r = lmm::fit(lmm::read_table(kHard + "growth_shift.csv"), "y ~ tb * group + (tb | id)").result;
  EXPECT_FALSE(r.singular);
  auto r2 = lmm::fit(lmm::read_table(kHard + "growth_shift.csv"), "y ~ time * group + (time | id)").result;
  EXPECT_FALSE(r2.singular);
  // Same variance of the slope per unit of time, in the new units.
  const double sd_time = r2.random[1].sd, sd_tb = r.random[1].sd;
  EXPECT_NEAR(sd_tb * 1000, sd_time, 1e-3 * sd_time);
}

// An optimizer stopped early (a loose ftol_rel standing in for the rounding noise that stops
// L-BFGS short on millions of rows) fails the gradient check; the Newton steps from the analytic
// gradient and Hessian reach the optimum of a full fit, without the Nelder-Mead refit.
TEST(Convergence, NewtonStepsFinishAnOptimizerThatStoppedShort) {
  const auto data = lmm::read_table(std::string(LMM_TEST_DATA) + "/sleepstudy.csv");
  const std::string formula = "Reaction ~ Days + (Days | Subject)";
  const auto full = lmm::fit(data, formula).result;
  lmm::FitOptions loose;
  loose.ftol_rel = 1e-2;
  const auto r = lmm::fit(data, formula, loose).result;
  ASSERT_FALSE(r.convergence.messages.empty());
  EXPECT_NE(r.convergence.messages.front().find("Newton step"), std::string::npos) << r.convergence.messages.front();
  EXPECT_EQ(r.convergence.status, "ok");
  EXPECT_FALSE(r.convergence.refitted);
  EXPECT_LT(r.convergence.max_grad, 1e-6);
  EXPECT_NEAR(r.objective, full.objective, 1e-8);
  for (std::size_t k = 0; k < full.theta.size(); ++k) EXPECT_NEAR(r.theta[k], full.theta[k], 1e-5);
  EXPECT_NE(r.optimizer.stop_reason.find("Newton"), std::string::npos) << r.optimizer.stop_reason;
}

}  // namespace

// lme4's "very large eigenvalue" is an absolute 1e6 on a Hessian that grows with the rows; lmm calls
// a model nearly unidentifiable only on the eigenvalue ratio (10M ratings: 9.81e4 to 1.28e6).
TEST(Convergence, LargeEigenvalueAloneIsNotUnidentifiable) {
  const std::string big = lmm::inference::eigenvalue_warning({1.28e6, 9.81e4}, true);
  EXPECT_EQ(big.find("unidentifiable"), std::string::npos) << big;
  EXPECT_NE(big.find("1.28e+06"), std::string::npos) << big;
  EXPECT_NE(big.find("0.0766"), std::string::npos) << big;
  const std::string flat = lmm::inference::eigenvalue_warning({2e7, 3.0, 5.0e-1}, true);
  EXPECT_NE(flat.find("nearly unidentifiable"), std::string::npos) << flat;
  EXPECT_NE(flat.find("centring and scaling"), std::string::npos) << flat;
  EXPECT_EQ(lmm::inference::eigenvalue_warning({2e7, 0.5}, false).find("centring"), std::string::npos);
}
