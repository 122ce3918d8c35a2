// Prior weights and offsets (lme4's `weights =` and `offset =`) against lme4 + lmerTest fits made by
// tests/data/weights/make_refs.R on sleepstudy with a weight and an offset column.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/formula.h"
#include "lmm/predict.h"
#include "lmm/simulate.h"

namespace {

using nlohmann::json;
const std::string kDir = std::string(LMM_TEST_DATA) + "/weights/";

json reference(const std::string& name) {
  std::ifstream in(kDir + name + ".json");
  return json::parse(in);
}

void expect_rel(double ours, double ref, double tol, const std::string& what) {
  EXPECT_NEAR(ours, ref, tol * std::max(1.0, std::abs(ref))) << what;
}

// Fits `formula` with the options and compares every number the reference file holds.
lmm::Fitted check_case(const std::string& name, const std::string& formula, const lmm::FitOptions& opt) {
  const json ref = reference(name);
  const lmm::DataFrame data = lmm::read_table(kDir + "sleepstudy_weights.csv");
  lmm::Fitted f = lmm::fit(data, formula, opt);
  const auto& r = f.result;
  EXPECT_EQ(r.nobs, ref["nobs"].get<std::size_t>());
  expect_rel(r.loglik, ref["loglik"], 1e-7, name + " loglik");
  expect_rel(r.objective, ref["objective"], 1e-7, name + " objective");
  expect_rel(r.aic, ref["aic"], 1e-7, name + " aic");
  expect_rel(r.bic, ref["bic"], 1e-7, name + " bic");
  expect_rel(r.sigma, ref["sigma"], 1e-5, name + " sigma");
  json th = ref["theta"];  // R's toJSON writes a length-1 θ as a number
  if (!th.is_array()) th = json::array({th});
  EXPECT_EQ(r.theta.size(), th.size());
  for (std::size_t k = 0; k < r.theta.size() && k < th.size(); ++k)
    EXPECT_NEAR(r.theta[k], th[k].get<double>(), 1e-4) << name << " theta " << k;
  const auto& fx = ref["fixed"];
  EXPECT_EQ(r.fixed.size(), fx.size());
  for (std::size_t j = 0; j < r.fixed.size() && j < fx.size(); ++j) {
    const auto& e = fx[j];
    const std::string t = e["term"];
    EXPECT_EQ(r.fixed[j].term, t);
    expect_rel(r.fixed[j].estimate, e["estimate"], 1e-6, name + " " + t + " estimate");
    expect_rel(r.fixed[j].std_error, e["std_error"], 5e-5, name + " " + t + " SE");
    expect_rel(r.fixed[j].t, e["t"], 5e-5, name + " " + t + " t");
    EXPECT_NEAR(r.fixed[j].df, e["df"].get<double>(), 1e-4 * e["df"].get<double>()) << name << " " << t << " df";
  }
  const auto fitted = f.model.fitted();
  const auto resid = f.model.residuals();
  for (std::size_t i = 0; i < 5; ++i) {
    expect_rel(fitted[i], ref["fitted_head"][i], 1e-6, name + " fitted");
    EXPECT_NEAR(resid[i], ref["residuals_head"][i].get<double>(), 1e-3) << name << " residual " << i;
  }
  return f;
}

TEST(Weights, RandomSlopeRemlMatchesLme4) {
  lmm::FitOptions o;
  o.frame.weights = "w";
  check_case("weights_slope_reml", "Reaction ~ Days + (Days | Subject)", o);
}

TEST(Weights, RandomSlopeMlMatchesLme4) {
  lmm::FitOptions o;
  o.frame.weights = "w";
  o.method = lmm::Method::ML;
  check_case("weights_slope_ml", "Reaction ~ Days + (Days | Subject)", o);
}

TEST(Weights, OffsetArgumentMatchesLme4) {
  lmm::FitOptions o;
  o.frame.offset = "off";
  check_case("offset_argument_reml", "Reaction ~ Days + (Days | Subject)", o);
}

TEST(Weights, OffsetInTheFormulaMatchesLme4) {
  check_case("offset_intercept_reml", "Reaction ~ Days + offset(off) + (1 | Subject)", {});
}

TEST(Weights, WeightsWithAFormulaOffsetMatchLme4) {
  lmm::FitOptions o;
  o.frame.weights = "w";
  check_case("weights_offset_reml", "Reaction ~ Days + offset(off) + (Days | Subject)", o);
}

// offset(x) is not a column: the term list, the deparsed formula and the coefficients say so.
TEST(Weights, FormulaOffsetIsNoCoefficient) {
  const lmm::Formula f = lmm::parse_formula("y ~ x + offset(log(t)) + (1 | g)");
  EXPECT_EQ(f.fixed.size(), 1u);
  ASSERT_EQ(f.offsets.size(), 1u);
  EXPECT_EQ(f.offsets[0].label(), "log(t)");
  EXPECT_NE(f.deparse().find("offset(log(t))"), std::string::npos) << f.deparse();
}

// offset() with no or two arguments is a parse error, offset() inside another term an error naming it.
TEST(Weights, MisusedOffsetIsAnError) {
  for (const char* f : {"y ~ offset() + (1 | g)", "y ~ offset(x, z) + (1 | g)"})
    EXPECT_THROW(lmm::parse_formula(f), lmm::Error) << f;
  const lmm::DataFrame data = lmm::read_table(kDir + "sleepstudy_weights.csv");
  try {
    lmm::fit(data, "Reaction ~ Days * offset(off) + (1 | Subject)");
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("offset() must be a term of its own"), std::string::npos) << e.what();
  }
}

