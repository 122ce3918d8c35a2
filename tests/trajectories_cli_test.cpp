// The trajectory commands end to end: fit --save/--ranef, predict from the saved model, simulate,
// shrinkage, reshape; byte-identical simulation; errors as one line with exit code 2.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/predict.h"
#include "lmm/simulate.h"
#include "lmm/table_io.h"

namespace {

namespace fs = std::filesystem;
const std::string kData = LMM_TEST_DATA;

using lmm::testing::CliRun;
using lmm::testing::run_cli;
using lmm::testing::slurp;

fs::path temp_dir() { return lmm::testing::scratch_dir("lmm_traj_test_"); }

void expect_error(const CliRun& r, const std::string& what) {
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  EXPECT_EQ(r.err.rfind("lmm: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(TrajectoriesCli, SimulateIsByteIdenticalForTheSameSeed) {
  const std::vector<std::string> args{"simulate",  "--persons",      "50",  "--waves",
                                      "0,1,2,3,4", "--group-effect", "0.8", "--dropout",
                                      "0.2",       "--seed",         "123"};
  const CliRun a = run_cli(args), b = run_cli(args);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("id,time,group,y\nP001,0,", 0), 0u) << a.out.substr(0, 40);
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 251);
  auto args2 = args;
  args2.back() = "124";
  EXPECT_NE(run_cli(args2).out, a.out);
  // --out writes the same bytes.
  const fs::path out = temp_dir() / "sim.csv";
  auto args3 = args;
  args3.insert(args3.end(), {"--out", out.string()});
  const CliRun c = run_cli(args3);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_TRUE(c.out.empty());
  EXPECT_EQ(slurp(out), a.out);
}

// `lmm simulate` writes the growth design a block of persons at a time: more persons than one
// block (4096) give the bytes of the whole table written at once.
TEST(TrajectoriesCli, SimulateStreamsTheWholeTablesBytes) {
  const CliRun a = run_cli({"simulate", "--persons", "5000", "--waves", "0,2", "--dropout", "0.3", "--group-effect",
                            "1", "--seed", "5"});
  ASSERT_EQ(a.code, 0) << a.err;
  lmm::GrowthDesign g;
  g.persons = 5000;
  g.waves = {0, 2};
  g.dropout = 0.3;
  g.group_effect = 1;
  g.seed = 5;
  EXPECT_EQ(a.out, lmm::to_csv(lmm::simulate_growth(g)));
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 10001);
}

