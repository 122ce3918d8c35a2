// The fast paths give the answers of the plain ones: the fused one-term factor and the sparse
// Cholesky of a filled-in block against a dense computation, the analytic gradient against
// central differences, the data pass whatever the row order and the thread count, and L-BFGS at
// BOBYQA's optimum. Speed itself is measured in bench/, not here.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <numbers>
#include <optional>
#include <random>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/model.h"
#include "lmm/parallel.h"
#include "inference/numderiv.h"
#include "inference/varpar.h"
#include "inference/vinv_parts.h"
#include "lmm/inference.h"
#include "model/model_access.h"
#include "model/multi_term.h"
#include "test_util.h"

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

const std::string kData = LMM_TEST_DATA;

// REML criterion and ML deviance from V = ZΛΛ'Z' + I (Bates et al. 2015, eqs. 34 and 41).
std::pair<double, double> dense_objectives(const lmm::ModelFrame& f, const std::vector<double>& theta) {
  const auto n = static_cast<Eigen::Index>(f.n());
  const auto p = static_cast<Eigen::Index>(f.p());
  Eigen::Index cols = 0;
  for (const auto& t : f.re) cols += static_cast<Eigen::Index>(t.nlevels()) * t.q();
  MatrixXd ZL = MatrixXd::Zero(n, cols);
  Eigen::Index off = 0;
  std::size_t k = 0;
  for (const auto& t : f.re) {
    const int q = t.q();
    MatrixXd lam = MatrixXd::Zero(q, q);
    for (int c = 0; c < q; ++c)
      for (int r = c; r < q; ++r) lam(r, c) = theta[k++];
    for (Eigen::Index i = 0; i < n; ++i) {
      Eigen::Map<const Eigen::RowVectorXd> z(&t.z[static_cast<std::size_t>(i) * q], q);
      ZL.block(i, off + t.refs[i] * q, 1, q) = z * lam;
    }
    off += static_cast<Eigen::Index>(t.nlevels()) * q;
  }
  const MatrixXd V = ZL * ZL.transpose() + MatrixXd::Identity(n, n);
  Eigen::LLT<MatrixXd> llt(V);
  const double logdetV = 2 * MatrixXd(llt.matrixL()).diagonal().array().log().sum();
  Eigen::Map<const MatrixXd> X(f.X.data(), n, p);
  Eigen::Map<const VectorXd> y(f.y.data(), n);
  const MatrixXd XtViX = X.transpose() * llt.solve(X);
  const VectorXd beta = XtViX.ldlt().solve(X.transpose() * llt.solve(y));
  const VectorXd r = y - X * beta;
  const double r2 = r.dot(llt.solve(r));
  const double two_pi = 2 * std::numbers::pi;
  const double ml = logdetV + n * (1 + std::log(two_pi * r2 / n));
  const double reml = logdetV + std::log(XtViX.determinant()) + (n - p) * (1 + std::log(two_pi * r2 / (n - p)));
  return {reml, ml};
}

// One term with q random effects per group (intercept and q - 1 covariates), unbalanced groups,
// rows in random order.
lmm::ModelFrame one_term(int groups, int q, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> N(0, 1);
  std::uniform_int_distribution<int> size(1, 7);
  lmm::ModelFrame f;
  lmm::ReTermData t;
  t.group = "g";
  t.names.push_back("(Intercept)");
  for (int a = 1; a < q; ++a) t.names.push_back("x" + std::to_string(a));
  for (int g = 0; g < groups; ++g) t.levels.push_back("g" + std::to_string(g));
  std::vector<double> x1;
  for (int g = 0; g < groups; ++g) {
    std::vector<double> b(q);
    for (auto& v : b) v = N(gen);
    for (int r = size(gen); r > 0; --r) {
      std::vector<double> z{1.0};
      for (int a = 1; a < q; ++a) z.push_back(N(gen));
      double y = 2 + 0.5 * z[q > 1 ? 1 : 0] + N(gen);
      for (int a = 0; a < q; ++a) y += b[a] * z[a];
      f.y.push_back(y);
      x1.push_back(q > 1 ? z[1] : N(gen));
      t.refs.push_back(g);
      t.z.insert(t.z.end(), z.begin(), z.end());
    }
  }
  // Shuffle the rows so that the data pass has to group them.
  const std::size_t n = f.y.size();
  std::vector<std::size_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), gen);
  lmm::ModelFrame s;
  lmm::ReTermData ts = t;
  ts.refs.clear();
  ts.z.clear();
  std::vector<double> xs;
  for (std::size_t i : perm) {
    s.y.push_back(f.y[i]);
    xs.push_back(x1[i]);
    ts.refs.push_back(t.refs[i]);
    ts.z.insert(ts.z.end(), t.z.begin() + static_cast<std::ptrdiff_t>(i * q),
                t.z.begin() + static_cast<std::ptrdiff_t>((i + 1) * q));
  }
  s.fixed_names = {"(Intercept)", "x1"};
  s.X.assign(n, 1.0);
  s.X.insert(s.X.end(), xs.begin(), xs.end());
  for (std::size_t i = 0; i < n; ++i) s.rows.push_back(i);
  s.response = "y";
  s.re.push_back(std::move(ts));
  return s;
}

std::vector<double> some_theta(int q, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> U(-0.5, 0.5);
  std::vector<double> th;
  for (int c = 0; c < q; ++c)
    for (int r = c; r < q; ++r) th.push_back(r == c ? 0.6 + 0.3 * c + U(gen) * 0.2 : U(gen));
  return th;
}

TEST(SpeedPaths, OneTermFactorMatchesDenseComputationForEachQ) {
  for (int q : {1, 2, 3, 4, 5}) {  // 5 takes the kernels' run-time-q path
    const auto f = one_term(40, q, 10 + q);
    const auto th = some_theta(q, 20 + q);
    const auto [reml, ml] = dense_objectives(f, th);
    lmm::LinearMixedModel m(f, lmm::Method::REML);
    EXPECT_NEAR(m.set_theta(th), reml, 1e-9 * std::abs(reml)) << "q = " << q;
    m.set_method(lmm::Method::ML);
    EXPECT_NEAR(m.objective(), ml, 1e-9 * std::abs(ml)) << "q = " << q;
  }
}

