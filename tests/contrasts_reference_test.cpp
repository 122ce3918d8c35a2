// Reference levels, contrasts and formula functions against lme4 + lmerTest
// (tests/data/contrasts/make_refs.R): relevel(), factor(levels =), C(x, contr.sum / contr.helmert),
// ordered(), the reference-level and contrasts options, %in%, poly(), poly(raw = TRUE), scale() and
// factor() in a grouping term. Estimates to 1e-6, df to 1e-4 (relative), and for poly() and
// scale() population predictions at new values from a saved model (the training coefficients).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "lmm/fit.h"
#include "lmm/predict.h"
#include "lmm/table_io.h"
#include "model_file.h"
#include "test_util.h"

namespace {

using namespace lmm;
using nlohmann::json;
using lmm::testing::CliRun;
using lmm::testing::run_cli;

const json& references() {
  static const json refs =
      lmm::testing::load_json(std::filesystem::path(LMM_TEST_DATA) / "contrasts" / "contrasts.json");
  return refs;
}

const json& reference(const std::string& name) {
  for (const json& c : references())
    if (c["case"] == name) return c;
  throw std::runtime_error("no reference case " + name);
}

FitOptions options_of(const json& ref) {
  FitOptions o;
  if (!ref.contains("options")) return o;
  const json& opt = ref["options"];
  if (opt.contains("ref"))
    for (const auto& [k, v] : opt["ref"].items()) o.frame.reference_levels[k] = v.get<std::string>();
  if (opt.contains("contrasts")) o.frame.unordered_contrasts = parse_contrasts(opt["contrasts"]);
  return o;
}

void expect_matches(const json& ref, const FitResult& r) {
  ASSERT_EQ(r.fixed.size(), ref["fixed"].size());
  for (std::size_t i = 0; i < r.fixed.size(); ++i) {
    const json& f = ref["fixed"][i];
    SCOPED_TRACE(f["term"].get<std::string>());
    EXPECT_EQ(r.fixed[i].term, f["term"].get<std::string>());
    EXPECT_TRUE(lmm::testing::close(r.fixed[i].estimate, f["estimate"], 1e-6, 1e-9))
        << r.fixed[i].estimate << " vs " << f["estimate"];
    EXPECT_TRUE(lmm::testing::close(r.fixed[i].std_error, f["std_error"], 1e-5)) << r.fixed[i].std_error;
    EXPECT_TRUE(lmm::testing::close(r.fixed[i].df, f["df"], 1e-4)) << r.fixed[i].df << " vs " << f["df"];
  }
  EXPECT_TRUE(lmm::testing::close(r.loglik, ref["loglik"], 1e-8)) << r.loglik;
  EXPECT_TRUE(lmm::testing::close(r.sigma, ref["sigma"], 1e-5)) << r.sigma;
  ASSERT_EQ(r.anova_type3.size(), ref["anova_type3"].size());
  for (std::size_t i = 0; i < r.anova_type3.size(); ++i) {
    const json& a = ref["anova_type3"][i];
    SCOPED_TRACE(a["term"].get<std::string>());
    EXPECT_EQ(r.anova_type3[i].term, a["term"].get<std::string>());
    EXPECT_EQ(r.anova_type3[i].num_df, a["num_df"].get<int>());
    EXPECT_TRUE(lmm::testing::close(r.anova_type3[i].F, a["F"], 1e-5)) << r.anova_type3[i].F << " vs " << a["F"];
    EXPECT_TRUE(lmm::testing::close(r.anova_type3[i].den_df, a["den_df"], 1e-4))
        << r.anova_type3[i].den_df << " vs " << a["den_df"];
  }
}

class ContrastsReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ContrastsReference, MatchesLme4AndLmerTest) {
  const json& ref = reference(GetParam());
  const Fitted f = lmm::testing::fit_reference(ref, options_of(ref));
  expect_matches(ref, f.result);
}

INSTANTIATE_TEST_SUITE_P(Cases, ContrastsReference,
                         ::testing::Values("relevel", "ref_option", "factor_levels", "sum",
                                           "sum_option", "helmert", "ordered", "in", "poly",
                                           "poly_raw", "scale", "factor_grouping"));

// poly() and scale() of new data use the training data's coefficients, also from a saved model.
class SavedTransforms : public ::testing::TestWithParam<std::string> {};

