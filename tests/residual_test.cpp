// Correlated and heteroscedastic residuals (ModelFrameOptions::residual) against nlme's lme/gls fits
// in tests/data/residual (made by make_resid_refs.R with cases_resid_public.R, see the README there),
// the null of each structure against the plain fit, and the REML criterion of a crossed model with
// AR(1) residuals against a dense computation of log|V| from V = ZGZ' + σ²R; profile intervals of
// the structure's parameters by the deviance at their ends, the bootstrap's spread against Wald SEs.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/formula.h"
#include "lmm/inference.h"
#include "lmm/model.h"
#include "lmm/residual.h"

namespace {

using nlohmann::json;
using lmm::testing::CliRun;
using lmm::testing::run_cli;
const std::string kDir = std::string(LMM_TEST_DATA) + "/residual/";

json reference(const std::string& name) {
  std::ifstream in(kDir + name + ".json");
  return json::parse(in);
}

// The reference's lmm_args as library options: the formula, then --residual S, --residual-sd-by F, --ml.
lmm::FitOptions options_of(const json& args, std::string& formula) {
  lmm::FitOptions o;
  formula = args[0].get<std::string>();
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string a = args[i].get<std::string>();
    if (a == "--residual") lmm::parse_residual_structure(args[++i].get<std::string>(), o.frame.residual);
    if (a == "--residual-sd-by") o.frame.residual.sd_by = args[++i].get<std::string>();
    if (a == "--ml") o.method = lmm::Method::ML;
  }
  return o;
}

void near_rel(double ours, double ref, double tol, double floor, const std::string& what) {
  EXPECT_NEAR(ours, ref, std::max(tol * std::abs(ref), floor)) << what;
}

void check_random(const lmm::FitResult& r, const json& ref, const std::string& name) {
  for (const auto& rc : ref["random"]) {
    if (rc["group"] == "Residual") continue;
    bool found = false;
    for (const auto& vc : r.random) {
      if (vc.group != rc["group"].get<std::string>() || vc.term1 != rc["term1"].get<std::string>()) continue;
      if (rc.contains("term2") != vc.is_correlation()) continue;
      if (rc.contains("term2") && vc.term2 != rc["term2"].get<std::string>()) continue;
      found = true;
      if (vc.is_correlation())
        EXPECT_NEAR(vc.cor, rc["cor"].get<double>(), 1e-3) << name << " cor";
      else
        near_rel(vc.sd, rc["sd"].get<double>(), 1e-3, 1e-3 * r.sigma, name + " sd " + vc.term1);
    }
    EXPECT_TRUE(found) << name << ": " << rc.dump();
  }
}

void check_structure(const lmm::FitResult& r, const json& ref, const std::string& name) {
  const lmm::ResidualEstimates& e = r.residual_structure;
  const json& c = ref["correlation"];
  if (c.contains("phi")) EXPECT_NEAR(e.phi, c["phi"].get<double>(), 1e-3) << name << " phi";
  if (c.contains("rho")) EXPECT_NEAR(e.rho, c["rho"].get<double>(), 1e-3) << name << " rho";
  if (c.contains("cor")) {
    ASSERT_EQ(e.cor.size(), c["cor"].size()) << name;
    std::size_t k = 0;
    const auto nv = e.visit_levels.size();
    for (std::size_t a = 0; a < nv; ++a)
      for (std::size_t b = a + 1; b < nv; ++b, ++k) {
        bool found = false;
        for (const auto& p : c["cor"])
          if (p["visit1"] == e.visit_levels[a] && p["visit2"] == e.visit_levels[b]) {
            EXPECT_NEAR(e.cor[k], p["cor"].get<double>(), 1e-3) << name << " cor " << k;
            found = true;
          }
        EXPECT_TRUE(found) << name << " pair " << a << "," << b;
      }
  }
  for (const auto& [level, ratio] : ref["residual_sd_ratios"].items()) {
    const auto it = std::find(e.sd_levels.begin(), e.sd_levels.end(), level);
    ASSERT_NE(it, e.sd_levels.end()) << name << " level " << level;
    const auto l = static_cast<std::size_t>(it - e.sd_levels.begin());
    EXPECT_NEAR(e.sd_ratios[l], ratio.get<double>(), 1e-3) << name << " ratio " << level;
    near_rel(r.sigma * e.sd_ratios[l], ref["residual_sd"][level].get<double>(), 1e-3, 0, name + " sd " + level);
  }
}