TEST(SpeedPaths, GradientMatchesCentralDifferences) {
  for (int q : {1, 2, 3, 5}) {
    for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
      lmm::LinearMixedModel m(one_term(50, q, 30 + q), method);
      const auto th = some_theta(q, 40 + q);
      m.set_theta(th);
      const auto g = m.gradient();
      ASSERT_EQ(g.size(), th.size());
      for (std::size_t k = 0; k < th.size(); ++k) {
        const double h = 1e-5;
        auto a = th, b = th;
        a[k] += h;
        b[k] -= h;
        const double fd = (m.set_theta(a) - m.set_theta(b)) / (2 * h);
        EXPECT_NEAR(g[k], fd, 1e-5 * (1 + std::abs(fd))) << "q = " << q << ", θ" << k;
      }
    }
  }
}

TEST(SpeedPaths, GradientInConditionedCoordinatesMatchesCentralDifferences) {
  // The optimizer's coordinates reach λ through a rotation (ThetaMap); a badly scaled covariate
  // makes the map far from the identity.
  auto f = one_term(60, 2, 5);
  for (std::size_t i = 0; i < f.y.size(); ++i) f.re[0].z[2 * i + 1] = 100 + 30 * f.re[0].z[2 * i + 1];
  lmm::LinearMixedModel m(f, lmm::Method::REML);
  const lmm::detail::ThetaMap map(lmm::detail::model_state(m));
  const std::vector<double> x{0.7, -0.4, 0.3};
  m.set_theta(map.to_theta(x));
  const auto g = map.gradient_conditioned(x, lmm::detail::model_state(m).gradient_full());
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double h = 1e-6;
    auto a = x, b = x;
    a[k] += h;
    b[k] -= h;
    const double fd = (m.set_theta(map.to_theta(a)) - m.set_theta(map.to_theta(b))) / (2 * h);
    EXPECT_NEAR(g[k], fd, 1e-4 * (1 + std::abs(fd))) << "θ̃" << k;
  }
}

// A frame with several terms over `n` rows: term k groups row t by levels[k](t) and has the
// effects `names[k]` ("(Intercept)" or "x"); y = 1 + 0.5 x + a random effect per level and effect
// + noise. Terms as given (lme4's order: more levels first).
struct TermSpec {
  std::string group;
  int nlevels;
  std::function<int(int)> level;
  std::vector<std::string> names;
};
lmm::ModelFrame several_terms(int n, const std::vector<TermSpec>& terms, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> N(0, 1);
  lmm::ModelFrame f;
  std::vector<double> x(static_cast<std::size_t>(n));
  for (auto& v : x) v = N(gen);
  f.y.assign(static_cast<std::size_t>(n), 0.0);
  for (int t = 0; t < n; ++t) f.y[t] = 1 + 0.5 * x[t] + N(gen);
  for (const auto& spec : terms) {
    lmm::ReTermData d;
    d.group = spec.group;
    d.names = spec.names;
    for (int l = 0; l < spec.nlevels; ++l) d.levels.push_back(spec.group + std::to_string(l));
    std::vector<double> effect(static_cast<std::size_t>(spec.nlevels) * spec.names.size());
    for (auto& v : effect) v = 1.2 * N(gen);
    for (int t = 0; t < n; ++t) {
      const int l = spec.level(t);
      d.refs.push_back(l);
      for (std::size_t a = 0; a < spec.names.size(); ++a) {
        const double z = spec.names[a] == "x" ? x[t] : 1.0;
        d.z.push_back(z);
        f.y[t] += z * effect[l * spec.names.size() + a];
      }
    }
    f.re.push_back(std::move(d));
  }
  lmm::testing::set_intercept_and_x(f, x);
  f.response = "y";
  return f;
}

// The gradient in θ against numDeriv-style Richardson differences of the objective.
void expect_gradient_matches(lmm::LinearMixedModel& m, const std::vector<double>& th, const std::string& what) {
  m.set_theta(th);
  const auto g = m.gradient();
  ASSERT_EQ(g.size(), th.size()) << what;
  auto f = [&](const Eigen::VectorXd& v) {
    return Eigen::VectorXd::Constant(1, m.set_theta(std::vector<double>(v.data(), v.data() + v.size())));
  };
  const Eigen::MatrixXd fd = lmm::detail::jacobian(f, Eigen::Map<const Eigen::VectorXd>(th.data(), static_cast<Eigen::Index>(th.size())));
  for (std::size_t k = 0; k < th.size(); ++k)
    EXPECT_NEAR(g[k], fd(0, static_cast<Eigen::Index>(k)), 1e-6 * (1 + std::abs(g[k]))) << what << ", θ" << k;
}

struct SeveralTermsCase {
  const char* name;
  lmm::ModelFrame frame;
  std::vector<std::vector<double>> thetas;  // the last with a component on its boundary 0
};