TEST_P(SavedTransforms, PredictWithTheTrainingCoefficients) {
  const json& ref = reference(GetParam());
  const Fitted f = lmm::testing::fit_reference(ref);
  const SavedModel saved = cli::model_from_json(cli::model_to_json(snapshot(f.model)), "saved");
  DataFrame nd;
  const std::vector<double> days = ref["predict"]["Days"].get<std::vector<double>>();
  nd.nrows = days.size();
  nd.columns.push_back(numeric_column("Days", days));
  PredictOptions po;
  po.re_form = ReForm::Population;
  const Predictions p = predict(saved, nd, po);
  ASSERT_EQ(p.fit.size(), days.size());
  for (std::size_t i = 0; i < days.size(); ++i)
    EXPECT_TRUE(lmm::testing::close(p.fit[i], ref["predict"]["population"][i], 1e-7))
        << "Days = " << days[i] << ": " << p.fit[i] << " vs " << ref["predict"]["population"][i];
}

INSTANTIATE_TEST_SUITE_P(Cases, SavedTransforms, ::testing::Values("poly", "poly_raw", "scale"));

TEST(ContrastsReference, GroupingFactorCallIsLabelledAsWritten) {
  const Fitted f = lmm::testing::fit_reference(reference("factor_grouping"));
  ASSERT_EQ(f.model.frame().re.size(), 1u);
  EXPECT_EQ(f.model.frame().re[0].group, "factor(Subject)");
  EXPECT_EQ(f.model.frame().re[0].nlevels(), 18u);
}

TEST(ContrastsOptions, UnknownReferenceLevelOrColumnIsAnError) {
  const DataFrame cake = read_table(std::string(LMM_TEST_DATA) + "/cake.csv");
  FitOptions o;
  o.frame.reference_levels["recipe"] = "Z";
  try {
    (void)fit(cake, "angle ~ recipe + temp + (1 | recipe:replicate)", o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'Z' is not a level of 'recipe'"), std::string::npos) << e.what();
  }
  o.frame.reference_levels.clear();
  o.frame.reference_levels["temp"] = "175";  // numeric, not a factor of this formula
  EXPECT_THROW((void)fit(cake, "angle ~ recipe + temp + (1 | recipe:replicate)", o), Error);
  o.frame.reference_levels.clear();
  o.frame.reference_levels["nosuch"] = "a";
  EXPECT_THROW((void)fit(cake, "angle ~ recipe + temp + (1 | recipe:replicate)", o), Error);
}

TEST(ContrastsCli, RefAndContrastsFlags) {
  const std::string cake = std::string(LMM_TEST_DATA) + "/cake.csv";
  const CliRun ok = run_cli({"fit", cake, "angle ~ recipe * temp + (1 | recipe:replicate)", "--ref", "recipe=C",
                             "--json"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  const json j = json::parse(ok.out);
  EXPECT_EQ(j["fixed"][1]["term"], "recipeA");
  EXPECT_TRUE(lmm::testing::close(j["fixed"][1]["estimate"], reference("ref_option")["fixed"][1]["estimate"], 1e-6));
  const CliRun sum = run_cli({"fit", cake, "angle ~ recipe * factor(temp) + (1 | recipe:replicate)",
                              "--contrasts", "sum", "--json"});
  ASSERT_EQ(sum.code, 0) << sum.err;
  EXPECT_EQ(json::parse(sum.out)["fixed"][1]["term"], "recipe1");

  const CliRun bad_level = run_cli({"fit", cake, "angle ~ recipe + (1 | replicate)", "--ref", "recipe=Z"});
  EXPECT_EQ(bad_level.code, 2);
  EXPECT_NE(bad_level.err.find("--ref: 'Z' is not a level of 'recipe'"), std::string::npos) << bad_level.err;
  const CliRun bad_col = run_cli({"fit", cake, "angle ~ recipe + (1 | replicate)", "--ref", "nosuch=a"});
  EXPECT_EQ(bad_col.code, 2);
  EXPECT_NE(bad_col.err.find("nosuch"), std::string::npos) << bad_col.err;
  const CliRun bad_contr = run_cli({"fit", cake, "angle ~ recipe + (1 | replicate)", "--contrasts", "weird"});
  EXPECT_EQ(bad_contr.code, 2);
  EXPECT_NE(bad_contr.err.find("--contrasts 'weird'"), std::string::npos) << bad_contr.err;
}

}  // namespace