TEST(TrajectoriesCli, SavedModelPredictsAsTheFitItCameFrom) {
  const fs::path dir = temp_dir();
  const std::string model = (dir / "growth.json").string();
  const std::string ranef = (dir / "growth_ranef.csv").string();
  const std::string data = kData + "/growth200.csv";
  const std::string formula = "y ~ time * group + (time | id)";
  CliRun f = run_cli({"fit", data, formula, "--save", model, "--ranef", ranef, "--json"});
  ASSERT_EQ(f.code, 0) << f.err;
  const auto j = nlohmann::json::parse(f.out);
  EXPECT_EQ(j["ranef"].size(), 200u);
  EXPECT_EQ(j["coef"].size(), 200u);
  EXPECT_TRUE(j["ranef"][0].contains("condsd_time"));
  const auto saved_json = nlohmann::json::parse(slurp(model));
  EXPECT_EQ(saved_json["format"], "lmm-model");
  EXPECT_EQ(saved_json["formula"], formula);
  EXPECT_EQ(saved_json["data"]["hash"].get<std::string>().rfind("fnv1a64:", 0), 0u);
  const std::string table = slurp(ranef);
  EXPECT_EQ(
      table.rfind(
          "group,level,(Intercept),condsd_(Intercept),time,condsd_time,coef_(Intercept),coef_time,",
          0),
      0u)
      << table.substr(0, 120);

  // predict on the training rows = the fitted values; with intervals = the library's predict on the
  // model in memory.
  const auto d = lmm::read_table(data);
  const auto [m, r] = lmm::fit(d, formula);
  const auto fitted = m.fitted();
  CliRun p = run_cli({"predict", data, "--model", model, "--interval", "prediction"});
  ASSERT_EQ(p.code, 0) << p.err;
  const auto out = lmm::parse_table(p.out, ',', "predict output");
  EXPECT_EQ(out.names(),
            (std::vector<std::string>{"id", "time", "group", "y", "fit", "se", "lwr", "upr"}));
  const auto& fit = out.at("fit").numbers;
  const auto& rows = m.frame().rows;
  for (std::size_t i = 0; i < rows.size(); ++i)
    EXPECT_NEAR(fit[rows[i]], fitted[i], 1e-9 * std::abs(fitted[i]));
  lmm::PredictOptions o;
  o.interval = lmm::IntervalKind::Prediction;
  const auto lib = lmm::predict(lmm::snapshot(m), d, o);
  for (std::size_t i = 0; i < d.nrows; ++i) {
    EXPECT_DOUBLE_EQ(out.at("fit").numbers[i], lib.fit[i]);
    EXPECT_DOUBLE_EQ(out.at("se").numbers[i], lib.se[i]);
    EXPECT_DOUBLE_EQ(out.at("upr").numbers[i], lib.upper[i]);
  }
  // Population level: X β.
  CliRun pop = run_cli({"predict", data, "--model", model, "--re-form", "none"});
  ASSERT_EQ(pop.code, 0) << pop.err;
  const auto pout = lmm::parse_table(pop.out, ',', "predict output");
  const auto& X = m.frame().X;
  const std::size_t n = m.frame().n();
  for (std::size_t i = 0; i < n; ++i) {
    double xb = 0;
    for (std::size_t c = 0; c < 4; ++c) xb += X[c * n + i] * r.fixed[c].estimate;
    EXPECT_NEAR(pout.at("fit").numbers[rows[i]], xb, 1e-9 * std::abs(xb));
  }
}

TEST(TrajectoriesCli, PredictErrorsAndNotes) {
  const fs::path dir = temp_dir();
  const std::string model = (dir / "sleep.json").string();
  ASSERT_EQ(
      run_cli({"fit", kData + "/growth200.csv", "y ~ time * group + (time | id)", "--save", model})
          .code,
      0);
  const fs::path bad = dir / "bad.csv";
  std::ofstream(bad) << "id,time,group\nP001,1,placebo\n";
  expect_error(run_cli({"predict", bad.string(), "--model", model}), "placebo");
  const fs::path fresh = dir / "fresh.csv";
  std::ofstream(fresh) << "id,time,group\nP001,1,control\nQ999,1,treatment\n";
  const CliRun r = run_cli({"predict", fresh.string(), "--model", model});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("Q999"), std::string::npos) << r.err;
  expect_error(run_cli({"predict", fresh.string(), "--model", (dir / "nonexistent.json").string()}),
               "nonexistent.json");
  const fs::path junk = dir / "junk.json";
  std::ofstream(junk) << "{\"format\": \"something else\"}";
  expect_error(run_cli({"predict", fresh.string(), "--model", junk.string()}), "not a model saved");
  // A save into a missing directory fails cleanly and writes nothing.
  expect_error(run_cli({"fit", kData + "/sleepstudy.csv", "Reaction ~ Days + (1 | Subject)",
                        "--save", (dir / "no_such_dir" / "m.json").string()}),
               "does not exist");
}

TEST(TrajectoriesCli, SimulateFromSavedModelIsReproducible) {
  const fs::path dir = temp_dir();
  const std::string model = (dir / "sleep2.json").string();
  const std::string data = kData + "/sleepstudy.csv";
  ASSERT_EQ(run_cli({"fit", data, "Reaction ~ Days + (Days | Subject)", "--save", model}).code, 0);
  const std::vector<std::string> args{"simulate", "--model", model,    "--data", data,
                                      "--nsim",   "3",       "--seed", "8"};
  const CliRun a = run_cli(args), b = run_cli(args);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  const auto t = lmm::parse_table(a.out, ',', "simulate output");
  EXPECT_EQ(t.names(),
            (std::vector<std::string>{"Subject", "Days", "Reaction", "sim_1", "sim_2", "sim_3"}));
  EXPECT_EQ(t.nrows, 180u);
  expect_error(run_cli({"simulate", "--model", model, "--nsim", "2"}), "--data");
}

