// Individual trajectories: prediction (against the model's own fitted values, Xβ and lme4's
// predict()), new rows coded as the fit coded its data, shrinkage (against lme4's lmList and
// coef()), simulation and parameter recovery, reshaping and centering.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <ostream>
#include <set>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/predict.h"
#include "lmm/reshape.h"
#include "lmm/shrinkage.h"
#include "lmm/simulate.h"
#include "lmm/table_io.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
const fs::path kData = LMM_TEST_DATA;

lmm::DataFrame data(const std::string& name) { return lmm::read_table((kData / name).string()); }

json trajectory_reference() {
  std::ifstream in(kData / "trajectories" / "trajectory_reference.json");
  return json::parse(in);
}

// A table from CSV text.
lmm::DataFrame csv(const std::string& text) { return lmm::parse_table(text, ',', "test.csv"); }

struct Case {
  std::string data, formula;
};
// How gtest (and ctest's test list) shows a case.
void PrintTo(const Case& c, std::ostream* os) { *os << c.data << ": " << c.formula; }

class PredictTraining : public ::testing::TestWithParam<Case> {};

// predict() on the rows the model was fitted to gives its fitted values, and at the population
// level X β̂; the same through a saved model's JSON round trip is checked in the CLI tests.
TEST_P(PredictTraining, ReproducesFittedValuesAndXBeta) {
  const auto d = data(GetParam().data);
  const auto [model, r] = lmm::fit(d, GetParam().formula);
  const lmm::SavedModel saved = lmm::snapshot(model);
  const auto fitted = model.fitted();
  const auto& f = model.frame();
  const auto pred = lmm::predict(saved, d);
  ASSERT_EQ(pred.fit.size(), d.nrows);
  for (std::size_t i = 0; i < f.n(); ++i)
    EXPECT_NEAR(pred.fit[f.rows[i]], fitted[i], 1e-9 * (1 + std::abs(fitted[i])))
        << "row " << f.rows[i];
  lmm::PredictOptions pop;
  pop.re_form = lmm::ReForm::Population;
  const auto xb = lmm::predict(saved, d, pop);
  const auto beta = model.beta();
  for (std::size_t i = 0; i < f.n(); ++i) {
    double v = 0;
    for (std::size_t c = 0; c < f.p(); ++c) v += f.X[c * f.n() + i] * beta[c];
    EXPECT_NEAR(xb.fit[f.rows[i]], v, 1e-9 * (1 + std::abs(v)));
  }
  // Rows the fit dropped for a missing response still get a prediction (their predictors are
  // there).
  for (std::size_t row = 0, k = 0; row < d.nrows; ++row) {
    if (k < f.n() && f.rows[k] == row) {
      ++k;
      continue;
    }
    EXPECT_FALSE(std::isnan(pred.fit[row])) << "row " << row;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PredictTraining,
    ::testing::Values(Case{"sleepstudy.csv", "Reaction ~ Days + (Days | Subject)"},
                      Case{"sleepstudy_missing.csv", "Reaction ~ Days + (Days | Subject)"},
                      Case{"growth200.csv", "y ~ time * group + (time | id)"},
                      Case{"cake.csv", "angle ~ recipe * temp + (1 | recipe:replicate)"},
                      Case{"pastes.csv", "strength ~ 1 + (1 | batch/cask)"},
                      Case{"penicillin.csv", "diameter ~ 1 + (1 | plate) + (1 | sample)"},
                      Case{"sleepstudy.csv",
                           "Reaction ~ Days + I(Days^2) + log(Days + 1) + (Days || Subject)"}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name =
          info.param.data.substr(0, info.param.data.find('.')) + "_" + std::to_string(info.index);
      return name;
    });

TEST(Predict, AgreesWithLme4OnNewRows) {
  const json ref = trajectory_reference();
  for (const auto& [name, c] : ref["predict"].items()) {
    const auto d = data(c["data"].get<std::string>());
    const auto [model, r] = lmm::fit(d, c["formula"].get<std::string>());
    std::string text;
    std::vector<std::string> cols;
    for (const auto& [k, v] : c["new"][0].items()) cols.push_back(k);
    for (std::size_t i = 0; i < cols.size(); ++i) text += (i ? "," : "") + cols[i];
    text += "\n";
    for (const auto& row : c["new"]) {
      for (std::size_t i = 0; i < cols.size(); ++i) {
        const auto& v = row[cols[i]];
        text += (i ? "," : "") +
                (v.is_string() ? v.get<std::string>() : lmm::format_double(v.get<double>()));
      }
      text += "\n";
    }
    const auto nd = csv(text);
    const auto saved = lmm::snapshot(model);
    const auto cond = lmm::predict(saved, nd);
    lmm::PredictOptions pop;
    pop.re_form = lmm::ReForm::Population;
    const auto popl = lmm::predict(saved, nd, pop);
    for (std::size_t i = 0; i < nd.nrows; ++i) {
      const double rc = c["conditional"][i], rp = c["population"][i];
      // Two optimizers at the same optimum: 1e-4 relative, as the fixed effects.
      EXPECT_NEAR(cond.fit[i], rc, 1e-4 * std::abs(rc)) << name << " row " << i;
      EXPECT_NEAR(popl.fit[i], rp, 1e-4 * std::abs(rp)) << name << " row " << i;
    }
    // One level of the grouping factor is new in each case: a note says so.
    ASSERT_FALSE(cond.notes.empty()) << name;
    EXPECT_NE(cond.notes[0].find("not in the fitted data"), std::string::npos) << cond.notes[0];
  }
}

TEST(Predict, UnseenCategoricalLevelIsAnErrorNamingIt) {
  const auto d = data("growth200.csv");
  const auto [model, r] = lmm::fit(d, "y ~ time * group + (time | id)");
  const auto nd = csv("id,time,group\nP001,1,control\nP002,2,placebo\n");
  try {
    lmm::predict(lmm::snapshot(model), nd);
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("placebo"), std::string::npos) << m;
    EXPECT_NE(m.find("group"), std::string::npos) << m;
    EXPECT_NE(m.find("control, treatment"), std::string::npos) << m;
  }
}

