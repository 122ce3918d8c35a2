// lme4's gradient tolerance in the convergence check (check.conv.grad tol = 0.002; the second test,
// beside convergence_test.cpp's Newton-step test, of that figure): a fit of two crossed factors
// left where the scaled gradient is about 0.02 — ten times lme4's tolerance and ten times below a
// loose one — is flagged by the check and finished by Newton steps from the analytic gradient
// (src/model/multi_term.cpp; the check uses it for a model this small), at lme4's optimum.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/inference.h"

namespace {

const std::filesystem::path kData = LMM_TEST_DATA;
// θ scaled by this leaves the scaled gradient at about 0.02 (measured: see the test).
constexpr double kShift = 1.0025;

nlohmann::json reference(const std::string& name) {
  std::ifstream in(kData / "reference" / (name + ".json"));
  return nlohmann::json::parse(in);
}

TEST(ConvergenceGradient, AFitLeftShortOfTheOptimumIsFlaggedAndFinished) {
  const auto ref = reference("penicillin_crossed_reml");
  const auto data = lmm::read_table((kData / ref["data"].get<std::string>()).string());
  auto [model, r] = lmm::fit(data, ref["formula"].get<std::string>());
  ASSERT_EQ(r.convergence.status, "ok");
  ASSERT_LT(r.convergence.max_grad, 0.002);
  const double optimum = model.objective();
  // Move θ off the optimum: the optimizer reports convergence there, as one stopped early by a
  // loose tolerance would.
  std::vector<double> theta = model.theta();
  for (auto& t : theta) t *= kShift;
  lmm::OptimizerSummary stopped = r.optimizer;
  stopped.theta = theta;
  stopped.objective = model.set_theta(theta);
  stopped.converged = true;
  ASSERT_GT(stopped.objective, optimum);

  const auto c = lmm::check_convergence(model, stopped);
  ASSERT_FALSE(c.messages.empty());
  const std::string& first = c.messages.front();
  // The gradient it failed with, as the message prints it, lies between the tolerance and 0.1.
  const auto at = first.find("the scaled gradient was ");
  ASSERT_NE(at, std::string::npos) << first;
  const double grad = std::stod(first.substr(at + 24));
  EXPECT_GT(grad, 0.005) << first;
  EXPECT_LT(grad, 0.1) << first;
  EXPECT_NE(first.find("Newton step"), std::string::npos) << first;
  EXPECT_FALSE(c.refitted);
  EXPECT_EQ(c.status, "ok");
  EXPECT_LT(c.max_grad, 0.002);
  EXPECT_NEAR(model.objective(), ref["reml_criterion"].get<double>(), 1e-5);
  EXPECT_NEAR(stopped.objective, model.objective(), 1e-12 * std::abs(optimum));
}

}  // namespace
