// The values behind the report's plots: trajectories, random effects with conditional intervals,
// normal QQ points, residuals, the marginal variance over time, and notes explaining warnings.
#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <numeric>
#include <set>

#include "lmm/report_data.h"
#include "lmm/rng.h"

namespace lmm::report {

namespace {

// R's quantile type 7 on sorted values.
double quantile7(const std::vector<double>& sorted, double prob) {
  const double h = (static_cast<double>(sorted.size()) - 1) * prob;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// Evenly spaced indices into [0, n), both ends kept, at most m of them.
std::vector<std::size_t> thin(std::size_t n, std::size_t m) {
  std::vector<std::size_t> idx;
  if (n <= m || m < 2) {
    idx.resize(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    return idx;
  }
  for (std::size_t k = 0; k < m; ++k)
    idx.push_back(static_cast<std::size_t>(std::llround(static_cast<double>(k) * static_cast<double>(n - 1) /
                                                        static_cast<double>(m - 1))));
  return idx;
}

std::string cell_text(const Column& c, std::size_t row) {
  if (c.missing(row)) return "NA";
  if (!c.is_numeric()) return c.levels[static_cast<std::size_t>(c.codes[row])];
  return fmt::format("{}", c.numbers[row]);
}

// Categorical variables of the fixed part (and factor() calls), whose level combinations give one
// population curve each.
std::vector<const Column*> stratum_columns(const ModelFrame& f, const DataFrame& data, const std::string& x_name) {
  std::vector<const Column*> cols;
  std::set<std::string> seen;
  std::set<std::string> grouping;
  for (const auto& r : f.formula.random)
    for (const auto& g : r.grouping) grouping.insert(g);
  for (const auto& term : f.formula.fixed)
    for (const auto& factor : term.factors)
      for (const auto& v : factor.variables()) {
        if (v == x_name || grouping.count(v) || !seen.insert(v).second) continue;
        const Column* c = data.find(v);
        if (c && (!c->is_numeric() || factor.is_factor_call())) cols.push_back(c);
      }
  return cols;
}

}  // namespace

QQ normal_qq(std::vector<double> values, std::size_t max_points) {
  QQ qq;
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }), values.end());
  const std::size_t n = values.size();
  if (n == 0) return qq;
  std::sort(values.begin(), values.end());
  // ppoints(n): (i - a) / (n + 1 - 2a), a = 3/8 for n <= 10, else 1/2.
  const double a = n <= 10 ? 3.0 / 8.0 : 0.5;
  const boost::math::normal norm;
  for (std::size_t k : thin(n, max_points)) {
    const double prob = (static_cast<double>(k + 1) - a) / (static_cast<double>(n) + 1 - 2 * a);
    qq.theoretical.push_back(boost::math::quantile(norm, prob));
    qq.sample.push_back(values[k]);
  }
  // qqline(): through the first and third quartiles.
  const double x1 = boost::math::quantile(norm, 0.25), x2 = boost::math::quantile(norm, 0.75);
  const double y1 = quantile7(values, 0.25), y2 = quantile7(values, 0.75);
  qq.line_slope = (y2 - y1) / (x2 - x1);
  qq.line_intercept = y1 - qq.line_slope * x1;
  qq.line_x[0] = qq.theoretical.front();
  qq.line_x[1] = qq.theoretical.back();
  for (int e = 0; e < 2; ++e) qq.line_y[e] = qq.line_intercept + qq.line_slope * qq.line_x[e];
  return qq;
}

