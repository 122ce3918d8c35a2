// build_model_frame on hand-made tables: R's column names, contrasts, values, dropped rows,
// aliasing, lme4's grouping factors and term order, and the error messages.
#include "lmm/model_frame.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "formula_test_helpers.h"
#include "lmm/error.h"
#include "lmm/formula.h"

namespace lmm {
namespace {

using testing::cat;
using testing::frame;
using testing::NA;
using testing::num;
using V = std::vector<std::string>;
using D = std::vector<double>;

ModelFrame mf(const DataFrame& d, const std::string& f) {
  return build_model_frame(d, parse_formula(f));
}

/// Column `name` of X.
D xcol(const ModelFrame& m, const std::string& name) {
  for (std::size_t j = 0; j < m.p(); ++j)
    if (m.fixed_names[j] == name)
      return D(m.X.begin() + static_cast<std::ptrdiff_t>(j * m.n()),
               m.X.begin() + static_cast<std::ptrdiff_t>((j + 1) * m.n()));
  ADD_FAILURE() << "no column " << name;
  return {};
}

std::string error_of(const DataFrame& d, const std::string& f) {
  try {
    mf(d, f);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// 12 rows: 4 subjects with 3 times each, in two groups.
DataFrame growth() {
  return frame(
      {cat("id", {"s1", "s1", "s1", "s2", "s2", "s2", "s3", "s3", "s3", "s4", "s4", "s4"}),
       num("time", {0, 1, 2, 0, 1, 2, 0, 1, 3, 0, 2, 3}),
       cat("group", {"control", "control", "control", "treatment", "treatment", "treatment",
                     "control", "control", "control", "treatment", "treatment", "treatment"}),
       num("y", {1.5, 2.5, 3, 4.25, 5, 6, 7, 8.5, 9, 10, 11, 12.5})});
}

TEST(ModelFrame, TimeByGroup) {
  const ModelFrame m = mf(growth(), "y ~ time * group + (time | id)");
  EXPECT_EQ(m.response, "y");
  EXPECT_EQ(m.y, (D{1.5, 2.5, 3, 4.25, 5, 6, 7, 8.5, 9, 10, 11, 12.5}));
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "time", "grouptreatment", "time:grouptreatment"}));
  EXPECT_TRUE(m.aliased.empty());
  ASSERT_EQ(m.X.size(), 12u * 4u);
  EXPECT_EQ(xcol(m, "(Intercept)"), D(12, 1.0));
  EXPECT_EQ(xcol(m, "time"), (D{0, 1, 2, 0, 1, 2, 0, 1, 3, 0, 2, 3}));
  EXPECT_EQ(xcol(m, "grouptreatment"), (D{0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(xcol(m, "time:grouptreatment"), (D{0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 3}));
  // Column-major: column 1 (time) starts at offset n.
  EXPECT_EQ(m.X[12 + 8], 3.0);
  EXPECT_EQ(m.rows, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(m.n_dropped, 0u);
  EXPECT_EQ(m.formula.text, "y ~ time * group + (time | id)");

  ASSERT_EQ(m.re.size(), 1u);
  const ReTermData& re = m.re[0];
  EXPECT_EQ(re.group, "id");
  EXPECT_EQ(re.levels, (V{"s1", "s2", "s3", "s4"}));
  EXPECT_EQ(re.names, (V{"(Intercept)", "time"}));
  EXPECT_EQ(re.q(), 2);
  EXPECT_EQ(re.refs, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}));
  EXPECT_EQ(re.z, (D{1, 0, 1, 1, 1, 2, 1, 0, 1, 1, 1, 2, 1, 0, 1, 1, 1, 3, 1, 0, 1, 2, 1, 3}));
}

TEST(ModelFrame, InteractionWrittenTheOtherWay) {
  const ModelFrame m = mf(growth(), "y ~ group:time + (1 | id)");
  // R: without the main effect of group, group is coded by indicators of all its levels.
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "groupcontrol:time", "grouptreatment:time"}));
  EXPECT_EQ(xcol(m, "groupcontrol:time"), (D{0, 1, 2, 0, 0, 0, 0, 1, 3, 0, 0, 0}));
}

TEST(ModelFrame, NumericByFactorWithoutMainEffect) {
  const ModelFrame m = mf(growth(), "y ~ time:group + (1 | id)");
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "time:groupcontrol", "time:grouptreatment"}));
}

