// ICC and R² with a residual structure: the residual variance is the mean of the rows' residual
// variances σ²δ², and a model without random effects (nlme's gls) has no ICC and no conditional R²
// (NaN; the text and JSON leave them out rather than print 0).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/residual.h"

namespace {

const std::string kDir = std::string(LMM_TEST_DATA) + "/residual/";

TEST(ResidualPartition, SdRatiosEnterTheResidualVariance) {
  lmm::FitOptions o;
  o.ddf = lmm::DdfMethod::None;
  o.frame.residual.sd_by = "Sex";
  const lmm::DataFrame d = lmm::read_table(kDir + "data/orthodont.csv");
  const lmm::Fitted f = lmm::fit(d, "distance ~ age * Sex + (1 | Subject)", o);
  const lmm::FitResult& r = f.result;
  const auto& e = r.residual_structure;
  double sum = 0;
  for (std::int32_t l : f.model.frame().residual.sd_by)
    sum += std::pow(r.sigma * e.sd_ratios[l], 2);
  const double vres = sum / static_cast<double>(r.nobs);
  const auto& v = r.variance_partition;
  EXPECT_NEAR(v.var_residual, vres, 1e-12 * vres);
  EXPECT_GT(std::abs(v.var_residual - r.sigma * r.sigma), 0.05 * vres);  // not σ² alone
  EXPECT_NEAR(v.icc_adjusted, v.var_random / (v.var_random + vres), 1e-12);
  EXPECT_NE(v.note.find("mean of the rows' residual variances"), std::string::npos) << v.note;
}

TEST(ResidualPartition, NoRandomEffectsNoIcc) {
  const auto r = lmm::testing::run_cli({"fit", kDir + "data/trial2.csv", "y ~ trt * visit",
                                        "--residual", "cs(1 | id)", "--ddf", "none"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("ICC adjusted"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("R² marginal"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no random effects: ICC and R² conditional are undefined"),
            std::string::npos)
      << r.out;
  const auto j = lmm::testing::run_cli({"fit", kDir + "data/trial2.csv", "y ~ trt * visit",
                                        "--residual", "cs(1 | id)", "--ddf", "none", "--json"});
  ASSERT_EQ(j.code, 0) << j.err;
  const nlohmann::json doc = nlohmann::json::parse(j.out);
  EXPECT_TRUE(doc["icc_adjusted"].is_null());
  EXPECT_TRUE(doc["r2_conditional"].is_null());
  EXPECT_GT(doc["r2_marginal"].get<double>(), 0.0);
}

}  // namespace