std::vector<SeveralTermsCase> several_terms_cases() {
  const std::vector<std::string> i1{"(Intercept)"}, ix{"(Intercept)", "x"}, x1{"x"};
  return {
      // (1 | s) + (1 | d) + (1 | dept): 30 subjects meeting 4 of 15 items each; the item block
      // fills in (dense), a department groups items.
      {"crossed",
       several_terms(120, {{"s", 30, [](int t) { return t / 4; }, i1},
                           {"d", 15, [](int t) { return (7 * t + t / 4) % 15; }, i1},
                           {"dept", 4, [](int t) { return (7 * t + t / 4) % 15 % 4; }, i1}}, 11),
       {{0.8, 0.6, 0.4}, {1.3, 0.2, 0.9}, {0.7, 0.0, 0.5}}},
      // (1 | school/class): block-diagonal blocks only.
      {"nested", lmm::testing::synthetic_nested(5, 4, 3, 12), {{1.1, 0.5}, {0.3, 1.7}, {0.0, 0.6}}},
      // (1 + x | id) + (1 | site), ids nested in sites and crossed with them.
      {"vector+scalar nested",
       several_terms(120, {{"id", 24, [](int t) { return t / 5; }, ix}, {"site", 4, [](int t) { return t / 30; }, i1}}, 13),
       {{0.9, 0.3, 0.5, 0.7}, {1.4, -0.6, 0.2, 1.1}, {0.8, 0.4, 0.0, 0.6}}},
      {"vector+scalar crossed",
       several_terms(120, {{"id", 24, [](int t) { return t / 5; }, ix}, {"site", 4, [](int t) { return t % 4; }, i1}}, 14),
       {{0.9, 0.3, 0.5, 0.7}, {1.4, -0.6, 0.2, 1.1}, {0.0, 0.4, 0.3, 0.6}}},
      // (1 + x || g): two terms on one grouping factor.
      {"||", several_terms(100, {{"g", 20, [](int t) { return t / 5; }, i1}, {"g", 20, [](int t) { return t / 5; }, x1}}, 15),
       {{0.9, 0.5}, {0.4, 1.3}, {0.8, 0.0}}},
      // (1 | s) + (1 | d): 400 subjects meeting 20 of 300 items each; the item block (300 rows)
      // fills in, is dense and large enough for LAPACK's inverse where the build has OpenBLAS.
      {"crossed, large item block",
       several_terms(8000, {{"s", 400, [](int t) { return t / 20; }, i1},
                            {"d", 300, [](int t) { return (37 * (t / 20) + 13 * (t % 20)) % 300; }, i1}}, 16),
       {{0.8, 0.6}, {0.3, 1.4}, {0.7, 0.0}}},
  };
}

TEST(SpeedPaths, SeveralTermsGradientMatchesRichardsonDifferences) {
  for (const auto& c : several_terms_cases())
    for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
      lmm::LinearMixedModel m(c.frame, method);
      ASSERT_TRUE(m.has_gradient()) << c.name;
      for (const auto& th : c.thetas)
        expect_gradient_matches(m, th, std::string(c.name) + (method == lmm::Method::REML ? " REML" : " ML"));
    }
}

// The gradient's trace from the diagonal blocks of Σ alone (model/multi_term.h) against the
// general formula from the off-diagonal blocks of Σ and A, at the points away from the boundary;
// and on the boundary (λ_j singular) the general formula whatever the setting.
TEST(SpeedPaths, SeveralTermsTraceIdentityMatchesGeneralFormula) {
  double& floor = lmm::detail::trace_identity_floor();
  const double saved = floor;
  for (const auto& c : several_terms_cases())
    for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
      const std::string what = std::string(c.name) + (method == lmm::Method::REML ? " REML" : " ML");
      lmm::LinearMixedModel m(c.frame, method);
      for (std::size_t t = 0; t < c.thetas.size(); ++t) {
        m.set_theta(c.thetas[t]);
        floor = 0;
        const auto identity = m.gradient();
        floor = std::numeric_limits<double>::infinity();
        const auto general = m.gradient();
        floor = saved;
        ASSERT_EQ(identity.size(), general.size());
        for (std::size_t k = 0; k < general.size(); ++k) {
          EXPECT_NEAR(identity[k], general[k], 1e-9 * (1 + std::abs(general[k]))) << what << ", θ" << k;
          if (c.thetas[t][k] == 0.0) EXPECT_EQ(identity[k], general[k]) << what << ", θ" << k << " (boundary)";
        }
      }
    }
}

TEST(SpeedPaths, ResultsDoNotDependOnTheThreadCount) {
  const auto f = one_term(10000, 2, 3);  // enough levels for several chunks
  const auto th = some_theta(2, 4);
  lmm::set_num_threads(1);
  lmm::LinearMixedModel m1(f, lmm::Method::REML);
  const double o1 = m1.set_theta(th);
  const auto g1 = m1.gradient();
  lmm::set_num_threads(2);
  lmm::LinearMixedModel m2(f, lmm::Method::REML);
  const double o2 = m2.set_theta(th);
  const auto g2 = m2.gradient();
  lmm::set_num_threads(0);
  EXPECT_EQ(o1, o2);
  EXPECT_EQ(g1, g2);
  EXPECT_EQ(std::get<lmm::detail::Mat>(lmm::detail::model_state(m1).A[1][1]), std::get<lmm::detail::Mat>(lmm::detail::model_state(m2).A[1][1]));
}

TEST(SpeedPaths, CrossedDataPassDoesNotDependOnRowOrder) {
  auto f = lmm::testing::synthetic_crossed(30, 12, 7);
  const std::vector<double> th{0.8, -0.3, 0.5, 1.3};
  lmm::LinearMixedModel sorted(f, lmm::Method::REML);
  const double o1 = sorted.set_theta(th);
  // Reverse the rows: both terms' levels are then out of order.
  const std::size_t n = f.y.size();
  lmm::ModelFrame r = f;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t j = n - 1 - i;
    r.y[i] = f.y[j];
    for (std::size_t c = 0; c < f.p(); ++c) r.X[c * n + i] = f.X[c * n + j];
    for (std::size_t k = 0; k < f.re.size(); ++k) {
      const int q = f.re[k].q();
      r.re[k].refs[i] = f.re[k].refs[j];
      for (int a = 0; a < q; ++a) r.re[k].z[i * q + a] = f.re[k].z[j * q + a];
    }
  }
  lmm::LinearMixedModel reversed(r, lmm::Method::REML);
  EXPECT_NEAR(reversed.set_theta(th), o1, 1e-10 * std::abs(o1));
}

// Subjects crossed with items where each subject meets few of many items: the item block fills
// in sparsely.
lmm::ModelFrame sparse_crossed(int subjects, int items, int per_subject, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> N(0, 1);
  std::uniform_int_distribution<int> pick(0, items - 1);
  lmm::ModelFrame f;
  lmm::ReTermData subj, item;
  subj.group = "subject";
  item.group = "item";
  subj.names = item.names = {"(Intercept)"};
  for (int s = 0; s < subjects; ++s) subj.levels.push_back("s" + std::to_string(s));
  for (int i = 0; i < items; ++i) item.levels.push_back("i" + std::to_string(i));
  std::vector<double> ui(items);
  for (auto& v : ui) v = N(gen);
  std::vector<double> x;
  for (int s = 0; s < subjects; ++s) {
    const double us = 1.5 * N(gen);
    // Items near the subject's own index: a banded co-occurrence, as in rating designs where
    // subjects see neighbouring blocks of items.
    for (int k = 0; k < per_subject; ++k) {
      const int i = (s * items / subjects + k * 3 + (pick(gen) % 3)) % items;
      const double xv = N(gen);
      x.push_back(xv);
      f.y.push_back(3 + 0.5 * xv + us + ui[i] + N(gen));
      subj.refs.push_back(s);
      subj.z.push_back(1.0);
      item.refs.push_back(i);
      item.z.push_back(1.0);
    }
  }
  const std::size_t n = f.y.size();
  f.fixed_names = {"(Intercept)", "x"};
  f.X.assign(n, 1.0);
  f.X.insert(f.X.end(), x.begin(), x.end());
  for (std::size_t i = 0; i < n; ++i) f.rows.push_back(i);
  f.response = "y";
  f.re.push_back(std::move(subj));
  f.re.push_back(std::move(item));
  return f;
}