DataFrame cake() {
  // 3 recipes x 2 temperatures x 3 replicates = 18 rows.
  std::vector<std::string> recipe, rep;
  D temp, y;
  for (const char* r : {"A", "B", "C"})
    for (double t : {175.0, 185.0})
      for (int k = 1; k <= 3; ++k) {
        recipe.push_back(r);
        temp.push_back(t);
        rep.push_back(std::to_string(k));
        y.push_back(30 + t / 10 + k + static_cast<double>(recipe.size() % 4));
      }
  return frame({cat("recipe", recipe), num("temp", temp), cat("replicate", rep), num("angle", y)},
               "cake.csv");
}

TEST(ModelFrame, ThreeLevelFactorByNumeric) {
  const ModelFrame m = mf(cake(), "angle ~ recipe * temp + (1 | replicate)");
  EXPECT_EQ(m.fixed_names,
            (V{"(Intercept)", "recipeB", "recipeC", "temp", "recipeB:temp", "recipeC:temp"}));
  const D b = xcol(m, "recipeB"), bt = xcol(m, "recipeB:temp"), ct = xcol(m, "recipeC:temp");
  for (std::size_t i = 0; i < m.n(); ++i) {
    const bool isb = i >= 6 && i < 12, isc = i >= 12;
    const double t = i % 6 < 3 ? 175 : 185;
    EXPECT_EQ(b[i], isb ? 1 : 0) << i;
    EXPECT_EQ(bt[i], isb ? t : 0) << i;
    EXPECT_EQ(ct[i], isc ? t : 0) << i;
  }
}

// A categorical column in a given level order (as from a pandas Categorical) is coded in that order;
// marked ordered (a pandas ordered Categorical), it gets R's contr.poly, also through factor(x),
// and factor(x, ordered = FALSE) makes it unordered again.
TEST(ModelFrame, OrderedColumnGetsPolynomialContrasts) {
  DataFrame d = growth();
  Column& group = d.columns[2];
  group.levels = {"treatment", "control"};
  for (auto& c : group.codes) c = 1 - c;
  EXPECT_EQ(mf(d, "y ~ group + (1 | id)").fixed_names, (V{"(Intercept)", "groupcontrol"}));
  group.ordered = true;
  const ModelFrame m = mf(d, "y ~ group + (1 | id)");
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "group.L"}));
  const D l = xcol(m, "group.L");  // contr.poly(2): -1/sqrt(2) for the first level, +1/sqrt(2)
  EXPECT_NEAR(l[0], 1 / std::sqrt(2.0), 1e-15);   // control, the second level
  EXPECT_NEAR(l[3], -1 / std::sqrt(2.0), 1e-15);  // treatment, the first
  EXPECT_EQ(mf(d, "y ~ factor(group) + (1 | id)").fixed_names, (V{"(Intercept)", "factor(group).L"}));
  EXPECT_EQ(mf(d, "y ~ factor(group, ordered = FALSE) + (1 | id)").fixed_names,
            (V{"(Intercept)", "factor(group, ordered = FALSE)control"}));
}