// Fits one reference case and compares what compare_resid.py compares, with its tolerances; a
// log-likelihood higher by more than 1e-4 would count as at least as good (then the estimates
// are not compared).
void check_case(const std::string& name) {
  const json ref = reference(name);
  std::string formula;
  const lmm::FitOptions opt = options_of(ref["lmm_args"], formula);
  const lmm::DataFrame data = lmm::read_table(kDir + "data/" + ref["data"].get<std::string>());
  const lmm::Fitted f = lmm::fit(data, formula, opt);
  const lmm::FitResult& r = f.result;
  EXPECT_EQ(r.nobs, ref["nobs"].get<std::size_t>());
  const double ll = ref["loglik"].get<double>();
  EXPECT_GE(r.loglik, ll - 1e-4) << name;
  EXPECT_EQ(r.npar, ref["npar"].get<int>()) << name;
  EXPECT_NEAR(r.aic, ref["aic"].get<double>(), 2e-4) << name;
  if (r.loglik > ll + 1e-4) return;
  ASSERT_EQ(r.fixed.size(), ref["fixed"].size());
  for (std::size_t i = 0; i < r.fixed.size(); ++i) {
    const json& fe = ref["fixed"][i];
    EXPECT_EQ(r.fixed[i].term, fe["term"].get<std::string>());
    const double se = fe["std_error"].get<double>();
    near_rel(r.fixed[i].estimate, fe["estimate"].get<double>(), 1e-3, 1e-3 * se, name + " " + r.fixed[i].term);
    near_rel(r.fixed[i].std_error, se, 1e-3, 0, name + " SE " + r.fixed[i].term);
  }
  near_rel(r.sigma, ref["sigma"].get<double>(), 1e-3, 0, name + " sigma");
  check_random(r, ref, name);
  check_structure(r, ref, name);
}

TEST(ResidualReference, DiaryAr1WithGaps) { check_case("diary_ar1"); }
TEST(ResidualReference, OvaryAr1) { check_case("ovary_ar1"); }
TEST(ResidualReference, OrthodontVarIdent) { check_case("orthodont_varident"); }
TEST(ResidualReference, MmrmUnstructuredWithSdPerVisit) { check_case("mmrm_us"); }
TEST(ResidualReference, CompoundSymmetryGls) { check_case("cs_gls"); }
TEST(ResidualReference, SleepstudyAr1Ml) { check_case("sleepstudy_ar1_ml"); }

// The criterion at the reference's own estimates equals nlme's log-likelihood (the dense check of
// the README, through the model's objective rather than the optimizer): diary_ar1.
TEST(ResidualReference, DiaryAr1CriterionAtNlmeEstimates) {
  const json ref = reference("diary_ar1");
  std::string formula;
  lmm::FitOptions opt = options_of(ref["lmm_args"], formula);
  opt.frame.residual.fixed = true;
  opt.frame.residual.value = {ref["correlation"]["phi"].get<double>()};
  const lmm::DataFrame data = lmm::read_table(kDir + "data/diary.csv");
  lmm::LinearMixedModel m(lmm::build_model_frame(data, lmm::parse_formula(formula), opt.frame));
  const double s = ref["sigma"].get<double>();
  const double s0 = ref["random"][0]["sd"].get<double>() / s, s1 = ref["random"][1]["sd"].get<double>() / s;
  const double c = ref["random"][2]["cor"].get<double>();
  // λ = chol of [s0² c s0 s1; c s0 s1 s1²] (lme4's θ, column-wise lower triangle).
  const std::vector<double> theta = {s0, c * s1, s1 * std::sqrt(1 - c * c)};
  m.set_theta(theta);
  EXPECT_NEAR(m.loglik(), ref["loglik"].get<double>(), 1e-6);
  EXPECT_NEAR(m.sigma(), s, 1e-6 * s);
}

// --- the structures at their nulls are the plain model ---------------------------------------

lmm::DataFrame sleepstudy() { return lmm::read_table(kDir + "data/sleepstudy.csv"); }

void expect_null_equals_plain(const std::string& formula, lmm::ResidualOptions ro, bool ml) {
  const lmm::DataFrame data = sleepstudy();
  lmm::FitOptions plain;
  plain.method = ml ? lmm::Method::ML : lmm::Method::REML;
  lmm::FitOptions with = plain;
  ro.fixed = true;
  with.frame.residual = ro;
  const lmm::Fitted a = lmm::fit(data, formula, plain);
  lmm::LinearMixedModel b(lmm::build_model_frame(data, lmm::parse_formula(formula), with.frame), plain.method);
  ASSERT_EQ(b.ntheta(), a.model.theta().size());
  b.set_theta(a.model.theta());
  EXPECT_NEAR(b.objective(), a.model.objective(), 1e-10 * std::abs(a.model.objective())) << ro.structure;
  const auto ba = a.model.beta(), bb = b.beta();
  for (std::size_t i = 0; i < ba.size(); ++i) EXPECT_NEAR(bb[i], ba[i], 1e-10 * std::abs(ba[i])) << ro.structure;
  EXPECT_NEAR(b.sigma(), a.model.sigma(), 1e-10 * a.model.sigma());
  // And fitted over θ with the structure held at its null: the plain optimum.
  lmm::Fitted c = lmm::fit(data, formula, with);
  EXPECT_NEAR(c.result.loglik, a.result.loglik, 1e-8 * std::abs(a.result.loglik)) << ro.structure;
  EXPECT_EQ(c.result.npar, a.result.npar);
}