TEST(TrajectoriesCli, CenteringIsSavedAndReappliedToNewRows) {
  const fs::path dir = temp_dir();
  const std::string model = (dir / "centered.json").string();
  const std::string data = kData + "/sleepstudy.csv";
  ASSERT_EQ(run_cli({"fit", data, "Reaction ~ Days + (Days | Subject)", "--center", "Days=4.5",
                     "--save", model})
                .code,
            0);
  auto d = lmm::read_table(data);
  for (auto& c : d.columns)
    if (c.name == "Days")
      for (double& v : c.numbers) v -= 4.5;
  const auto [m, r] = lmm::fit(d, "Reaction ~ Days + (Days | Subject)");
  EXPECT_NEAR(r.fixed[0].estimate, 251.405105 + 4.5 * 10.467286, 1e-3);
  const CliRun p =
      run_cli({"predict", data, "--model", model});  // raw Days: centered with the saved 4.5
  ASSERT_EQ(p.code, 0) << p.err;
  const auto out = lmm::parse_table(p.out, ',', "predict output");
  const auto fitted = m.fitted();
  for (std::size_t i = 0; i < fitted.size(); ++i)
    EXPECT_NEAR(out.at("fit").numbers[i], fitted[i], 1e-8 * fitted[i]);
  const CliRun pc = run_cli({"fit", data, "Reaction ~ Days_within + Days_between + (1 | Subject)",
                             "--center-person", "Days:Subject", "--json"});
  ASSERT_EQ(pc.code, 0) << pc.err;
  // Every subject has the same days, so the between part is constant and dropped as aliased.
  EXPECT_EQ(nlohmann::json::parse(pc.out)["aliased"][0], "Days_between");
}

TEST(TrajectoriesCli, ShrinkageTableAndCsv) {
  const fs::path csv = temp_dir() / "shrink.csv";
  const CliRun r = run_cli({"shrinkage", kData + "/sleepstudy.csv",
                            "Reaction ~ Days + (Days | Subject)", "--csv", csv.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("fraction_Days"), std::string::npos) << r.out;
  const auto t = lmm::parse_table(slurp(csv), ',', "shrinkage csv");
  EXPECT_EQ(t.nrows, 18u);
  EXPECT_EQ(t.names()[0], "Subject");
  // Subject 308's own slope (lm on its 10 days) and lme4's coef(): 21.764702 and 19.666258.
  EXPECT_NEAR(t.at("ols_Days").numbers[0], 21.764702, 1e-5);
  EXPECT_NEAR(t.at("blup_Days").numbers[0], 19.666258, 5e-3 * 19.67);
  expect_error(run_cli({"shrinkage", kData + "/penicillin.csv",
                        "diameter ~ 1 + (1 | plate) + (1 | sample)"}),
               "one grouping factor");
}

TEST(TrajectoriesCli, ReshapeRoundTrip) {
  const fs::path dir = temp_dir();
  const fs::path wide = dir / "wide.csv", lng = dir / "long.csv", back = dir / "back.csv";
  const std::string text = "id,age,y_w0,y_w1,y_w2\nA,30,1.5,NA,3\nB,41,NA,2,NA\nC,25,4,5,6\n";
  std::ofstream(wide) << text;
  CliRun r = run_cli({"reshape", wide.string(), "--wide-to-long", "--id", "id", "--pattern", "y_w*",
                      "--out", lng.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(lng).substr(0, 43), "id,age,time,y\nA,30,0,1.5\nA,30,1,NA\nA,30,2,3");
  r = run_cli({"reshape", lng.string(), "--long-to-wide", "--id", "id", "--pattern", "y_w*",
               "--out", back.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(back), text);
  expect_error(run_cli({"reshape", wide.string(), "--long-to-wide", "--id", "id", "--values", "y"}),
               "'time'");
}

}  // namespace