TEST(SpeedPaths, SparseCholeskyOfAFilledBlockMatchesTheDenseOne) {
  const auto f = sparse_crossed(250, 150, 3, 9);
  const std::vector<double> th{0.9, 0.6};
  auto& limit = lmm::detail::sparse_fill_limit();
  auto& min_size = lmm::detail::sparse_min_size();
  const double saved = limit;
  const auto saved_size = min_size;
  min_size = 0;
  limit = 0.0;  // dense
  lmm::LinearMixedModel dense(f, lmm::Method::REML);
  limit = 1.0;  // sparse wherever it applies
  lmm::LinearMixedModel sparse(f, lmm::Method::REML);
  limit = saved;
  min_size = saved_size;
  ASSERT_TRUE(std::holds_alternative<lmm::detail::Mat>(lmm::detail::model_state(dense).L[1][1]));
  ASSERT_TRUE(std::holds_alternative<lmm::detail::SparseChol>(lmm::detail::model_state(sparse).L[1][1]));
  const double od = dense.set_theta(th), os = sparse.set_theta(th);
  EXPECT_NEAR(os, od, 1e-10 * std::abs(od));
  const auto [reml, ml] = dense_objectives(f, th);
  EXPECT_NEAR(os, reml, 1e-9 * std::abs(reml));
  const auto bd = dense.beta(), bs = sparse.beta();
  for (std::size_t i = 0; i < bd.size(); ++i) EXPECT_NEAR(bs[i], bd[i], 1e-9);
  const auto rd = dense.ranef(), rs = sparse.ranef();
  for (std::size_t k = 0; k < rd.size(); ++k)
    for (std::size_t i = 0; i < rd[k].size(); ++i) EXPECT_NEAR(rs[k][i], rd[k][i], 1e-8);
  const auto cd = dense.ranef_condvar(), cs = sparse.ranef_condvar();
  for (std::size_t i = 0; i < cd[1].size(); i += 37) EXPECT_NEAR(cs[1][i], cd[1][i], 1e-9);
  // And the fits agree.
  const auto sd = dense.fit(), ss = sparse.fit();
  EXPECT_NEAR(ss.objective, sd.objective, 1e-6);
}

TEST(SpeedPaths, SparseCholeskyIsChosenWhereTheFillIsSmall) {
  const auto f = sparse_crossed(3000, 2000, 3, 2);
  lmm::LinearMixedModel m(f, lmm::Method::REML);
  EXPECT_TRUE(std::holds_alternative<lmm::detail::SparseChol>(lmm::detail::model_state(m).L[1][1]));
  // A fully crossed design fills the item block: dense.
  lmm::LinearMixedModel c(lmm::testing::synthetic_crossed(30, 12, 7), lmm::Method::REML);
  EXPECT_TRUE(std::holds_alternative<lmm::detail::Mat>(lmm::detail::model_state(c).L[1][1]));
}

// The type of the item block analyse() chooses (it counts the fill column by column and stops
// where the block is dense for sure) against the rule on the whole fill pattern formed as a
// sparse product: dense where the fill leaves the level blocks and the sparse factor does not
// pay, sparse where it pays, block-diagonal where nothing fills in.
std::string expected_block(const lmm::detail::ModelState& s) {
  using lmm::detail::SpMat;
  SpMat P = std::get<SpMat>(s.A[1][0]);
  for (Eigen::Index c = 0; c < P.outerSize(); ++c)
    for (SpMat::InnerIterator it(P, c); it; ++it) it.valueRef() = 1.0;
  const SpMat D = P * SpMat(P.transpose());
  bool off = false;
  for (Eigen::Index c = 0; c < D.outerSize(); ++c)
    for (SpMat::InnerIterator it(D, c); it; ++it) off = off || it.row() != c;
  if (!off) return "block-diagonal";
  return lmm::detail::sparse_factor_pays(D, 1, s.nlev[1]) ? "sparse" : "dense";
}

std::string chosen_block(const lmm::detail::ModelState& s) {
  const auto& b = s.L[1][1];
  if (std::holds_alternative<lmm::detail::SparseChol>(b)) return "sparse";
  return std::holds_alternative<lmm::detail::Mat>(b) ? "dense" : "block-diagonal";
}