TEST(ResidualNull, Ar1AtPhiZero) {
  lmm::ResidualOptions ro;
  lmm::parse_residual_structure("ar1(Days | Subject)", ro);
  expect_null_equals_plain("Reaction ~ Days + (Days | Subject)", ro, false);
}

TEST(ResidualNull, CsAtRhoZero) {
  lmm::ResidualOptions ro;
  lmm::parse_residual_structure("cs(1 | Subject)", ro);
  expect_null_equals_plain("Reaction ~ Days + (0 + Days | Subject)", ro, true);
}

TEST(ResidualNull, SdRatiosOne) {
  lmm::ResidualOptions ro;
  ro.sd_by = "Days";
  expect_null_equals_plain("Reaction ~ Days + (Days | Subject)", ro, false);
}

// --- crossed random effects with AR(1) residuals: the criterion against dense V ----------------

struct Crossed {
  lmm::DataFrame data;
  std::vector<int> person, item;
  std::vector<double> day, x, y;
};

// 12 persons x 8 days, each day an item drawn from 5 (crossed with person), a few days missed.
Crossed crossed_data() {
  std::mt19937 gen(7);
  std::normal_distribution<double> N(0, 1);
  std::uniform_int_distribution<int> pick(0, 4);
  Crossed c;
  for (int p = 0; p < 12; ++p)
    for (int d = 0; d < 8; ++d) {
      if ((p * 7 + d * 3) % 11 == 0) continue;  // a missed day: gaps of 2
      c.person.push_back(p);
      c.item.push_back(pick(gen));
      c.day.push_back(d);
      c.x.push_back(N(gen));
      c.y.push_back(1 + 0.5 * c.x.back() + N(gen) + 0.3 * (p % 3));
    }
  auto num = [](const std::string& name, const std::vector<double>& v) {
    lmm::Column col;
    col.name = name;
    col.numbers = v;
    return col;
  };
  auto cat = [](const std::string& name, const std::vector<int>& v, const std::string& prefix) {
    lmm::Column col;
    col.name = name;
    col.type = lmm::Column::Type::Categorical;
    for (int i = 0; i < 12; ++i) col.levels.push_back(prefix + (i < 10 ? "0" : "") + std::to_string(i));
    for (int k : v) col.codes.push_back(k);
    return col;
  };
  c.data.columns = {num("y", c.y), num("x", c.x), num("day", c.day), cat("person", c.person, "p"), cat("item", c.item, "i")};
  c.data.nrows = c.y.size();
  return c;
}

// −2 REML log-likelihood from V = Z_p Z_p' s_p² + Z_i Z_i' s_i² + σ² R(φ), dense.
double dense_reml(const Crossed& c, double sp, double si, double sigma, double phi) {
  const auto n = static_cast<Eigen::Index>(c.y.size());
  Eigen::MatrixXd V = Eigen::MatrixXd::Zero(n, n), X(n, 2);
  Eigen::VectorXd y(n);
  for (Eigen::Index a = 0; a < n; ++a) {
    X(a, 0) = 1;
    X(a, 1) = c.x[a];
    y(a) = c.y[a];
    for (Eigen::Index b = 0; b < n; ++b) {
      if (c.person[a] == c.person[b]) V(a, b) += sp * sp + sigma * sigma * std::pow(phi, std::abs(c.day[a] - c.day[b]));
      if (c.item[a] == c.item[b]) V(a, b) += si * si;
    }
  }
  Eigen::LLT<Eigen::MatrixXd> llt(V);
  const Eigen::MatrixXd ViX = llt.solve(X);
  const Eigen::MatrixXd XViX = X.transpose() * ViX;
  const Eigen::VectorXd beta = XViX.ldlt().solve(ViX.transpose() * y);
  const Eigen::VectorXd r = y - X * beta;
  const double logdetV = 2 * Eigen::MatrixXd(llt.matrixL()).diagonal().array().log().sum();
  const double logdetX = std::log(XViX.determinant());
  return static_cast<double>(n - 2) * std::log(2 * std::numbers::pi) + logdetV + logdetX + r.dot(llt.solve(r));
}

TEST(ResidualCrossed, Ar1CriterionEqualsDenseV) {
  const Crossed c = crossed_data();
  lmm::ModelFrameOptions fo;
  lmm::parse_residual_structure("ar1(day | person)", fo.residual);
  lmm::LinearMixedModel m(lmm::build_model_frame(c.data, lmm::parse_formula("y ~ x + (1 | person) + (1 | item)"), fo));
  ASSERT_EQ(m.ntheta(), 3u);  // θ_person, θ_item (terms ordered by levels: person first), atanh φ
  for (const double phi : {0.0, 0.35, -0.4, 0.8}) {
    const double tp = 0.7, ti = 0.4;
    m.set_theta({tp, ti, std::atanh(phi)});
    ASSERT_EQ(m.frame().re[0].group, "person");
    // The profiled criterion at θ equals the dense criterion at (θσ̂, σ̂, φ), σ̂ the profiled σ.
    const double s = m.sigma();
    const double dense = dense_reml(c, tp * s, ti * s, s, phi);
    EXPECT_NEAR(m.objective(), dense, 1e-8 * std::abs(dense)) << "phi " << phi;
  }
}

