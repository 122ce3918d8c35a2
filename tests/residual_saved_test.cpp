// A model with a residual structure saved by `lmm fit --save`: the file records the structure at
// its estimates, `lmm predict` gives the fit's own fitted values (the mean does not depend on the
// residual covariance), simulations from it draw the correlated residuals, and prediction
// intervals with an SD per level add the new row's level's residual variance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/predict.h"
#include "lmm/residual.h"
#include "lmm/rng.h"

namespace {

using lmm::testing::run_cli;
const std::string kDir = std::string(LMM_TEST_DATA) + "/residual/";

// The last column of each data line of a CSV.
std::vector<double> last_column(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  std::vector<double> v;
  while (std::getline(in, line)) v.push_back(std::stod(line.substr(line.rfind(',') + 1)));
  return v;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ResidualSaved, PredictEqualsFittedAndStructureIsRecorded) {
  const std::string model = ::testing::TempDir() + "resid_saved_model.json";
  const std::string resid = ::testing::TempDir() + "resid_saved_resid.csv";
  const std::string data = kDir + "data/ovary.csv";
  const auto fit = run_cli({"fit", data, "follicles ~ s1 + c1 + (1 | Mare)", "--residual",
                            "ar1(t | Mare)", "--save", model, "--residuals", resid, "--json"});
  ASSERT_EQ(fit.code, 0) << fit.err;
  const nlohmann::json f = nlohmann::json::parse(fit.out);
  const nlohmann::json saved = nlohmann::json::parse(slurp(model));
  EXPECT_EQ(saved["residual"]["structure"], "ar1");
  EXPECT_EQ(saved["residual"]["group"], "Mare");
  EXPECT_DOUBLE_EQ(saved["residual"]["value"][0].get<double>(),
                   f["correlation"]["phi"].get<double>());
  EXPECT_EQ(saved["theta"].size(), 1u);  // the random intercept's; φ is in "residual"

  const auto pred = run_cli({"predict", data, "--model", model});
  ASSERT_EQ(pred.code, 0) << pred.err;
  const std::vector<double> p = last_column(pred.out);
  std::ifstream rin(resid);
  std::string header, line;
  std::getline(rin, header);
  std::vector<double> fitted;  // row,Mare,fitted,residual,scaled_residual,normalized_residual
  while (std::getline(rin, line)) {
    std::istringstream ls(line);
    std::string cell;
    for (int c = 0; c < 3; ++c) std::getline(ls, cell, ',');
    fitted.push_back(std::stod(cell));
  }
  ASSERT_EQ(p.size(), fitted.size());
  for (std::size_t i = 0; i < p.size(); ++i)
    EXPECT_NEAR(p[i], fitted[i], 1e-9 * std::abs(fitted[i])) << i;

  // New rows with a time repeated within a mare: one line naming the column and row.
  const std::string dup = ::testing::TempDir() + "resid_saved_dup.csv";
  {
    std::istringstream in(slurp(data));
    std::string header, r1, r2;
    std::getline(in, header);
    std::getline(in, r1);
    std::getline(in, r2);
    std::ofstream(dup) << header << '\n' << r1 << '\n' << r2 << '\n' << r2 << '\n';
  }
  const auto sim = run_cli({"simulate", "--model", model, "--data", dup});
  EXPECT_EQ(sim.code, 2);
  EXPECT_EQ(std::count(sim.err.begin(), sim.err.end(), '\n'), 1) << sim.err;
  EXPECT_NE(sim.err.find("column 't', row 3: repeats a time within its Mare"), std::string::npos) << sim.err;
  std::remove(dup.c_str());
  std::remove(model.c_str());
  std::remove(resid.c_str());
}

TEST(ResidualSaved, SdPerLevelRoundTripsWithPredictionIntervals) {
  const std::string model = ::testing::TempDir() + "resid_saved_sd.json";
  const std::string data = kDir + "data/orthodont.csv";
  const auto fit = run_cli({"fit", data, "distance ~ age * Sex + (1 | Subject)", "--residual-sd-by",
                            "Sex", "--save", model, "--json"});
  ASSERT_EQ(fit.code, 0) << fit.err;
  const nlohmann::json f = nlohmann::json::parse(fit.out);
  const nlohmann::json saved = nlohmann::json::parse(slurp(model));
  EXPECT_EQ(saved["residual"]["sd_levels"], nlohmann::json::array({"Female", "Male"}));
  EXPECT_DOUBLE_EQ(saved["residual"]["value"][0].get<double>(),
                   f["residual_sd_ratios"]["Male"].get<double>());
  const auto conf = run_cli({"predict", data, "--model", model, "--interval", "confidence"});
  EXPECT_EQ(conf.code, 0) << conf.err;
  const auto pi = run_cli({"predict", data, "--model", model, "--interval", "prediction"});
  EXPECT_EQ(pi.code, 0) << pi.err;
  std::remove(model.c_str());
}

// A prediction interval adds the new row's residual variance, σ²δ² of its level, to the
// confidence interval's variance.
TEST(ResidualSaved, PredictionIntervalAddsTheLevelsResidualVariance) {
  const lmm::DataFrame d = lmm::read_table(kDir + "data/orthodont.csv");
  lmm::FitOptions o;
  o.ddf = lmm::DdfMethod::None;
  o.frame.residual.sd_by = "Sex";
  const lmm::Fitted f = lmm::fit(d, "distance ~ age * Sex + (1 | Subject)", o);
  const lmm::SavedModel saved = lmm::snapshot(f.model);
  lmm::PredictOptions po;
  po.interval = lmm::IntervalKind::Confidence;
  const lmm::Predictions ci = lmm::predict(saved, d, po);
  po.interval = lmm::IntervalKind::Prediction;
  const lmm::Predictions pi = lmm::predict(saved, d, po);
  const auto& e = f.result.residual_structure;
  const lmm::Column& sex = d.at("Sex");
  for (std::size_t i = 0; i < d.nrows; ++i) {
    const double ratio = e.sd_ratios[sex.levels[static_cast<std::size_t>(sex.codes[i])] == "Male" ? 1 : 0];
    EXPECT_NEAR(pi.se[i] * pi.se[i] - ci.se[i] * ci.se[i], std::pow(f.result.sigma * ratio, 2), 1e-9) << i;
  }
}

// Simulated responses from the saved model: new random intercepts and AR(1) residuals, so two
// consecutive rows of a mare correlate by (τ² + σ²φ)/(τ² + σ²) across simulations (0.75 here;
// independent residuals would give τ²/(τ² + σ²) = 0.37). 400 simulations of 297 pairs: the pooled
// estimate is within about 0.01 of it.
TEST(ResidualSaved, SimulationDrawsCorrelatedResiduals) {
  const lmm::DataFrame d = lmm::read_table(kDir + "data/ovary.csv");
  lmm::FitOptions o;
  o.ddf = lmm::DdfMethod::None;
  lmm::parse_residual_structure("ar1(t | Mare)", o.frame.residual);
  const lmm::Fitted f = lmm::fit(d, "follicles ~ s1 + c1 + (1 | Mare)", o);
  const lmm::SavedModel saved = lmm::snapshot(f.model);
  lmm::Rng rng(20261130);
  const std::size_t nsim = 400;
  const lmm::DataFrame sims = lmm::simulate_from_saved(saved, d, nsim, rng);
  const lmm::Column& mare = d.at("Mare");
  const auto& fe = f.result.fixed;  // (Intercept), s1, c1
  auto xb = [&](std::size_t i) {
    return fe[0].estimate + fe[1].estimate * d.at("s1").numbers[i] +
           fe[2].estimate * d.at("c1").numbers[i];
  };
  double sxy = 0, sxx = 0;
  for (std::size_t k = 0; k < nsim; ++k) {
    const lmm::Column& y = sims.at("sim_" + std::to_string(k + 1));
    for (std::size_t i = 0; i + 1 < d.nrows; ++i) {
      if (mare.numbers[i] != mare.numbers[i + 1]) continue;
      // Deviations from the fixed part, the same in every simulation.
      const double a = y.numbers[i] - xb(i), b = y.numbers[i + 1] - xb(i + 1);
      sxy += a * b;
      sxx += 0.5 * (a * a + b * b);
    }
  }
  const double tau2 = std::pow(f.result.random[0].sd, 2), s2 = f.result.sigma * f.result.sigma;
  const double phi = f.result.residual_structure.phi;
  EXPECT_NEAR(sxy / sxx, (tau2 + s2 * phi) / (tau2 + s2), 0.03);
}

}  // namespace