TEST(SpeedPaths, FillIsJudgedAsFromTheWholePattern) {
  auto& limit = lmm::detail::sparse_fill_limit();
  auto& min_size = lmm::detail::sparse_min_size();
  const double saved = limit;
  const auto saved_size = min_size;
  // A heavy subject who meets 4 out of 5 items: one column of A settles the block as dense.
  lmm::ModelFrame heavy = sparse_crossed(200, 150, 3, 4);
  for (int i = 0; i < 120; ++i) {
    heavy.y.push_back(heavy.y[static_cast<std::size_t>(i)]);
    heavy.X.insert(heavy.X.begin() + static_cast<std::ptrdiff_t>(heavy.y.size()) - 1, 1.0);
    heavy.X.push_back(0.1 * i);
    heavy.rows.push_back(heavy.rows.size());
    heavy.re[0].refs.push_back(7);
    heavy.re[0].z.push_back(1.0);
    heavy.re[1].refs.push_back(i);
    heavy.re[1].z.push_back(1.0);
  }
  std::map<std::string, int> seen;
  for (const auto& f : {sparse_crossed(250, 150, 3, 9), sparse_crossed(150, 300, 6, 5), heavy}) {
    for (double lim : {0.0, 0.02, 0.05, 0.1, 0.2, 1.0})
      for (Eigen::Index size : {0, 140, 200}) {
        limit = lim;
        min_size = size;
        lmm::LinearMixedModel m(f, lmm::Method::REML);
        const auto& s = lmm::detail::model_state(m);
        const std::string want = expected_block(s), got = chosen_block(s);
        EXPECT_EQ(got, want) << "limit " << lim << ", minimum size " << size << ", items " << s.nlev[1];
        ++seen[got];
      }
  }
  limit = saved;
  min_size = saved_size;
  // One row per subject: nothing couples two items.
  lmm::LinearMixedModel nested(sparse_crossed(100, 100, 1, 3), lmm::Method::REML);
  EXPECT_EQ(expected_block(lmm::detail::model_state(nested)), "block-diagonal");
  EXPECT_EQ(chosen_block(lmm::detail::model_state(nested)), "block-diagonal");
  // The cases cover both choices.
  EXPECT_GT(seen["dense"], 3);
  EXPECT_GT(seen["sparse"], 3);
}

TEST(SpeedPaths, LbfgsReachesBobyqasOptimum) {
  for (const char* name : {"sleepstudy.csv", "growth200.csv"}) {
    const auto data = lmm::read_table(kData + "/" + name);
    const std::string formula =
        std::string(name) == "sleepstudy.csv" ? "Reaction ~ Days + (Days | Subject)" : "y ~ time * group + (time | id)";
    for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
      lmm::FitOptions a, b;
      a.method = b.method = method;
      a.optimizer = lmm::Optimizer::LBFGS;
      b.optimizer = lmm::Optimizer::BOBYQA;
      const auto fa = lmm::fit(data, formula, a).result;
      const auto fb = lmm::fit(data, formula, b).result;
      EXPECT_EQ(fa.optimizer.algorithm.rfind("NLOPT_LD_LBFGS", 0), 0u) << fa.optimizer.algorithm;
      EXPECT_EQ(fb.optimizer.algorithm, "NLOPT_LN_BOBYQA");
      EXPECT_TRUE(fa.optimizer.converged) << fa.optimizer.stop_reason;
      EXPECT_NEAR(fa.objective, fb.objective, 1e-7) << name;
      EXPECT_LT(fa.optimizer.evaluations, fb.optimizer.evaluations) << name;
      for (std::size_t k = 0; k < fa.theta.size(); ++k) EXPECT_NEAR(fa.theta[k], fb.theta[k], 1e-4) << name;
    }
  }
}

// several_terms_cases()'s crossed design whose item block is dense (Newton's method's kind).
std::optional<SeveralTermsCase> large_item_block() {
  for (auto& c : several_terms_cases())
    if (std::string(c.name) == "crossed, large item block") return c;
  return std::nullopt;
}

// Newton's method, Auto's choice for a crossed design of scalar terms whose gradient is cheap
// (here 400 subjects x 300 items, the item block dense), reaches BOBYQA's optimum in fewer
// evaluations; the convergence check passes with the Hessian the optimizer formed, whose
// eigenvalues are within 1% of those of differences at the optimum. Asked for, Newton fits a vector-valued
// term too.
TEST(SpeedPaths, NewtonReachesBobyqasOptimum) {
  const auto big = large_item_block();
  ASSERT_TRUE(big);
  for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
    lmm::FitOptions o;
    o.method = method;
    o.ddf = lmm::DdfMethod::None;  // no Satterthwaite to come: the check takes the optimizer's Hessian
    lmm::LinearMixedModel m(big->frame, method);
    auto a = m.fit(o);
    EXPECT_EQ(a.algorithm, "Newton");
    EXPECT_TRUE(a.converged) << a.stop_reason;
    const auto check = lmm::check_convergence(m, a, o);
    EXPECT_EQ(check.code, 0) << check.status;
    EXPECT_LT(check.max_grad, 1e-6);
    lmm::FitOptions ob = o;
    ob.optimizer = lmm::Optimizer::BOBYQA;
    lmm::LinearMixedModel mb(big->frame, method);
    auto b = mb.fit(ob);
    const auto check_b = lmm::check_convergence(mb, b, ob);
    EXPECT_NEAR(a.objective, b.objective, 1e-7);
    EXPECT_LT(a.evaluations, b.evaluations);
    for (std::size_t k = 0; k < a.theta.size(); ++k) EXPECT_NEAR(a.theta[k], b.theta[k], 1e-5);
    ASSERT_EQ(check.hessian_eigenvalues.size(), check_b.hessian_eigenvalues.size());
    for (std::size_t k = 0; k < check.hessian_eigenvalues.size(); ++k)
      EXPECT_NEAR(check.hessian_eigenvalues[k], check_b.hessian_eigenvalues[k], 1e-2 * check_b.hessian_eigenvalues[k]);
  }
  lmm::LinearMixedModel v(lmm::testing::synthetic_crossed(30, 12, 7), lmm::Method::REML);
  lmm::FitOptions o;
  o.optimizer = lmm::Optimizer::Newton;
  const auto a = v.fit(o);
  EXPECT_EQ(a.algorithm.rfind("Newton", 0), 0u) << a.algorithm;
  EXPECT_TRUE(a.converged) << a.stop_reason;
  o.optimizer = lmm::Optimizer::BOBYQA;
  const auto b = v.fit(o);
  EXPECT_NEAR(a.objective, b.objective, 1e-7);
}