TEST(ModelFrame, NoInterceptGivesAllLevels) {
  const ModelFrame m = mf(growth(), "y ~ 0 + group + (1 | id)");
  EXPECT_EQ(m.fixed_names, (V{"groupcontrol", "grouptreatment"}));
  EXPECT_EQ(xcol(m, "groupcontrol"), (D{1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(xcol(m, "grouptreatment"), (D{0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1}));
  // Only the first factor gets all levels (R's model.matrix).
  const ModelFrame c = mf(cake(), "angle ~ 0 + recipe + replicate + (1 | temp)");
  EXPECT_EQ(c.fixed_names, (V{"recipeA", "recipeB", "recipeC", "replicate2", "replicate3"}));
  const ModelFrame x = mf(growth(), "y ~ time + group - 1 + (1 | id)");
  EXPECT_EQ(x.fixed_names, (V{"time", "groupcontrol", "grouptreatment"}));
}

TEST(ModelFrame, FactorOfNumberSortsLevelsNumerically) {
  const DataFrame d =
      frame({num("y", {1, 2, 3, 4, 5, 6, 7, 8}), num("d", {2, 10, 0.5, 1, 2, 10, 0.5, 1}),
             cat("g", {"a", "a", "b", "b", "c", "c", "d", "d"})});
  const ModelFrame m = mf(d, "y ~ factor(d) + (1 | g)");
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "factor(d)1", "factor(d)2", "factor(d)10"}));
  EXPECT_EQ(xcol(m, "factor(d)10"), (D{0, 1, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(xcol(m, "factor(d)1"), (D{0, 0, 0, 1, 0, 0, 0, 1}));
  const ModelFrame z = mf(d, "y ~ 0 + factor(d) + (1 | g)");
  EXPECT_EQ(z.fixed_names, (V{"factor(d)0.5", "factor(d)1", "factor(d)2", "factor(d)10"}));
}

// Integer ids take a table over their range, other numbers a sort: the same levels and codes.
TEST(ModelFrame, NumericGroupingFactorsIntegersAndOthers) {
  const D y{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto levels_and_refs = [&](const D& g) {
    const ModelFrame m = mf(frame({num("y", y), num("g", g)}), "y ~ 1 + (1 | g)");
    return std::pair{m.re[0].levels, m.re[0].refs};
  };
  using R = std::vector<std::int32_t>;
  EXPECT_EQ(levels_and_refs({3, -2, 100000, 3, 0, -2, 1200000, 0, 100000, 3}),  // a range beyond 2n: sorted
            (std::pair{V{"-2", "0", "3", "1e+05", "1200000"}, R{2, 0, 3, 2, 1, 0, 4, 1, 3, 2}}));
  EXPECT_EQ(levels_and_refs({3, -2, 10, 3, 0, -2, 12, 0, 10, 3}),  // in a table
            (std::pair{V{"-2", "0", "3", "10", "12"}, R{2, 0, 3, 2, 1, 0, 4, 1, 3, 2}}));
  EXPECT_EQ(levels_and_refs({3, -2, 10, 3, 0.5, -2, 12, 0.5, 10, 3}),  // not integers
            (std::pair{V{"-2", "0.5", "3", "10", "12"}, R{2, 0, 3, 2, 1, 0, 4, 1, 3, 2}}));
}

TEST(ModelFrame, TwoFactorsFirstVariesFastest) {
  const DataFrame d =
      frame({num("y", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
             cat("a", {"a1", "a2", "a3", "a1", "a2", "a3", "a1", "a2", "a3", "a1", "a2", "a3"}),
             cat("b", {"b1", "b1", "b1", "b2", "b2", "b2", "b1", "b1", "b1", "b2", "b2", "b2"}),
             cat("g", {"g1", "g1", "g1", "g1", "g2", "g2", "g2", "g2", "g3", "g3", "g3", "g3"})});
  const ModelFrame m = mf(d, "y ~ a * b + (1 | g)");
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "aa2", "aa3", "bb2", "aa2:bb2", "aa3:bb2"}));
  // ~ 0 + a:b: indicator coding of both, a varying fastest.
  const ModelFrame n = mf(d, "y ~ 0 + a:b + (1 | g)");
  EXPECT_EQ(n.fixed_names, (V{"aa1:bb1", "aa2:bb1", "aa3:bb1", "aa1:bb2", "aa2:bb2", "aa3:bb2"}));
  EXPECT_EQ(xcol(n, "aa2:bb1"), (D{0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}));
  // ~ a:b with an intercept: R also codes all 6 cells; the last is aliased with the intercept.
  const ModelFrame k = mf(d, "y ~ a:b + (1 | g)");
  EXPECT_EQ(k.fixed_names,
            (V{"(Intercept)", "aa1:bb1", "aa2:bb1", "aa3:bb1", "aa1:bb2", "aa2:bb2"}));
  EXPECT_EQ(k.aliased, V{"aa3:bb2"});
}

TEST(ModelFrame, ExpressionsAndResponseExpression) {
  const DataFrame d = frame({num("y", {1, 10, 100, 1000, 1, 10}), num("age", {1, 2, 3, 4, 5, 6}),
                             cat("g", {"a", "a", "b", "b", "c", "c"})});
  const ModelFrame m = mf(d, "log(y) ~ age + I(age^2) + I(age - 1) + sqrt(age) + (1 | g)");
  EXPECT_EQ(m.response, "log(y)");
  ASSERT_EQ(m.y.size(), 6u);
  EXPECT_DOUBLE_EQ(m.y[2], std::log(100.0));
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "age", "I(age^2)", "sqrt(age)"}));
  EXPECT_EQ(xcol(m, "I(age^2)"), (D{1, 4, 9, 16, 25, 36}));
  // I(age - 1) = age - (Intercept): a linear combination of earlier columns.
  EXPECT_EQ(m.aliased, V{"I(age - 1)"});
  EXPECT_DOUBLE_EQ(xcol(m, "sqrt(age)")[3], 2.0);
}

