// The report looks at the design: longitudinal data get trajectories over time, students in schools
// (High School and Beyond, nlme::MathAchieve) get per-school regression lines and a population line
// at the other covariates' means, a split plot (nlme::Oats) gets the levels' means. The lines are
// checked against the fit's own β and conditional modes computed by hand from the data (known
// truths of a linear model), the design words against what the data are.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/report_data.h"

namespace {

const std::string kData = LMM_TEST_DATA;
using lmm::report::PlotData;

std::map<std::string, double> betas(const lmm::FitResult& r) {
  std::map<std::string, double> b;
  for (const auto& f : r.fixed) b[f.term] = f.estimate;
  return b;
}

TEST(ReportDesign, LongitudinalDataAreLongitudinal) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases{
      {"sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", "Days"},
      {"sleepstudy.csv", "Reaction ~ Days + (1 | Subject)", "Days"},
      {"growth200.csv", "y ~ time * group + (time | id)", "time"}};
  for (const auto& [file, formula, x] : cases) {
    const auto data = lmm::read_table(kData + "/" + file);
    const auto f = lmm::fit(data, formula);
    const auto d = lmm::report::decide_design(f.model.frame(), data);
    EXPECT_EQ(d.kind, "longitudinal") << formula << ": " << d.reason;
    EXPECT_EQ(d.x_name, x);
    const PlotData pd = lmm::report::plot_data(f.model, f.result, data);
    EXPECT_FALSE(pd.trajectories.x.empty());
    EXPECT_TRUE(pd.trajectories.group_lines.empty());
    EXPECT_TRUE(pd.group_means.levels.empty());
  }
}

// HSB: MathAch ~ SES + MEANSES + Sector + (SES | School). SES varies within schools with hundreds
// of distinct values: students observed once, not a time course.
TEST(ReportDesign, StudentsInSchoolsGetRegressionLinesAtTheMeans) {
  const auto data = lmm::read_table(kData + "/designs/hsb.csv");
  const auto f = lmm::fit(data, "MathAch ~ SES + MEANSES + Sector + (SES | School)");
  lmm::report::PlotOptions opt;
  opt.max_persons = 30;
  const PlotData pd = lmm::report::plot_data(f.model, f.result, data, opt);
  EXPECT_EQ(pd.design.kind, "nested_cross_sectional") << pd.design.reason;
  EXPECT_EQ(pd.design.x_name, "SES");
  EXPECT_EQ(pd.design.group, "School");
  EXPECT_NE(pd.design.reason.find("not time-like"), std::string::npos);
  const auto& tr = pd.trajectories;
  auto b = betas(f.result);

  // Population lines, one per sector, at that sector's mean of MEANSES: straight lines in SES with
  // slope β_SES, never a zig-zag over the schools' MEANSES.
  const auto& meanses = data.at("MEANSES").numbers;
  const auto& sector = data.at("Sector");
  std::map<std::string, std::pair<double, int>> m;
  for (std::size_t i = 0; i < data.nrows; ++i) {
    auto& cell = m[sector.levels[static_cast<std::size_t>(sector.codes[i])]];
    cell.first += meanses[i];
    ++cell.second;
  }
  ASSERT_EQ(tr.population_curves.size(), 2u);
  for (const auto& c : tr.population_curves) {
    ASSERT_TRUE(c.stratum == "Catholic" || c.stratum == "Public") << c.stratum;
    const double at_mean = b["MEANSES"] * m[c.stratum].first / m[c.stratum].second +
                           (c.stratum == "Public" ? b["SectorPublic"] : 0.0);
    ASSERT_GE(c.x.size(), 2u);
    EXPECT_TRUE(std::is_sorted(c.x.begin(), c.x.end()));
    for (std::size_t k = 0; k < c.x.size(); ++k)
      EXPECT_NEAR(c.y[k], b["(Intercept)"] + b["SES"] * c.x[k] + at_mean, 1e-9);
  }

  // Each kept school's line: its own MEANSES and Sector, plus its conditional modes, over its own
  // range of SES.
  ASSERT_EQ(tr.group_lines.size(), 30u);
  const auto re = f.model.ranef()[0];
  const auto& t0 = f.model.frame().re.front();
  for (const auto& line : tr.group_lines) {
    const std::string& school = tr.persons[static_cast<std::size_t>(line.person)];
    const auto l = static_cast<std::size_t>(std::find(t0.levels.begin(), t0.levels.end(), school) - t0.levels.begin());
    ASSERT_LT(l, t0.levels.size());
    double lo = INFINITY, hi = -INFINITY, ms = 0;
    std::string sec;
    const auto& id = data.at("School");  // numbers (1224) or, read as a grouping factor, text
    auto label = [&](std::size_t i) {
      return id.is_numeric() ? std::to_string(static_cast<long long>(id.numbers[i]))
                             : id.levels[static_cast<std::size_t>(id.codes[i])];
    };
    for (std::size_t i = 0; i < data.nrows; ++i) {
      if (label(i) != school) continue;
      lo = std::min(lo, data.at("SES").numbers[i]);
      hi = std::max(hi, data.at("SES").numbers[i]);
      ms = meanses[i];
      sec = sector.levels[static_cast<std::size_t>(sector.codes[i])];
    }
    EXPECT_DOUBLE_EQ(line.x.front(), lo);
    EXPECT_NEAR(line.x.back(), hi, 1e-12);
    const double a = b["(Intercept)"] + b["MEANSES"] * ms + (sec == "Public" ? b["SectorPublic"] : 0.0) + re[l * 2];
    for (std::size_t k = 0; k < line.x.size(); ++k)
      EXPECT_NEAR(line.y[k], a + (b["SES"] + re[l * 2 + 1]) * line.x[k], 1e-9) << school;
  }
  // Points for the students of the kept schools, a caterpillar per random effect, shrinkage by school.
  std::set<std::int32_t> shown(tr.person.begin(), tr.person.end());
  EXPECT_EQ(shown.size(), 30u);
  EXPECT_EQ(pd.random_effects.size(), 2u);
  EXPECT_EQ(pd.random_effects[0].levels.size(), 30u);  // evenly spaced ranks of 160
  EXPECT_TRUE(pd.shrinkage.table.available()) << pd.shrinkage.table.reason;
  EXPECT_EQ(pd.shrinkage.table.group, "School");
  EXPECT_EQ(pd.shrinkage.table.rows.size(), 30u);  // the same sample of schools
  // The variance over SES is drawn (a random slope on it).
  EXPECT_TRUE(pd.variance_curve.available) << pd.variance_curve.reason;
  EXPECT_EQ(pd.variance_curve.x_name, "SES");
}