// --- bad input ----------------------------------------------------------------------------------

std::string error_of(const lmm::DataFrame& d, const std::string& formula, const std::string& residual,
                     const std::string& sd_by = "") {
  lmm::FitOptions o;
  try {
    if (!residual.empty()) lmm::parse_residual_structure(residual, o.frame.residual);
    o.frame.residual.sd_by = sd_by;
    lmm::fit(d, formula, o);
  } catch (const lmm::Error& e) {
    return e.what();
  }
  return "";
}

// The analytic gradient of the objective in θ and the structure's parameters η (one term: the
// optimizer's L-BFGS path and the convergence check) against central differences of the objective,
// for each structure and an SD ratio per level, REML and ML, away from the optimum.
TEST(ResidualGradient, MatchesCentralDifferences) {
  struct Case {
    std::string data, formula, structure, sd_by;
    std::vector<double> theta;
  };
  const std::vector<Case> cases = {
      {"sleepstudy", "Reaction ~ Days + (Days | Subject)", "ar1(Days | Subject)", "", {0.8, 0.05, 0.2, 0.4}},
      {"sleepstudy", "Reaction ~ Days + (Days | Subject)", "ar1(Days | Subject)", "", {1.1, -0.1, 0.3, -0.7}},
      {"orthodont", "distance ~ age * Sex + (1 | Subject)", "car1(age | Subject)", "Sex", {1.3, -0.5, 0.3}},
      {"trial2", "y ~ trt + visit + (0 + visit_idx | id)", "cs(1 | id)", "visit", {0.4, 0.6, 0.2, -0.1, 0.3}},
      {"trial2", "y ~ trt * visit + (0 + visit_idx | id)", "us(visit | id)", "visit",
       {0.3, 0.5, 0.2, 0.1, -0.2, 0.4, 0.3, 0.1, -0.3, 0.2}},
      {"diary", "mood ~ stress + (stress | id)", "ar1(day | id)", "", {0.9, 0.1, 0.5, 0.6}}};
  for (const Case& c : cases) {
    const lmm::DataFrame data = lmm::read_table(kDir + "data/" + c.data + ".csv");
    lmm::ModelFrameOptions fo;
    lmm::parse_residual_structure(c.structure, fo.residual);
    fo.residual.sd_by = c.sd_by;
    for (auto method : {lmm::Method::REML, lmm::Method::ML}) {
      lmm::LinearMixedModel m(lmm::build_model_frame(data, lmm::parse_formula(c.formula), fo), method);
      ASSERT_TRUE(m.has_gradient()) << c.structure;
      ASSERT_EQ(m.ntheta(), c.theta.size()) << c.structure;
      m.set_theta(c.theta);
      const auto g = m.gradient();
      for (std::size_t k = 0; k < c.theta.size(); ++k) {
        const double h = 1e-5;
        auto a = c.theta, b = c.theta;
        a[k] += h;
        b[k] -= h;
        const double fd = (m.set_theta(a) - m.set_theta(b)) / (2 * h);
        EXPECT_NEAR(g[k], fd, 1e-5 * (1 + std::abs(fd))) << c.structure << " " << c.sd_by << " θ" << k;
      }
    }
  }
}

TEST(ResidualErrors, NamesColumnAndRow) {
  const lmm::DataFrame d = lmm::read_table(kDir + "data/sleepstudy.csv");
  const lmm::DataFrame o = lmm::read_table(kDir + "data/orthodont.csv");
  const std::string text_time = error_of(o, "distance ~ age", "ar1(Sex | Subject)");
  EXPECT_NE(text_time.find("'Sex'"), std::string::npos) << text_time;
  EXPECT_NE(text_time.find("not numeric"), std::string::npos) << text_time;
  EXPECT_NE(error_of(d, "Reaction ~ Days", "ar2(Days | Subject)").find("unknown"), std::string::npos);
  EXPECT_NE(error_of(d, "Reaction ~ Days", "ar1(Days Subject)").find("'|'"), std::string::npos);
  // A time repeated within a group: every Subject has each Days value once, Days within Subject is
  // fine, Days across all rows in one group is not.
  lmm::DataFrame one = d;
  lmm::Column g;
  g.name = "all";
  g.type = lmm::Column::Type::Categorical;
  g.levels = {"a"};
  g.codes.assign(d.nrows, 0);
  one.columns.push_back(g);
  const std::string rep = error_of(one, "Reaction ~ Days", "ar1(Days | all)");
  EXPECT_NE(rep.find("repeats 0"), std::string::npos) << rep;
  EXPECT_NE(rep.find("row 11"), std::string::npos) << rep;
  // Non-integer times for ar1 point to car1.
  lmm::DataFrame half = d;
  for (auto& col : half.columns)
    if (col.name == "Days") col.numbers[4] = 4.5;
  const std::string ni = error_of(half, "Reaction ~ Days", "ar1(Days | Subject)");
  EXPECT_NE(ni.find("row 5"), std::string::npos) << ni;
  EXPECT_NE(ni.find("car1"), std::string::npos) << ni;
  // cs beside a random intercept on the same groups is refused with the alternative.
  const std::string cs = error_of(d, "Reaction ~ Days + (1 | Subject)", "cs(1 | Subject)");
  EXPECT_NE(cs.find("drop (1 | Subject)"), std::string::npos) << cs;
}