TEST(ModelFrame, AliasedColumnIsDroppedAndNamed) {
  const DataFrame d = frame(
      {num("y", {1, 3, 2, 5, 4, 6, 8, 7}), num("x1", {1, 2, 3, 4, 5, 6, 7, 9}),
       num("x2", {2, 1, 4, 3, 6, 5, 9, 7}), num("x3", {3, 3, 7, 7, 11, 11, 16, 16}),  // x1 + x2
       num("x4", {0.5, 1, 0, 2, 3, 1, 2, 4}), cat("g", {"a", "a", "b", "b", "c", "c", "d", "d"})});
  const ModelFrame m = mf(d, "y ~ x1 + x2 + x3 + x4 + (1 | g)");
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "x1", "x2", "x4"}));
  EXPECT_EQ(m.aliased, V{"x3"});
  EXPECT_EQ(m.X.size(), 8u * 4u);
  EXPECT_EQ(xcol(m, "x4"), (D{0.5, 1, 0, 2, 3, 1, 2, 4}));
  // A tiny perturbation (relative 1e-4) is not aliasing.
  DataFrame e = d;
  e.columns[3].numbers[0] += 1e-3;
  EXPECT_TRUE(mf(e, "y ~ x1 + x2 + x3 + (1 | g)").aliased.empty());
}

TEST(ModelFrame, MissingValuesDropRowsOfUsedVariablesOnly) {
  const DataFrame d =
      frame({num("y", {1, NA, 3, 4, 5, 6, 7, 8, 9}), num("x", {1, 2, 3, NA, 5, 6, 7, 8, 9}),
             num("unused", {NA, NA, NA, NA, NA, NA, NA, NA, NA}),
             cat("g", {"a", "a", "a", "b", "b", "", "c", "c", "c"})});
  const ModelFrame m = mf(d, "y ~ x + (1 | g)");
  EXPECT_EQ(m.n_dropped, 3u);
  EXPECT_EQ(m.rows, (std::vector<std::size_t>{0, 2, 4, 6, 7, 8}));
  EXPECT_EQ(m.y, (D{1, 3, 5, 7, 8, 9}));
  EXPECT_EQ(xcol(m, "x"), (D{1, 3, 5, 7, 8, 9}));
  EXPECT_EQ(m.re[0].levels, (V{"a", "b", "c"}));
  EXPECT_EQ(m.re[0].refs, (std::vector<std::int32_t>{0, 0, 1, 2, 2, 2}));
}

TEST(ModelFrame, UnusedLevelsAreDropped) {
  // Level "z" of f and level "d" of g occur only in rows dropped for a missing y.
  const DataFrame d =
      frame({num("y", {1, 2, 3, 4, 5, 6, NA}), cat("f", {"p", "q", "p", "q", "p", "q", "z"}),
             cat("g", {"a", "a", "b", "b", "c", "c", "d"})});
  const ModelFrame m = mf(d, "y ~ f + (1 | g)");
  EXPECT_EQ(m.fixed_names, (V{"(Intercept)", "fq"}));
  EXPECT_EQ(m.re[0].levels, (V{"a", "b", "c"}));
  const ModelFrame n = mf(d, "y ~ 0 + f + (1 | g)");
  EXPECT_EQ(n.fixed_names, (V{"fp", "fq"}));
  EXPECT_TRUE(n.aliased.empty());
}