TEST(Predict, NewPersonGetsPopulationPredictionAndWiderInterval) {
  const auto d = data("growth200.csv");
  const auto [model, r] = lmm::fit(d, "y ~ time * group + (time | id)");
  const auto saved = lmm::snapshot(model);
  const auto nd = csv("id,time,group\nP001,2,control\nNEW1,2,control\n,2,control\n");
  lmm::PredictOptions o;
  o.interval = lmm::IntervalKind::Confidence;
  const auto p = lmm::predict(saved, nd, o);
  o.re_form = lmm::ReForm::Population;
  const auto pop = lmm::predict(saved, nd, o);
  EXPECT_DOUBLE_EQ(p.fit[1], pop.fit[1]);
  EXPECT_DOUBLE_EQ(p.fit[2], pop.fit[2]);
  EXPECT_NE(p.fit[0], pop.fit[0]);
  // A new person's trajectory is far less certain than a person with five waves, and than the
  // population mean.
  EXPECT_GT(p.se[1], 2 * p.se[0]);
  EXPECT_GT(p.se[1], 2 * pop.se[1]);
  // Interval = fit ± z σ_pred.
  EXPECT_NEAR(p.upper[0] - p.fit[0], 1.959963984540054 * p.se[0], 1e-9);
  EXPECT_EQ(p.notes.size(), 2u);
}

// The conditional confidence variance against a dense computation from Henderson's mixed-model
// equations: Var([β̂ - β; b̂ - b]) = σ² C⁻¹, C = [X'X, X'Z; Z'X, Z'Z + σ²Σ⁻¹] (Henderson 1975).
TEST(Predict, ConfidenceVarianceMatchesHendersonInverse) {
  const auto d = data("sleepstudy.csv");
  const auto [model, r] = lmm::fit(d, "Reaction ~ Days + (Days | Subject)");
  const auto& f = model.frame();
  const auto n = static_cast<Eigen::Index>(f.n());
  const int q = 2;
  const auto L = static_cast<Eigen::Index>(f.re[0].nlevels());
  Eigen::MatrixXd X = Eigen::Map<const Eigen::MatrixXd>(f.X.data(), n, 2);
  Eigen::MatrixXd Z = Eigen::MatrixXd::Zero(n, q * L);
  for (Eigen::Index i = 0; i < n; ++i)
    for (int a = 0; a < q; ++a) Z(i, f.re[0].refs[i] * q + a) = f.re[0].z[i * q + a];
  const auto lam = model.lambda()[0];
  Eigen::Map<const Eigen::MatrixXd> l(lam.data(), q, q);
  const double s2 = model.sigma() * model.sigma();
  const Eigen::MatrixXd Sigma = s2 * l * l.transpose();
  Eigen::MatrixXd C(2 + q * L, 2 + q * L);
  C << X.transpose() * X, X.transpose() * Z, Z.transpose() * X, Z.transpose() * Z;
  for (Eigen::Index b = 0; b < L; ++b) C.block(2 + b * q, 2 + b * q, q, q) += s2 * Sigma.inverse();
  const Eigen::MatrixXd Cinv = s2 * C.inverse();
  const auto nd = csv("Subject,Days\n308,0\n335,7.5\n");
  lmm::PredictOptions o;
  o.interval = lmm::IntervalKind::Confidence;
  const auto p = lmm::predict(lmm::snapshot(model), nd, o);
  const auto& levels = f.re[0].levels;
  const int lev[] = {
      0, static_cast<int>(std::find(levels.begin(), levels.end(), "335") - levels.begin())};
  ASSERT_EQ(levels[0], "308");
  ASSERT_LT(lev[1], L);
  const double days[] = {0, 7.5};
  for (int k = 0; k < 2; ++k) {
    Eigen::VectorXd v = Eigen::VectorXd::Zero(2 + q * L);
    v[0] = 1;
    v[1] = days[k];
    v[2 + lev[k] * q] = 1;
    v[2 + lev[k] * q + 1] = days[k];
    EXPECT_NEAR(p.se[static_cast<std::size_t>(k)], std::sqrt(v.dot(Cinv * v)), 1e-6) << k;
  }
}

