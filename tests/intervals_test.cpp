// Inference against R: ICC and R² (performance 0.10.2), Wald and profile intervals (lme4 1.1-31's
// confint), likelihood-ratio tests (lme4's anova) from the reference files in tests/data/reference,
// with scripts/compare_reference.py's tolerances; and the properties the bootstrap, the convergence check and the
// residuals file must have.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "lmm/compare.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "lmm/residuals.h"
#include "test_util.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kData = LMM_TEST_DATA;

using lmm::testing::close;
using lmm::testing::fit_reference;
using lmm::testing::load_json;
using lmm::testing::load_reference;

// ---- ICC and R² as performance::icc / r2_nakagawa, every reference case ----

class VariancePartition : public ::testing::TestWithParam<std::string> {};

TEST_P(VariancePartition, MatchesPerformance) {
  const json ref = load_reference(GetParam());
  const auto f = fit_reference(ref);
  const auto& v = f.result.variance_partition;
  const std::map<std::string, double> ours{{"icc_adjusted", v.icc_adjusted},
                                           {"icc_unadjusted", v.icc_unadjusted},
                                           {"r2_marginal", v.r2_marginal},
                                           {"r2_conditional", v.r2_conditional}};
  int checked = 0;
  for (const auto& [key, value] : ours) {
    if (!ref.contains(key) || ref.at(key).is_null()) continue;  // performance gives NA for a singular fit
    EXPECT_TRUE(close(value, ref[key].get<double>(), 5e-3, 1e-4)) << key << ": " << value << " vs " << ref[key];
    ++checked;
  }
  EXPECT_GT(checked, 0);
  // The parts add up: R² conditional - R² marginal = ICC unadjusted.
  EXPECT_NEAR(v.r2_conditional - v.r2_marginal, v.icc_unadjusted, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Performance, VariancePartition,
                         ::testing::Values("sleepstudy_slope_reml", "sleepstudy_slope_ml", "sleepstudy_intercept_reml",
                                           "sleepstudy_intercept_ml", "sleepstudy_zerocorr_reml",
                                           "sleepstudy_missing_reml", "growth200_reml", "growth200_ml",
                                           "growth200_null_reml", "penicillin_crossed_reml", "pastes_nested_reml",
                                           "cake_factor_reml", "dyestuff2_singular_reml"));

TEST(VariancePartition, ZeroCorrelationModelNotesWhatPerformanceLeavesOut) {
  // performance counts only the first of the two terms (Days || Subject) makes; lmm says so and
  // gives the all-terms figure, which equals the correlated model's formula with cor = 0:
  // var = sd0² + mean(Days²) sd1².
  const json ref = load_reference("sleepstudy_zerocorr_reml");
  const auto f = fit_reference(ref);
  const auto& v = f.result.variance_partition;
  double sd0 = 0, sd1 = 0;
  for (const auto& c : f.result.random) {
    if (c.term1 == "(Intercept)" && c.group != "Residual") sd0 = c.sd;
    if (c.term1 == "Days") sd1 = c.sd;
  }
  double mean_days2 = 0;  // Days 0..9 for every subject
  for (int d = 0; d < 10; ++d) mean_days2 += d * d / 10.0;
  EXPECT_NEAR(v.var_random, sd0 * sd0, 1e-6 * sd0 * sd0);
  EXPECT_NEAR(v.var_random_all_terms, sd0 * sd0 + mean_days2 * sd1 * sd1, 1e-6 * sd0 * sd0);
  EXPECT_NE(v.note.find("Johnson"), std::string::npos) << v.note;
}

TEST(VariancePartition, SingularFitStillReportedWithNote) {
  const json ref = load_reference("dyestuff2_singular_reml");
  const auto f = fit_reference(ref);
  EXPECT_TRUE(f.result.singular);
  EXPECT_NEAR(f.result.variance_partition.icc_adjusted, 0, 1e-6);
  EXPECT_NE(f.result.variance_partition.note.find("singular"), std::string::npos);
  ASSERT_FALSE(f.result.singular_advice.empty());
  EXPECT_NE(f.result.singular_advice[0].find("Batch"), std::string::npos) << f.result.singular_advice[0];
  EXPECT_EQ(f.result.convergence.status, "singular");
  EXPECT_NE(lmm::format_summary(f.result).find("partition of variance, not variance explained"), std::string::npos);
}

// ---- intervals ----

TEST(Intervals, WaldAndProfileMatchLme4) {
  const json ref = load_reference("sleepstudy_slope_reml");
  const auto f = fit_reference(ref);
  const double sigma = ref["sigma"].get<double>();
  ASSERT_EQ(f.result.confint_wald.size(), ref["confint_wald"].size());
  for (std::size_t i = 0; i < f.result.confint_wald.size(); ++i) {
    const auto& o = f.result.confint_wald[i];
    const auto& r = ref["confint_wald"][i];
    EXPECT_EQ(o.parameter, r["parameter"].get<std::string>());
    EXPECT_TRUE(close(o.lower, r["lower"], 1e-4)) << o.parameter;
    EXPECT_TRUE(close(o.upper, r["upper"], 1e-4)) << o.parameter;
  }
  const auto prof = lmm::profile_intervals(f.model);
  ASSERT_EQ(prof.size(), ref["confint_profile"].size());
  for (std::size_t i = 0; i < prof.size(); ++i) {
    const auto& r = ref["confint_profile"][i];
    EXPECT_EQ(prof[i].parameter, r["parameter"].get<std::string>());
    // scripts/compare_reference.py's tolerance: 1e-2 relative or 1e-3 σ; lmm solves ζ = ±z exactly where lme4
    // interpolates a spline, and agrees much more closely.
    EXPECT_TRUE(close(prof[i].lower, r["lower"], 1e-3, 1e-3 * sigma)) << prof[i].parameter << " " << prof[i].lower;
    EXPECT_TRUE(close(prof[i].upper, r["upper"], 1e-3, 1e-3 * sigma)) << prof[i].parameter << " " << prof[i].upper;
    EXPECT_LT(prof[i].lower, prof[i].estimate);
    EXPECT_GT(prof[i].upper, prof[i].estimate);
  }
}

TEST(Intervals, ProfileOfInterceptOnlyModelAndSingularFit) {
  // A model whose only fixed effect is the intercept (the reduced model has no fixed effects) and a
  // variance at 0: the lower end of its interval is the boundary.
  const json ref = load_reference("dyestuff2_singular_reml");
  const auto f = fit_reference(ref);
  const auto prof = lmm::profile_intervals(f.model);
  ASSERT_EQ(prof.size(), 3u);
  EXPECT_EQ(prof[0].parameter, "sd_(Intercept)|Batch");
  EXPECT_EQ(prof[0].lower, 0.0);
  EXPECT_GT(prof[0].upper, 0.0);
  EXPECT_TRUE(std::isfinite(prof[2].lower) && std::isfinite(prof[2].upper));
  EXPECT_LT(prof[2].lower, f.result.fixed[0].estimate);
  EXPECT_GT(prof[2].upper, f.result.fixed[0].estimate);
}

TEST(Intervals, ProfileMatchesLme4OnCrossedNestedAndSingularFits) {
  // tests/data/inference/profile_extra.json, made by make_profile_extra.R beside it.
  std::ifstream in(kData / "inference" / "profile_extra.json");
  const auto cases = json::parse(in);
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& c : cases) {
    const auto f = lmm::fit(lmm::read_table((kData / c["data"].get<std::string>()).string()),
                            c["formula"].get<std::string>());
    const auto prof = lmm::profile_intervals(f.model);
    const double sigma = c["sigma"].get<double>();
    ASSERT_EQ(prof.size(), c["confint_profile"].size()) << c["formula"];
    for (std::size_t i = 0; i < prof.size(); ++i) {
      const auto& r = c["confint_profile"][i];
      EXPECT_EQ(prof[i].parameter, r["parameter"].get<std::string>());
      EXPECT_TRUE(close(prof[i].lower, r["lower"], 2e-3, 1e-3 * sigma)) << prof[i].parameter << " " << prof[i].lower;
      EXPECT_TRUE(close(prof[i].upper, r["upper"], 2e-3, 1e-3 * sigma)) << prof[i].parameter << " " << prof[i].upper;
    }
  }
}

