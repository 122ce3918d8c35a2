// GLMM properties that do not need lme4: the quadrature against direct numerical integration, the
// Laplace approximation as one-node quadrature, nAGQ 25 vs 50, the response forms and bad input
// (library and CLI: one line, exit 2, never NaN).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "glmm/glmm_frame.h"
#include "glmm/glmm_impl.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/glmm.h"
#include "lmm/inference.h"

namespace {

const std::string kCbpp = std::string(LMM_TEST_DATA) + "/glmm/data/cbpp.csv";
const std::string kFormula = "cbind(incidence, failures) ~ period + (1 | herd)";

lmm::GlmmOptions with_nagq(int k) {
  lmm::GlmmOptions o;
  o.nagq = k;
  return o;
}

// -2 log of Π_herd ∫ Π_rows Binomial(k | n, logit⁻¹(η + θz)) φ(z) dz, by the trapezoid rule on
// [-12, 12] with 24,001 points (exact to far below 1e-8 for these smooth integrands).
double direct_minus_two_loglik(const lmm::GlmmModel& m, double theta, const Eigen::VectorXd& beta) {
  const auto& f = m.frame();
  const auto& refs = f.re[0].refs;
  const std::size_t nl = f.re[0].nlevels();
  Eigen::Map<const Eigen::MatrixXd> X(f.X.data(), Eigen::Index(f.n()), Eigen::Index(f.p()));
  const Eigen::VectorXd eta = X * beta;
  double total = 0;
  for (std::size_t l = 0; l < nl; ++l) {
    double integral = 0;
    const int npts = 24001;
    const double h = 24.0 / (npts - 1);
    for (int k = 0; k < npts; ++k) {
      const double z = -12 + k * h;
      double ll = -0.5 * z * z - 0.5 * std::log(2 * M_PI);
      for (std::size_t i = 0; i < f.n(); ++i) {
        if (static_cast<std::size_t>(refs[i]) != l) continue;
        const double mu = 1 / (1 + std::exp(-(eta[Eigen::Index(i)] + theta * z)));
        ll -= 0.5 * m.family().minus_two_loglik(m.y()[i], mu, m.prior_weights()[i]);
      }
      integral += (k == 0 || k == npts - 1 ? 0.5 : 1.0) * std::exp(ll) * h;
    }
    total += -2 * std::log(integral);
  }
  return total;
}

TEST(GlmmQuadrature, ManyNodesEqualDirectIntegration) {
  const lmm::DataFrame data = lmm::read_table(kCbpp);
  const lmm::GlmmOptions o = with_nagq(25);
  auto rows = lmm::glmm_detail::glmm_rows(data, lmm::parse_formula(kFormula), o);
  lmm::GlmmModel m(rows.frame, rows.y, rows.pw, lmm::glmm_detail::Family(o.family, o.link));
  Eigen::VectorXd beta(4);
  beta << -1.4, -1.0, -1.1, -1.6;
  // lme4's quadrature deviance leaves out -2 log p(y | μ = y), the saturated model's
  double saturated = 0;
  for (std::size_t i = 0; i < m.n(); ++i)
    saturated += m.family().minus_two_loglik(m.y()[i], m.y()[i], m.prior_weights()[i]);
  for (double theta : {0.3, 0.65, 1.5}) {
    const double agq = m.deviance_at({theta}, beta, 25) + saturated;
    EXPECT_NEAR(agq, direct_minus_two_loglik(m, theta, beta), 1e-6) << "theta " << theta;
    // the Laplace approximation differs from the integral (here by 4e-4 to 0.05)
    EXPECT_GT(std::abs(m.deviance_at({theta}, beta, 1) - agq), 1e-4) << "theta " << theta;
  }
}

TEST(GlmmQuadrature, OneNodeIsLaplaceAnd25Matches50) {
  const lmm::DataFrame data = lmm::read_table(kCbpp);
  std::vector<double> z, w;
  lmm::glmm_detail::gauss_hermite(1, z, w);
  EXPECT_EQ(z, std::vector<double>{0.0});
  EXPECT_EQ(w, std::vector<double>{1.0});
  lmm::glmm_detail::gauss_hermite(9, z, w);
  double s = 0, s2 = 0;
  for (std::size_t k = 0; k < z.size(); ++k) s += w[k], s2 += w[k] * z[k] * z[k];
  EXPECT_NEAR(s, 1, 1e-13);
  EXPECT_NEAR(s2, 1, 1e-12);
  const auto a25 = lmm::fit_glmm(data, kFormula, with_nagq(25)).result;
  const auto a50 = lmm::fit_glmm(data, kFormula, with_nagq(50)).result;
  EXPECT_NEAR(-2 * a25.loglik, -2 * a50.loglik, 1e-6);
  EXPECT_EQ(a25.nagq, 25);
}

lmm::DataFrame table(const std::string& text) { return lmm::parse_table(text, ',', "t.csv"); }

void expect_error(const std::string& csv, const std::string& formula, lmm::GlmmFamily family,
                  const std::string& what) {
  lmm::GlmmOptions o;
  o.family = family;
  try {
    lmm::fit_glmm(table(csv), formula, o);
    ADD_FAILURE() << "no error for " << formula;
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

std::string rows(const std::string& header, const std::vector<std::string>& ys) {
  std::string s = header + "\n";
  for (std::size_t i = 0; i < ys.size(); ++i) s += ys[i] + "," + std::to_string(i % 4) + "," + std::to_string(i % 3) + "\n";
  return s;
}

TEST(GlmmBadInput, NamedErrors) {
  const std::vector<std::string> y01 = {"0", "1", "1", "0", "1", "0", "0", "1", "1", "1", "0", "0"};
  std::vector<std::string> y2 = y01;
  y2[5] = "2";
  expect_error(rows("y,x,g", y2), "y ~ x + (1 | g)", lmm::GlmmFamily::Binomial, "has 2 at row 6");
  std::vector<std::string> neg = y01;
  neg[3] = "-1";
  expect_error(rows("y,x,g", neg), "y ~ x + (1 | g)", lmm::GlmmFamily::Poisson, "non-negative whole numbers");
  neg[3] = "1.5";
  expect_error(rows("y,x,g", neg), "y ~ x + (1 | g)", lmm::GlmmFamily::Poisson, "has 1.5 at row 4");
  expect_error(rows("y,x,g", std::vector<std::string>(12, "1")), "y ~ x + (1 | g)", lmm::GlmmFamily::Binomial,
               "no variation");
  expect_error(rows("y,x,g", std::vector<std::string>(12, "0")), "y ~ x + (1 | g)", lmm::GlmmFamily::Poisson,
               "no variation");
  expect_error(rows("y,x,g", y01), "cbind(y, x) ~ 1 + (1 | g)", lmm::GlmmFamily::Poisson, "binomial response");
}

TEST(GlmmResponse, FactorResponseIsSecondLevelSuccess) {
  std::string num = "y,x,g\n", fac = "y,x,g\n";
  const int ys[] = {0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0};
  for (int i = 0; i < 20; ++i) {
    const std::string rest = "," + std::to_string(i % 5) + ",g" + std::to_string(i % 4) + "\n";
    num += std::to_string(ys[i]) + rest;
    fac += std::string(ys[i] ? "yes" : "no") + rest;
  }
  const auto a = lmm::fit_glmm(table(num), "y ~ x + (1 | g)").result;
  const auto b = lmm::fit_glmm(table(fac), "y ~ x + (1 | g)").result;
  EXPECT_DOUBLE_EQ(a.loglik, b.loglik);
  EXPECT_DOUBLE_EQ(a.beta[1], b.beta[1]);
  EXPECT_TRUE(std::isfinite(a.loglik));
}

TEST(GlmmResponse, SeparationIsANamedWarning) {
  std::string csv = "y,x,g\n";
  for (int i = 0; i < 40; ++i) csv += std::to_string(i % 8 < 4 ? 0 : 1) + "," + std::to_string(i % 8) + ",g" + std::to_string(i % 5) + "\n";
  const auto r = lmm::fit_glmm(table(csv), "y ~ x + (1 | g)").result;
  bool named = false;
  for (const auto& m : r.messages) named = named || m.find("separation") != std::string::npos;
  EXPECT_TRUE(named);
  const std::string text = lmm::format_glmm_summary(r);
  EXPECT_EQ(text.find("nan"), std::string::npos) << text;
}

using lmm::testing::run_cli;

TEST(GlmmCli, ErrorsExitTwoWithOneLine) {
  const auto dir = lmm::testing::scratch_dir("lmm_glmm_");
  const auto path = dir / "bad.csv";
  std::ofstream(path) << "y,x,g\n0,1,a\n2,2,a\n1,3,b\n0,4,b\n1,5,c\n0,6,c\n";
  const auto r = run_cli({"fit", path.string(), "y ~ x + (1 | g)", "--family", "binomial"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("lmm: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("has 2 at row 2"), std::string::npos) << r.err;
  const auto q = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--nagq", "0"});
  EXPECT_EQ(q.code, 2) << q.err;
  EXPECT_NE(q.err.find("--nagq"), std::string::npos) << q.err;
}

TEST(GlmmCli, JsonHasTheReferenceKeys) {
  const auto r = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"family", "link", "nAGQ", "nobs", "ngroups", "fixed", "random", "loglik", "aic", "bic",
                        "deviance", "minus_twice_loglik", "theta", "beta", "ranef", "fitted_response_first10",
                        "converged"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["nobs"], 56);
  EXPECT_NEAR(j["loglik"].get<double>(), -92.0262819, 1e-4);
  // --newdata: lme4's new_levels per row (herds 1 and 7 are the fit's, 99 is new; herd is numeric)
  const std::string nd = std::string(LMM_TEST_DATA) + "/glmm/data/cbpp_binomial_laplace_newdata.csv";
  const auto p = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--json", "--newdata", nd});
  ASSERT_EQ(p.code, 0) << p.err;
  const auto rows = nlohmann::json::parse(p.out)["predict_link_newdata"];
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0]["new_levels"].empty());
  EXPECT_TRUE(rows[1]["new_levels"].empty());
  EXPECT_EQ(rows[2]["new_levels"], nlohmann::json::array({"herd"}));
  const auto t = run_cli({"fit", kCbpp, kFormula, "--family", "binomial"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("z value"), std::string::npos);
  EXPECT_NE(t.out.find("Family: binomial  ( logit )"), std::string::npos);
}

}  // namespace

namespace {

// --save, then predict on the link and response scales: lme4's predict(m, newdata,
// allow.new.levels = TRUE) and its inverse logit.
TEST(GlmmCli, SavedModelPredicts) {
  const auto dir = lmm::testing::scratch_dir("lmm_glmm_save_");
  const std::string model = (dir / "m.json").string();
  const std::string refs = std::string(LMM_TEST_DATA) + "/glmm/";
  const auto fit = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--save", model});
  ASSERT_EQ(fit.code, 0) << fit.err;
  const std::string newdata = refs + "data/cbpp_binomial_laplace_newdata.csv";
  const auto link = run_cli({"predict", newdata, "--model", model, "--out", (dir / "link.csv").string()});
  ASSERT_EQ(link.code, 0) << link.err;
  const auto resp = run_cli({"predict", newdata, "--model", model, "--type", "response", "--out", (dir / "r.csv").string()});
  ASSERT_EQ(resp.code, 0) << resp.err;
  std::ifstream in(refs + "cbpp_binomial_laplace.json");
  const auto ref = nlohmann::json::parse(in)["predict_link_newdata"];
  const lmm::DataFrame a = lmm::read_table((dir / "link.csv").string()), b = lmm::read_table((dir / "r.csv").string());
  for (std::size_t i = 0; i < 3; ++i) {
    const double eta = ref[i]["allow_new_levels"];
    EXPECT_NEAR(a.at("fit").numbers[i], eta, 1e-3 * std::abs(eta));
    EXPECT_NEAR(b.at("fit").numbers[i], 1 / (1 + std::exp(-eta)), 1e-4);
  }
  const auto bad = run_cli({"predict", newdata, "--model", model, "--interval", "prediction"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("not available for a GLMM"), std::string::npos) << bad.err;
  const auto cond = run_cli({"predict", newdata, "--model", model, "--interval", "confidence"});
  EXPECT_EQ(cond.code, 2);
  EXPECT_NE(cond.err.find("add --re-form none"), std::string::npos) << cond.err;
}

// The parametric bootstrap: the same replicates whatever the number of threads; the spread of the
// fixed effects' replicates is their standard error (the Hessian's, lme4's vcov) within Monte
// Carlo error (100 replicates: about 7% on an SD; 25% allowed for the GLMM's small-sample bias);
// the CLI prints the table and the JSON the LMM's keys.
TEST(GlmmBootstrap, ThreadIndependentAndSpreadIsTheStandardError) {
  const auto data = lmm::read_table(kCbpp);
  const auto f = lmm::fit_glmm(data, kFormula, {});
  lmm::BootstrapOptions o;
  o.replicates = 100;
  o.seed = 7;
  o.threads = 1;
  const auto one = lmm::glmm_bootstrap(f, o);
  o.threads = 2;
  const auto two = lmm::glmm_bootstrap(f, o);
  ASSERT_EQ(one.samples.size(), two.samples.size());
  for (std::size_t i = 0; i < one.samples.size(); ++i)
    if (std::isfinite(one.samples[i]) || std::isfinite(two.samples[i])) ASSERT_EQ(one.samples[i], two.samples[i]) << i;
  ASSERT_EQ(one.names.front(), "sd_(Intercept)|herd");
  const std::size_t ns = one.names.size();
  ASSERT_EQ(ns, 1 + f.result.fixed.size());
  for (std::size_t k = 1; k < ns; ++k) {
    double s = 0, ss = 0;
    int n = 0;
    for (int i = 0; i < o.replicates; ++i)
      if (const double v = one.samples[std::size_t(i) * ns + k]; std::isfinite(v)) s += v, ss += v * v, ++n;
    ASSERT_GE(n, 95);
    const double sd = std::sqrt((ss - s * s / n) / (n - 1)), se = f.result.fixed[k - 1].std_error;
    EXPECT_NEAR(sd, se, 0.25 * se) << one.names[k];
    const auto& iv = one.intervals[k];
    EXPECT_LT(iv.lower, iv.estimate);
    EXPECT_GT(iv.upper, iv.estimate);
  }
  const auto cli = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--boot", "10", "--seed", "3", "--json"});
  ASSERT_EQ(cli.code, 0) << cli.err;
  const auto j = nlohmann::json::parse(cli.out);
  EXPECT_EQ(j["bootstrap"]["replicates"], 10);
  EXPECT_EQ(j["confint_boot"].size(), ns);
  const auto text = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--boot", "10"});
  EXPECT_NE(text.out.find("Parametric bootstrap percentile intervals (10 replicates"), std::string::npos) << text.out;
}


// The population mean's Wald confidence interval from a saved GLMM, on both scales, against
// emmeans on the glmer fit (tests/data/glmm/make_predict_ci.R).
TEST(GlmmCli, SavedModelPopulationConfidenceIntervals) {
  const auto dir = lmm::testing::scratch_dir("lmm_glmm_ci_");
  const std::string model = (dir / "m.json").string(), rows = (dir / "rows.csv").string();
  const auto fit = run_cli({"fit", kCbpp, kFormula, "--family", "binomial", "--save", model});
  ASSERT_EQ(fit.code, 0) << fit.err;
  std::ifstream in(std::string(LMM_TEST_DATA) + "/glmm/predict_ci.json");
  const auto ref = nlohmann::json::parse(in);
  std::ofstream(rows) << "period\nP1\nP2\nP3\nP4\n";
  for (const std::string type : {"link", "response"}) {
    const std::string out = (dir / (type + ".csv")).string();
    const auto r = run_cli({"predict", rows, "--model", model, "--re-form", "none", "--interval", "confidence",
                            "--type", type, "--out", out});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("Wald confidence interval"), std::string::npos) << r.err;
    const lmm::DataFrame d = lmm::read_table(out);
    for (std::size_t i = 0; i < 4; ++i) {
      for (const auto& [col, key] : {std::pair{"fit", "_fit"}, {"lwr", "_lower"}, {"upr", "_upper"}}) {
        const double want = ref[type + key][i];
        EXPECT_NEAR(d.at(col).numbers[i], want, 1e-3 * std::abs(want)) << type << " " << col << " row " << i;
      }
      const double se = ref["link_se"][i];
      EXPECT_NEAR(d.at("se_link").numbers[i], se, 1e-3 * se);
    }
  }
}

// A saved model with offset(x) in its formula predicts from new rows that carry x (the saved-model
// check once looked for the formula's variables without the offset's, so every such model failed
// to load): lme4's predict() with and without re.form = NA, offset included.
TEST(GlmmCli, SavedModelWithFormulaOffsetPredicts) {
  const auto dir = lmm::testing::scratch_dir("lmm_glmm_offset_");
  const std::string model = (dir / "m.json").string();
  const std::string refs = std::string(LMM_TEST_DATA) + "/glmm/";
  std::ifstream in(refs + "exposure_poisson_offset.json");
  const auto ref = nlohmann::json::parse(in);
  const auto fit = run_cli({"fit", refs + "data/" + ref["data"].get<std::string>(), ref["formula"].get<std::string>(),
                            "--family", "poisson", "--save", model});
  ASSERT_EQ(fit.code, 0) << fit.err;
  const std::string newdata = refs + "data/exposure_poisson_offset_newdata.csv";
  const auto cond = run_cli({"predict", newdata, "--model", model, "--out", (dir / "c.csv").string()});
  ASSERT_EQ(cond.code, 0) << cond.err;
  const auto pop = run_cli({"predict", newdata, "--model", model, "--re-form", "none", "--out", (dir / "p.csv").string()});
  ASSERT_EQ(pop.code, 0) << pop.err;
  const lmm::DataFrame c = lmm::read_table((dir / "c.csv").string()), p = lmm::read_table((dir / "p.csv").string());
  const auto& rows = ref["predict_link_newdata"];
  ASSERT_EQ(c.at("fit").numbers.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double cond_ref = rows[i]["allow_new_levels"], pop_ref = rows[i]["re_form_na"];
    EXPECT_NEAR(c.at("fit").numbers[i], cond_ref, 1e-3 * std::max(std::abs(cond_ref), 0.1));
    EXPECT_NEAR(p.at("fit").numbers[i], pop_ref, 1e-3 * std::max(std::abs(pop_ref), 0.1));
  }
}

}  // namespace