TEST(ResidualErrors, UnstructuredNeedsEveryPairOfVisits) {
  // Two visits never seen together in a group: their correlation is not identified.
  lmm::DataFrame d;
  lmm::Column y, v, id;
  y.name = "y";
  v.name = "visit";
  v.type = lmm::Column::Type::Categorical;
  v.levels = {"V1", "V2", "V3"};
  id.name = "id";
  id.type = lmm::Column::Type::Categorical;
  for (int p = 0; p < 10; ++p) {
    id.levels.push_back("p" + std::to_string(p));
    for (int k : {0, p % 2 ? 1 : 2}) {
      y.numbers.push_back(p + k + 0.1 * (p * k % 3));
      v.codes.push_back(k);
      id.codes.push_back(p);
    }
  }
  d.columns = {y, v, id};
  d.nrows = y.numbers.size();
  const std::string e = error_of(d, "y ~ 1", "us(visit | id)");
  EXPECT_NE(e.find("'V2' and 'V3'"), std::string::npos) << e;
}

// --- Satterthwaite df with an unstructured residual covariance (MMRM), from the formula ------------
//
// Independent of the model's code: V_g = σ² D_g C_g D_g per patient over the visits present, the REML
// deviance with β profiled (lmerTest's devfun_vp) as a function of ψ = (σ, δ_2..δ_4, the 6
// correlations) in natural units, its Hessian H and the gradient g of c'Φc (Φ = (X'V⁻¹X)⁻¹) by
// central differences; df = 2 (c'Φc)² / (g' (2H⁻¹) g). The df are invariant under the change from
// the model's unconstrained parameters to these.
struct Mmrm {
  const lmm::ModelFrame& f;
  std::vector<std::vector<std::size_t>> rows;  // per patient
  int nv = 0;
  explicit Mmrm(const lmm::ModelFrame& frame) : f(frame) {
    rows.resize(f.residual.group_levels.size());
    for (std::size_t i = 0; i < f.n(); ++i) rows[static_cast<std::size_t>(f.residual.group[i])].push_back(i);
    nv = static_cast<int>(f.residual.visit_levels.size());
  }
  // REML deviance and Φ at ψ.
  double deviance(const Eigen::VectorXd& psi, Eigen::MatrixXd* Phi = nullptr) const {
    const auto p = static_cast<Eigen::Index>(f.p());
    const std::size_t n = f.n();
    Eigen::VectorXd sd(nv);
    sd(0) = psi(0);
    for (int v = 1; v < nv; ++v) sd(v) = psi(0) * psi(v);
    Eigen::MatrixXd C = Eigen::MatrixXd::Identity(nv, nv);
    for (int a = 0, k = nv; a < nv; ++a)
      for (int b = a + 1; b < nv; ++b, ++k) C(a, b) = C(b, a) = psi(k);
    Eigen::MatrixXd M = Eigen::MatrixXd::Zero(p, p);
    Eigen::VectorXd xy = Eigen::VectorXd::Zero(p);
    double yy = 0, logdet = 0;
    for (const auto& g : rows) {
      const auto m = static_cast<Eigen::Index>(g.size());
      Eigen::MatrixXd V(m, m), X(m, p);
      Eigen::VectorXd y(m);
      for (Eigen::Index a = 0; a < m; ++a) {
        const int va = f.residual.visit[g[a]];
        for (Eigen::Index b = 0; b < m; ++b) {
          const int vb = f.residual.visit[g[b]];
          V(a, b) = sd(va) * sd(vb) * C(va, vb);
        }
        for (Eigen::Index c = 0; c < p; ++c) X(a, c) = f.X[static_cast<std::size_t>(c) * n + g[a]];
        y(a) = f.y[g[a]];
      }
      Eigen::LLT<Eigen::MatrixXd> llt(V);
      logdet += 2 * Eigen::MatrixXd(llt.matrixL()).diagonal().array().log().sum();
      const Eigen::MatrixXd ViX = llt.solve(X);
      M += X.transpose() * ViX;
      xy += ViX.transpose() * y;
      yy += y.dot(llt.solve(y));
    }
    Eigen::LLT<Eigen::MatrixXd> lm(M);
    const Eigen::VectorXd beta = lm.solve(xy);
    if (Phi) *Phi = lm.solve(Eigen::MatrixXd::Identity(p, p));
    const double logdetM = 2 * Eigen::MatrixXd(lm.matrixL()).diagonal().array().log().sum();
    return static_cast<double>(static_cast<Eigen::Index>(n) - p) * std::log(2 * std::numbers::pi) + logdet + logdetM +
           yy - xy.dot(beta);
  }
};