// ---- bootstrap ----

TEST(Bootstrap, ReproducibleAcrossThreadsAndCoversProfileCentres) {
  const json ref = load_reference("sleepstudy_slope_reml");
  const auto f = fit_reference(ref);
  lmm::BootstrapOptions o;
  o.replicates = 200;
  o.seed = 20240601;
  o.threads = 1;
  const auto one = lmm::bootstrap(f.model, o);
  o.threads = 2;
  const auto two = lmm::bootstrap(f.model, o);
  ASSERT_EQ(one.samples.size(), two.samples.size());
  EXPECT_TRUE(one.samples == two.samples) << "samples differ between 1 and 2 threads";
  // Replicate i depends on (seed, i) only: a shorter run repeats the first replicates; another
  // seed does not.
  o.replicates = 20;
  const auto prefix = lmm::bootstrap(f.model, o);
  const std::vector<double> first(one.samples.begin(), one.samples.begin() + static_cast<std::ptrdiff_t>(prefix.samples.size()));
  EXPECT_TRUE(prefix.samples == first);
  o.seed += 1;
  const auto other = lmm::bootstrap(f.model, o);
  EXPECT_FALSE(other.samples == first) << "a different seed must give different replicates";

  std::map<std::string, const lmm::Interval*> boot;
  for (const auto& iv : one.intervals) boot[iv.parameter] = &iv;
  for (const char* k : {"icc_adjusted", "icc_unadjusted", "r2_marginal", "r2_conditional"}) {
    ASSERT_TRUE(boot.count(k)) << k;
    EXPECT_LT(boot[k]->lower, boot[k]->estimate);
    EXPECT_GT(boot[k]->upper, boot[k]->estimate);
  }
  for (const auto& p : ref["confint_profile"]) {
    const std::string name = p["parameter"];
    ASSERT_TRUE(boot.count(name)) << name;
    const double centre = (p["lower"].get<double>() + p["upper"].get<double>()) / 2;
    EXPECT_LE(boot[name]->lower, centre) << name;
    EXPECT_GE(boot[name]->upper, centre) << name;
  }
  EXPECT_EQ(one.failed, 0);
}

