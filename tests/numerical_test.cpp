// Numerical edge cases of the engine: the fit must not depend on where the response sits or on its
// units, and a response with nothing to model is an error rather than a fit full of zeros and
// infinities. Known truths: adding a constant c to y (with an intercept) changes only the intercept,
// by c; multiplying y by c multiplies beta, sigma and the random effects by c, leaves theta alone
// and shifts the REML criterion by 2 (n - p) log c.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "model/conditioning.h"
#include "model/model_access.h"
#include "test_util.h"

namespace {

const std::string kData = LMM_TEST_DATA;
constexpr const char* kFormula = "Reaction ~ Days + (Days | Subject)";

lmm::DataFrame sleepstudy_transformed(double scale, double offset) {
  lmm::DataFrame d = lmm::read_table(kData + "/sleepstudy.csv");
  for (auto& c : d.columns)
    if (c.name == "Reaction")
      for (double& v : c.numbers) v = v * scale + offset;
  return d;
}

double rel(double a, double b) { return std::abs(a - b) / std::abs(b); }

// Before the response was shifted by its least-squares fit inside the engine, an offset of 1e4
// moved sigma by 7e-5 (relative) and an offset of 1e9 made sigma 3x too large: r² was computed as
// y'y minus the explained part and lost the digits of y'y.
TEST(NumericalEdge, ResponseOffsetOnlyMovesTheIntercept) {
  const auto base = lmm::fit(sleepstudy_transformed(1, 0), kFormula).result;
  for (double offset : {1e4, 1e6, 1e9}) {
    SCOPED_TRACE("offset " + std::to_string(offset));
    const auto r = lmm::fit(sleepstudy_transformed(1, offset), kFormula).result;
    // The data themselves are rounded to 1 ulp of the offset (1.2e-7 at 1e9): tolerances follow.
    const double tol = offset < 1e8 ? 1e-9 : 1e-6;
    EXPECT_LT(rel(r.sigma, base.sigma), tol);
    EXPECT_LT(std::abs(r.objective - base.objective), 1e3 * tol);
    for (std::size_t k = 0; k < base.theta.size(); ++k) EXPECT_NEAR(r.theta[k], base.theta[k], 10 * tol);
    EXPECT_LT(rel(r.fixed[1].estimate, base.fixed[1].estimate), tol);
    EXPECT_LT(rel(r.fixed[1].std_error, base.fixed[1].std_error), tol);
    EXPECT_NEAR(r.fixed[0].estimate - offset, base.fixed[0].estimate, 1e-4);
    EXPECT_LT(rel(r.fixed[0].std_error, base.fixed[0].std_error), tol);
  }
}

TEST(NumericalEdge, ResponseScaleScalesTheEstimates) {
  const auto base = lmm::fit(sleepstudy_transformed(1, 0), kFormula).result;
  const double n = static_cast<double>(base.nobs), p = 2;
  for (double scale : {1e9, 1e-9}) {
    SCOPED_TRACE("scale " + std::to_string(scale));
    const auto r = lmm::fit(sleepstudy_transformed(scale, 0), kFormula).result;
    // The objective is scale-free up to its constant; theta is found to the optimizer's precision
    // (BOBYQA's ftol_rel is relative to the objective, which the constant changes), ~2e-6 here.
    EXPECT_NEAR(r.objective - 2 * (n - p) * std::log(scale), base.objective, 1e-6);
    for (std::size_t k = 0; k < base.theta.size(); ++k) EXPECT_NEAR(r.theta[k], base.theta[k], 2e-5);
    EXPECT_LT(rel(r.sigma / scale, base.sigma), 1e-5);
    for (std::size_t k = 0; k < 2; ++k) {
      EXPECT_LT(rel(r.fixed[k].estimate / scale, base.fixed[k].estimate), 1e-7);
      EXPECT_LT(rel(r.fixed[k].std_error / scale, base.fixed[k].std_error), 2e-5);
      EXPECT_LT(rel(r.fixed[k].t, base.fixed[k].t), 2e-5);
    }
    for (std::size_t k = 0; k < base.random.size(); ++k) {
      if (base.random[k].is_correlation())
        EXPECT_NEAR(r.random[k].cor, base.random[k].cor, 2e-5);
      else
        EXPECT_LT(rel(r.random[k].sd / scale, base.random[k].sd), 2e-5);
    }
  }
}

std::string error_of(const std::string& csv, const std::string& formula) {
  try {
    lmm::fit(lmm::parse_table(csv, ','), formula);
  } catch (const lmm::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string table(double (*y)(int g, int t)) {
  std::string s = "y,x,g\n";
  for (int g = 0; g < 6; ++g)
    for (int t = 0; t < 4; ++t) s += std::to_string(y(g, t)) + "," + std::to_string(t) + ",g" + std::to_string(g) + "\n";
  return s;
}

// Both used to "fit": sigma ~1e-8, t values ~1e8 and a REML criterion of -1700.
TEST(NumericalEdge, ConstantResponseIsAnError) {
  const std::string msg = error_of(table([](int, int) { return 0.1; }), "y ~ x + (1 | g)");
  EXPECT_NE(msg.find("the response 'y' has the same value (0.1) in all 24 rows"), std::string::npos) << msg;
}

TEST(NumericalEdge, ResponseExactlyLinearInTheFixedEffectsIsAnError) {
  const std::string msg = error_of(table([](int, int t) { return 0.3 * t - 7.1; }), "y ~ x + (1 | g)");
  EXPECT_NE(msg.find("the response 'y' is an exact linear function of the fixed effects ((Intercept), x)"),
            std::string::npos)
      << msg;
  // Not exact once the groups differ: the random intercept has something to explain.
  EXPECT_EQ(error_of(table([](int g, int t) { return 0.3 * t - 7.1 + (g % 3) + 0.01 * ((g * t) % 5); }),
                     "y ~ x + (1 | g)"),
            "(no error)");
}

}  // namespace

namespace {

lmm::DataFrame sleepstudy_days_shifted(double offset) {
  lmm::DataFrame d = lmm::read_table(kData + "/sleepstudy.csv");
  for (auto& c : d.columns)
    if (c.name == "Days")
      for (double& v : c.numbers) v += offset;
  return d;
}

::testing::AssertionResult has_message(const lmm::FitResult& r, const std::string& what) {
  std::string all;
  for (const auto& m : r.messages) {
    if (m.find(what) != std::string::npos) return ::testing::AssertionSuccess();
    all += "\n  " + m;
  }
  return ::testing::AssertionFailure() << "no message contains '" << what << "'; messages:" << all;
}

TEST(NumericalEdge, WellConditionedFitHasNoWarning) {
  const auto r = lmm::fit(sleepstudy_days_shifted(0), kFormula).result;
  EXPECT_GT(r.condition_number, 1);
  EXPECT_LT(r.condition_number, 10);
  EXPECT_TRUE(r.messages.empty());
}

// Days + 1e6 as a fixed effect: X'X has condition number ~1e12 and the slope keeps ~4 digits; the
// output says so, with the digits and what to subtract.
TEST(NumericalEdge, PredictorFarFromZeroGetsConditionNumberAndCenteringAdvice) {
  const auto r = lmm::fit(sleepstudy_days_shifted(1e6), "Reaction ~ Days + (1 | Subject)").result;
  EXPECT_GT(r.condition_number, 1e5);
  EXPECT_TRUE(has_message(r, "warning: the fixed-effects model matrix is ill-conditioned (condition number"));
  EXPECT_TRUE(has_message(r, "standard errors, variance components and the likelihood may have only about 4 correct significant digits"));
  EXPECT_TRUE(has_message(r, "replace Days with I(Days - 1e+06)"));
  // The advice works: the centred fit has no warning and the slope of the uncentred one agrees
  // with it to the digits promised.
  const auto c = lmm::fit(sleepstudy_days_shifted(1e6), "Reaction ~ I(Days - 1e+06) + (1 | Subject)").result;
  EXPECT_TRUE(c.messages.empty());
  EXPECT_LT(c.condition_number, 10);
  EXPECT_LT(rel(r.fixed[1].estimate, c.fixed[1].estimate), 1e-3);
}

// A random slope on Days + 1e4 (mean/SD ~3500) in (Days | Subject): the same model as
// (Days | Subject) reparametrised. The optimizer's conditioned coordinates find its optimum, but the
// cross-product blocks lose digits (sigma moves by ~1e-6, by 2e-3 at 1e6); the warning says to
// center. At Days + 100 there is nothing to warn about: the fit matches the centred one.
TEST(NumericalEdge, RandomSlopeFarFromZeroGetsCenteringAdvice) {
  const auto base = lmm::fit(sleepstudy_days_shifted(0), kFormula).result;
  const auto near = lmm::fit(sleepstudy_days_shifted(100), kFormula).result;
  EXPECT_TRUE(near.messages.empty());
  EXPECT_NEAR(near.objective, base.objective, 1e-6);
  // Satterthwaite's df of the slope do not depend on where Days starts (numerical derivatives in
  // lmerTest's (θ, σ) gave 67 instead of 17 here).
  EXPECT_NEAR(near.fixed[1].df, base.fixed[1].df, 1e-3 * base.fixed[1].df);
  EXPECT_NEAR(near.fixed[1].std_error, base.fixed[1].std_error, 1e-6 * base.fixed[1].std_error);
  EXPECT_LT(rel(near.sigma, base.sigma), 1e-7);

  const auto r = lmm::fit(sleepstudy_days_shifted(1e4), kFormula).result;
  EXPECT_TRUE(has_message(r, "warning: 'Days' in the random-effects term for Subject is far from 0 for its spread "
                             "(mean 1e+04, SD 2.87)"));
  EXPECT_TRUE(has_message(r, "replace Days with I(Days - 10000)"));
  EXPECT_NEAR(r.objective, base.objective, 1e-3);
  const auto c = lmm::fit(sleepstudy_days_shifted(1e4), "Reaction ~ I(Days - 1e4) + (I(Days - 1e4) | Subject)").result;
  EXPECT_TRUE(c.messages.empty());
  EXPECT_NEAR(c.objective, base.objective, 1e-6);
}

// Two predictors equal up to 1e-6 of their spread: not aliased (R's tolerance is 1e-7), so they
// are fitted, with a warning that names them.
TEST(NumericalEdge, NearlyCollinearPredictorsAreNamed) {
  std::string csv = "y,x,x2,g\n";
  for (int i = 0; i < 40; ++i) {
    const double x = i % 10, y = 1 + 0.5 * x + ((i * 7) % 5) * 0.3 + (i % 4);
    csv += fmt::format("{},{},{:.17g},g{}\n", y, x, x + 1e-6 * ((i * 3) % 7 - 3), i % 4);
  }
  const auto r = lmm::fit(lmm::parse_table(csv, ','), "y ~ x + x2 + (1 | g)").result;
  EXPECT_GT(r.condition_number, 1e6);
  EXPECT_TRUE(has_message(r, "these columns are nearly linearly dependent: 'x', 'x2'; rescale or drop one"));
}

// Beyond ~2 digits the estimates are refused. The model frame drops columns that are aliased to
// R's tolerance first, so this is built by hand: x2 = x + 1e-10 noise.
TEST(NumericalEdge, HopelesslyIllConditionedFixedEffectsAreRefused) {
  lmm::ModelFrame f = lmm::testing::synthetic_crossed(20, 1, 5);
  const std::size_t n = f.n();
  f.fixed_names.push_back("x2");
  for (std::size_t i = 0; i < n; ++i) f.X.push_back(f.X[n + i] + 1e-10 * static_cast<double>(i % 3));
  lmm::LinearMixedModel m(std::move(f));
  try {
    lmm::detail::assess_conditioning(lmm::detail::model_state(m));
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("too ill-conditioned to give meaningful estimates (condition number"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("'x', 'x2'"), std::string::npos) << e.what();
  }
}

// A variance estimated as exactly 0 leaves its correlation undefined: NA in the text, never "nan".
TEST(NumericalEdge, UndefinedCorrelationPrintsNA) {
  auto r = lmm::fit(sleepstudy_days_shifted(0), kFormula).result;
  for (auto& vc : r.random)
    if (vc.is_correlation()) vc.cor = lmm::NaN;
  r.fixed[1].t = lmm::NaN;
  const std::string text = lmm::format_summary(r);
  EXPECT_EQ(text.find("nan"), std::string::npos) << text;
  EXPECT_NE(text.find("Days           35.07    5.922    NA"), std::string::npos) << text;
  EXPECT_NE(text.find("Days          10.467      1.546 17.00      NA"), std::string::npos) << text;
}

}  // namespace