std::vector<Note> explain_warnings(const FitResult& r) {
  std::vector<Note> notes;
  for (std::size_t k = 0; k < r.singular_reasons.size(); ++k)
    notes.push_back({"singular", "Singular fit: " + r.singular_reasons[k],
                     k < r.singular_advice.size()
                         ? r.singular_advice[k]
                         : "The data do not support this part of the random-effects structure: its estimate lies on "
                           "the boundary (a variance of 0 or a correlation of ±1). Simplify the random part: drop "
                           "that term, or write (x || g) to drop the correlation."});
  const auto& c = r.convergence;
  const bool check_failed = c.status != "ok" && c.status != "singular" && c.status != "not_checked";
  if (check_failed) {
    std::string explanation;
    for (const auto& m : c.messages) explanation += (explanation.empty() ? "" : " ") + m;
    notes.push_back({"convergence", "Convergence check: " + c.status +
                                        (c.parameter_at_fault.empty() ? "" : " (at " + c.parameter_at_fault + ")"),
                     explanation.empty() ? "The estimates may not be at the optimum. Rescale predictors (center "
                                           "time) or simplify the random-effects structure, then refit."
                                         : explanation});
  } else if (!r.optimizer.converged) {
    notes.push_back({"convergence", "The optimizer stopped without converging (" + r.optimizer.stop_reason + ")",
                     "The estimates may not be at the optimum. Rescale predictors (center time, put variables on "
                     "similar scales) or simplify the random-effects structure, then refit."});
  }
  for (const auto& m : r.messages) {
    if (m.find("did not converge") != std::string::npos) continue;
    if (m.find("missingness") != std::string::npos)
      notes.push_back({"missing", m,
                       "Rows with a missing value in a variable of the model are left out, as lme4 does. A mixed "
                       "model keeps every person's other rows, so estimates stay valid if values are missing at "
                       "random given the model's variables."});
    else if (m.find("rank deficient") != std::string::npos)
      notes.push_back({"aliased", m,
                       "These fixed-effect columns are linear combinations of earlier ones, so their effects cannot "
                       "be told apart from the data; they are dropped, as lme4 does. Check the design for redundant "
                       "or empty factor combinations."});
    else
      notes.push_back({"message", m, ""});
  }
  if (!r.variance_partition.note.empty())
    notes.push_back({"partition", "ICC and R²: " + r.variance_partition.note, ""});
  return notes;
}