TEST(ResidualSatterthwaite, MmrmDfEqualDenseFormula) {
  const json ref = reference("mmrm_us");
  std::string formula;
  const lmm::FitOptions opt = options_of(ref["lmm_args"], formula);
  const lmm::DataFrame data = lmm::read_table(kDir + "data/trial2.csv");
  const lmm::Fitted fit = lmm::fit(data, formula, opt);
  const lmm::FitResult& r = fit.result;
  const Mmrm mm(fit.model.frame());
  const lmm::ResidualEstimates& e = r.residual_structure;
  const int k = 1 + (mm.nv - 1) + static_cast<int>(e.cor.size());
  Eigen::VectorXd psi(k);
  psi(0) = r.sigma;
  for (int v = 1; v < mm.nv; ++v) psi(v) = e.sd_ratios[static_cast<std::size_t>(v)];
  for (std::size_t c = 0; c < e.cor.size(); ++c) psi(mm.nv + static_cast<Eigen::Index>(c)) = e.cor[c];
  EXPECT_NEAR(-mm.deviance(psi) / 2, r.loglik, 1e-8 * std::abs(r.loglik));
  // Central differences with steps relative to each parameter's scale.
  Eigen::VectorXd h(k);
  for (int i = 0; i < k; ++i) h(i) = 1e-4 * std::max(0.1, std::abs(psi(i)));
  Eigen::MatrixXd H(k, k);
  const double f0 = mm.deviance(psi);
  for (int i = 0; i < k; ++i)
    for (int j = i; j < k; ++j) {
      auto at = [&](double si, double sj) {
        Eigen::VectorXd x = psi;
        x(i) += si * h(i);
        x(j) += sj * h(j);
        return mm.deviance(x);
      };
      H(i, j) = H(j, i) = i == j ? (at(1, 0) - 2 * f0 + at(-1, 0)) / (h(i) * h(i))
                                 : (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h(i) * h(j));
    }
  const Eigen::MatrixXd A = 2 * H.inverse();
  const auto p = static_cast<Eigen::Index>(r.fixed.size());
  std::vector<Eigen::MatrixXd> dPhi(static_cast<std::size_t>(k));
  for (int i = 0; i < k; ++i) {
    Eigen::VectorXd up = psi, dn = psi;
    up(i) += h(i);
    dn(i) -= h(i);
    Eigen::MatrixXd Pu, Pd;
    mm.deviance(up, &Pu);
    mm.deviance(dn, &Pd);
    dPhi[static_cast<std::size_t>(i)] = (Pu - Pd) / (2 * h(i));
  }
  Eigen::MatrixXd Phi;
  mm.deviance(psi, &Phi);
  for (Eigen::Index c = 0; c < p; ++c) {
    Eigen::VectorXd g(k);
    for (int i = 0; i < k; ++i) g(i) = dPhi[static_cast<std::size_t>(i)](c, c);
    const double df = 2 * Phi(c, c) * Phi(c, c) / g.dot(A * g);
    EXPECT_NEAR(r.fixed[static_cast<std::size_t>(c)].df, df, 2e-3 * df) << r.fixed[static_cast<std::size_t>(c)].term;
    EXPECT_NEAR(r.fixed[static_cast<std::size_t>(c)].std_error, std::sqrt(Phi(c, c)), 1e-6 * std::sqrt(Phi(c, c)));
  }
}

// car1 on integer times is ar1 with φ > 0 (corr = φ^|t - t'| either way).
TEST(ResidualCar1, IntegerTimesEqualAr1) {
  const json ref = reference("diary_ar1");
  const lmm::DataFrame data = lmm::read_table(kDir + "data/diary.csv");
  lmm::FitOptions o;
  lmm::parse_residual_structure("car1(day | id)", o.frame.residual);
  const lmm::Fitted f = lmm::fit(data, "mood ~ stress + (stress | id)", o);
  EXPECT_NEAR(f.result.loglik, ref["loglik"].get<double>(), 1e-4);
  EXPECT_NEAR(f.result.residual_structure.phi, ref["correlation"]["phi"].get<double>(), 1e-3);
  EXPECT_EQ(f.result.residual_structure.structure, "car1");
}