// Weights all equal to c say each row's variance is σ²/c: σ grows by √c and nothing else changes,
// the objective neither (the rows' rescaling and -log|W| cancel).
TEST(Weights, ConstantWeightsRescaleSigmaOnly) {
  lmm::DataFrame data = lmm::read_table(kDir + "sleepstudy_weights.csv");
  const std::string formula = "Reaction ~ Days + (Days | Subject)";
  const lmm::Fitted plain = lmm::fit(data, formula);
  auto* w = const_cast<lmm::Column*>(data.find("w"));
  ASSERT_NE(w, nullptr);
  for (double& v : w->numbers) v = 4;
  lmm::FitOptions o;
  o.frame.weights = "w";
  const lmm::Fitted four = lmm::fit(data, formula, o);
  EXPECT_NEAR(four.result.sigma, plain.result.sigma * 2, 1e-6 * plain.result.sigma);
  EXPECT_NEAR(four.result.objective, plain.result.objective, 1e-6);
  for (std::size_t j = 0; j < 2; ++j) {
    EXPECT_NEAR(four.result.fixed[j].estimate, plain.result.fixed[j].estimate, 1e-6);
    EXPECT_NEAR(four.result.fixed[j].std_error, plain.result.fixed[j].std_error, 1e-6);
  }
}

TEST(Weights, NonPositiveWeightIsAnErrorNamingTheRow) {
  lmm::DataFrame data = lmm::read_table(kDir + "sleepstudy_weights.csv");
  auto* w = const_cast<lmm::Column*>(data.find("w"));
  ASSERT_NE(w, nullptr);
  w->numbers[6] = 0;
  lmm::FitOptions o;
  o.frame.weights = "w";
  try {
    lmm::fit(data, "Reaction ~ Days + (Days | Subject)", o);
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 7"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
  }
}

// The offset is part of every prediction: population predictions of a saved model are X beta + offset.
TEST(Weights, PredictionsAddTheOffset) {
  const lmm::DataFrame data = lmm::read_table(kDir + "sleepstudy_weights.csv");
  lmm::FitOptions o;
  o.frame.offset = "off";
  const lmm::Fitted f = lmm::fit(data, "Reaction ~ Days + (Days | Subject)", o);
  const lmm::SavedModel saved = lmm::snapshot(f.model);
  lmm::PredictOptions po;
  po.re_form = lmm::ReForm::Conditional;
  const lmm::Predictions p = lmm::predict(saved, data, po);
  const auto fitted = f.model.fitted();
  for (std::size_t i = 0; i < 10; ++i) EXPECT_NEAR(p.fit[i], fitted[i], 1e-8) << i;
}

}  // namespace
