// The report's plot data against R: per-person OLS and BLUP-based coefficients against lmList() and
// coef(), QQ points against qqnorm()/qqline(), the marginal variance against VarCorr()
// (tests/data/report/make_report_refs.R); and the explorer's simulation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/explore.h"
#include "lmm/fit.h"
#include "lmm/report_data.h"
#include "test_util.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using lmm::report::PlotData;

const fs::path kData = LMM_TEST_DATA;

using lmm::testing::close;
using lmm::testing::load_json;

lmm::Fitted fit_file(const std::string& file, const std::string& formula) {
  return lmm::fit(lmm::read_table((kData / file).string()), formula);
}

const json& refs() {
  static const json r = load_json(kData / "report" / "report_refs.json");
  return r;
}

// ---- shrinkage against lmList() and coef() ----

TEST(Shrinkage, SleepstudyMatchesLmListAndCoef) {
  const auto f = fit_file("sleepstudy.csv", "Reaction ~ Days + (Days | Subject)");
  const auto sh = lmm::shrinkage(f.model);
  ASSERT_TRUE(sh.available()) << sh.reason;
  EXPECT_EQ(sh.group, "Subject");
  EXPECT_EQ(sh.terms, (std::vector<std::string>{"(Intercept)", "Days"}));
  const json& r = refs()["sleepstudy"];
  ASSERT_EQ(sh.rows.size(), r["level"].size());
  EXPECT_TRUE(sh.too_few.empty());
  const double sigma = f.result.sigma;
  for (std::size_t i = 0; i < sh.rows.size(); ++i) {
    const auto& l = sh.rows[i];
    ASSERT_EQ(l.level, r["level"][i].get<std::string>());
    EXPECT_EQ(l.n, 10u);
    ASSERT_TRUE(l.own_fit);
    // OLS does not depend on the optimizer: tight.
    EXPECT_NEAR(l.ols[0], r["ols_intercept"][i].get<double>(), 1e-9 * 300);
    EXPECT_NEAR(l.ols[1], r["ols_slope"][i].get<double>(), 1e-9 * 30);
    // coef() = fixef + ranef: the tolerance of two optimizers (scripts/compare_reference.py's for ranef).
    EXPECT_TRUE(close(l.blup[0], r["blup_intercept"][i].get<double>(), 1e-4, 1e-3 * sigma)) << l.level;
    EXPECT_TRUE(close(l.blup[1], r["blup_slope"][i].get<double>(), 1e-4, 1e-3 * sigma)) << l.level;
    EXPECT_TRUE(close(l.population[0], r["population"][0].get<double>(), 1e-6));
    EXPECT_TRUE(close(l.population[1], r["population"][1].get<double>(), 1e-6));
  }
}

TEST(Shrinkage, Growth200PopulationDependsOnGroup) {
  const auto f = fit_file("growth200.csv", "y ~ time * group + (time | id)");
  const auto sh = lmm::shrinkage(f.model);
  ASSERT_TRUE(sh.available()) << sh.reason;
  const json& r = refs()["growth200"];
  ASSERT_EQ(sh.rows.size(), r["level"].size());
  const double sigma = f.result.sigma;
  for (std::size_t i = 0; i < sh.rows.size(); ++i) {
    const auto& l = sh.rows[i];
    ASSERT_EQ(l.level, r["level"][i].get<std::string>());
    EXPECT_EQ(l.n, r["nobs"][i].get<std::size_t>());
    ASSERT_TRUE(l.own_fit) << l.level;
    EXPECT_TRUE(close(l.ols[0], r["ols_intercept"][i].get<double>(), 1e-9, 1e-9)) << l.level;
    EXPECT_TRUE(close(l.ols[1], r["ols_slope"][i].get<double>(), 1e-9, 1e-9)) << l.level;
    EXPECT_TRUE(close(l.population[0], r["population_intercept"][i].get<double>(), 1e-5)) << l.level;
    EXPECT_TRUE(close(l.population[1], r["population_slope"][i].get<double>(), 1e-4, 1e-4)) << l.level;
    EXPECT_TRUE(close(l.blup[0], r["blup_intercept"][i].get<double>(), 1e-4, 1e-3 * sigma)) << l.level;
    EXPECT_TRUE(close(l.blup[1], r["blup_slope"][i].get<double>(), 1e-4, 1e-3 * sigma)) << l.level;
  }
}

