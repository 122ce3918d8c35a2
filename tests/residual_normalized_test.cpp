// Normalized residuals with a residual structure against nlme's resid(m, type = "normalized")
// (tests/data/residual/normalized_refs.json, made by make_normalized_refs.R): an lme fit with AR(1)
// within mare and a gls fit with an unstructured covariance and an SD per visit; their
// autocorrelation by lag against nlme's ACF(m, resType = "normalized"), and the report's fitted
// residual covariance of one group against the structure's formula.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_runner.h"
#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/report_data.h"
#include "lmm/residual.h"
#include "lmm/residuals.h"

namespace {

using nlohmann::json;
const std::string kDir = std::string(LMM_TEST_DATA) + "/residual/";

json normalized_reference(const std::string& name) {
  std::ifstream in(kDir + "normalized_refs.json");
  return json::parse(in)[name];
}

lmm::Fitted fit_case(const json& ref) {
  const json& a = ref["lmm_args"];
  lmm::FitOptions o;
  o.ddf = lmm::DdfMethod::None;
  for (std::size_t i = 1; i + 1 < a.size(); ++i) {
    if (a[i] == "--residual")
      lmm::parse_residual_structure(a[i + 1].get<std::string>(), o.frame.residual);
    if (a[i] == "--residual-sd-by") o.frame.residual.sd_by = a[i + 1].get<std::string>();
  }
  const lmm::DataFrame d = lmm::read_table(kDir + "data/" + ref["data"].get<std::string>());
  return lmm::fit(d, a[0].get<std::string>(), o);
}

// nlme's estimates agree with lmm's to about 1e-6 (log-likelihoods to 1e-8), so the residuals
// to about 1e-5.
void check_normalized(const std::string& name) {
  const json ref = normalized_reference(name);
  const lmm::Fitted f = fit_case(ref);
  EXPECT_NEAR(f.result.loglik, ref["loglik"].get<double>(), 1e-6) << name;
  const std::vector<double> z = lmm::normalized_residuals(f.model);
  const auto& rows = f.model.frame().rows;
  ASSERT_EQ(rows.size(), ref["row"].size()) << name;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i] + 1, ref["row"][i].get<std::size_t>()) << name;
    EXPECT_NEAR(z[i], ref["normalized"][i].get<double>(), 1e-4) << name << " row " << rows[i] + 1;
  }
}

TEST(ResidualNormalized, Ar1WithRandomInterceptEqualsNlme) { check_normalized("ovary_ar1"); }
TEST(ResidualNormalized, UnstructuredWithSdPerVisitEqualsNlme) { check_normalized("mmrm_us"); }

void check_acf(const std::string& name) {
  const json ref = normalized_reference(name);
  const lmm::Fitted f = fit_case(ref);
  const lmm::report::ResidualAcf a = lmm::report::normalized_residual_acf(f.model);
  const json& want = ref["acf"];
  ASSERT_EQ(a.lag.size(), want["lag"].size()) << name;
  for (std::size_t k = 0; k < a.lag.size(); ++k) {
    EXPECT_EQ(a.lag[k], want["lag"][k].get<int>()) << name;
    EXPECT_EQ(a.n_used[k], want["n_used"][k].get<std::size_t>()) << name << " lag " << k;
    EXPECT_NEAR(a.acf[k], want["acf"][k].get<double>(), 2e-5) << name << " lag " << k;
    EXPECT_NEAR(a.bound[k], 1.959963984540054 / std::sqrt(static_cast<double>(a.n_used[k])), 1e-12);
  }
}

TEST(ResidualNormalized, AcfByLagEqualsNlme) {
  check_acf("ovary_ar1");
  check_acf("mmrm_us");
}

// The report's matrix for AR(1): σ²φ^|t − t'| over the times of the mare with the most rows.
TEST(ResidualNormalized, ReportMatrixIsTheFittedAr1Covariance) {
  const json ref = normalized_reference("ovary_ar1");
  const lmm::Fitted f = fit_case(ref);
  const lmm::DataFrame d = lmm::read_table(kDir + "data/ovary.csv");
  const lmm::report::PlotData pd = lmm::report::plot_data(f.model, f.result, d);
  const auto& r = pd.residual_structure;
  ASSERT_TRUE(r.available && r.has_acf);
  EXPECT_EQ(r.matrix_group, "Mare");
  EXPECT_EQ(r.time_name, "t");
  const std::size_t m = r.times.size();
  ASSERT_GE(m, 20u);
  ASSERT_EQ(r.covariance.size(), m * m);
  const double phi = f.result.residual_structure.phi, s2 = f.result.sigma * f.result.sigma;
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < m; ++b) {
      const double lag = std::abs(std::stod(r.times[a]) - std::stod(r.times[b]));
      EXPECT_NEAR(r.correlation[a * m + b], std::pow(phi, lag), 1e-10);
      EXPECT_NEAR(r.covariance[a * m + b], s2 * std::pow(phi, lag), 1e-8 * s2);
    }
}

// For us with an SD per visit: the correlations are the fit's pairs, the variances (σδ_v)².
TEST(ResidualNormalized, ReportMatrixIsTheFittedUnstructuredCovariance) {
  const json ref = normalized_reference("mmrm_us");
  const lmm::Fitted f = fit_case(ref);
  const lmm::DataFrame d = lmm::read_table(kDir + "data/trial2.csv");
  const auto& r = lmm::report::plot_data(f.model, f.result, d).residual_structure;
  const auto& e = f.result.residual_structure;
  ASSERT_EQ(r.times, e.visit_levels);
  const std::size_t m = r.times.size();
  for (std::size_t a = 0, k = 0; a < m; ++a) {
    EXPECT_NEAR(r.covariance[a * m + a], std::pow(f.result.sigma * e.sd_ratios[a], 2), 1e-8);
    for (std::size_t b = a + 1; b < m; ++b, ++k) {
      EXPECT_NEAR(r.correlation[a * m + b], e.cor[k], 1e-10);
      EXPECT_NEAR(r.correlation[b * m + a], e.cor[k], 1e-10);
    }
  }
}

TEST(ResidualNormalized, CliResidualsFileHasTheColumn) {
  const json ref = normalized_reference("ovary_ar1");
  const std::string out = ::testing::TempDir() + "normalized_resid.csv";
  const auto r =
      lmm::testing::run_cli({"fit", kDir + "data/ovary.csv", ref["lmm_args"][0].get<std::string>(),
                             "--residual", "ar1(t | Mare)", "--residuals", out, "--ddf", "none"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(out);
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  EXPECT_EQ(header, "row,Mare,fitted,residual,scaled_residual,normalized_residual");
  const double z = std::stod(first.substr(first.rfind(',') + 1));
  EXPECT_NEAR(z, ref["normalized"][0].get<double>(), 1e-4) << first;
  std::remove(out.c_str());
}

}  // namespace