// ---- convergence ----

TEST(ConvergenceCheck, CleanFitPassesLme4sCheck) {
  const json ref = load_reference("sleepstudy_slope_reml");
  const auto f = fit_reference(ref);
  const auto& c = f.result.convergence;
  EXPECT_EQ(c.status, "ok");
  EXPECT_EQ(c.code, 0);
  EXPECT_LT(c.max_grad, 0.002);
  ASSERT_EQ(c.hessian_eigenvalues.size(), 3u);
  EXPECT_GT(c.hessian_eigenvalues.back(), 0);
  EXPECT_FALSE(c.refitted);
  EXPECT_EQ(c.theta_names, (std::vector<std::string>{"Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"}));
}

TEST(ConvergenceCheck, StoppedOptimizerIsRefittedAndReachesTheOptimum) {
  // BOBYQA cut off after 8 evaluations is far from the optimum: the check fails, Nelder-Mead takes
  // over from there and reaches lme4's optimum.
  const json ref = load_reference("sleepstudy_slope_reml");
  const auto data = lmm::read_table((kData / "sleepstudy.csv").string());
  lmm::FitOptions opt;
  opt.max_evaluations = 8;
  const auto f = lmm::fit(data, ref["formula"].get<std::string>(), opt);
  const auto& c = f.result.convergence;
  EXPECT_TRUE(c.refitted);
  EXPECT_EQ(c.second_algorithm, "NLOPT_LN_NELDERMEAD");
  EXPECT_TRUE(c.switched_to_second);
  EXPECT_LT(c.second_objective, c.first_objective);
  EXPECT_NEAR(f.result.objective, ref["reml_criterion"].get<double>(), 1e-4);
  EXPECT_EQ(c.status, "ok") << c.status;
  EXPECT_FALSE(c.messages.empty());
}

TEST(ConvergenceCheck, NoFalseAlarmWhereLme4WarnsOnScaling) {
  // lme4 1.1-31 warns "failed to converge" or "degenerate Hessian" on these fits
  // (tests/data/hard/lme4_convergence.json) because it differentiates in θ, where a slope on a
  // covariate in large units has a tiny θ; in the optimizer's unit-free coordinates the optimum
  // passes the same test.
  const auto cases = load_json(kData / "hard" / "lme4_convergence.json");
  for (const auto& c : cases) {
    const auto f = lmm::fit(lmm::read_table((kData / "hard" / c["data"].get<std::string>()).string()),
                            c["formula"].get<std::string>());
    const auto& r = f.result.convergence;
    EXPECT_EQ(r.code, 0) << c["formula"] << ": " << r.status;
    EXPECT_LT(r.max_grad, 0.002) << c["formula"];
    EXPECT_FALSE(r.refitted) << c["formula"];
  }
}

// ---- model comparison ----

void expect_comparison(const std::string& name, const std::vector<std::string>& formulas, const std::string& data) {
  const json ref = load_reference("compare_" + name);
  const auto c = lmm::compare_models(lmm::read_table((kData / data).string()), formulas);
  ASSERT_EQ(c.tests.size(), 1u);
  EXPECT_TRUE(close(c.tests[0].chisq, ref["chisq"], 1e-3, 1e-3)) << c.tests[0].chisq;
  EXPECT_EQ(c.tests[0].df, ref["df"].get<int>());
  EXPECT_TRUE(close(c.tests[0].p, ref["p"], 1e-2, 1e-8)) << c.tests[0].p;
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(c.npar[i], ref["npar"][i].get<int>());
    EXPECT_NEAR(c.aic[i], ref["aic"][i].get<double>(), 2e-3);
    EXPECT_NEAR(c.bic[i], ref["bic"][i].get<double>(), 2e-3);
    EXPECT_NEAR(c.loglik[i], ref["loglik"][i].get<double>(), 2e-3);
    EXPECT_NEAR(c.deviance[i], ref["deviance"][i].get<double>(), 2e-3);
  }
  EXPECT_TRUE(c.refit_ml);
}

