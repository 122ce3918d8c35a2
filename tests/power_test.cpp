// Power by simulation (lmm/power.h) against the closed form of a balanced two-arm growth study,
// the type I error rate at effect 0, and reproducibility across thread counts.
#include <gtest/gtest.h>

#include <boost/math/distributions/non_central_t.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/table_io.h"
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


// With no slope variance the REML likelihood-ratio test of the random slope, referred to the
// 50:50 mixture of chi-square(1) and chi-square(2), rejects at about alpha (within 3 MC SEs).
TEST(Power, RandomSlopeLrtAtTheNull) {
  lmm::GrowthDesign d = small_design(0);
  d.sd_slope = 0;
  lmm::PowerOptions o = options(1000);
  o.persons = {60};
  o.test = "(time | id)";
  const lmm::PowerResult r = lmm::power_growth(d, o);
  EXPECT_EQ(r.test, "(time | id)");
  const lmm::PowerPoint& pt = r.curve[0];
  EXPECT_NEAR(pt.power, 0.05, 3 * std::sqrt(0.05 * 0.95 / pt.nsim));
  // The slope's variance is 0: about half the fits are at the boundary (the mixture's χ²(1) half
  // has its point mass there).
  EXPECT_NEAR(pt.singular_share, 0.5, 0.1);
  // anova()'s χ²(2) reference is conservative: fewer rejections of the same studies.
  o.lrt_mixture = false;
  const lmm::PowerResult chisq = lmm::power_growth(d, o);
  EXPECT_EQ(chisq.test_method, "likelihood ratio (REML), chi-square(q)");
  EXPECT_LT(chisq.curve[0].rejections, pt.rejections);
  EXPECT_EQ(chisq.curve[0].singular, pt.singular);
  o.lrt_mixture = true;
  // With a slope SD as large as σ the slope is found nearly always.
  d.sd_slope = 1;
  o.nsim = 100;
  EXPECT_GT(lmm::power_growth(d, o).curve[0].power, 0.9);
}

// A data set with a three-level factor `site` (by person) on the growth design.
lmm::DataFrame data_with_site() {
  lmm::GrowthDesign d = small_design(0);
  d.persons = 45;
  lmm::DataFrame data = lmm::simulate_growth(d);
  std::vector<std::optional<std::string>> site;
  for (std::size_t i = 0; i < data.nrows; ++i) site.emplace_back("s" + std::to_string(i / d.waves.size() % 3));
  data.columns.push_back(lmm::categorical_column("site", site));
  return data;
}

// Type III F test of a factor from a fitted model: at effects 0 it rejects at alpha; with the
// fitted model's effects made large it detects them.
TEST(Power, TypeThreeFTestOfAFactorFromAModel) {
  const lmm::DataFrame data = data_with_site();
  const auto [model, fitted] = lmm::fit(data, "y ~ time + site + (time | id)");
  lmm::SavedModel saved = lmm::snapshot(model);
  ASSERT_EQ(saved.frame.fixed_names, (std::vector<std::string>{"(Intercept)", "time", "sites1", "sites2"}));
  saved.beta[2] = saved.beta[3] = 0;
  lmm::PowerOptions o = options(1000);
  o.test = "site";
  const lmm::PowerResult null = lmm::power_from_model(saved, data, o);
  EXPECT_EQ(null.test, "site");
  EXPECT_EQ(null.test_method, "type III F (Satterthwaite df)");
  EXPECT_NEAR(null.curve[0].power, 0.05, 3 * std::sqrt(0.05 * 0.95 / 1000));
  saved.beta[3] = 3 * saved.sigma;
  o.nsim = 100;
  EXPECT_GT(lmm::power_from_model(saved, data, o).curve[0].power, 0.9);
  // --effect sets the tested coefficient; a term of two columns has none to set.
  o.effect = 1;
  EXPECT_THROW(lmm::power_from_model(saved, data, o), lmm::Error);
  o.test = "sites2";
  o.effect = 0;
  o.persons = {90};
  const lmm::PowerResult one = lmm::power_from_model(saved, data, o);
  EXPECT_EQ(one.test, "sites2");
  EXPECT_EQ(one.effect, 0);
  EXPECT_LT(one.curve[0].power, 0.2);
}

// Kenward-Roger that cannot run for the design is refused before any simulation, naming the option
// and the size, instead of every simulation failing in its test and being counted as a failed fit.
// The model is fitted on a small study (40 raters); the planned one has 4,100 raters crossed with
// the persons, beyond KenwardRoger::kMaxDenseRandomEffects after the first term.
TEST(Power, KenwardRogerThatCannotRunIsRefusedBeforeSimulating) {
  auto with_raters = [](std::size_t persons, std::size_t raters) {
    lmm::GrowthDesign d = small_design(0);
    d.persons = persons;
    lmm::DataFrame data = lmm::simulate_growth(d);
    std::vector<std::optional<std::string>> rater;
    for (std::size_t i = 0; i < data.nrows; ++i) rater.emplace_back("r" + std::to_string(i % raters));
    data.columns.push_back(lmm::categorical_column("rater", rater));
    return data;
  };
  const auto [model, fitted] = lmm::fit(with_raters(60, 40), "y ~ time + (1 | id) + (1 | rater)");
  const lmm::SavedModel saved = lmm::snapshot(model);
  lmm::PowerOptions o = options(20);
  o.persons = {4500};
  o.test = "time";
  o.ddf = lmm::DdfMethod::KenwardRoger;
  try {
    lmm::power_from_model(saved, with_raters(4500, 4100), o);
    ADD_FAILURE() << "Kenward-Roger for 4,100 crossed raters was not refused";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("PowerOptions::ddf KenwardRoger at 4500 persons"), std::string::npos)
        << e.what();
  }
}

