// Sufficient statistics (lmm/statistics.h): the fit from statistics accumulated in 1, 7 and 64
// chunks (taken in a shuffled order), and from partial statistics merged in another order, equals
// the in-memory fit of the same rows for a random-slope, a nested and a crossed model: at the same
// θ the objective to 1e-10 and every estimate to 1e-8; after separate fits the objective to 1e-10
// and every estimate to 1e-8 (df, p and F to 1e-5, see expect_same_fit). The binary form round-trips and
// refuses bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "lmm/statistics.h"
#include "test_util.h"

namespace {

using lmm::DataFrame;

DataFrame read(const std::string& name) {
  return lmm::read_table((std::filesystem::path(LMM_TEST_DATA) / name).string());
}

// The rows `rows` of `d` (the columns keep their level lists).
DataFrame slice(const DataFrame& d, const std::vector<std::size_t>& rows) {
  DataFrame out;
  out.source = d.source;
  out.nrows = rows.size();
  for (const auto& c : d.columns) {
    lmm::Column s = c;
    auto pick = [&](auto& v) {
      if (v.empty()) return;
      auto all = v;
      v.clear();
      for (std::size_t r : rows) v.push_back(all[r]);
    };
    pick(s.numbers);
    pick(s.codes);
    pick(s.text_codes);
    out.columns.push_back(std::move(s));
  }
  return out;
}

// Rows split into `nchunks` contiguous chunks, returned in a shuffled order.
std::vector<DataFrame> chunks(const DataFrame& d, std::size_t nchunks, unsigned seed) {
  std::vector<DataFrame> out;
  for (std::size_t c = 0; c < nchunks; ++c) {
    std::vector<std::size_t> rows;
    for (std::size_t r = c * d.nrows / nchunks; r < (c + 1) * d.nrows / nchunks; ++r) rows.push_back(r);
    out.push_back(slice(d, rows));
  }
  std::mt19937 rng(seed);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

void expect_close(double a, double b, double tol, const std::string& what) {
  if (std::isnan(a) && std::isnan(b)) return;
  EXPECT_NEAR(a, b, tol * (1 + std::abs(b))) << what;
}

// Two optimizer runs on blocks A that differ by rounding (another order of summation) stop at
// points of a flat optimum up to about 1e-7 apart in θ; the Newton step that finishes every fit
// (check_convergence) takes both to the same stationary point, so the fits' estimates, SEs,
// variances, θ, σ, conditional modes and SDs, R² and ICC agree to 1e-8 and the objective to 1e-10.
// Satterthwaite's df and with them p and the ANOVA's F denominators are differences of vcov over
// a step in (θ, σ), which divide A's rounding by that step: compared to DF_TOL.
constexpr double DF_TOL = 1e-5;
void expect_same_fit(const lmm::FitResult& s, const lmm::FitResult& m, const std::string& label) {
  const double tol = 1e-8, df_tol = DF_TOL;
  EXPECT_NEAR(s.objective, m.objective, 1e-10 * std::max(1.0, std::abs(m.objective))) << label;
  EXPECT_EQ(s.nobs, m.nobs) << label;
  EXPECT_EQ(s.n_dropped, m.n_dropped) << label;
  ASSERT_EQ(s.fixed.size(), m.fixed.size()) << label;
  for (std::size_t i = 0; i < m.fixed.size(); ++i) {
    const auto &a = s.fixed[i], &b = m.fixed[i];
    EXPECT_EQ(a.term, b.term);
    expect_close(a.estimate, b.estimate, tol, label + " estimate " + b.term);
    expect_close(a.std_error, b.std_error, tol, label + " SE " + b.term);
    expect_close(a.df, b.df, df_tol, label + " df " + b.term);
    expect_close(a.p, b.p, df_tol, label + " p " + b.term);
  }
  ASSERT_EQ(s.random.size(), m.random.size());
  for (std::size_t i = 0; i < m.random.size(); ++i) {
    expect_close(s.random[i].variance, m.random[i].variance, tol, label + " variance " + m.random[i].group);
    expect_close(s.random[i].cor, m.random[i].cor, tol, label + " cor " + m.random[i].group);
  }
  expect_close(s.sigma, m.sigma, tol, label + " sigma");
  ASSERT_EQ(s.theta.size(), m.theta.size());
  for (std::size_t i = 0; i < m.theta.size(); ++i) expect_close(s.theta[i], m.theta[i], tol, label + " theta");
  ASSERT_EQ(s.ranef.size(), m.ranef.size());
  for (std::size_t i = 0; i < m.ranef.size(); ++i) {
    EXPECT_EQ(s.ranef[i].level, m.ranef[i].level);
    for (std::size_t j = 0; j < m.ranef[i].mode.size(); ++j) {
      expect_close(s.ranef[i].mode[j], m.ranef[i].mode[j], tol, label + " ranef " + m.ranef[i].level);
      expect_close(s.ranef[i].condsd[j], m.ranef[i].condsd[j], tol, label + " condsd " + m.ranef[i].level);
    }
  }
  ASSERT_EQ(s.anova_type3.size(), m.anova_type3.size());
  for (std::size_t i = 0; i < m.anova_type3.size(); ++i) {
    expect_close(s.anova_type3[i].F, m.anova_type3[i].F, df_tol, label + " F " + m.anova_type3[i].term);
    expect_close(s.anova_type3[i].den_df, m.anova_type3[i].den_df, df_tol, label + " ddf " + m.anova_type3[i].term);
  }
  const auto &vs = s.variance_partition, &vm = m.variance_partition;
  expect_close(vs.r2_marginal, vm.r2_marginal, tol, label + " R2 marginal");
  expect_close(vs.r2_conditional, vm.r2_conditional, tol, label + " R2 conditional");
  expect_close(vs.icc_adjusted, vm.icc_adjusted, tol, label + " ICC");
}

// Both fits with the optimizer's stopping tolerances tightened, so that what differs is the
// statistics' rounding, not where within its default tolerance (1e-12 in the objective) the
// optimizer happens to stop on a flat optimum.
lmm::FitOptions tight() {
  lmm::FitOptions o;
  o.ftol_rel = 1e-15;
  o.xtol_abs = 1e-13;
  return o;
}

// The model made from statistics, at the in-memory fit's θ: objective to 1e-10, every estimate to 1e-8.
void expect_same_at(const lmm::Fitted& mem, const lmm::SufficientStatistics& s, const std::string& label) {
  auto model = lmm::make_model(s, mem.model.method());
  const double obj = model.set_theta(mem.model.theta());
  EXPECT_NEAR(obj, mem.model.objective(), 1e-10 * std::abs(mem.model.objective())) << label;
  auto same = [&](const std::vector<double>& a, const std::vector<double>& b, const char* what) {
    ASSERT_EQ(a.size(), b.size()) << label << what;
    for (std::size_t i = 0; i < a.size(); ++i) expect_close(a[i], b[i], 1e-8, label + " " + what);
  };
  same(model.beta(), mem.model.beta(), "beta");
  same(model.vcov(), mem.model.vcov(), "vcov");
  same({model.sigma()}, {mem.model.sigma()}, "sigma");
  for (std::size_t k = 0; k < mem.model.ranef().size(); ++k) {
    same(model.ranef()[k], mem.model.ranef()[k], "ranef");
    same(model.ranef_condvar()[k], mem.model.ranef_condvar()[k], "condvar");
  }
}

void check_model(const std::string& file, const std::string& formula) {
  const DataFrame d = read(file);
  const auto mem = lmm::fit(d, formula, tight());
  const auto schema = lmm::make_schema(d, formula);
  for (std::size_t n : {1, 7, 64}) {
    lmm::SufficientStatistics s(schema);
    for (const auto& c : chunks(d, n, static_cast<unsigned>(n))) s.accumulate(c);
    expect_same_fit(lmm::fit(s, tight()).result, mem.result, file + " in " + std::to_string(n) + " chunks");
    expect_same_at(mem, s, file + " in " + std::to_string(n) + " chunks at the same theta");
  }
  // Seven partial statistics, one per chunk, merged in reverse order through their binary form.
  std::vector<std::string> parts;
  for (const auto& c : chunks(d, 7, 99)) {
    lmm::SufficientStatistics s(schema);
    s.accumulate(c);
    parts.push_back(s.serialize());
  }
  lmm::SufficientStatistics all(schema);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it)
    all.merge(lmm::SufficientStatistics::deserialize(*it, schema));
  expect_same_fit(lmm::fit(all, tight()).result, mem.result, file + " merged");
  expect_same_at(mem, all, file + " merged, at the same theta");
}

TEST(Statistics, RandomSlopeEqualsInMemoryFit) {
  check_model("sleepstudy.csv", "Reaction ~ Days + (Days | Subject)");
}

TEST(Statistics, NestedEqualsInMemoryFit) { check_model("pastes.csv", "strength ~ 1 + (1 | batch/cask)"); }

TEST(Statistics, CrossedEqualsInMemoryFit) {
  check_model("penicillin.csv", "diameter ~ 1 + (1 | plate) + (1 | sample)");
}

TEST(Statistics, FactorsAndMissingRowsEqualInMemoryFit) {
  check_model("sleepstudy_missing.csv", "Reaction ~ Days + (Days | Subject)");
  check_model("growth200.csv", "y ~ time * group + (time | id)");
}

TEST(Statistics, BinaryFormRoundTripsAndRefusesBadInput) {
  const DataFrame d = read("pastes.csv");
  const auto schema = lmm::make_schema(d, "strength ~ 1 + (1 | batch/cask)");
  lmm::SufficientStatistics s(schema);
  s.accumulate(d);
  const std::string bytes = s.serialize();
  EXPECT_EQ(lmm::SufficientStatistics::deserialize(bytes, schema).serialize(), bytes);
  EXPECT_EQ(bytes.substr(0, 7), "LMMSTAT");
  auto refuses = [&](const std::string& b, const std::string& part) {
    EXPECT_THROW(
        try { lmm::SufficientStatistics::deserialize(b, schema); } catch (const lmm::Error& e) {
          EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
          throw;
        },
        lmm::Error);
  };
  refuses("not statistics at all", "not lmm statistics");
  std::string v = bytes;
  v[8] = 7;
  refuses(v, "format version 7");
  std::string c = bytes;
  c[c.size() / 2] ^= 1;
  refuses(c, "checksum");
  refuses(bytes.substr(0, bytes.size() - 9), "checksum");
  const auto other = lmm::make_schema(d, "strength ~ 1 + (1 | cask)");
  EXPECT_THROW(lmm::SufficientStatistics::deserialize(bytes, other), lmm::Error);
  lmm::SufficientStatistics o(other);
  EXPECT_THROW(o.merge(s), lmm::Error);
}

TEST(Statistics, LevelMissingFromTheSchemaIsAnError) {
  const DataFrame d = read("sleepstudy.csv");
  std::vector<std::size_t> first(d.nrows / 2);
  std::iota(first.begin(), first.end(), 0);
  const auto schema = lmm::make_schema(slice(d, first), "Reaction ~ Days + (Days | Subject)");
  lmm::SufficientStatistics s(schema);
  EXPECT_THROW(s.accumulate(d), lmm::Error);
}

}  // namespace