TEST(Compare, MatchesLme4Anova) {
  expect_comparison("sleepstudy_intercept_vs_slope",
                    {"Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"}, "sleepstudy.csv");
  expect_comparison("growth200_null_vs_full", {"y ~ 1 + (1 | id)", "y ~ time * group + (time | id)"}, "growth200.csv");
}

TEST(Compare, OrdersByParametersAsLme4) {
  const auto data = lmm::read_table((kData / "growth200.csv").string());
  const auto c = lmm::compare_models(data, {"y ~ time * group + (time | id)", "y ~ 1 + (1 | id)", "y ~ time + (1 | id)"});
  EXPECT_EQ(c.npar, (std::vector<int>{3, 4, 8}));
  EXPECT_EQ(c.input_index, (std::vector<std::size_t>{1, 2, 0}));
  ASSERT_EQ(c.tests.size(), 2u);
  // lme4: anova(full, null, time) gives Chisq 344.106 (1 df) and 64.656 (4 df).
  EXPECT_NEAR(c.tests[0].chisq, 344.106, 2e-3);
  EXPECT_NEAR(c.tests[1].chisq, 64.656, 2e-3);
  EXPECT_EQ(c.tests[1].df, 4);
}

TEST(Compare, RefusesWhatWouldMislead) {
  const auto sleep = lmm::read_table((kData / "sleepstudy.csv").string());
  EXPECT_THROW(lmm::compare_models(sleep, {"Reaction ~ Days + (1 | Subject)"}), lmm::Error);
  lmm::CompareOptions reml;
  reml.reml = true;
  try {
    lmm::compare_models(sleep, {"Reaction ~ 1 + (1 | Subject)", "Reaction ~ Days + (1 | Subject)"}, reml);
    ADD_FAILURE() << "REML comparison of different fixed effects accepted";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("same fixed effects"), std::string::npos) << e.what();
  }
  // Same fixed effects: REML comparison allowed (anova(refit = FALSE)).
  const auto c = lmm::compare_models(sleep, {"Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"}, reml);
  EXPECT_FALSE(c.refit_ml);
  // Models fitted to different rows: a covariate missing where the response is not.
  std::string csv = "y,x,g\n";
  for (int i = 0; i < 40; ++i) {
    const int g = i % 5;
    csv += std::to_string(10 + g + 0.1 * i + ((i * 7) % 3)) + "," + (i == 3 ? std::string("NA") : std::to_string(i % 4)) +
           ",g" + std::to_string(g) + "\n";
  }
  const auto d = lmm::parse_table(csv, ',', "rows.csv");
  try {
    lmm::compare_models(d, {"y ~ 1 + (1 | g)", "y ~ x + (1 | g)"});
    ADD_FAILURE() << "models on different rows accepted";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("same rows"), std::string::npos) << e.what();
  }
}

// ---- residuals file ----

TEST(Residuals, OneLinePerDataRowWrittenAtomically) {
  const json ref = load_reference("sleepstudy_missing_reml");
  const auto data = lmm::read_table((kData / "sleepstudy_missing.csv").string());
  const auto f = lmm::fit(data, ref["formula"].get<std::string>());
  const fs::path dir = fs::temp_directory_path() / ("lmm_resid_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path out = dir / "resid.csv";
  lmm::write_residuals(out.string(), f.model, data.nrows);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename(), "resid.csv") << "left behind: " << e.path();
  const auto r = lmm::read_table(out.string());
  ASSERT_EQ(r.nrows, data.nrows);
  EXPECT_EQ(r.names(), (std::vector<std::string>{"row", "Subject", "fitted", "residual", "scaled_residual"}));
  const auto& y = data.at("Reaction").numbers;
  const auto& fitted = r.at("fitted").numbers;
  const auto& resid = r.at("residual").numbers;
  const auto& scaled = r.at("scaled_residual").numbers;
  std::size_t used = 0;
  for (std::size_t i = 0; i < data.nrows; ++i) {
    if (std::isnan(y[i])) {
      EXPECT_TRUE(std::isnan(fitted[i])) << "row " << i + 1;
      continue;
    }
    ++used;
    EXPECT_NEAR(fitted[i] + resid[i], y[i], 1e-9 * std::abs(y[i]));
    EXPECT_NEAR(scaled[i], resid[i] / f.result.sigma, 1e-9);
  }
  EXPECT_EQ(used, ref["nobs"].get<std::size_t>());
  // An unwritable place: an error, and nothing written.
  EXPECT_THROW(lmm::write_residuals((dir / "no" / "such" / "dir.csv").string(), f.model, data.nrows), lmm::Error);
  fs::remove_all(dir);
}

}  // namespace