TEST(ModelFrameForNewData, ReusesCodingOfFactorsAndExpressions) {
  const auto d = data("cake.csv");
  const auto fitted = lmm::build_model_frame(
      d, lmm::parse_formula("angle ~ recipe * I(temp - 200) + (1 | recipe:replicate)"));
  // Only recipe C in the new rows: its columns keep the fit's levels (A is the reference).
  const auto nd = csv("recipe,temp,replicate\nC,175,3\nC,225,99\n");
  const auto nf = lmm::model_frame_for_new_data(fitted, nd);
  ASSERT_EQ(nf.fixed_names, fitted.fixed_names);
  const std::size_t n = 2;
  auto col = [&](const std::string& name) {
    const auto j = static_cast<std::size_t>(
        std::find(nf.fixed_names.begin(), nf.fixed_names.end(), name) - nf.fixed_names.begin());
    return std::vector<double>(nf.X.begin() + static_cast<std::ptrdiff_t>(j * n),
                               nf.X.begin() + static_cast<std::ptrdiff_t>((j + 1) * n));
  };
  EXPECT_EQ(col("recipeB"), (std::vector<double>{0, 0}));
  EXPECT_EQ(col("recipeC"), (std::vector<double>{1, 1}));
  EXPECT_EQ(col("I(temp - 200)"), (std::vector<double>{-25, 25}));
  EXPECT_EQ(col("recipeC:I(temp - 200)"), (std::vector<double>{-25, 25}));
  ASSERT_EQ(nf.re.size(), 1u);
  EXPECT_EQ(nf.re[0].levels, fitted.re[0].levels);
  EXPECT_EQ(fitted.re[0].levels[static_cast<std::size_t>(nf.re[0].refs[0])], "C:3");
  EXPECT_EQ(nf.re[0].refs[1], -1);  // C:99 is new
}

TEST(Shrinkage, AgreesWithLmListAndLme4Coefficients) {
  const json ref = trajectory_reference()["shrinkage_growth200"];
  const auto d = data("growth200.csv");
  const auto [model, r] = lmm::fit(d, ref["formula"].get<std::string>());
  const auto t = lmm::shrinkage(model);
  ASSERT_EQ(t.terms, (std::vector<std::string>{"(Intercept)", "time"}));
  ASSERT_EQ(t.rows.size(), ref["rows"].size());
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const auto& o = t.rows[i];
    const auto& e = ref["rows"][i];
    ASSERT_EQ(o.level, e["level"].get<std::string>());
    EXPECT_EQ(o.n, e["n"].get<std::size_t>());
    ASSERT_TRUE(o.own_fit) << o.level;
    // lmList: exact least squares (the reference values were printed to 15 digits by R).
    EXPECT_NEAR(o.ols[0], e["ols_intercept"].get<double>(), 1e-8) << o.level;
    EXPECT_NEAR(o.ols[1], e["ols_slope"].get<double>(), 1e-8) << o.level;
    // Mixed-model coefficients: as the random effects, 5e-3 relative or 1e-3 σ.
    const double tol = 1e-3 * r.sigma;
    EXPECT_NEAR(o.blup[0], e["blup_intercept"].get<double>(),
                std::max(tol, 5e-3 * std::abs(o.blup[0])))
        << o.level;
    EXPECT_NEAR(o.blup[1], e["blup_slope"].get<double>(), std::max(tol, 5e-3 * std::abs(o.blup[1])))
        << o.level;
    // The population estimate is the person's arm's line.
    EXPECT_NEAR(o.moved[1], o.blup[1] - o.ols[1], 1e-12);
  }
  // Shrinkage pulls toward the population: the own fits vary more than the mixed-model ones.
  double v_ols = 0, v_blup = 0;
  for (const auto& o : t.rows) {
    v_ols += (o.ols[1] - o.population[1]) * (o.ols[1] - o.population[1]);
    v_blup += (o.blup[1] - o.population[1]) * (o.blup[1] - o.population[1]);
  }
  EXPECT_LT(v_blup, 0.8 * v_ols);
}