PlotData plot_data(const LinearMixedModel& model, const FitResult& result, const DataFrame& data,
                   const PlotOptions& options) {
  const ModelFrame& f = model.frame();
  const std::size_t n = f.n(), p = f.p();
  PlotData pd;
  pd.notes = explain_warnings(result);

  const auto beta = model.beta();
  const auto fitted = model.fitted();
  std::vector<double> population(n, 0.0);
  for (std::size_t c = 0; c < p; ++c)
    for (std::size_t i = 0; i < n; ++i) population[i] += f.X[c * n + i] * beta[c];
  std::vector<double> residual(n);
  for (std::size_t i = 0; i < n; ++i) residual[i] = f.y[i] - fitted[i];

  // ---- x: the first random slope's variable, else the first numeric fixed-effect column ----
  const ReTermData& t0 = f.re.front();
  Trajectories& tr = pd.trajectories;
  tr.group = t0.group;
  tr.y_name = f.response;
  std::vector<double> x(n, NaN);
  for (int a = 0; a < t0.q() && tr.x_name.empty(); ++a)
    if (t0.names[a] != "(Intercept)") {
      tr.x_name = t0.names[a];
      for (std::size_t i = 0; i < n; ++i) x[i] = t0.z[i * static_cast<std::size_t>(t0.q()) + a];
    }
  for (std::size_t c = 0; c < p && tr.x_name.empty(); ++c) {
    const Column* col = data.find(f.fixed_names[c]);
    if (!col || !col->is_numeric()) continue;
    tr.x_name = f.fixed_names[c];
    for (std::size_t i = 0; i < n; ++i) x[i] = f.X[c * n + i];
  }
  const bool x_is_order = tr.x_name.empty();
  if (x_is_order) {
    tr.x_name = "observation";
    std::vector<double> count(t0.nlevels(), 0.0);
    for (std::size_t i = 0; i < n; ++i) x[i] = ++count[static_cast<std::size_t>(t0.refs[i])];
  }

  // ---- strata: level combinations of the categorical fixed-effect variables ----
  const auto strat_cols = stratum_columns(f, data, tr.x_name);
  std::vector<std::string> stratum(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string s;
    for (const Column* c : strat_cols) s += (s.empty() ? "" : ", ") + cell_text(*c, f.rows[i]);
    stratum[i] = s;
  }

  // ---- persons in a seeded random order, so the first k shown are a random sample ----
  const std::size_t L = t0.nlevels();
  std::vector<std::size_t> order(L);
  std::iota(order.begin(), order.end(), std::size_t{0});
  Rng rng(options.seed);
  for (std::size_t i = L; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<std::size_t> rank(L);
  for (std::size_t k = 0; k < L; ++k) rank[order[k]] = k;
  std::vector<std::size_t> nobs(L, 0);
  for (std::size_t i = 0; i < n; ++i) ++nobs[static_cast<std::size_t>(t0.refs[i])];
  for (std::size_t k = 0; k < L; ++k) {
    tr.persons.push_back(t0.levels[order[k]]);
    tr.person_nobs.push_back(nobs[order[k]]);
  }
  if (L > options.max_persons)
    pd.notes.push_back({"plot", fmt::format("Trajectories: {} of {} levels of {} are kept in the page", options.max_persons,
                                            L, t0.group),
                        "A random sample of the levels, so the page stays small; the fit uses them all."});
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < n; ++i)
    if (rank[static_cast<std::size_t>(t0.refs[i])] < options.max_persons) kept.push_back(i);
  std::stable_sort(kept.begin(), kept.end(), [&](std::size_t a, std::size_t b) {
    const std::size_t ra = rank[static_cast<std::size_t>(t0.refs[a])], rb = rank[static_cast<std::size_t>(t0.refs[b])];
    return ra != rb ? ra < rb : x[a] < x[b];
  });
  for (std::size_t i : kept) {
    tr.person.push_back(static_cast<std::int32_t>(rank[static_cast<std::size_t>(t0.refs[i])]));
    tr.x.push_back(x[i]);
    tr.y.push_back(f.y[i]);
    tr.fitted.push_back(fitted[i]);
    tr.population.push_back(population[i]);
    tr.stratum.push_back(stratum[i]);
  }
  // Population curves: the mean of Xβ at each distinct x within a stratum (exactly Xβ when the other
  // covariates are the stratum's factors).
  std::map<std::string, std::map<double, std::pair<double, std::size_t>>> curves;
  for (std::size_t i = 0; i < n; ++i) {
    auto& cell = curves[stratum[i]][x[i]];
    cell.first += population[i];
    ++cell.second;
  }
  for (const auto& [s, pts] : curves) {
    Trajectories::Curve c;
    c.stratum = s;
    for (const auto& [xv, sum] : pts) {
      c.x.push_back(xv);
      c.y.push_back(sum.first / static_cast<double>(sum.second));
    }
    tr.population_curves.push_back(std::move(c));
  }

  // ---- shrinkage, with each level's stratum ----
  pd.shrinkage.table = lmm::shrinkage(model);
  ShrinkageTable& sh = pd.shrinkage.table;
  if (sh.available() && sh.rows.size() == L) {
    std::vector<std::string> level_stratum(L);
    for (std::size_t i = 0; i < n; ++i) level_stratum[static_cast<std::size_t>(t0.refs[i])] = stratum[i];
    // The same random sample of levels as the trajectories.
    std::vector<ShrinkageRow> sample;
    for (std::size_t l = 0; l < L; ++l)
      if (rank[l] < options.max_persons) {
        sample.push_back(std::move(sh.rows[l]));
        pd.shrinkage.strata.push_back(level_stratum[l]);
      }
    sh.rows = std::move(sample);
    if (!sh.too_few.empty())
      pd.notes.push_back({"plot",
                          fmt::format("Shrinkage: {} of {} levels have too few observations for their own fit",
                                      sh.too_few.size(), L),
                          "A level needs at least as many observations as random-effect columns (with distinct "
                          "values) for its own least-squares line; the model still estimates its effects by "
                          "borrowing strength from the others."});
  }

  // ---- random effects with 95% conditional intervals ----
  const auto re = model.ranef();
  const auto cv = model.ranef_condvar();
  const double z975 = boost::math::quantile(boost::math::normal(), 0.975);
  std::map<std::string, int> seen;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const auto& t = f.re[j];
    const auto q = static_cast<std::size_t>(t.q());
    int& count = seen[t.group];
    const std::string group = count == 0 ? t.group : t.group + "." + std::to_string(count);
    ++count;
    for (std::size_t a = 0; a < q; ++a) {
      RandomEffect e;
      e.group = group;
      e.term = t.names[a];
      // Beyond max_persons levels, evenly spaced ranks of the sorted values stand for the rest
      // (both extremes kept); the QQ plot below uses every level.
      std::vector<double> all(t.nlevels());
      for (std::size_t l = 0; l < t.nlevels(); ++l) all[l] = re[j][l * q + a];
      std::vector<std::size_t> by_value(t.nlevels());
      std::iota(by_value.begin(), by_value.end(), std::size_t{0});
      std::stable_sort(by_value.begin(), by_value.end(), [&](std::size_t x, std::size_t y) { return all[x] < all[y]; });
      std::vector<std::size_t> shown;
      for (std::size_t k : thin(t.nlevels(), options.max_persons)) shown.push_back(by_value[k]);
      if (shown.size() == t.nlevels()) std::sort(shown.begin(), shown.end());  // all levels: in level order
      for (std::size_t l : shown) {
        e.levels.push_back(t.levels[l]);
        const double b = re[j][l * q + a];
        const double sd = std::sqrt(cv[j][l * q * q + a * q + a]);
        e.value.push_back(b);
        e.condsd.push_back(sd);
        e.lower.push_back(b - z975 * sd);
        e.upper.push_back(b + z975 * sd);
      }
      e.qq = normal_qq(all, options.max_points);
      if (shown.size() < t.nlevels())
        pd.notes.push_back({"plot", fmt::format("Caterpillar plot of {} | {}: {} of {} levels are drawn", e.term, group,
                                                shown.size(), t.nlevels()),
                            "Evenly spaced ranks, both extremes included, so the page stays small; the QQ plot "
                            "uses every level."});
      pd.random_effects.push_back(std::move(e));
    }
  }

  // ---- residual diagnostics ----
  const auto idx = thin(n, options.max_points);
  for (std::size_t i : idx) {
    pd.diag_fitted.push_back(fitted[i]);
    pd.diag_residual.push_back(residual[i]);
  }
  if (idx.size() < n)
    pd.notes.push_back({"plot", fmt::format("Residuals vs fitted: {} of {} rows are drawn", idx.size(), n),
                        "Evenly spaced rows, so the page stays small. The QQ plots draw evenly spaced order "
                        "statistics of all residuals (both extremes included), and their lines use every value."});
  pd.residual_qq = normal_qq(residual, options.max_points);

  // ---- marginal variance over x: Var(y_t) = Σ_terms z(t)'Σz(t) + σ² ----
  VarianceCurve& vc = pd.variance_curve;
  vc.x_name = tr.x_name;
  bool any_slope = false;
  for (const auto& t : f.re)
    for (const auto& name : t.names) {
      if (name == "(Intercept)") continue;
      if (name == tr.x_name && !x_is_order) {
        any_slope = true;
      } else if (vc.reason.empty()) {
        vc.reason = fmt::format("the random effects include '{}', which is not a function of {} alone", name, tr.x_name);
      }
    }
  if (x_is_order && vc.reason.empty()) vc.reason = "the model has no covariate to draw it over";
  if (!any_slope && vc.reason.empty())
    vc.reason = "the model has random intercepts only, so the variance is the same at every " + tr.x_name;
  double xmin = INFINITY, xmax = -INFINITY;
  for (double v : x) {
    xmin = std::min(xmin, v);
    xmax = std::max(xmax, v);
  }
  if (vc.reason.empty() && !(xmax > xmin)) vc.reason = tr.x_name + " takes a single value";
  if (vc.reason.empty()) {
    vc.available = true;
    const double s2 = model.sigma() * model.sigma();
    const auto lambdas = model.lambda();
    constexpr int kGrid = 41;
    for (int g = 0; g < kGrid; ++g) {
      const double tv = xmin + (xmax - xmin) * g / (kGrid - 1);
      double between = 0;
      for (std::size_t j = 0; j < f.re.size(); ++j) {
        const int q = f.re[j].q();
        std::vector<double> z(static_cast<std::size_t>(q));
        for (int a = 0; a < q; ++a) z[static_cast<std::size_t>(a)] = f.re[j].names[a] == "(Intercept)" ? 1.0 : tv;
        // z'Σz = σ²|λ'z|²
        const double* lam = lambdas[j].data();
        for (int k = 0; k < q; ++k) {
          double s = 0;
          for (int a = k; a < q; ++a) s += lam[k * q + a] * z[static_cast<std::size_t>(a)];
          between += s2 * s * s;
        }
      }
      vc.t.push_back(tv);
      vc.between.push_back(between);
      vc.total.push_back(between + s2);
      vc.icc.push_back(between / (between + s2));
    }
  }
  return pd;
}

}  // namespace lmm::report
