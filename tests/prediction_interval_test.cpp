// Prediction intervals against their formula written out from the fit's reported estimates (the
// second test, beside trajectories_test.cpp's, of the random-effects part of the prediction
// variance): a new observation of a new person has variance x'V x + z'Σ z + σ², with V the
// fixed effects' covariance, Σ the person's random-effects covariance as VarCorr reports it and
// σ² the residual variance; a prediction interval for a person the fit saw is its confidence
// interval widened by exactly σ².
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/predict.h"

namespace {

const std::filesystem::path kData = LMM_TEST_DATA;
constexpr double kZ975 = 1.959963984540054;  // qnorm(0.975)

lmm::DataFrame csv(const std::string& text) { return lmm::parse_table(text, ',', "new.csv"); }

// The fixed effects' covariance V, p x p.
Eigen::MatrixXd vcov(const lmm::FitResult& r) {
  const auto p = static_cast<Eigen::Index>(r.fixed.size());
  return Eigen::Map<const Eigen::MatrixXd>(r.vcov.data(), p, p);
}

// The covariance of group's random effects for terms (in order) from VarCorr's rows.
Eigen::MatrixXd varcorr(const lmm::FitResult& r, const std::string& group, const std::vector<std::string>& terms) {
  const auto q = static_cast<Eigen::Index>(terms.size());
  Eigen::MatrixXd S = Eigen::MatrixXd::Constant(q, q, std::nan(""));
  auto index = [&](const std::string& t) {
    return static_cast<Eigen::Index>(std::find(terms.begin(), terms.end(), t) - terms.begin());
  };
  for (const auto& v : r.random) {
    if (v.group != group) continue;
    const Eigen::Index a = index(v.term1);
    if (!v.is_correlation()) {
      S(a, a) = v.variance;
      continue;
    }
    const Eigen::Index b = index(v.term2);
    S(a, b) = S(b, a) = v.cor * std::sqrt(S(a, a) * S(b, b));
  }
  EXPECT_TRUE(S.allFinite()) << "VarCorr of " << group << " incomplete:\n" << S;
  return S;
}

void expect_interval(const lmm::Predictions& p, std::size_t row, double fit, double se, const char* what) {
  SCOPED_TRACE(what);
  EXPECT_NEAR(p.fit[row], fit, 1e-9 * std::abs(fit));
  EXPECT_NEAR(p.se[row], se, 1e-9 * se);
  EXPECT_NEAR(p.upper[row] - p.lower[row], 2 * kZ975 * se, 1e-8 * se);
}

TEST(PredictionInterval, NewPersonWithCorrelatedInterceptAndSlope) {
  const auto data = lmm::read_table((kData / "growth200.csv").string());
  const auto [model, r] = lmm::fit(data, "y ~ time * group + (time | id)");
  const auto saved = lmm::snapshot(model);
  // NEW1 was not in the data; treatment at time 3 (x = 1, 3, 1, 3; z = 1, 3).
  const auto nd = csv("id,time,group\nNEW1,3,treatment\n");
  Eigen::Vector4d x(1, 3, 1, 3);
  ASSERT_EQ(r.fixed.size(), 4u);
  ASSERT_EQ(r.fixed[3].term, "time:grouptreatment");
  Eigen::Vector2d z(1, 3);
  double fit = 0;
  for (int k = 0; k < 4; ++k) fit += x[k] * r.fixed[static_cast<std::size_t>(k)].estimate;
  const Eigen::MatrixXd V = vcov(r), Sigma = varcorr(r, "id", {"(Intercept)", "time"});
  const double s2 = r.sigma * r.sigma;
  const double mean_var = x.dot(V * x), person_var = z.dot(Sigma * z);
  ASSERT_GT(person_var, 10 * mean_var) << "the person's own variance must dominate for the test to bite";

  lmm::PredictOptions o;
  o.interval = lmm::IntervalKind::Prediction;
  o.re_form = lmm::ReForm::Population;
  expect_interval(lmm::predict(saved, nd, o), 0, fit, std::sqrt(mean_var + person_var + s2), "population, prediction");
  o.re_form = lmm::ReForm::Conditional;  // a level the fit did not see: its population distribution
  const auto cond = lmm::predict(saved, nd, o);
  expect_interval(cond, 0, fit, std::sqrt(mean_var + person_var + s2), "conditional, new level, prediction");
  EXPECT_FALSE(cond.notes.empty());
  o.interval = lmm::IntervalKind::Confidence;
  expect_interval(lmm::predict(saved, nd, o), 0, fit, std::sqrt(mean_var + person_var),
                  "conditional, new level, confidence");
  o.re_form = lmm::ReForm::Population;
  expect_interval(lmm::predict(saved, nd, o), 0, fit, std::sqrt(mean_var), "population, confidence");
}

TEST(PredictionInterval, NewLevelsOfTwoCrossedFactors) {
  const auto data = lmm::read_table((kData / "penicillin.csv").string());
  const auto [model, r] = lmm::fit(data, "diameter ~ 1 + (1 | plate) + (1 | sample)");
  const auto saved = lmm::snapshot(model);
  const double v_plate = varcorr(r, "plate", {"(Intercept)"})(0, 0);
  const double v_sample = varcorr(r, "sample", {"(Intercept)"})(0, 0);
  const double mean_var = vcov(r)(0, 0), s2 = r.sigma * r.sigma;
  const double fit = r.fixed[0].estimate;
  lmm::PredictOptions o;
  o.interval = lmm::IntervalKind::Prediction;
  o.re_form = lmm::ReForm::Population;
  const auto nd = csv("plate,sample\nnewplate,newsample\n");
  expect_interval(lmm::predict(saved, nd, o), 0, fit, std::sqrt(mean_var + v_plate + v_sample + s2),
                  "population, prediction");
  o.re_form = lmm::ReForm::Conditional;
  expect_interval(lmm::predict(saved, nd, o), 0, fit, std::sqrt(mean_var + v_plate + v_sample + s2),
                  "conditional, both levels new");
}

TEST(PredictionInterval, SeenPersonIsConfidenceWidenedByTheResidualVariance) {
  const auto data = lmm::read_table((kData / "sleepstudy.csv").string());
  const auto [model, r] = lmm::fit(data, "Reaction ~ Days + (Days | Subject)");
  const auto saved = lmm::snapshot(model);
  const auto nd = csv("Subject,Days\n308,0\n335,7.5\n372,20\n");
  lmm::PredictOptions o;
  o.interval = lmm::IntervalKind::Confidence;
  const auto conf = lmm::predict(saved, nd, o);
  o.interval = lmm::IntervalKind::Prediction;
  const auto pred = lmm::predict(saved, nd, o);
  const double s2 = r.sigma * r.sigma;
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(pred.fit[i], conf.fit[i]);
    EXPECT_NEAR(pred.se[i] * pred.se[i], conf.se[i] * conf.se[i] + s2, 1e-9 * s2) << i;
    // A person seen on ten days is known far better than the population spread of persons.
    const Eigen::Vector2d z(1, i == 0 ? 0 : i == 1 ? 7.5 : 20);
    EXPECT_LT(conf.se[i] * conf.se[i], 0.5 * z.dot(varcorr(r, "Subject", {"(Intercept)", "Days"}) * z)) << i;
  }
}

}  // namespace