// The CLI's JSON has the reference files' keys, and bad input is one line with exit code 2.
TEST(ResidualCli, JsonKeysAndErrors) {
  const json ref = reference("mmrm_us");
  std::vector<std::string> args = {"fit", kDir + "data/trial2.csv"};
  for (const auto& a : ref["lmm_args"]) args.push_back(a.get<std::string>());
  args.push_back("--json");
  const CliRun r = run_cli(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["correlation"]["structure"], "us");
  ASSERT_EQ(j["correlation"]["cor"].size(), 6u);
  EXPECT_EQ(j["correlation"]["cor"][0]["visit1"], "V1");
  EXPECT_EQ(j["correlation"]["cor"][0]["visit2"], "V2");
  EXPECT_NEAR(j["correlation"]["cor"][0]["cor"].get<double>(), ref["correlation"]["cor"][0]["cor"].get<double>(), 1e-3);
  EXPECT_NEAR(j["residual_sd"]["V4"].get<double>(), ref["residual_sd"]["V4"].get<double>(), 1e-3 * 6.5);
  EXPECT_EQ(j["residual_sd_ratios"]["V1"].get<double>(), 1.0);
  EXPECT_EQ(j["npar"].get<int>(), ref["npar"].get<int>());
  EXPECT_NEAR(j["loglik"].get<double>(), ref["loglik"].get<double>(), 1e-4);

  const CliRun text = run_cli({"fit", kDir + "data/sleepstudy.csv", "Reaction ~ Days + (1 | Subject)", "--residual",
                               "ar1(Days | Subject)"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("Correlation structure: AR(1)\n  Phi: 0.6"), std::string::npos) << text.out;

  const CliRun bad = run_cli({"fit", kDir + "data/sleepstudy.csv", "Reaction ~ Days", "--residual", "ma1(Days | Subject)"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--residual"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

// Wald intervals of φ, of SD ratios and of us's correlations (on the Fisher-z scale) against nlme's
// intervals(m, which = "var-cov")
// (intervals.json, made by make_interval_refs.R). nlme's Hessian is a finite-difference one (fdHess),
// good to about 1e-3.
TEST(ResidualIntervals, WaldMatchesNlme) {
  std::ifstream in(kDir + "intervals.json");
  const json ivs = json::parse(in);
  for (const auto& [name, want] : ivs.items()) {
    const json ref = reference(name);
    std::string formula;
    const lmm::FitOptions opt = options_of(ref["lmm_args"], formula);
    const lmm::DataFrame data = lmm::read_table(kDir + "data/" + ref["data"].get<std::string>());
    const lmm::Fitted f = lmm::fit(data, formula, opt);
    for (const auto& [param, v] : want.items()) {
      const std::string ours = param == "phi"                ? "phi"
                               : param.rfind("cor_", 0) == 0 ? "cor:" + param.substr(4)
                                                             : "sd_ratio:" + param.substr(6);
      bool found = false;
      for (const auto& iv : f.result.confint_residual)
        if (iv.parameter == ours) {
          found = true;
          EXPECT_NEAR(iv.estimate, v["estimate"].get<double>(), 1e-3) << name << " " << ours;
          EXPECT_NEAR(iv.lower, v["lower"].get<double>(), 3e-3 * (1 + std::abs(v["lower"].get<double>()))) << name;
          EXPECT_NEAR(iv.upper, v["upper"].get<double>(), 3e-3 * (1 + std::abs(v["upper"].get<double>()))) << name;
        }
      EXPECT_TRUE(found) << name << " " << ours;
    }
  }
}

}  // namespace

namespace {

// The ML deviance with the structure's parameters fixed at `value` (nlme's fixed = TRUE): the
// profile's deviance at that point, computed by the engine's own fit rather than the profile.
double ml_deviance_fixed(const lmm::DataFrame& d, const std::string& formula, lmm::ResidualOptions ro,
                         std::vector<double> value) {
  lmm::FitOptions o;
  o.method = lmm::Method::ML;
  o.ddf = lmm::DdfMethod::None;
  ro.fixed = true;
  ro.value = std::move(value);
  o.frame.residual = ro;
  return lmm::fit(d, formula, o).result.objective;
}

const lmm::Interval& find_interval(const std::vector<lmm::Interval>& ivs, const std::string& name) {
  for (const auto& iv : ivs)
    if (iv.parameter == name) return iv;
  throw std::runtime_error("no interval " + name);
}

}  // namespace

// Profile intervals with AR(1) residuals: at each end of φ's interval, and of the fixed effect
// Days's (by an offset), the ML deviance minimised over the other parameters is the ML optimum's
// plus qchisq(0.95, 1) = 1.959964².
TEST(ResidualProfile, Ar1EndsRaiseTheDevianceByTheChiSquareQuantile) {
  const lmm::DataFrame d = lmm::read_table(kDir + "data/sleepstudy.csv");
  const std::string formula = "Reaction ~ Days + (1 | Subject)";
  lmm::FitOptions o;
  o.ddf = lmm::DdfMethod::None;
  lmm::parse_residual_structure("ar1(Days | Subject)", o.frame.residual);
  const lmm::Fitted f = lmm::fit(d, formula, o);
  const auto ivs = lmm::profile_intervals(f.model, 0.95);
  o.method = lmm::Method::ML;
  const double base = lmm::fit(d, formula, o).result.objective;
  const double q = 1.959963984540054 * 1.959963984540054;
  const lmm::Interval& phi = find_interval(ivs, "phi");
  ASSERT_TRUE(phi.lower < phi.estimate && phi.estimate < phi.upper) << phi.lower << " " << phi.upper;
  for (double end : {phi.lower, phi.upper})
    EXPECT_NEAR(ml_deviance_fixed(d, formula, o.frame.residual, {end}) - base, q, 2e-3) << "phi = " << end;
  // Days at b: Reaction ~ 1 + offset(b Days), the structure estimated.
  const lmm::Interval& days = find_interval(ivs, "Days");
  for (double end : {days.lower, days.upper}) {
    lmm::DataFrame d2 = d;
    lmm::Column off = d.at("Days");
    off.name = "off";
    off.text_codes.clear();
    off.text_levels.clear();
    for (double& x : off.numbers) x *= end;
    d2.columns.push_back(off);
    EXPECT_NEAR(lmm::fit(d2, "Reaction ~ 1 + offset(off) + (1 | Subject)", o).result.objective - base, q, 2e-3)
        << "Days = " << end;
  }
  EXPECT_NO_THROW(find_interval(ivs, "sd_(Intercept)|Subject"));
  EXPECT_NO_THROW(find_interval(ivs, "sigma"));
}

// An SD ratio's profile interval (varIdent by Sex, no correlation structure).
TEST(ResidualProfile, SdRatioEndsRaiseTheDevianceByTheChiSquareQuantile) {
  const lmm::DataFrame d = lmm::read_table(kDir + "data/orthodont.csv");
  const std::string formula = "distance ~ age + (1 | Subject)";
  lmm::FitOptions o;
  o.ddf = lmm::DdfMethod::None;
  o.frame.residual.sd_by = "Sex";
  const lmm::Fitted f = lmm::fit(d, formula, o);
  const auto ivs = lmm::profile_intervals(f.model, 0.95);
  o.method = lmm::Method::ML;
  const double base = lmm::fit(d, formula, o).result.objective;
  const lmm::Interval& r = find_interval(ivs, "sd_ratio:Male");
  ASSERT_TRUE(r.lower < r.estimate && r.estimate < r.upper) << r.lower << " " << r.upper;
  for (double end : {r.lower, r.upper})
    EXPECT_NEAR(ml_deviance_fixed(d, formula, o.frame.residual, {end}) - base, 3.841458820694124, 2e-3) << end;
}

// Parametric bootstrap with AR(1) residuals: the replicates' SDs of φ and of the fixed effects are
// close to the Wald SEs (φ's by the delta method from its interval on the atanh scale) in a
// well-identified case; 120 replicates estimate an SD to about ±7%.
TEST(ResidualBootstrap, SpreadMatchesWaldStandardErrors) {
  const lmm::DataFrame d = lmm::read_table(kDir + "data/ovary.csv");
  lmm::FitOptions o;
  o.ddf = lmm::DdfMethod::None;
  lmm::parse_residual_structure("ar1(t | Mare)", o.frame.residual);
  const lmm::Fitted f = lmm::fit(d, "follicles ~ s1 + c1 + (1 | Mare)", o);
  lmm::BootstrapOptions bo;
  bo.replicates = 120;
  bo.seed = 7;
  bo.threads = 2;
  const lmm::BootstrapResult b = lmm::bootstrap(f.model, bo);
  const std::size_t ns = b.names.size();
  auto sd_of = [&](const std::string& name) {
    const std::size_t k = static_cast<std::size_t>(std::find(b.names.begin(), b.names.end(), name) - b.names.begin());
    EXPECT_LT(k, ns) << name;
    double s = 0, ss = 0;
    for (int i = 0; i < b.replicates; ++i) s += b.samples[static_cast<std::size_t>(i) * ns + k];
    const double mean = s / b.replicates;
    for (int i = 0; i < b.replicates; ++i) ss += std::pow(b.samples[static_cast<std::size_t>(i) * ns + k] - mean, 2);
    return std::sqrt(ss / (b.replicates - 1));
  };
  EXPECT_EQ(b.failed, 0);
  const lmm::Interval& w = find_interval(f.result.confint_residual, "phi");
  const double phi = f.result.residual_structure.phi;
  const double se_phi = (1 - phi * phi) * (std::atanh(w.upper) - std::atanh(w.lower)) / (2 * 1.959963984540054);
  EXPECT_NEAR(sd_of("phi") / se_phi, 1.0, 0.25) << sd_of("phi") << " vs " << se_phi;
  for (const auto& fe : f.result.fixed) EXPECT_NEAR(sd_of(fe.term) / fe.std_error, 1.0, 0.25) << fe.term;
}
