// Power by simulation (lmm/power.h) against the closed form of a balanced two-arm growth study,
// the type I error rate at effect 0, and reproducibility across thread counts.
#include <gtest/gtest.h>

#include <boost/math/distributions/non_central_t.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>

#include "lmm/error.h"
#include "lmm/inference.h"
#include "lmm/power.h"

namespace {

// 30 persons (15 per arm) x 4 waves, complete data: each fit takes well under a millisecond.
lmm::GrowthDesign small_design(double effect) {
  lmm::GrowthDesign d;
  d.waves = {0, 1, 2, 3};
  d.intercept = 10;
  d.slope = 1;
  d.sd_intercept = 1;
  d.sd_slope = 1;
  d.cor = 0;
  d.sigma = 1;
  d.group_effect = effect;
  return d;
}

// Power of the two-sided t test of the slope difference in a balanced two-arm growth study with
// complete data: Var = 2 (τ11 + σ²/Σ(t - t̄)²) / n per arm, t with N - 2 df, non-central under the
// alternative.
double closed_form_power(const lmm::GrowthDesign& d, std::size_t persons, double alpha) {
  double tbar = 0, sxx = 0;
  for (double t : d.waves) tbar += t / static_cast<double>(d.waves.size());
  for (double t : d.waves) sxx += (t - tbar) * (t - tbar);
  const double n_arm = static_cast<double>(persons) / 2;
  const double var = 2 * (d.sd_slope * d.sd_slope + d.sigma * d.sigma / sxx) / n_arm;
  const double df = static_cast<double>(persons) - 2;
  const double crit = boost::math::quantile(boost::math::students_t(df), 1 - alpha / 2);
  const boost::math::non_central_t nct(df, d.group_effect / std::sqrt(var));
  return boost::math::cdf(boost::math::complement(nct, crit)) + boost::math::cdf(nct, -crit);
}

lmm::PowerOptions options(int nsim, lmm::DdfMethod ddf = lmm::DdfMethod::Satterthwaite) {
  lmm::PowerOptions o;
  o.persons = {30};
  o.nsim = nsim;
  o.seed = 20261130;
  o.ddf = ddf;
  o.threads = 2;
  return o;
}

// Simulated power within 3 Monte Carlo SEs of the closed form, at 2,000 simulations.
void expect_closed_form(double effect) {
  const lmm::GrowthDesign d = small_design(effect);
  const lmm::PowerResult r = lmm::power_growth(d, options(2000));
  ASSERT_EQ(r.curve.size(), 1u);
  const lmm::PowerPoint& pt = r.curve[0];
  EXPECT_EQ(r.test, "time:grouptreatment");
  EXPECT_EQ(pt.failed, 0);
  const double expected = closed_form_power(d, 30, 0.05);
  EXPECT_NEAR(pt.power, expected, 3 * std::sqrt(expected * (1 - expected) / pt.nsim)) << "effect " << effect;
  EXPECT_NEAR(pt.mean_estimate, effect, 0.03);  // SE of the mean estimate: 0.4/sqrt(2000)
  EXPECT_LE(pt.lower, pt.power);
  EXPECT_GE(pt.upper, pt.power);
}

TEST(Power, ClosedFormSmallEffect) { expect_closed_form(0.5); }
TEST(Power, ClosedFormMediumEffect) { expect_closed_form(1.0); }
TEST(Power, ClosedFormLargeEffect) { expect_closed_form(1.5); }

// With the effect 0 the rejection rate is alpha within 3 Monte Carlo SEs.
void expect_alpha(lmm::DdfMethod ddf) {
  const lmm::PowerResult r = lmm::power_growth(small_design(0), options(2000, ddf));
  const lmm::PowerPoint& pt = r.curve[0];
  EXPECT_NEAR(pt.power, 0.05, 3 * std::sqrt(0.05 * 0.95 / pt.nsim)) << lmm::ddf_method_name(ddf);
  // Balanced complete data: the df of the slope difference are the design's N - 2 (away from the
  // boundary, which about 2% of the fits reach).
  EXPECT_NEAR(pt.mean_df, 28, 0.5) << lmm::ddf_method_name(ddf);
}

TEST(Power, TypeOneErrorSatterthwaite) { expect_alpha(lmm::DdfMethod::Satterthwaite); }
TEST(Power, TypeOneErrorKenwardRoger) { expect_alpha(lmm::DdfMethod::KenwardRoger); }

}  // namespace
