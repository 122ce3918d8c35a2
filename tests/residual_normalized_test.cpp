// Normalized residuals with a residual structure against nlme's resid(m, type = "normalized")
// (tests/data/residual/normalized_refs.json, made by make_normalized_refs.R): an lme fit with AR(1)
// within mare and a gls fit with an unstructured covariance and an SD per visit.
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