TEST(Shrinkage, CrossedFactorsAreNotDrawn) {
  const auto f = fit_file("penicillin.csv", "diameter ~ 1 + (1 | plate) + (1 | sample)");
  const auto sh = lmm::shrinkage(f.model);
  EXPECT_FALSE(sh.available());
  EXPECT_NE(sh.reason.find("one grouping factor"), std::string::npos) << sh.reason;
}

TEST(Shrinkage, UncorrelatedTermsOnOneFactorAreCombined) {
  const auto f = fit_file("sleepstudy.csv", "Reaction ~ Days + (Days || Subject)");
  const auto sh = lmm::shrinkage(f.model);
  ASSERT_TRUE(sh.available()) << sh.reason;
  EXPECT_EQ(sh.terms, (std::vector<std::string>{"(Intercept)", "Days"}));
  const json& r = refs()["sleepstudy"];
  for (std::size_t i = 0; i < sh.rows.size(); ++i)  // the own fits do not depend on the model
    EXPECT_NEAR(sh.rows[i].ols[1], r["ols_slope"][i].get<double>(), 1e-9 * 30);
}

// ---- QQ points against qqnorm() and qqline() ----

TEST(NormalQQ, SmallSampleMatchesQqnorm) {
  const json& r = refs()["small_qq"];
  const auto qq = lmm::report::normal_qq(r["values"].get<std::vector<double>>());
  ASSERT_EQ(qq.theoretical.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(qq.theoretical[i], r["theoretical"][i].get<double>(), 1e-12);
    EXPECT_EQ(qq.sample[i], r["sample"][i].get<double>());
  }
  EXPECT_NEAR(qq.line_slope, r["line_slope"].get<double>(), 1e-12);
  EXPECT_NEAR(qq.line_intercept, r["line_intercept"].get<double>(), 1e-12);
  EXPECT_NEAR(qq.line_y[1], qq.line_intercept + qq.line_slope * qq.line_x[1], 1e-12);
}

TEST(NormalQQ, ResidualsAndRandomEffectsMatchR) {
  const auto data = lmm::read_table((kData / "sleepstudy.csv").string());
  const auto f = lmm::fit(data, "Reaction ~ Days + (Days | Subject)");
  const PlotData pd = lmm::report::plot_data(f.model, f.result, data);
  const json& r = refs()["sleepstudy"];
  const double tol = 1e-3 * f.result.sigma;
  for (const auto& [qq, key] : {std::pair{&pd.residual_qq, "qq_residuals"},
                                std::pair{&pd.random_effects.at(0).qq, "qq_ranef_intercept"}}) {
    const json& e = r[key];
    ASSERT_EQ(qq->theoretical.size(), e["theoretical"].size()) << key;
    for (std::size_t i = 0; i < qq->theoretical.size(); ++i) {
      EXPECT_NEAR(qq->theoretical[i], e["theoretical"][i].get<double>(), 1e-12) << key;
      EXPECT_NEAR(qq->sample[i], e["sample"][i].get<double>(), tol) << key << " " << i;
    }
    EXPECT_NEAR(qq->line_slope, e["line_slope"].get<double>(), 1e-3 * std::abs(e["line_slope"].get<double>()));
    EXPECT_NEAR(qq->line_intercept, e["line_intercept"].get<double>(), tol);
  }
}

TEST(NormalQQ, ThinningKeepsBothTails) {
  std::vector<double> v;
  for (int i = 0; i < 1000; ++i) v.push_back(std::sin(i * 1.7) * 10);
  const auto full = lmm::report::normal_qq(v, 100000);
  const auto thin = lmm::report::normal_qq(v, 50);
  ASSERT_EQ(full.theoretical.size(), 1000u);
  ASSERT_EQ(thin.theoretical.size(), 50u);
  EXPECT_EQ(thin.sample.front(), full.sample.front());
  EXPECT_EQ(thin.sample.back(), full.sample.back());
  EXPECT_EQ(thin.theoretical.back(), full.theoretical.back());
  EXPECT_EQ(thin.line_slope, full.line_slope);  // the line always uses every value
}

// ---- trajectories, random effects, variance over time ----