TEST(Shrinkage, LevelsWithTooFewObservationsAreNamed) {
  std::string text = "id,t,y\n";
  const double ys[] = {1.0, 2.5, 2.9, 4.2, 5.1};
  for (int p = 0; p < 6; ++p)
    for (int t = 0; t < 5; ++t)
      text += "p" + std::to_string(p) + "," + std::to_string(t) + "," +
              lmm::format_double(ys[t] * (1 + 0.3 * p) + 0.7 * p + 0.1 * ((p * 7 + t * 3) % 5)) +
              "\n";
  text += "solo,2,3.3\n";
  const auto [model, r] = lmm::fit(csv(text), "y ~ t + (t | id)");
  const auto s = lmm::shrinkage(model);
  EXPECT_EQ(s.too_few, (std::vector<std::string>{"solo"}));
  const auto& solo = s.rows.back();
  EXPECT_EQ(solo.n, 1u);
  EXPECT_FALSE(solo.own_fit);
  EXPECT_EQ(solo.reason, "1 observation for 2 columns");
  EXPECT_TRUE(std::isnan(solo.ols[0]));
  EXPECT_FALSE(std::isnan(solo.blup[1]));
}

// The rank rule: two observations at the same time give a rank-deficient own fit of (t | id), two
// at different times a full-rank one.
TEST(Shrinkage, CollinearLevelsHaveNoOwnFit) {
  std::string text = "id,t,y\n";
  for (int p = 0; p < 6; ++p)
    for (int t = 0; t < 4; ++t)
      text += "p" + std::to_string(p) + "," + std::to_string(t) + "," +
              lmm::format_double(2 + 0.5 * p + (1 + 0.1 * p) * t + 0.2 * ((p * 5 + t * 3) % 4)) +
              "\n";
  text += "same,1,3.1\nsame,1,3.4\npair,0,2.2\npair,3,5.9\n";
  const auto [model, r] = lmm::fit(csv(text), "y ~ t + (t | id)");
  const auto s = lmm::shrinkage(model);
  ASSERT_TRUE(s.available()) << s.reason;
  EXPECT_EQ(s.too_few, (std::vector<std::string>{"same"}));
  for (const auto& row : s.rows) {
    if (row.level == "same") {
      EXPECT_FALSE(row.own_fit);
      EXPECT_EQ(row.reason, "its random-effects columns are collinear within the level");
    }
    if (row.level == "pair") {  // two points: the line through them
      ASSERT_TRUE(row.own_fit) << row.reason;
      EXPECT_NEAR(row.ols[1], (5.9 - 2.2) / 3, 1e-12);
      EXPECT_NEAR(row.ols[0], 2.2, 1e-12);
    }
  }
}

TEST(Shrinkage, NeedsOneGroupingFactor) {
  const auto [model, r] =
      lmm::fit(data("penicillin.csv"), "diameter ~ 1 + (1 | plate) + (1 | sample)");
  const auto s = lmm::shrinkage(model);
  EXPECT_FALSE(s.available());
  EXPECT_EQ(s.reason,
            "shrinkage compares each level's own fit with its mixed-model estimate for one grouping "
            "factor; this model has random effects for plate and sample");
  EXPECT_TRUE(s.rows.empty());
}

TEST(Rng, NormalHasMeanZeroAndVarianceOne) {
  lmm::Rng rng(42);
  const int n = 200000;
  double s = 0, s2 = 0, s4 = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    s += z;
    s2 += z * z;
    s4 += z * z * z * z;
  }
  EXPECT_NEAR(s / n, 0, 4 / std::sqrt(n));
  EXPECT_NEAR(s2 / n, 1, 4 * std::sqrt(2.0 / n));
  EXPECT_NEAR(s4 / n, 3, 4 * std::sqrt(96.0 / n));
}

// Streams of one seed: reproducible, different from each other and uncorrelated.
TEST(Rng, StreamsAreReproducibleAndIndependent) {
  lmm::Rng a(7, 0), b(7, 0), c(7, 1), d(8, 0);
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    same_c += x == c.next();
    same_d += x == d.next();
  }
  EXPECT_EQ(same_c, 0);
  EXPECT_EQ(same_d, 0);
  const int n = 100000;
  lmm::Rng s0(11, 0), s1(11, 1);
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < n; ++i) {
    const double x = s0.normal(), y = s1.normal();
    sxy += x * y;
    sxx += x * x;
    syy += y * y;
  }
  EXPECT_LT(std::abs(sxy / std::sqrt(sxx * syy)), 4 / std::sqrt(n));
}

TEST(Rng, BelowAndUniformOpenAreUniform) {
  lmm::Rng rng(5, 2);
  const int n = 60000;
  std::vector<int> count(6, 0);
  for (int i = 0; i < n; ++i) ++count[rng.below(6)];
  for (int k = 0; k < 6; ++k)  // binomial(n, 1/6): sd = 91.3
    EXPECT_NEAR(count[static_cast<std::size_t>(k)], n / 6.0, 5 * std::sqrt(n * (1 / 6.0) * (5 / 6.0)));
  EXPECT_EQ(rng.below(1), 0u);
  double lo = 1, hi = 0, sum = 0;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform_open();
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
  }
  EXPECT_GT(lo, 0);
  EXPECT_LT(hi, 1);
  EXPECT_NEAR(sum / n, 0.5, 4 * std::sqrt(1 / 12.0 / n));
}