// With Satterthwaite's df to come (FitOptions::ddf), Newton's method forms no closing Hessian and
// the convergence check takes the profiled form of Satterthwaite's analytic Hessian, which
// Satterthwaite then reuses: the same optimum, the eigenvalues of the exact Hessian (those of a
// Satterthwaite computed afresh on another model at the same θ), and the same df. Newton's own
// Hessians are that exact one too (without Satterthwaite, at its start and near its end), where
// beyond VinvParts's limits each takes n evaluations and gradients for its differences.
TEST(SpeedPaths, NewtonCheckTakesSatterthwaitesExactHessian) {
  const auto big = large_item_block();
  ASSERT_TRUE(big);
  for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
    lmm::FitOptions o;
    o.method = method;
    lmm::LinearMixedModel m(big->frame, method);
    auto a = m.fit(o);
    ASSERT_EQ(a.algorithm, "Newton");
    const auto check = lmm::check_convergence(m, a, o);
    EXPECT_EQ(check.code, 0) << check.status;
    EXPECT_LT(check.max_grad, 1e-5);
    const lmm::Satterthwaite sat(m);

    lmm::FitOptions on = o;
    on.ddf = lmm::DdfMethod::None;
    lmm::LinearMixedModel mn(big->frame, method);
    auto b = mn.fit(on);
    ASSERT_EQ(b.algorithm, "Newton");
    const auto check_n = lmm::check_convergence(mn, b, on);
    EXPECT_NEAR(a.objective, b.objective, 1e-7);
    for (std::size_t k = 0; k < a.theta.size(); ++k) EXPECT_NEAR(a.theta[k], b.theta[k], 1e-5);
    long& limit = lmm::detail::varpar_dense_limit();
    limit = 0;
    lmm::LinearMixedModel md(big->frame, method);
    const auto d = md.fit(on);
    limit = 6000;
    ASSERT_EQ(d.algorithm, "Newton");
    EXPECT_NEAR(d.objective, b.objective, 1e-7);
    const auto nth = static_cast<int>(a.theta.size());
    EXPECT_GE(d.evaluations, b.evaluations + 2 * nth) << b.evaluations;  // the differences, twice
    EXPECT_LE(a.evaluations, b.evaluations + 1);

    // Satterthwaite afresh at the check's final θ: its Hessian H in (θ̃, σ/σ̂), profiled over σ.
    lmm::LinearMixedModel fresh(big->frame, method);
    fresh.set_theta(m.theta());
    const lmm::Satterthwaite sf(fresh);
    const auto k = static_cast<Eigen::Index>(m.theta().size());
    const Eigen::Map<const Eigen::MatrixXd> H(sf.hessian().data(), k + 1, k + 1);
    const Eigen::MatrixXd Hp = H.topLeftCorner(k, k) - H.col(k).head(k) * H.row(k).head(k) / H(k, k);
    // The eigenvalues the check reports (largest first) are Hp's to rounding (differences of the
    // gradient would miss by about 1e-4). An Eigen solver instantiated here is one the engine uses
    // too: this file is compiled with -fopenmp as the engine is (lmm links OpenMP PUBLIC,
    // CMakeLists.txt), so whichever copy the linker keeps computes as the engine's, and the CLI's
    // numbers equal the library's in this binary (FitJson.KeysInOrderAndNumbersInFull).
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(Hp, Eigen::EigenvaluesOnly);
    ASSERT_EQ(check.hessian_eigenvalues.size(), static_cast<std::size_t>(k));
    double sum = 0;
    for (Eigen::Index i = 0; i < k; ++i) {
      const double ev = check.hessian_eigenvalues[static_cast<std::size_t>(i)];
      sum += ev;
      EXPECT_NEAR(ev, es.eigenvalues()(k - 1 - i), 1e-9 * ev);
      // Without Satterthwaite to come, the check takes Newton's last Hessian: exact within
      // ModelState::hessian_reach of its point, then updated by BFGS.
      EXPECT_NEAR(check_n.hessian_eigenvalues[static_cast<std::size_t>(i)], ev, 1e-2 * ev);
    }
    EXPECT_NEAR(sum, Hp.trace(), 1e-9 * std::abs(Hp.trace()));
    const std::vector<double> c(m.frame().p(), 1.0);
    EXPECT_NEAR(sat.test(c).df, sf.test(c).df, 1e-9 * sf.test(c).df);
  }
}

TEST(SpeedPaths, WithoutAGradientNewuoaReachesBobyqasOptimum) {
  lmm::LinearMixedModel m(lmm::testing::synthetic_crossed(30, 12, 7), lmm::Method::REML);
  const auto a = m.fit();
  EXPECT_EQ(a.algorithm, "NLOPT_LN_NEWUOA");
  lmm::FitOptions o;
  // Asked for, L-BFGS runs with the gradient (Auto keeps NEWUOA: here the item block fills in, and
  // its full inverse costs more than the evaluations it saves, src/model/optimize.cpp).
  o.optimizer = lmm::Optimizer::LBFGS;
  const auto l = m.fit(o);
  EXPECT_EQ(l.algorithm.rfind("NLOPT_LD_LBFGS", 0), 0u) << l.algorithm;
  o.optimizer = lmm::Optimizer::BOBYQA;
  const auto b = m.fit(o);
  EXPECT_NEAR(l.objective, b.objective, 1e-7);
  EXPECT_EQ(b.algorithm, "NLOPT_LN_BOBYQA");
  EXPECT_NEAR(a.objective, b.objective, 1e-7);
  for (std::size_t k = 0; k < a.theta.size(); ++k) EXPECT_NEAR(a.theta[k], b.theta[k], 1e-4);
  // θ as lme4 reports it: a non-negative diagonal, whatever signs NEWUOA's point had.
  EXPECT_GE(a.theta[0], 0);
  EXPECT_GE(a.theta[2], 0);
  EXPECT_GE(a.theta[3], 0);
}

TEST(SpeedPaths, NestedTermsFitByLbfgsAtBobyqasOptimum) {
  // Several terms: L-BFGS with the gradient on request (Auto keeps NEWUOA, src/model/optimize.cpp),
  // in fewer evaluations.
  for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
    lmm::LinearMixedModel m(lmm::testing::synthetic_nested(8, 5, 3, 21), method);
    lmm::FitOptions o;
    o.method = method;
    EXPECT_EQ(m.fit(o).algorithm, "NLOPT_LN_NEWUOA");
    o.optimizer = lmm::Optimizer::LBFGS;
    const auto a = m.fit(o);
    EXPECT_EQ(a.algorithm.rfind("NLOPT_LD_LBFGS", 0), 0u) << a.algorithm;
    EXPECT_TRUE(a.converged) << a.stop_reason;
    o.optimizer = lmm::Optimizer::BOBYQA;
    const auto b = m.fit(o);
    EXPECT_NEAR(a.objective, b.objective, 1e-7);
    EXPECT_LT(a.evaluations, b.evaluations);
    for (std::size_t k = 0; k < a.theta.size(); ++k) EXPECT_NEAR(a.theta[k], b.theta[k], 1e-4);
  }
}