TEST(PlotData, SleepstudyTrajectoriesAndVarianceCurve) {
  const auto data = lmm::read_table((kData / "sleepstudy.csv").string());
  const auto f = lmm::fit(data, "Reaction ~ Days + (Days | Subject)");
  const PlotData pd = lmm::report::plot_data(f.model, f.result, data);
  const auto& tr = pd.trajectories;
  EXPECT_EQ(tr.x_name, "Days");
  EXPECT_EQ(tr.y_name, "Reaction");
  EXPECT_EQ(tr.group, "Subject");
  ASSERT_EQ(tr.persons.size(), 18u);
  EXPECT_EQ(std::set<std::string>(tr.persons.begin(), tr.persons.end()).size(), 18u);
  ASSERT_EQ(tr.x.size(), 180u);
  // Rows grouped by person in display order, sorted by x within a person.
  for (std::size_t i = 1; i < tr.x.size(); ++i) {
    ASSERT_LE(tr.person[i - 1], tr.person[i]);
    if (tr.person[i - 1] == tr.person[i]) EXPECT_LT(tr.x[i - 1], tr.x[i]);
  }
  const auto fitted = f.model.fitted();
  double sum_fitted = 0, sum_tr = 0;
  for (double v : fitted) sum_fitted += v;
  for (double v : tr.fitted) sum_tr += v;
  EXPECT_NEAR(sum_tr, sum_fitted, 1e-9 * std::abs(sum_fitted));
  // One population line: β0 + β1·Days.
  ASSERT_EQ(tr.population_curves.size(), 1u);
  const auto& c = tr.population_curves[0];
  ASSERT_EQ(c.x.size(), 10u);
  const auto beta = f.model.beta();
  for (std::size_t k = 0; k < 10; ++k) EXPECT_NEAR(c.y[k], beta[0] + beta[1] * c.x[k], 1e-9 * 300);

  // Var(y_t) = τ00 + 2tτ01 + t²τ11 + σ² at the grid's ends (t = 0 and 9), against VarCorr().
  const auto& vc = pd.variance_curve;
  ASSERT_TRUE(vc.available) << vc.reason;
  const json& r = refs()["sleepstudy"];
  EXPECT_NEAR(vc.t.front(), 0, 0);
  EXPECT_NEAR(vc.t.back(), 9, 0);
  EXPECT_TRUE(close(vc.total.front(), r["var_total"][0].get<double>(), 2e-3));
  EXPECT_TRUE(close(vc.total.back(), r["var_total"][9].get<double>(), 2e-3));
  const double s2 = f.result.sigma * f.result.sigma;
  for (std::size_t k = 0; k < vc.t.size(); ++k) {
    EXPECT_NEAR(vc.total[k] - vc.between[k], s2, 1e-9 * s2);
    EXPECT_NEAR(vc.icc[k], vc.between[k] / vc.total[k], 1e-12);
  }

  // Caterpillar: 95% conditional intervals b ± 1.959964·condsd.
  ASSERT_EQ(pd.random_effects.size(), 2u);
  const auto& re = pd.random_effects[1];
  EXPECT_EQ(re.term, "Days");
  EXPECT_EQ(re.group, "Subject");
  const auto cv = f.model.ranef_condvar();
  for (std::size_t l = 0; l < 18; ++l) {
    EXPECT_NEAR(re.condsd[l], std::sqrt(cv[0][l * 4 + 3]), 1e-12);
    EXPECT_NEAR(re.upper[l] - re.value[l], 1.959963984540054 * re.condsd[l], 1e-9);
  }
  EXPECT_TRUE(pd.notes.empty());
}