TEST(ModelFrame, RandomTermsOrderedAsLme4) {
  // a: 2 levels, b: 4 levels, c: 2 levels (8 rows).
  const DataFrame d = frame({num("y", {1, 2, 3, 4, 5, 6, 7, 8}),
                             cat("a", {"a1", "a2", "a1", "a2", "a1", "a2", "a1", "a2"}),
                             cat("b", {"b1", "b1", "b2", "b2", "b3", "b3", "b4", "b4"}),
                             cat("c", {"c1", "c1", "c1", "c1", "c2", "c2", "c2", "c2"})});
  auto groups = [](const ModelFrame& m) {
    V out;
    for (const ReTermData& t : m.re) out.push_back(t.group);
    return out;
  };
  EXPECT_EQ(groups(mf(d, "y ~ (1 | a) + (1 | b)")), (V{"b", "a"}));
  EXPECT_EQ(groups(mf(d, "y ~ (1 | b) + (1 | a)")), (V{"b", "a"}));
  // Already non-increasing: kept as written (ties too).
  EXPECT_EQ(groups(mf(d, "y ~ (1 | b) + (1 | a) + (1 | c)")), (V{"b", "a", "c"}));
  // lme4 reorders with rev(order(nlevels)): decreasing, and tied terms end up reversed.
  EXPECT_EQ(groups(mf(d, "y ~ (1 | a) + (1 | b) + (1 | c)")), (V{"b", "c", "a"}));
}

TEST(ModelFrame, NestedGroupingLevels) {
  // pastes-like: batch A..C, cask a..b within batch, 2 samples each.
  std::vector<std::string> batch, cask;
  D y;
  for (const char* b : {"A", "B", "C"})
    for (const char* c : {"a", "b"})
      for (int s = 0; s < 2; ++s) {
        batch.push_back(b);
        cask.push_back(c);
        y.push_back(static_cast<double>(y.size()) * 0.5 + 60);
      }
  const DataFrame d = frame({num("strength", y), cat("batch", batch), cat("cask", cask)});
  const ModelFrame m = mf(d, "strength ~ 1 + (1 | batch/cask)");
  ASSERT_EQ(m.re.size(), 2u);
  EXPECT_EQ(m.re[0].group, "cask:batch");
  EXPECT_EQ(m.re[0].levels, (V{"a:A", "a:B", "a:C", "b:A", "b:B", "b:C"}));
  EXPECT_EQ(m.re[0].refs, (std::vector<std::int32_t>{0, 0, 3, 3, 1, 1, 4, 4, 2, 2, 5, 5}));
  EXPECT_EQ(m.re[1].group, "batch");
  EXPECT_EQ(m.re[1].levels, (V{"A", "B", "C"}));
  EXPECT_EQ(m.fixed_names, V{"(Intercept)"});
}

TEST(ModelFrame, InteractionGroupingUsesLevelOrderNotLabelOrder) {
  // As lme4's (1 | recipe:replicate) on cake: levels A:1, A:2, ..., A:10, not A:1, A:10, A:2.
  std::vector<std::string> recipe;
  D rep, y;
  for (const char* r : {"A", "B"})
    for (int k = 1; k <= 10; ++k)
      for (int s = 0; s < 2; ++s) {
        recipe.push_back(r);
        rep.push_back(k);
        y.push_back(static_cast<double>(y.size()));
      }
  const DataFrame d = frame({num("angle", y), cat("recipe", recipe), num("replicate", rep)});
  const ModelFrame m = mf(d, "angle ~ recipe + (1 | recipe:replicate)");
  ASSERT_EQ(m.re.size(), 1u);
  EXPECT_EQ(m.re[0].group, "recipe:replicate");
  ASSERT_EQ(m.re[0].nlevels(), 20u);
  EXPECT_EQ(m.re[0].levels[0], "A:1");
  EXPECT_EQ(m.re[0].levels[1], "A:2");
  EXPECT_EQ(m.re[0].levels[9], "A:10");
  EXPECT_EQ(m.re[0].levels[10], "B:1");
  EXPECT_EQ(m.re[0].refs[4], 2);  // rows 4, 5: recipe A, replicate 3
}

TEST(ModelFrame, NumericGroupingVariableIsAFactor) {
  const DataFrame d = frame({num("y", {1, 2, 3, 4, 5, 6}), num("x", {1, 2, 3, 1, 2, 3}),
                             num("subject", {308, 10, 2.5, 308, 10, 2.5})});
  const ModelFrame m = mf(d, "y ~ x + (1 | subject)");
  EXPECT_EQ(m.re[0].levels, (V{"2.5", "10", "308"}));
  EXPECT_EQ(m.re[0].refs, (std::vector<std::int32_t>{2, 1, 0, 2, 1, 0}));
}