TEST(SimulateGrowth, DesignAllocationAndDropout) {
  lmm::GrowthDesign g;
  g.persons = 101;
  g.waves = {0, 0.5, 2, 6};
  g.dropout = 0.3;
  g.seed = 9;
  const auto d = lmm::simulate_growth(g);
  ASSERT_EQ(d.names(), (std::vector<std::string>{"id", "time", "group", "y"}));
  ASSERT_EQ(d.nrows, 404u);
  const auto& group = d.at("group");
  const auto& y = d.at("y");
  const auto& time = d.at("time");
  int treated = 0, missing_baseline = 0, returned = 0, dropped = 0;
  for (std::size_t p = 0; p < 101; ++p) {
    treated += group.levels[static_cast<std::size_t>(group.codes[p * 4])] == "treatment";
    missing_baseline += std::isnan(y.numbers[p * 4]);
    bool gone = false;
    for (std::size_t t = 0; t < 4; ++t) {
      EXPECT_EQ(time.numbers[p * 4 + t], g.waves[t]);
      if (std::isnan(y.numbers[p * 4 + t]))
        gone = true;
      else if (gone)
        ++returned;
    }
    dropped += gone;
  }
  EXPECT_EQ(treated, 50);  // balanced: 50 of 101, the extra person in control
  EXPECT_EQ(missing_baseline, 0);
  EXPECT_EQ(returned, 0);  // monotone dropout
  // P(drop out by the last wave) = 1 - 0.7³ = 0.657; 101 persons.
  EXPECT_NEAR(dropped / 101.0, 0.657, 4 * std::sqrt(0.657 * 0.343 / 101));
  // The same seed gives the same data, another seed other data.
  EXPECT_EQ(lmm::to_csv(lmm::simulate_growth(g)), lmm::to_csv(d));
  g.seed = 10;
  EXPECT_NE(lmm::to_csv(lmm::simulate_growth(g)), lmm::to_csv(d));
}

// Simulated a block of persons at a time: the blocks' rows in order are the whole simulation's,
// the same bytes (ids padded to the whole design's width), and the same effects.
TEST(SimulateGrowth, BlocksConcatenateToTheWholeSimulation) {
  lmm::GrowthDesign g;
  g.persons = 1001;  // ids P0001..P1001: the width is the design's, not a block's
  g.waves = {0, 1, 3};
  g.dropout = 0.25;
  g.group_effect = 0.7;
  g.seed = 11;
  const auto whole = lmm::simulate_growth_with_effects(g);
  std::string csv;
  std::vector<double> u0, u1;
  std::size_t blocks = 0;
  lmm::simulate_growth_blocks(g, 300, [&](lmm::GrowthSimulation&& b) {
    const std::string t = lmm::to_csv(b.data);
    csv += blocks++ == 0 ? t : t.substr(t.find('\n') + 1);
    u0.insert(u0.end(), b.u0.begin(), b.u0.end());
    u1.insert(u1.end(), b.u1.begin(), b.u1.end());
  });
  EXPECT_EQ(blocks, 4u);  // 300, 300, 300, 101
  EXPECT_EQ(csv, lmm::to_csv(whole.data));
  EXPECT_EQ(u0, whole.u0);
  EXPECT_EQ(u1, whole.u1);
  EXPECT_EQ(csv.substr(0, 21), "id,time,group,y\nP0001");
  EXPECT_THROW(lmm::simulate_growth_blocks(g, 0, [](lmm::GrowthSimulation&&) {}), lmm::Error);
}