TEST(SpeedPaths, ProgressIsReportedForEachEvaluation) {
  lmm::LinearMixedModel m(one_term(30, 2, 8), lmm::Method::REML);
  int calls = 0, last = 0;
  double best = INFINITY;
  lmm::FitOptions o;
  o.progress = [&](int evaluations, double objective) {
    ++calls;
    last = evaluations;
    EXPECT_LE(objective, best);  // the best so far
    best = objective;
  };
  const auto s = m.fit(o);
  EXPECT_EQ(calls, s.evaluations);
  EXPECT_EQ(last, s.evaluations);
  EXPECT_NEAR(best, s.objective, 1e-9 * std::abs(s.objective));
}

}  // namespace

// The joint moment estimate of several scalar terms (src/model/start.cpp) lands near the REML
// optimum, for crossed and for nested terms, so that NEWUOA started there reaches the optimum it
// reaches from lme4's start, in fewer evaluations.
TEST(SpeedPaths, ScalarTermsStartNearTheOptimumAndSaveEvaluations) {
  struct Case {
    const char* name;
    lmm::ModelFrame frame;
  };
  std::vector<Case> cases;
  cases.push_back({"crossed", sparse_crossed(300, 80, 20, 3)});
  cases.push_back({"nested", lmm::testing::synthetic_nested(40, 6, 4, 5)});
  for (auto& c : cases) {
    lmm::LinearMixedModel m(std::move(c.frame), lmm::Method::REML);
    const auto start = lmm::detail::model_state(m).moment_covariance();
    ASSERT_EQ(start.size(), 2u) << c.name;
    lmm::FitOptions from_moment, from_lme4;
    from_lme4.moment_start = false;
    const auto b = m.fit(from_lme4);
    const auto a = m.fit(from_moment);
    EXPECT_NEAR(a.objective, b.objective, 1e-7) << c.name;
    for (std::size_t k = 0; k < 2; ++k) {
      EXPECT_NEAR(a.theta[k], b.theta[k], 1e-4) << c.name;
      // The start's relative variance within a fifth of the optimum's θ².
      const double opt = b.theta[k] * b.theta[k];
      EXPECT_NEAR(start[k](0, 0), opt, 0.2 * opt) << c.name << " term " << k;
    }
    EXPECT_LT(a.evaluations, b.evaluations) << c.name;
  }
}

// Crossed scalar terms: Satterthwaite's and Kenward-Roger's df from M_RR and Y taken entry by
// entry from F⁻¹ (VinvParts::scalar_shortcut; with it, products by N_RR through its sparse
// factors, the level blocks U_b from M_R0 and, for a scalar first term, one G N_R0 N_0R for the
// first term's traces) are those of the dense products, coefficient by coefficient and for the
// type III F tests; also with a first term of two effects (subj: 16 levels before item's 12).
TEST(SpeedPaths, CrossedScalarShortcutGivesTheDfOfTheDenseProducts) {
  const auto data = lmm::read_table(kData + "/kr_crossed.csv");
  for (const char* formula : {"y ~ cond * x + (1 | subj) + (1 | item)", "y ~ cond * x + (1 + x | subj) + (1 | item)"}) {
    lmm::FitOptions o;
    o.ddf = lmm::DdfMethod::None;
    auto f = lmm::fit(data, formula, o);
    ASSERT_EQ(lmm::detail::model_state(f.model).q[0], std::string(formula).find("x |") == std::string::npos ? 1 : 2);
    std::vector<lmm::FitResult> r(4, f.result);
    for (int shortcut = 0; shortcut < 2; ++shortcut) {
      lmm::detail::VinvParts::scalar_shortcut() = shortcut == 1;
      lmm::add_inference(f.model, r[2 * shortcut], lmm::DdfMethod::Satterthwaite);
      lmm::add_inference(f.model, r[2 * shortcut + 1], lmm::DdfMethod::KenwardRoger);
    }
    lmm::detail::VinvParts::scalar_shortcut() = true;
    for (int m = 0; m < 2; ++m) {
      const auto &plain = r[static_cast<std::size_t>(m)], &fast = r[static_cast<std::size_t>(m + 2)];
      ASSERT_EQ(fast.fixed.size(), 4u);
      for (std::size_t i = 0; i < fast.fixed.size(); ++i) {
        EXPECT_GT(fast.fixed[i].df, 5) << formula << " " << fast.fixed[i].term;
        EXPECT_NEAR(fast.fixed[i].df, plain.fixed[i].df, 1e-10 * plain.fixed[i].df) << formula << " " << fast.fixed[i].term;
        EXPECT_NEAR(fast.fixed[i].std_error, plain.fixed[i].std_error, 1e-12 * plain.fixed[i].std_error);
      }
      ASSERT_EQ(fast.anova_type3.size(), 3u);
      for (std::size_t i = 0; i < fast.anova_type3.size(); ++i)
        EXPECT_NEAR(fast.anova_type3[i].den_df, plain.anova_type3[i].den_df, 1e-10 * plain.anova_type3[i].den_df)
            << formula;
    }
  }
}