// Same seed, 1 or 2 threads: the same curve to the last bit (with dropout, which changes the rows).
TEST(Power, SameOutputOnOneAndTwoThreads) {
  lmm::GrowthDesign d = small_design(0.8);
  d.dropout = 0.2;
  lmm::PowerOptions o = options(60);
  o.persons = {20, 40};
  o.threads = 1;
  const lmm::PowerResult a = lmm::power_growth(d, o);
  o.threads = 2;
  const lmm::PowerResult b = lmm::power_growth(d, o);
  ASSERT_EQ(a.curve.size(), 2u);
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(a.curve[k].rejections, b.curve[k].rejections);
    EXPECT_EQ(a.curve[k].singular, b.curve[k].singular);
    EXPECT_EQ(a.curve[k].mean_estimate, b.curve[k].mean_estimate);
    EXPECT_EQ(a.curve[k].mean_df, b.curve[k].mean_df);
  }
  // Another seed gives other studies.
  o.seed += 1;
  EXPECT_NE(lmm::power_growth(d, o).curve[1].mean_estimate, a.curve[1].mean_estimate);
}

TEST(Power, OptionsAreCheckedByName) {
  const lmm::GrowthDesign d = small_design(0.5);
  lmm::PowerOptions o = options(10);
  auto message = [&](const lmm::PowerOptions& opt, const lmm::GrowthDesign& design) {
    try {
      lmm::power_growth(design, opt);
    } catch (const lmm::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  o.nsim = 0;
  EXPECT_EQ(message(o, d), "PowerOptions::nsim must be between 1 and 10000000 (got 0)");
  o.nsim = 10;
  o.alpha = 1;
  EXPECT_EQ(message(o, d), "PowerOptions::alpha must be between 0 and 1 (got 1)");
  o.alpha = 0.05;
  o.persons = {1};
  EXPECT_EQ(message(o, d), "PowerOptions::persons must be between 2 and 10000000 (got 1)");
  o.persons = {30};
  o.test = "age";
  EXPECT_NE(message(o, d).find("PowerOptions::test 'age' is not a term"), std::string::npos);
  o.test = "";
  lmm::GrowthDesign bad = d;
  bad.sigma = 0;
  EXPECT_EQ(message(o, bad), "GrowthDesign::sigma must be > 0 (got 0)");
}

// Wilson's interval for 0 of 10 at 95%: [0, z²/(n + z²)].
TEST(Power, WilsonInterval) {
  const double z = 1.959963984540054;
  const auto [lo, hi] = lmm::wilson_interval(0, 10, 0.95);
  EXPECT_DOUBLE_EQ(lo, 0);
  EXPECT_NEAR(hi, z * z / (10 + z * z), 1e-12);
  const auto [lo2, hi2] = lmm::wilson_interval(5, 10, 0.95);
  EXPECT_NEAR(lo2 + hi2, 1, 1e-12);  // symmetric about 1/2
}

TEST(PowerCli, JsonCurveAndHtmlPage) {
  const auto dir = lmm::testing::scratch_dir("lmm_power_");
  const std::string html = (dir / "curve.html").string();
  const auto r = lmm::testing::run_cli({"power", "--persons", "20,40", "--waves", "0,1,2,3", "--nsim", "20",
                                         "--group-effect", "1", "--json", "--out", html});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // no progress line when stderr is not a terminal
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["curve"].size(), 2u);
  for (const char* key : {"persons", "power", "mc_se", "singular_share", "seconds", "lower", "upper"})
    EXPECT_TRUE(j["curve"][0].contains(key)) << key;
  EXPECT_EQ(j["curve"][1]["persons"], 40);
  EXPECT_EQ(j["test"], "time:grouptreatment");
  const std::string page = lmm::testing::slurp(html);
  EXPECT_NE(page.find("window.LMM_POWER = {\"alpha\":0.05"), std::string::npos);
  const auto bad = lmm::testing::run_cli({"power", "--model", "m.json", "--slope", "1"});
  EXPECT_EQ(bad.code, 2);
  const auto bad2 = lmm::testing::run_cli({"power", "--sd-slope", "-1", "--nsim", "5"});
  EXPECT_EQ(bad2.code, 2);
  EXPECT_EQ(bad2.err, "lmm: --sd-slope must be >= 0 (got -1)\n");
}

}  // namespace