// A covariate constant within schools (MEANSES) is no x axis; with nothing else the design is
// factorial and no row index is ever used.
TEST(ReportDesign, BetweenGroupCovariateIsNotAnAxis) {
  const auto data = lmm::read_table(kData + "/designs/hsb.csv");
  const auto f = lmm::fit(data, "MathAch ~ MEANSES + Sector + (1 | School)");
  const auto d = lmm::report::decide_design(f.model.frame(), data);
  EXPECT_EQ(d.kind, "factorial");
  EXPECT_EQ(d.x_name, "");
  EXPECT_NE(d.reason.find("MEANSES is constant within"), std::string::npos) << d.reason;
}

// Oats: yield ~ N * Variety + (1 | Block/Variety), factors only (6 blocks x 3 varieties x 4 N).
TEST(ReportDesign, SplitPlotGetsGroupMeans) {
  const auto data = lmm::read_table(kData + "/designs/oats.csv");
  const auto f = lmm::fit(data, "yield ~ N * Variety + (1 | Block/Variety)");
  const PlotData pd = lmm::report::plot_data(f.model, f.result, data);
  EXPECT_EQ(pd.design.kind, "factorial") << pd.design.reason;
  EXPECT_EQ(pd.design.group, "Variety:Block");
  EXPECT_EQ(pd.design.reason, "the model has no numeric covariate, so the levels' means are drawn");
  EXPECT_TRUE(pd.trajectories.x.empty());
  EXPECT_EQ(pd.trajectories.x_name, "");
  const auto& gm = pd.group_means;
  ASSERT_EQ(gm.levels.size(), 18u);
  ASSERT_EQ(gm.point_y.size(), 72u);
  // Observed means by hand from the data; each plot of 4 rows.
  const auto& yield = data.at("yield").numbers;
  const auto& block = data.at("Block");
  const auto& variety = data.at("Variety");
  std::map<std::string, double> sum;
  for (std::size_t i = 0; i < data.nrows; ++i)
    sum[variety.levels[static_cast<std::size_t>(variety.codes[i])] + ":" +
        block.levels[static_cast<std::size_t>(block.codes[i])]] += yield[i];
  const auto& fr = f.model.frame();
  const auto re = f.model.ranef();
  for (std::size_t k = 0; k < gm.levels.size(); ++k) {
    EXPECT_EQ(gm.nobs[k], 4u);
    EXPECT_NEAR(gm.observed[k], sum.at(gm.levels[k]) / 4, 1e-9) << gm.levels[k];
    // Fixed + random adds the plot's and its block's conditional modes to the fixed-only mean.
    const std::string& plot = gm.levels[k];
    const std::string blk = plot.substr(plot.find(':') + 1);
    double b = 0;
    for (std::size_t j = 0; j < fr.re.size(); ++j) {
      const auto& lv = fr.re[j].levels;
      const std::string want = fr.re[j].group == "Block" ? blk : plot;
      const auto at = std::find(lv.begin(), lv.end(), want);
      ASSERT_NE(at, lv.end()) << want;
      b += re[j][static_cast<std::size_t>(at - lv.begin())];
    }
    EXPECT_NEAR(gm.fitted[k], gm.population[k] + b, 1e-9) << plot;
  }
  EXPECT_FALSE(pd.variance_curve.available);
  EXPECT_EQ(pd.random_effects.size(), 2u);
}

}  // namespace