TEST(PlotData, Growth200HasOnePopulationLinePerGroup) {
  const auto data = lmm::read_table((kData / "growth200.csv").string());
  const auto f = lmm::fit(data, "y ~ time * group + (time | id)");
  lmm::report::PlotOptions opt;
  opt.max_persons = 50;
  const PlotData pd = lmm::report::plot_data(f.model, f.result, data, opt);
  const auto& tr = pd.trajectories;
  EXPECT_EQ(tr.x_name, "time");
  ASSERT_EQ(tr.persons.size(), 200u);
  for (auto p : tr.person) EXPECT_LT(p, 50);
  ASSERT_EQ(tr.population_curves.size(), 2u);
  EXPECT_EQ(tr.population_curves[0].stratum, "control");
  EXPECT_EQ(tr.population_curves[1].stratum, "treatment");
  std::map<std::string, double> b;
  for (const auto& fe : f.result.fixed) b[fe.term] = fe.estimate;
  for (std::size_t k = 0; k < tr.population_curves[1].x.size(); ++k) {
    const double t = tr.population_curves[1].x[k];
    EXPECT_NEAR(tr.population_curves[1].y[k],
                b["(Intercept)"] + b["grouptreatment"] + (b["time"] + b["time:grouptreatment"]) * t, 1e-9 * 100);
  }
  // Shrinkage: the same 50 persons; caterpillars: 50 ranks including both extremes, QQ over all 200.
  ASSERT_TRUE(pd.shrinkage.table.available());
  EXPECT_EQ(pd.shrinkage.table.rows.size(), 50u);
  EXPECT_EQ(pd.shrinkage.strata.size(), 50u);
  for (const auto& l : pd.shrinkage.table.rows)
    EXPECT_NE(std::find(tr.persons.begin(), tr.persons.begin() + 50, l.level), tr.persons.begin() + 50);
  const auto all = f.model.ranef()[0];
  double lo = 1e300, hi = -1e300;
  for (std::size_t l = 0; l < 200; ++l) {
    lo = std::min(lo, all[l * 2]);
    hi = std::max(hi, all[l * 2]);
  }
  const auto& cat = pd.random_effects.at(0);
  ASSERT_EQ(cat.levels.size(), 50u);
  EXPECT_EQ(*std::min_element(cat.value.begin(), cat.value.end()), lo);
  EXPECT_EQ(*std::max_element(cat.value.begin(), cat.value.end()), hi);
  EXPECT_EQ(cat.qq.sample.size(), 200u);
  // The missing waves are explained, and the sample of persons is noted.
  bool missing = false, sampled = false;
  for (const auto& n : pd.notes) {
    missing = missing || n.kind == "missing";
    sampled = sampled || (n.kind == "plot" && n.message.find("50 of 200") != std::string::npos);
  }
  EXPECT_EQ(missing, f.result.n_dropped > 0);
  EXPECT_TRUE(sampled);
}

TEST(PlotData, RandomInterceptOnlyHasNoVarianceCurve) {
  const auto data = lmm::read_table((kData / "sleepstudy.csv").string());
  const auto f = lmm::fit(data, "Reaction ~ Days + (1 | Subject)");
  const PlotData pd = lmm::report::plot_data(f.model, f.result, data);
  EXPECT_EQ(pd.trajectories.x_name, "Days");  // from the fixed effects
  EXPECT_FALSE(pd.variance_curve.available);
  EXPECT_NE(pd.variance_curve.reason.find("random intercepts only"), std::string::npos) << pd.variance_curve.reason;
  ASSERT_TRUE(pd.shrinkage.table.available());
  EXPECT_EQ(pd.shrinkage.table.terms, std::vector<std::string>{"(Intercept)"});
}

TEST(PlotData, SingularFitIsExplained) {
  const auto data = lmm::read_table((kData / "dyestuff2.csv").string());
  const auto f = lmm::fit(data, "Yield ~ 1 + (1 | Batch)");
  const PlotData pd = lmm::report::plot_data(f.model, f.result, data);
  ASSERT_TRUE(f.result.singular);
  ASSERT_FALSE(pd.notes.empty());
  EXPECT_EQ(pd.notes[0].kind, "singular");
  ASSERT_FALSE(f.result.singular_advice.empty());
  EXPECT_EQ(pd.notes[0].explanation, f.result.singular_advice[0]);  // the engine's advice
  // No covariate: the batches' means are drawn, never the row order.
  EXPECT_EQ(pd.design.kind, "factorial");
  EXPECT_EQ(pd.trajectories.x_name, "");
  EXPECT_EQ(pd.group_means.levels.size(), 6u);
}

// ---- the explorer's growth model ----

TEST(Explore, TrueVarianceByHand) {
  lmm::explore::GrowthParams g;
  g.sd_intercept = 8;
  g.sd_slope = 1.5;
  g.cor = 0.5;
  g.sigma = 4;
  g.times = {0, 1, 2, 3, 4};
  const auto v = lmm::explore::growth_variance(g);
  EXPECT_DOUBLE_EQ(v.icc_baseline, 64.0 / 80.0);
  // between(t) = 64 + 12t + 2.25t²: 64, 78.25, 97, 120.25, 148; mean 101.5.
  EXPECT_NEAR(v.icc_mean, 101.5 / 117.5, 1e-15);
  EXPECT_DOUBLE_EQ(v.total.back(), 148 + 16);
  EXPECT_DOUBLE_EQ(v.t.back(), 4);
}

