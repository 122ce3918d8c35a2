// Numerical edge cases of the engine: the fit must not depend on where the response sits or on its
// units, and a response with nothing to model is an error rather than a fit full of zeros and
// infinities. Known truths: adding a constant c to y (with an intercept) changes only the intercept,
// by c; multiplying y by c multiplies beta, sigma and the random effects by c, leaves theta alone
// and shifts the REML criterion by 2 (n - p) log c.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"

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
      EXPECT_NEAR(r.fixed[k].t, base.fixed[k].t, 2e-4);
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