TEST(ModelFrame, RandomSlopeRefsAndZ) {
  const DataFrame d = frame({num("y", {1, 2, 3, 4, 5, 6, 7}), num("x", {0.5, 1, 2, 3, 4, 5, 6}),
                             cat("g", {"b", "a", "b", "a", "c", "c", "a"})});
  const ModelFrame m = mf(d, "y ~ x + (1 + x | g)");
  const ReTermData& re = m.re[0];
  EXPECT_EQ(re.names, (V{"(Intercept)", "x"}));
  EXPECT_EQ(re.levels, (V{"a", "b", "c"}));
  EXPECT_EQ(re.refs, (std::vector<std::int32_t>{1, 0, 1, 0, 2, 2, 0}));
  EXPECT_EQ(re.z, (D{1, 0.5, 1, 1, 1, 2, 1, 3, 1, 4, 1, 5, 1, 6}));

  const ModelFrame u = mf(d, "y ~ x + (x || g)");
  ASSERT_EQ(u.re.size(), 2u);
  EXPECT_EQ(u.re[0].group, "g");
  EXPECT_EQ(u.re[0].names, V{"(Intercept)"});
  EXPECT_EQ(u.re[1].group, "g");
  EXPECT_EQ(u.re[1].names, V{"x"});
  EXPECT_EQ(u.re[1].z, (D{0.5, 1, 2, 3, 4, 5, 6}));
}