// Beyond VinvParts's limits (the 10M ratings set), Satterthwaite's H takes its θ block from central
// differences of the analytic gradient and the rest, and J, exactly from the factor
// (detail::varpar_from_gradient). With the limit at 0 the same small crossed models take that path:
// H agrees with the analytic one to the differences' O(δ²), J to rounding, and the df and the F
// tests' denominator df to 1e-7; a vector-valued term, REML and ML alike. The model comes back to
// its θ with the same objective.
TEST(SpeedPaths, SatterthwaiteFromGradientDifferencesMatchesTheAnalyticDerivatives) {
  const auto data = lmm::read_table(kData + "/kr_crossed.csv");
  long& limit = lmm::detail::varpar_dense_limit();
  for (const char* formula : {"y ~ cond * x + (1 | subj) + (1 | item)", "y ~ cond * x + (1 + x | subj) + (1 | item)"})
    for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
      lmm::FitOptions o;
      o.method = method;
      o.ddf = lmm::DdfMethod::None;
      auto f = lmm::fit(data, formula, o);
      const auto& state = lmm::detail::model_state(f.model);
      ASSERT_TRUE(lmm::detail::varpar_analytic(state));
      const std::vector<double> theta = f.model.theta();
      const double objective = f.model.objective();
      lmm::FitResult ra = f.result, rd = f.result, rc = f.result;
      lmm::add_inference(f.model, ra, lmm::DdfMethod::Satterthwaite);  // analytic
      ASSERT_GT(lmm::detail::profiled_hessian(f.model).size(), 0);
      const Eigen::MatrixXd Ha = state.varpar_hessian, Ja = state.varpar_jacobian;
      limit = 0;
      const bool analytic_at_0 = lmm::detail::varpar_analytic(state);
      const bool from_gradient_at_0 = lmm::detail::varpar_from_gradient(state);
      state.varpar_kept = false;
      const Eigen::MatrixXd Hp = lmm::detail::profiled_hessian(f.model);
      const Eigen::MatrixXd Hd = state.varpar_hessian, Jd = state.varpar_jacobian;
      lmm::add_inference(f.model, rd, lmm::DdfMethod::Satterthwaite);  // the kept H and J
      state.varpar_kept = false;
      lmm::add_inference(f.model, rc, lmm::DdfMethod::Satterthwaite);  // computed afresh
      limit = 6000;
      EXPECT_FALSE(analytic_at_0);
      ASSERT_TRUE(from_gradient_at_0);
      EXPECT_EQ(f.model.theta(), theta);
      EXPECT_EQ(f.model.objective(), objective);
      ASSERT_EQ(Hd.rows(), Ha.rows());
      ASSERT_EQ(Hp.rows(), Ha.rows() - 1);
      const double hmax = Ha.cwiseAbs().maxCoeff();
      for (Eigen::Index i = 0; i < Ha.size(); ++i) EXPECT_NEAR(Hd(i), Ha(i), 1e-6 * hmax) << formula << " H " << i;
      ASSERT_EQ(Jd.rows(), Ja.rows());
      ASSERT_EQ(Jd.cols(), Ja.cols());
      for (Eigen::Index i = 0; i < Ja.size(); ++i)
        EXPECT_NEAR(Jd(i), Ja(i), 1e-10 * Ja.cwiseAbs().maxCoeff()) << formula << " J " << i;
      ASSERT_EQ(rd.fixed.size(), 4u);
      for (std::size_t i = 0; i < rd.fixed.size(); ++i) {
        EXPECT_GT(ra.fixed[i].df, 5);
        EXPECT_NEAR(rd.fixed[i].df, ra.fixed[i].df, 1e-7 * ra.fixed[i].df) << formula << " " << ra.fixed[i].term;
        EXPECT_EQ(rc.fixed[i].df, rd.fixed[i].df);
        EXPECT_NEAR(rd.fixed[i].std_error, ra.fixed[i].std_error, 1e-12 * ra.fixed[i].std_error);
      }
      ASSERT_EQ(rd.anova_type3.size(), 3u);
      for (std::size_t i = 0; i < rd.anova_type3.size(); ++i)
        EXPECT_NEAR(rd.anova_type3[i].den_df, ra.anova_type3[i].den_df, 1e-7 * ra.anova_type3[i].den_df) << formula;
    }
}

// Beyond the limits too, the convergence check after Newton's method takes the profiled form of
// that H (Newton keeps its closing differences there: the same path as without Satterthwaite):
// its eigenvalues are those of the analytic Hessian to the differences' O(δ²), and the df those of
// a Satterthwaite computed afresh.
TEST(SpeedPaths, NewtonCheckTakesTheGradientDifferencesHessianBeyondTheLimits) {
  const auto big = large_item_block();
  ASSERT_TRUE(big);
  long& limit = lmm::detail::varpar_dense_limit();
  lmm::FitOptions o;
  limit = 0;
  lmm::LinearMixedModel m(big->frame, o.method);
  auto a = m.fit(o);
  const bool from_gradient = lmm::detail::varpar_from_gradient(lmm::detail::model_state(m));
  const auto check = lmm::check_convergence(m, a, o);
  const lmm::Satterthwaite sat(m);
  lmm::FitOptions on = o;
  on.ddf = lmm::DdfMethod::None;
  lmm::LinearMixedModel mn(big->frame, o.method);
  const auto b = mn.fit(on);
  limit = 6000;
  ASSERT_TRUE(from_gradient);
  ASSERT_EQ(a.algorithm, "Newton");
  ASSERT_EQ(b.algorithm, "Newton");
  EXPECT_EQ(a.evaluations, b.evaluations);
  EXPECT_NEAR(a.objective, b.objective, 1e-7);  // a after the check's finishing step
  EXPECT_EQ(check.code, 0) << check.status;
  EXPECT_LT(check.max_grad, 1e-5);

  lmm::LinearMixedModel fresh(big->frame, o.method);  // analytic, at the check's final θ
  fresh.set_theta(m.theta());
  const lmm::Satterthwaite sf(fresh);
  const auto k = static_cast<Eigen::Index>(m.theta().size());
  const Eigen::Map<const Eigen::MatrixXd> H(sf.hessian().data(), k + 1, k + 1);
  const Eigen::MatrixXd Hp = H.topLeftCorner(k, k) - H.col(k).head(k) * H.row(k).head(k) / H(k, k);
  ASSERT_EQ(check.hessian_eigenvalues.size(), static_cast<std::size_t>(k));
  double sum = 0, product = 1;
  for (double ev : check.hessian_eigenvalues) sum += ev, product *= ev;
  EXPECT_NEAR(sum, Hp.trace(), 1e-6 * std::abs(Hp.trace()));
  ASSERT_EQ(k, 2);
  const double det = Hp(0, 0) * Hp(1, 1) - Hp(0, 1) * Hp(1, 0);
  EXPECT_NEAR(product, det, 1e-6 * std::abs(det));
  const std::vector<double> c(m.frame().p(), 1.0);
  EXPECT_NEAR(sat.test(c).df, sf.test(c).df, 1e-7 * sf.test(c).df);
}