TEST(Explore, SimulationIsReproducibleAndRecoversItsParameters) {
  lmm::explore::GrowthParams g;
  g.persons = 4000;
  g.sd_intercept = 6;
  g.sd_slope = 2;
  g.cor = -0.4;
  const auto a = lmm::explore::simulate_growth(g);
  const auto b = lmm::explore::simulate_growth(g);
  EXPECT_EQ(a.y, b.y);
  ASSERT_EQ(a.y.size(), 4000u * 5u);
  // The same people when only σ moves.
  auto g2 = g;
  g2.sigma = 9;
  const auto c = lmm::explore::simulate_growth(g2);
  EXPECT_EQ(a.b0, c.b0);
  EXPECT_NE(a.y, c.y);
  g2 = g;
  g2.seed = 2;
  EXPECT_NE(lmm::explore::simulate_growth(g2).b0, a.b0);
  // Sample moments of the drawn effects: SE of an SD is about sd/sqrt(2n) ≈ 1.1%.
  double m0 = 0, m1 = 0;
  for (std::size_t i = 0; i < g.persons; ++i) {
    m0 += a.b0[i] / 4000.0;
    m1 += a.b1[i] / 4000.0;
  }
  double v0 = 0, v1 = 0, c01 = 0;
  for (std::size_t i = 0; i < g.persons; ++i) {
    v0 += (a.b0[i] - m0) * (a.b0[i] - m0) / 3999.0;
    v1 += (a.b1[i] - m1) * (a.b1[i] - m1) / 3999.0;
    c01 += (a.b0[i] - m0) * (a.b1[i] - m1) / 3999.0;
  }
  EXPECT_NEAR(std::sqrt(v0), 6, 6 * 0.04);
  EXPECT_NEAR(std::sqrt(v1), 2, 2 * 0.04);
  EXPECT_NEAR(c01 / std::sqrt(v0 * v1), -0.4, 0.05);
  // Fitting the model recovers the parameters within a few standard errors.
  const auto f = lmm::fit(lmm::explore::to_table(a), "y ~ time + (time | id)");
  EXPECT_NEAR(f.result.fixed[0].estimate, g.intercept, 4 * f.result.fixed[0].std_error);
  EXPECT_NEAR(f.result.fixed[1].estimate, g.slope, 4 * f.result.fixed[1].std_error);
  EXPECT_NEAR(f.result.sigma, g.sigma, 0.05 * g.sigma);
}

TEST(Explore, RejectsOutOfRangeParameters) {
  lmm::explore::GrowthParams g;
  g.cor = 1.5;
  EXPECT_THROW(lmm::explore::validate(g), lmm::Error);
  g.cor = 0;
  g.sigma = 0;
  EXPECT_THROW(lmm::explore::validate(g), lmm::Error);
  g.sigma = 1;
  g.times = {0, 0};
  EXPECT_THROW(lmm::explore::validate(g), lmm::Error);
}

// ---- `lmm report` on the command line: errors leave nothing behind ----

int run(const std::string& cmd) {
  const int status = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ReportCli, WritesOneFileOrNothing) {
  const fs::path dir = fs::temp_directory_path() / ("lmm_report_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string lmm = LMM_CLI_PATH;
  const std::string data = (kData / "sleepstudy.csv").string();
  const fs::path out = dir / "r.html";
  EXPECT_EQ(run(lmm + " report " + data + " 'Reaction ~ Days + (Days | Subject)' --out " + out.string()), 0);
  ASSERT_TRUE(fs::exists(out));
  std::ifstream in(out);
  const std::string html((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(html.find("window.LMM_REPORT = {"), std::string::npos);
  EXPECT_EQ(html.find("/*LMM_REPORT_DATA*/"), std::string::npos);
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos) << "the page's policy forbids any request";
  // A bad formula or an unwritable place: exit 2, no file.
  const fs::path bad = dir / "bad.html";
  EXPECT_EQ(run(lmm + " report " + data + " 'Reaction ~ Nope + (1 | Subject)' --out " + bad.string()), 2);
  EXPECT_FALSE(fs::exists(bad));
  EXPECT_EQ(run(lmm + " report " + data + " 'Reaction ~ Days + (1 | Subject)' --out " + (dir / "no" / "x.html").string()), 2);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_TRUE(e.path().filename() == "r.html") << "left behind: " << e.path();
  fs::remove_all(dir);
}

}  // namespace