TEST(ModelFrame, FactorInRandomTerm) {
  const DataFrame d =
      frame({num("y", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
             cat("f", {"p", "q", "p", "q", "p", "q", "p", "q", "p", "q", "p", "q"}),
             cat("g", {"a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c", "c"})});
  EXPECT_EQ(mf(d, "y ~ f + (0 + f | g)").re[0].names, (V{"fp", "fq"}));
  EXPECT_EQ(mf(d, "y ~ f + (f | g)").re[0].names, (V{"(Intercept)", "fq"}));
  const ModelFrame m = mf(d, "y ~ f + (0 + f | g)");
  EXPECT_EQ(std::vector<double>(m.re[0].z.begin(), m.re[0].z.begin() + 4), (D{1, 0, 0, 1}));
}

TEST(ModelFrame, NoFixedEffectsAtAll) {
  const ModelFrame m = mf(growth(), "y ~ 0 + (1 | id)");
  EXPECT_EQ(m.p(), 0u);
  EXPECT_TRUE(m.X.empty());
  EXPECT_EQ(m.n(), 12u);
}

// ---- errors ----

TEST(ModelFrameErrors, UnknownVariable) {
  EXPECT_EQ(error_of(growth(), "y ~ foo + (1 | id)"),
            "variable 'foo' in the formula is not a column of data.csv; columns are: id, time, "
            "group, y");
  EXPECT_EQ(error_of(growth(), "y ~ Time + (1 | id)"),
            "variable 'Time' in the formula is not a column of data.csv; columns are: id, time, "
            "group, y (did you mean 'time'?)");
  EXPECT_NE(error_of(growth(), "y ~ time + (1 | subject)").find("variable 'subject'"),
            std::string::npos);
  EXPECT_NE(error_of(growth(), "y ~ time + (1 + dose | id)").find("variable 'dose'"),
            std::string::npos);
  EXPECT_NE(error_of(growth(), "log(resp) ~ time + (1 | id)").find("variable 'resp'"),
            std::string::npos);
}

TEST(ModelFrameErrors, CategoricalResponse) {
  const DataFrame d = frame({cat("y", {"", "abc", "def", "abc"}), num("x", {1, 2, 3, 4}),
                             cat("g", {"a", "a", "b", "b"})});
  EXPECT_EQ(error_of(d, "y ~ x + (1 | g)"),
            "the response 'y' is not numeric (it has values like 'abc')");
}

TEST(ModelFrameErrors, NoRandomEffects) {
  EXPECT_EQ(error_of(growth(), "y ~ time"),
            "the formula has no random-effects term such as (1 | subject); for a model without "
            "random effects use ordinary regression");
}

TEST(ModelFrameErrors, NoRowsLeft) {
  const DataFrame d = frame({num("y", {NA, 2, 3}), num("x", {1, NA, NA}), num("z", {NA, NA, NA}),
                             cat("g", {"a", "b", "c"})});
  EXPECT_EQ(error_of(d, "y ~ x + (1 | g)"),
            "no observations left: all 3 rows have a missing value in y, x");
}

TEST(ModelFrameErrors, InfiniteValue) {
  DataFrame d = growth();
  d.columns[1].numbers[2] = std::numeric_limits<double>::infinity();
  EXPECT_EQ(error_of(d, "y ~ time + (1 | id)"),
            "column 'time' has an infinite value (Inf) at row 3; remove the row or mark the "
            "value as missing");
  d.columns[1].numbers[2] = -std::numeric_limits<double>::infinity();
  EXPECT_NE(error_of(d, "y ~ group + (1 | id) + (0 + time | id)").find("(-Inf) at row 3"),
            std::string::npos);
  // Not used: no error.
  EXPECT_EQ(error_of(d, "y ~ group + (1 | id)"), "");
}

TEST(ModelFrameErrors, NonFiniteExpression) {
  EXPECT_EQ(error_of(growth(), "y ~ log(time) + (1 | id)"),
            "cannot evaluate 'log(time)' at row 1: the result is -Inf (time = 0)");
  EXPECT_EQ(error_of(growth(), "y ~ I(1/time) + (1 | id)"),
            "cannot evaluate '1/time' in 'I(1/time)' at row 1: the result is Inf (time = 0)");
  EXPECT_EQ(error_of(growth(), "y ~ I(log(time) + 1) + (1 | id)"),
            "cannot evaluate 'log(time)' in 'I(log(time) + 1)' at row 1: the result is -Inf "
            "(time = 0)");
  EXPECT_EQ(error_of(growth(), "y ~ sqrt(time - 1) + (1 | id)"),
            "cannot evaluate 'sqrt(time - 1)' at row 1: the result is NaN (time = 0)");
  EXPECT_EQ(error_of(growth(), "log(time) ~ 1 + (1 | id)"),
            "cannot evaluate 'log(time)' at row 1: the result is -Inf (time = 0)");
}

TEST(ModelFrameErrors, CategoricalInArithmetic) {
  EXPECT_EQ(error_of(growth(), "y ~ I(group^2) + (1 | id)"),
            "'group' is categorical (values like 'control') and cannot be used in arithmetic in "
            "'I(group^2)'");
}

TEST(ModelFrameErrors, SingleLevelFactorInFixedEffects) {
  const DataFrame d = frame(
      {num("y", {1, 2, 3, 4}), cat("f", {"p", "p", "p", "p"}), cat("g", {"a", "a", "b", "b"})});
  EXPECT_EQ(error_of(d, "y ~ f + (1 | g)"),
            "the factor 'f' in the fixed effects has only one level ('p') in the rows used; "
            "contrasts need at least 2 levels");
}

TEST(ModelFrameErrors, GroupingFactorWithOneLevel) {
  const DataFrame d = frame({num("y", {1, 2, 3, NA}), cat("g", {"a", "a", "a", "b"})});
  EXPECT_EQ(error_of(d, "y ~ 1 + (1 | g)"),
            "grouping factor 'g' has 1 level ('a') in the rows used; grouping factors must have "
            "> 1 sampled level");
}

TEST(ModelFrameErrors, AsManyLevelsAsObservations) {
  const DataFrame d =
      frame({num("y", {1, 2, 3, 4}), num("x", {1, 2, 3, 4}), cat("g", {"a", "b", "c", "d"})});
  EXPECT_EQ(error_of(d, "y ~ x + (1 | g)"),
            "grouping factor 'g' has 4 levels for 4 observations; the number of levels of each "
            "grouping factor must be < the number of observations");
}

TEST(ModelFrameErrors, TooManyRandomEffects) {
  const DataFrame d = frame({num("y", {1, 2, 3, 4, 5, 6}), num("x", {0, 1, 0, 1, 0, 2}),
                             cat("g", {"a", "a", "b", "b", "c", "c"})});
  EXPECT_EQ(mf(d, "y ~ x + (1 | g)").re[0].nlevels(), 3u);
  // 3 groups x 2 coefficients = 6 random effects for 6 observations.
  EXPECT_EQ(error_of(d, "y ~ x + (x | g)"),
            "number of observations (=6) <= number of random effects (=6) for term (1 + x | g); "
            "the random-effects parameters and the residual variance are probably "
            "unidentifiable");
  // Uncorrelated terms have 3 random effects each: fine.
  EXPECT_EQ(error_of(d, "y ~ x + (x || g)"), "");
}

}  // namespace
}  // namespace lmm