// The error names the field of GrowthDesign (the library knows no flags).
std::string design_error(const lmm::GrowthDesign& g) {
  try {
    lmm::simulate_growth(g);
  } catch (const lmm::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(SimulateGrowth, RejectsInvalidDesigns) {
  lmm::GrowthDesign g;
  g.persons = 1;
  EXPECT_EQ(design_error(g), "GrowthDesign::persons must be at least 2 (got 1)");
  g = {};
  g.cor = 1.5;
  EXPECT_EQ(design_error(g), "GrowthDesign::cor must be between -1 and 1 (got 1.5)");
  g = {};
  g.waves = {0, 1, 1};
  EXPECT_EQ(design_error(g),
            "GrowthDesign::waves has a repeated time value; each wave needs its own time");
  g = {};
  g.dropout = 1;
  EXPECT_EQ(design_error(g), "GrowthDesign::dropout must be a probability in [0, 1) (got 1)");
  g = {};
  g.sigma = 0;
  EXPECT_EQ(design_error(g), "GrowthDesign::sigma must be > 0 (got 0)");
  g = {};
  g.sd_slope = -0.5;
  const auto p = lmm::check_growth_design(g);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->field, "sd_slope");
  EXPECT_EQ(p->rule, "must be >= 0 (got -0.5)");
  EXPECT_FALSE(lmm::check_growth_design(lmm::GrowthDesign{}).has_value());
}

// Each person's draws come from their own stream: changing σ or the number of persons keeps the
// same persons' random effects, and the errors scale with σ.
TEST(SimulateGrowth, PersonsKeepTheirDrawsAcrossDesigns) {
  lmm::GrowthDesign g;
  g.persons = 40;
  g.seed = 3;
  const auto a = lmm::simulate_growth_with_effects(g);
  auto g2 = g;
  g2.persons = 60;
  g2.sigma = 2 * g.sigma;
  const auto b = lmm::simulate_growth_with_effects(g2);
  ASSERT_EQ(b.u0.size(), 60u);
  for (std::size_t i = 0; i < 40; ++i) {
    EXPECT_EQ(a.u0[i], b.u0[i]);
    EXPECT_EQ(a.u1[i], b.u1[i]);
  }
  // Control persons (no group effect either way): y - (intercept + u0 + (slope + u1) t) doubles.
  const auto& ya = a.data.at("y").numbers;
  const auto& yb = b.data.at("y").numbers;
  const auto& t = a.data.at("time").numbers;
  for (std::size_t r = 0; r < ya.size(); ++r) {
    const std::size_t i = r / g.waves.size();
    const double ea = ya[r] - (g.intercept + a.u0[i] + (g.slope + a.u1[i]) * t[r]);
    const double eb = yb[r] - (g.intercept + b.u0[i] + (g.slope + b.u1[i]) * t[r]);
    EXPECT_NEAR(eb, 2 * ea, 1e-9) << r;
  }
  g2 = g;
  g2.seed = 4;
  EXPECT_NE(lmm::simulate_growth_with_effects(g2).u0, a.u0);
}

// Asymptotic covariance of (θ, σ) from the numerical Hessian of the REML criterion with σ free:
// -2 ℓ_R(θ, σ) = (n - p) log(2πσ²) + log|L_θ|² + log|R_X|² + r²(θ)/σ²; Cov = 2 H⁻¹.
Eigen::MatrixXd reml_covariance(lmm::LinearMixedModel& m, const std::vector<double>& theta,
                                double sigma) {
  const double n = static_cast<double>(m.frame().n()), p = static_cast<double>(m.frame().p());
  auto dev = [&](const Eigen::VectorXd& x) {
    std::vector<double> th(x.data(), x.data() + x.size() - 1);
    m.set_theta(th);
    const double s = x[x.size() - 1];
    return (n - p) * std::log(2 * std::numbers::pi * s * s) + m.logdet_re() + m.logdet_x() +
           m.pwrss() / (s * s);
  };
  const auto k = static_cast<Eigen::Index>(theta.size() + 1);
  Eigen::VectorXd x0(k);
  for (Eigen::Index i = 0; i + 1 < k; ++i) x0[i] = theta[static_cast<std::size_t>(i)];
  x0[k - 1] = sigma;
  Eigen::VectorXd h(k);
  for (Eigen::Index i = 0; i < k; ++i) h[i] = 1e-4 * std::max(std::abs(x0[i]), 0.1);
  Eigen::MatrixXd H(k, k);
  const double f0 = dev(x0);
  for (Eigen::Index i = 0; i < k; ++i)
    for (Eigen::Index j = 0; j <= i; ++j) {
      auto at = [&](double si, double sj) {
        Eigen::VectorXd x = x0;
        x[i] += si * h[i];
        x[j] += sj * h[j];
        return dev(x);
      };
      H(i, j) = H(j, i) = i == j
                              ? (at(1, 0) - 2 * f0 + at(-1, 0)) / (h[i] * h[i])
                              : (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h[i] * h[j]);
    }
  std::vector<double> th(theta);
  m.set_theta(th);
  return 2 * H.inverse();
}

// Fitting y ~ time * group + (time | id) to 2,000 simulated people recovers every parameter: the
// fixed effects within 3 standard errors; the SDs of the intercepts and slopes, their correlation
// and σ within 3 asymptotic standard errors from the inverse Hessian of the REML criterion in
// (θ, σ), carried to the SDs and the correlation by the delta method (numerical Jacobian).
TEST(SimulateGrowth, FitRecoversTheParameters) {
  for (std::uint64_t seed : {11u, 2024u, 77777u}) {
    lmm::GrowthDesign g;
    g.persons = 2000;
    g.waves = {0, 1, 2, 4, 6};
    g.intercept = 50;
    g.slope = 2;
    g.group_effect = 1;
    g.sd_intercept = 8;
    g.sd_slope = 1.5;
    g.cor = -0.3;
    g.sigma = 4;
    g.dropout = 0.1;
    g.seed = seed;
    const auto d = lmm::simulate_growth(g);
    auto [model, r] = lmm::fit(d, "y ~ time * group + (time | id)");
    ASSERT_TRUE(r.optimizer.converged);
    const std::map<std::string, double> truth{{"(Intercept)", g.intercept},
                                              {"time", g.slope},
                                              {"grouptreatment", 0.0},
                                              {"time:grouptreatment", g.group_effect}};
    for (const auto& fe : r.fixed)
      EXPECT_LT(std::abs(fe.estimate - truth.at(fe.term)), 3 * fe.std_error)
          << "seed " << seed << " " << fe.term;

    const Eigen::MatrixXd cov = reml_covariance(model, r.theta, r.sigma);
    // (θ1, θ2, θ3, σ) -> (sd0, sd1, cor, σ) with λ = [θ1 0; θ2 θ3].
    auto params = [](const Eigen::Vector4d& x) {
      const double sd0 = x[3] * std::abs(x[0]);
      const double sd1 = x[3] * std::hypot(x[1], x[2]);
      const double cor = x[0] * x[1] / (std::abs(x[0]) * std::hypot(x[1], x[2]));
      return Eigen::Vector4d(sd0, sd1, cor, x[3]);
    };
    const Eigen::Vector4d x0(r.theta[0], r.theta[1], r.theta[2], r.sigma);
    Eigen::Matrix4d J;
    for (int i = 0; i < 4; ++i) {
      Eigen::Vector4d dx = Eigen::Vector4d::Zero();
      dx[i] = 1e-6 * std::max(std::abs(x0[i]), 0.1);
      J.col(i) = (params(x0 + dx) - params(x0 - dx)) / (2 * dx[i]);
    }
    const Eigen::Matrix4d V = J * cov * J.transpose();
    const Eigen::Vector4d est = params(x0);
    const Eigen::Vector4d tru(g.sd_intercept, g.sd_slope, g.cor, g.sigma);
    const char* names[] = {"sd(Intercept)", "sd(time)", "cor", "sigma"};
    for (int i = 0; i < 4; ++i) {
      const double se = std::sqrt(V(i, i));
      EXPECT_GT(se, 0) << names[i];
      // Sanity of the standard errors: a few percent of the value for 2,000 people.
      EXPECT_LT(se, 0.1 * std::max(std::abs(tru[i]), 1.0)) << names[i];
      EXPECT_LT(std::abs(est[i] - tru[i]), 3 * se)
          << "seed " << seed << " " << names[i] << ": " << est[i] << " vs " << tru[i] << " (se "
          << se << ")";
    }
  }
}

// simulate(m) draws new random effects and residuals: the simulated responses have mean Xβ̂ and
// variance z'Σz + σ² per row.
TEST(SimulateFromModel, MomentsMatchTheModel) {
  const auto d = data("sleepstudy.csv");
  const auto [model, r] = lmm::fit(d, "Reaction ~ Days + (Days | Subject)");
  const auto saved = lmm::snapshot(model);
  lmm::Rng rng(5);
  const std::size_t nsim = 2000;
  const auto sims = lmm::simulate_from_saved(saved, d, nsim, rng);
  ASSERT_EQ(sims.columns.size(), d.columns.size() + nsim);
  EXPECT_EQ(sims.columns.back().name, "sim_2000");
  const auto lam = model.lambda()[0];
  const double s2 = r.sigma * r.sigma;
  for (std::size_t row : {0u, 9u, 95u}) {
    const double days = d.at("Days").numbers[row];
    const double mean = r.fixed[0].estimate + r.fixed[1].estimate * days;
    // z = (1, days); Σ = σ²λλ'.
    const double l11 = lam[0], l21 = lam[1], l22 = lam[3];
    const double a = l11 + l21 * days, b = l22 * days;
    const double var = s2 * (a * a + b * b) + s2;
    double m = 0, v = 0;
    for (std::size_t k = 0; k < nsim; ++k) m += sims.columns[d.columns.size() + k].numbers[row];
    m /= nsim;
    for (std::size_t k = 0; k < nsim; ++k) {
      const double e = sims.columns[d.columns.size() + k].numbers[row] - m;
      v += e * e;
    }
    v /= nsim - 1;
    EXPECT_NEAR(m, mean, 4 * std::sqrt(var / nsim)) << row;
    EXPECT_NEAR(v, var, 4 * var * std::sqrt(2.0 / nsim)) << row;
  }
}

lmm::DataFrame wide_with_missing() {
  return csv(
      "id,sex,y_t1,y_t2,y_t3,stress_t1,stress_t2,stress_t3\n"
      "a,f,10.5,11,NA,3,NA,2\n"
      "b,m,9,NA,NA,1,1,NA\n"
      "c,f,NA,12.25,13,NA,4,5\n"
      "d,m,NA,NA,NA,NA,NA,NA\n");
}

// The errors name the options' fields (the CLI says them with its flags).
TEST(Reshape, ErrorsNameTheOptionFields) {
  const auto wide = wide_with_missing();
  lmm::WideToLongOptions o;
  o.id = "id";
  auto message = [&] {
    try {
      lmm::wide_to_long(wide, o);
    } catch (const lmm::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(), "WideToLongOptions::patterns is empty: wide-to-long needs at least one variable");
  o.patterns = {lmm::parse_wide_pattern("y_t*")};
  o.times = {"0", "1"};
  EXPECT_EQ(message(), "WideToLongOptions::times gives 2 values but the patterns match 3 times (1, 2, 3)");
  o.times.clear();
  o.time_name = "sex";
  EXPECT_EQ(message(),
            "the time column 'sex' would clash with a column of the same name; choose another "
            "WideToLongOptions::time_name");
}

TEST(Reshape, WideToLongToWideRoundTripsWithMissingWaves) {
  const auto wide = wide_with_missing();
  lmm::WideToLongOptions o;
  o.id = "id";
  o.patterns = {lmm::parse_wide_pattern("y_t*"), lmm::parse_wide_pattern("stress_t*")};
  const auto lg = lmm::wide_to_long(wide, o);
  EXPECT_EQ(lg.names(), (std::vector<std::string>{"id", "sex", "time", "y", "stress"}));
  EXPECT_EQ(lg.nrows, 12u);
  EXPECT_EQ(lmm::format_cell(lg.at("time"), 4), "2");
  EXPECT_EQ(lmm::format_cell(lg.at("y"), 4), "NA");
  lmm::LongToWideOptions back;
  back.id = "id";
  back.time = "time";
  back.patterns = o.patterns;
  EXPECT_EQ(lmm::to_csv(lmm::long_to_wide(lg, back)), lmm::to_csv(wide));
  // Without the empty rows in long format (person d disappears: no row left).
  o.drop_missing = true;
  const auto lg2 = lmm::wide_to_long(wide, o);
  EXPECT_EQ(lg2.nrows, 7u);
  const auto w2 = lmm::long_to_wide(lg2, back);
  EXPECT_EQ(w2.nrows, 3u);
  const std::string full = lmm::to_csv(wide);
  EXPECT_EQ(lmm::to_csv(w2), full.substr(0, full.find("d,m")));
}

TEST(Reshape, ExplicitColumnsAndTimes) {
  const auto wide = csv("pid,pre,post,follow\n1,5,6,NA\n2,4,NA,8\n");
  lmm::WideToLongOptions o;
  o.id = "pid";
  lmm::WidePattern p;
  p.name = "score";
  p.columns = {"pre", "post", "follow"};
  o.patterns = {p};
  o.times = {"0", "1", "3"};
  const auto lg = lmm::wide_to_long(wide, o);
  EXPECT_EQ(lmm::to_csv(lg), "pid,time,score\n1,0,5\n1,1,6\n1,3,NA\n2,0,4\n2,1,NA\n2,3,8\n");
}

TEST(Reshape, Errors) {
  lmm::LongToWideOptions o;
  o.id = "id";
  o.patterns = {lmm::parse_wide_pattern("y_*")};
  EXPECT_THROW(lmm::long_to_wide(csv("id,time,y,age\na,1,2,30\na,2,3,31\n"), o),
               lmm::Error);  // age varies
  EXPECT_THROW(lmm::long_to_wide(csv("id,time,y\na,1,2\na,1,3\n"), o),
               lmm::Error);  // repeated (id, time)
  lmm::WideToLongOptions w;
  w.id = "id";
  w.patterns = {lmm::parse_wide_pattern("z_*")};
  EXPECT_THROW(lmm::wide_to_long(csv("id,y_1\na,2\n"), w), lmm::Error);  // no match
  w.patterns = {lmm::parse_wide_pattern("y_*")};
  EXPECT_THROW(lmm::wide_to_long(csv("id,y_1\na,2\na,3\n"), w), lmm::Error);  // repeated id
  EXPECT_THROW(lmm::parse_wide_pattern("y_t"), lmm::Error);
}

TEST(Centering, GrandMeanValueAndPersonMean) {
  auto d = csv("id,x,t\na,1,0\na,3,1\nb,10,0\nb,NA,1\nb,14,2\n");
  std::vector<lmm::Centering> c{lmm::parse_centering("x:id", true),
                                lmm::parse_centering("t=1", false),
                                lmm::parse_centering("x_between", false)};
  lmm::apply_centering(d, c);
  // Person means 2 and 12; x_between then centered at its mean over rows, (2+2+12+12+12)/5 = 8.
  EXPECT_EQ(lmm::to_csv(d),
            "id,x,t,x_between,x_within\na,1,-1,-6,-1\na,3,0,-6,1\nb,10,-1,4,-2\nb,NA,0,4,NA\nb,14,"
            "1,4,2\n");
  EXPECT_EQ(c[0].person_means.at("b"), 12);
  EXPECT_EQ(c[2].value, 8);
  // New data reuses the constants: a keeps its fitted mean, a new person c gets its own.
  auto nd = csv("id,x,t\na,5,2\nc,7,0\nc,9,0\n");
  lmm::apply_centering(nd, c);
  EXPECT_EQ(lmm::to_csv(nd), "id,x,t,x_between,x_within\na,5,1,-6,3\nc,7,-1,0,-1\nc,9,-1,0,1\n");
}

}  // namespace
