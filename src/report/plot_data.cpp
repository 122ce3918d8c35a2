// The values behind the report's plots: trajectories, random effects with conditional intervals,
// normal QQ points, residuals, the marginal variance over time, and notes explaining warnings.
#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <numeric>
#include <regex>
#include <set>

#include "fit/components.h"
#include "lmm/model_frame.h"
#include "lmm/report_data.h"
#include "lmm/rng.h"
#include "report/plot_detail.h"
#include "util/stats.h"

namespace lmm::report {

std::vector<std::size_t> detail::thin(std::size_t n, std::size_t m) {
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

namespace {

using detail::thin;

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
  const double y1 = lmm::detail::quantile7(values, 0.25), y2 = lmm::detail::quantile7(values, 0.75);
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

std::vector<double> detail::frame_values(const ModelFrame& f, const DataFrame& data, const std::string& name) {
  const Column* c = data.find(name);
  if (!c || !c->is_numeric()) return {};
  std::vector<double> v(f.n());
  for (std::size_t i = 0; i < f.n(); ++i) v[i] = c->numbers[f.rows[i]];
  return v;
}

std::vector<std::size_t> detail::seeded_ranks(std::size_t L, std::uint64_t seed) {
  std::vector<std::size_t> order(L);
  std::iota(order.begin(), order.end(), std::size_t{0});
  Rng rng(seed);
  for (std::size_t i = L; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<std::size_t> rank(L);
  for (std::size_t k = 0; k < L; ++k) rank[order[k]] = k;
  return rank;
}

std::vector<std::string> detail::row_strata(const ModelFrame& f, const DataFrame& data, const std::string& x_name) {
  const auto strat_cols = stratum_columns(f, data, x_name);
  std::vector<std::string> stratum(f.n());
  for (std::size_t i = 0; i < f.n(); ++i)
    for (const Column* c : strat_cols) stratum[i] += (stratum[i].empty() ? "" : ", ") + cell_text(*c, f.rows[i]);
  return stratum;
}

RandomEffect detail::caterpillar(const std::string& group, const std::string& term,
                                 const std::vector<std::string>& levels, const std::vector<double>& all,
                                 const std::vector<double>& condsd, const PlotOptions& options,
                                 std::vector<Note>& notes) {
  const double z975 = boost::math::quantile(boost::math::normal(), 0.975);
  RandomEffect e;
  e.group = group;
  e.term = term;
  // Beyond max_persons levels, evenly spaced ranks of the sorted values stand for the rest
  // (both extremes kept); the QQ plot below uses every level.
  const std::size_t L = levels.size();
  std::vector<std::size_t> by_value(L);
  std::iota(by_value.begin(), by_value.end(), std::size_t{0});
  std::stable_sort(by_value.begin(), by_value.end(), [&](std::size_t x, std::size_t y) { return all[x] < all[y]; });
  std::vector<std::size_t> shown;
  for (std::size_t k : thin(L, options.max_persons)) shown.push_back(by_value[k]);
  if (shown.size() == L) std::sort(shown.begin(), shown.end());  // all levels: in level order
  for (std::size_t l : shown) {
    e.levels.push_back(levels[l]);
    e.value.push_back(all[l]);
    e.condsd.push_back(condsd[l]);
    e.lower.push_back(all[l] - z975 * condsd[l]);
    e.upper.push_back(all[l] + z975 * condsd[l]);
  }
  e.qq = normal_qq(all, options.max_points);
  if (shown.size() < L)
    notes.push_back({"plot", fmt::format("Caterpillar plot of {} | {}: {} of {} levels are drawn", term, group,
                                         shown.size(), L),
                     "Evenly spaced ranks, both extremes included, so the page stays small; the QQ plot "
                     "uses every level."});
  return e;
}

namespace {

using detail::frame_values;

// How a covariate spreads within the levels of a grouping factor.
struct Within {
  std::size_t levels_varying = 0, levels_multi = 0;  // levels where it varies / with 2+ rows
  std::size_t distinct = 0;                          // distinct values overall
  std::size_t repeats = 0;                           // rows repeating their level's value
};

Within within(const std::vector<double>& x, const ReTermData& t) {
  Within w;
  std::vector<std::set<double>> per(t.nlevels());
  std::vector<std::size_t> rows(t.nlevels(), 0);
  std::set<double> all;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto l = static_cast<std::size_t>(t.refs[i]);
    ++rows[l];
    if (!per[l].insert(x[i]).second) ++w.repeats;
    all.insert(x[i]);
  }
  for (std::size_t l = 0; l < per.size(); ++l) {
    if (rows[l] >= 2) ++w.levels_multi;
    if (per[l].size() >= 2) ++w.levels_varying;
  }
  w.distinct = all.size();
  return w;
}

bool time_word(const std::string& name) {
  static const std::regex words(
      "(^|[^a-z])(t|time|times|timepoint|day|days|week|weeks|month|months|year|years|wave|waves|visit|visits|"
      "occasion|occasions|session|sessions|hour|hours|period|trial|trials|age)([^a-z0-9]|$)",
      std::regex::icase);
  return std::regex_search(name, words);
}

// The report's candidates for the x axis, in order: the first term's random slopes, then the
// numeric fixed-effect variables (data columns only).
std::vector<std::string> x_candidates(const ModelFrame& f, const DataFrame& data) {
  std::vector<std::string> names;
  auto add = [&](const std::string& n) {
    const Column* c = data.find(n);
    if (c && c->is_numeric() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  for (const auto& n : f.re.front().names) add(n);
  for (const auto& n : f.fixed_names) add(n);
  return names;
}

}  // namespace

Design decide_design(const ModelFrame& f, const DataFrame& data) {
  Design d;
  const ReTermData& t0 = f.re.front();
  d.group = t0.group;
  const auto names = x_candidates(f, data);
  for (const auto& name : names) {
    const Within w = within(frame_values(f, data, name), t0);
    if (w.levels_multi == 0 || 2 * w.levels_varying < w.levels_multi) continue;
    d.x_name = name;
    const bool schedule = w.distinct <= 30 && 20 * w.repeats <= f.n();
    if (time_word(name) || schedule) {
      d.kind = "longitudinal";
      d.reason = fmt::format("'{}' varies within levels of {} and is time-like ({})", name, t0.group,
                             schedule ? fmt::format("{} distinct values, at most one row per level and value in "
                                                    "nearly every case",
                                                    w.distinct)
                                      : "its name says so");
    } else {
      d.kind = "nested_cross_sectional";
      d.reason = fmt::format("'{}' varies within levels of {} but is not time-like ({} distinct values{}): units "
                             "observed once each within groups",
                             name, t0.group, w.distinct,
                             w.repeats ? fmt::format(", {} rows repeat their group's value", w.repeats) : "");
    }
    return d;
  }
  d.kind = "factorial";
  d.reason = names.empty() ? "the model has no numeric covariate, so the levels' means are drawn"
                           : fmt::format("no numeric covariate varies within levels of {} ({} {} constant within "
                                         "them), so the levels' means are drawn",
                                         t0.group, fmt::join(names, ", "), names.size() == 1 ? "is" : "are");
  return d;
}

namespace {

using detail::Rows;

std::vector<double> population_of(const ModelFrame& f, const std::vector<double>& beta) {
  std::vector<double> pop(f.n(), 0.0);
  for (std::size_t c = 0; c < f.p(); ++c)
    for (std::size_t i = 0; i < f.n(); ++i) pop[i] += f.X[c * f.n() + i] * beta[c];
  return pop;
}

using detail::seeded_ranks;

Rows shared_rows(const LinearMixedModel& model, const ModelFrame& f, const DataFrame& data, const Design& design,
                 const PlotOptions& options) {
  Rows r;
  r.population = population_of(f, model.beta());
  r.fitted = model.fitted();
  r.x = design.x_name.empty() ? std::vector<double>(f.n(), NaN) : frame_values(f, data, design.x_name);
  r.stratum = detail::row_strata(f, data, design.x_name);
  r.rank = seeded_ranks(f.re.front().nlevels(), options.seed);
  return r;
}

// The persons in display order and the rows of the kept ones, ordered by person then x.
}  // namespace

void detail::fill_trajectories(const ModelFrame& f, const std::vector<double>& y, const Rows& r,
                               const PlotOptions& options, Trajectories& tr, std::vector<Note>& notes) {
  const ReTermData& t0 = f.re.front();
  const std::size_t L = t0.nlevels(), n = f.n();
  std::vector<std::size_t> nobs(L, 0), order(L);
  for (std::size_t i = 0; i < n; ++i) ++nobs[static_cast<std::size_t>(t0.refs[i])];
  for (std::size_t l = 0; l < L; ++l) order[r.rank[l]] = l;
  for (std::size_t k = 0; k < L; ++k) {
    tr.persons.push_back(t0.levels[order[k]]);
    tr.person_nobs.push_back(nobs[order[k]]);
  }
  if (L > options.max_persons)
    notes.push_back({"plot", fmt::format("Trajectories: {} of {} levels of {} are kept in the page", options.max_persons,
                                         L, t0.group),
                     "A random sample of the levels, so the page stays small; the fit uses them all."});
  std::vector<std::size_t> kept;
  auto rank_of = [&](std::size_t i) { return r.rank[static_cast<std::size_t>(t0.refs[i])]; };
  for (std::size_t i = 0; i < n; ++i)
    if (rank_of(i) < options.max_persons) kept.push_back(i);
  std::stable_sort(kept.begin(), kept.end(), [&](std::size_t a, std::size_t b) {
    return rank_of(a) != rank_of(b) ? rank_of(a) < rank_of(b) : r.x[a] < r.x[b];
  });
  for (std::size_t i : kept) {
    tr.person.push_back(static_cast<std::int32_t>(rank_of(i)));
    tr.x.push_back(r.x[i]);
    tr.y.push_back(y[i]);
    tr.fitted.push_back(r.fitted[i]);
    tr.population.push_back(r.population[i]);
    tr.stratum.push_back(r.stratum[i]);
  }
}

// Longitudinal population curves: the mean of Xβ at each distinct x within a stratum (exactly Xβ
// when the other covariates are the stratum's factors).
void detail::longitudinal_curves(const Rows& r, Trajectories& tr) {
  std::map<std::string, std::map<double, std::pair<double, std::size_t>>> curves;
  for (std::size_t i = 0; i < r.x.size(); ++i) {
    auto& cell = curves[r.stratum[i]][r.x[i]];
    cell.first += r.population[i];
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
}

namespace {

using detail::fill_trajectories;
using detail::longitudinal_curves;

// Xβ and Xβ + Zb at every frame row with the data variable `x_name` set to xv[i] on row i.
struct AtX {
  DataFrame rows;     // the frame's data rows, in frame order
  std::size_t x = 0;  // the column of the covariate in `rows`
};

AtX frame_rows(const ModelFrame& f, const DataFrame& data, const std::string& x_name) {
  AtX a;
  a.rows.nrows = f.n();
  a.rows.source = data.source;
  for (const Column& c : data.columns) {
    Column s;
    s.name = c.name;
    s.type = c.type;
    s.levels = c.levels;
    for (std::size_t i = 0; i < f.n(); ++i)
      if (c.is_numeric())
        s.numbers.push_back(c.numbers[f.rows[i]]);
      else
        s.codes.push_back(c.codes[f.rows[i]]);
    a.rows.columns.push_back(std::move(s));
  }
  for (std::size_t c = 0; c < a.rows.columns.size(); ++c)
    if (a.rows.columns[c].name == x_name) a.x = c;
  return a;
}

void predict_at(const LinearMixedModel& model, AtX& at, const std::vector<double>& xv, std::vector<double>& pop,
                std::vector<double>& cond) {
  at.rows.columns[at.x].numbers = xv;
  const ModelFrame nf = model_frame_for_new_data(model.frame(), at.rows);
  const auto beta = model.beta();
  const auto re = model.ranef();
  const std::size_t n = xv.size(), m = nf.rows.size();  // (no response: nf.n() is 0)
  pop.assign(n, NaN);
  cond.assign(n, NaN);
  for (std::size_t k = 0; k < m; ++k) {
    const std::size_t i = nf.rows[k];
    double p = 0;
    for (std::size_t c = 0; c < nf.p(); ++c) p += nf.X[c * m + k] * beta[c];
    double b = 0;
    for (std::size_t j = 0; j < nf.re.size(); ++j) {
      const auto q = static_cast<std::size_t>(nf.re[j].q());
      const std::int32_t l = nf.re[j].refs[k];
      if (l < 0) continue;
      for (std::size_t a = 0; a < q; ++a) b += nf.re[j].z[k * q + a] * re[j][static_cast<std::size_t>(l) * q + a];
    }
    pop[i] = p;
    cond[i] = p + b;
  }
}

constexpr int kLineGrid = 9;

// Nested cross-sectional population lines: per stratum, Xβ over the whole range of x, averaged over
// the stratum's rows with x set to each grid value.
void nested_population(const LinearMixedModel& model, AtX& at, const Rows& r, Trajectories& tr) {
  const std::size_t n = r.x.size();
  const auto [xmin_it, xmax_it] = std::minmax_element(r.x.begin(), r.x.end());
  const double xmin = *xmin_it, xmax = *xmax_it;
  std::map<std::string, std::size_t> strata;
  for (const auto& s : r.stratum) strata.emplace(s, 0);
  std::size_t k = 0;
  for (auto& [s, index] : strata) {
    index = k++;
    tr.population_curves.push_back({s, {}, {}});
  }
  std::vector<double> xv(n), pop, cond;
  for (int g = 0; g < kLineGrid; ++g) {
    std::fill(xv.begin(), xv.end(), xmin + (xmax - xmin) * g / (kLineGrid - 1));
    predict_at(model, at, xv, pop, cond);
    std::vector<std::pair<double, std::size_t>> sums(strata.size(), {0.0, 0});
    for (std::size_t i = 0; i < n; ++i) {
      auto& cell = sums[strata[r.stratum[i]]];
      cell.first += pop[i];
      ++cell.second;
    }
    for (std::size_t s = 0; s < sums.size(); ++s) {
      tr.population_curves[s].x.push_back(xv[0]);
      tr.population_curves[s].y.push_back(sums[s].first / static_cast<double>(sums[s].second));
    }
  }
}

// Nested cross-sectional level lines: per kept level, Xβ + Zb over the level's own range of x,
// averaged over its rows with x set to each grid value.
void nested_group_lines(const LinearMixedModel& model, AtX& at, const Rows& r, const PlotOptions& options,
                        Trajectories& tr) {
  const ReTermData& t0 = model.frame().re.front();
  const std::size_t n = r.x.size(), L = t0.nlevels();
  std::vector<double> lo(L, INFINITY), hi(L, -INFINITY);
  for (std::size_t i = 0; i < n; ++i) {
    const auto l = static_cast<std::size_t>(t0.refs[i]);
    lo[l] = std::min(lo[l], r.x[i]);
    hi[l] = std::max(hi[l], r.x[i]);
  }
  std::vector<std::size_t> level_of_rank(L);
  for (std::size_t l = 0; l < L; ++l) level_of_rank[r.rank[l]] = l;
  for (std::size_t k = 0; k < std::min(L, options.max_persons); ++k)
    tr.group_lines.push_back({static_cast<std::int32_t>(k), {}, {}});
  std::vector<double> xv(n), pop, cond;
  for (int g = 0; g < kLineGrid; ++g) {
    const double u = static_cast<double>(g) / (kLineGrid - 1);
    for (std::size_t i = 0; i < n; ++i) {
      const auto l = static_cast<std::size_t>(t0.refs[i]);
      xv[i] = lo[l] + (hi[l] - lo[l]) * u;
    }
    predict_at(model, at, xv, pop, cond);
    std::vector<std::pair<double, std::size_t>> sums(L, {0.0, 0});
    for (std::size_t i = 0; i < n; ++i) {
      auto& cell = sums[static_cast<std::size_t>(t0.refs[i])];
      cell.first += cond[i];
      ++cell.second;
    }
    for (auto& line : tr.group_lines) {
      const std::size_t l = level_of_rank[static_cast<std::size_t>(line.person)];
      line.x.push_back(lo[l] + (hi[l] - lo[l]) * u);
      line.y.push_back(sums[l].first / static_cast<double>(sums[l].second));
    }
  }
}

// Factorial: the first max_groups_drawn levels in the seeded order, their rows and means.
GroupMeans group_means(const ModelFrame& f, const Rows& r, const PlotOptions& options, std::vector<Note>& notes) {
  const ReTermData& t0 = f.re.front();
  const std::size_t L = t0.nlevels(), shown = std::min(L, options.max_groups_drawn);
  GroupMeans gm;
  gm.group = t0.group;
  gm.y_name = f.response;
  std::vector<std::size_t> level_of_rank(L);
  for (std::size_t l = 0; l < L; ++l) level_of_rank[r.rank[l]] = l;
  for (std::size_t k = 0; k < shown; ++k) gm.levels.push_back(t0.levels[level_of_rank[k]]);
  gm.nobs.assign(shown, 0);
  gm.observed.assign(shown, 0.0);
  gm.fitted.assign(shown, 0.0);
  gm.population.assign(shown, 0.0);
  for (std::size_t i = 0; i < f.n(); ++i) {
    const std::size_t k = r.rank[static_cast<std::size_t>(t0.refs[i])];
    if (k >= shown) continue;
    ++gm.nobs[k];
    gm.observed[k] += f.y[i];
    gm.fitted[k] += r.fitted[i];
    gm.population[k] += r.population[i];
    gm.point_level.push_back(static_cast<std::int32_t>(k));
    gm.point_y.push_back(f.y[i]);
  }
  for (std::size_t k = 0; k < shown; ++k) {
    const auto m = static_cast<double>(gm.nobs[k]);
    gm.observed[k] /= m;
    gm.fitted[k] /= m;
    gm.population[k] /= m;
  }
  if (shown < L)
    notes.push_back({"plot", fmt::format("Means of {}: {} of {} levels are drawn", t0.group, shown, L),
                     "A random sample of the levels, so the plot stays readable; the caterpillar plots below show "
                     "every level's conditional mode."});
  return gm;
}

// Shrinkage with each level's stratum, for the same random sample of levels as the trajectories.
void add_shrinkage(const LinearMixedModel& model, const Rows& r, const PlotOptions& options, PlotData& pd) {
  pd.shrinkage.table = lmm::shrinkage(model);
  ShrinkageTable& sh = pd.shrinkage.table;
  if (!sh.available()) return;
  const ReTermData& t0 = model.frame().re.front();
  const std::size_t L = t0.nlevels();
  if (!sh.available() || sh.rows.size() != L) return;
  std::vector<std::string> level_stratum(L);
  for (std::size_t i = 0; i < r.stratum.size(); ++i) level_stratum[static_cast<std::size_t>(t0.refs[i])] = r.stratum[i];
  // The same random sample of levels as the trajectories.
  std::vector<ShrinkageRow> sample;
  for (std::size_t l = 0; l < L; ++l)
    if (r.rank[l] < options.max_persons) {
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

// Random effects with 95% conditional intervals.
void add_random_effects(const LinearMixedModel& model, const PlotOptions& options, PlotData& pd) {
  const ModelFrame& f = model.frame();
  const auto re = model.ranef();
  const auto cv = model.ranef_condvar();
  std::map<std::string, int> seen;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const auto& t = f.re[j];
    const auto q = static_cast<std::size_t>(t.q());
    const std::string group = lmm::detail::next_component_group(seen, t.group);
    for (std::size_t a = 0; a < q; ++a) {
      std::vector<double> all(t.nlevels()), sd(t.nlevels());
      for (std::size_t l = 0; l < t.nlevels(); ++l) {
        all[l] = re[j][l * q + a];
        sd[l] = std::sqrt(cv[j][l * q * q + a * q + a]);
      }
      pd.random_effects.push_back(detail::caterpillar(group, t.names[a], t.levels, all, sd, options, pd.notes));
    }
  }
}

void add_residuals(const ModelFrame& f, const Rows& r, const PlotOptions& options, PlotData& pd) {
  const std::size_t n = f.n();
  std::vector<double> residual(n);
  for (std::size_t i = 0; i < n; ++i) residual[i] = f.y[i] - r.fitted[i];
  const auto idx = thin(n, options.max_points);
  for (std::size_t i : idx) {
    pd.diag_fitted.push_back(r.fitted[i]);
    pd.diag_residual.push_back(residual[i]);
  }
  if (idx.size() < n)
    pd.notes.push_back({"plot", fmt::format("Residuals vs fitted: {} of {} rows are drawn", idx.size(), n),
                        "Evenly spaced rows, so the page stays small. The QQ plots draw evenly spaced order "
                        "statistics of all residuals (both extremes included), and their lines use every value."});
  pd.residual_qq = normal_qq(residual, options.max_points);
}

// Why the marginal variance cannot be drawn over x, or "" when it can.
std::string variance_curve_reason(const ModelFrame& f, const Design& design, const std::vector<double>& x) {
  if (design.x_name.empty()) return "the model has no numeric covariate that varies within levels to draw it over";
  bool any_slope = false;
  for (const auto& t : f.re)
    for (const auto& name : t.names) {
      if (name == "(Intercept)") continue;
      if (name != design.x_name)
        return fmt::format("the random effects include '{}', which is not a function of {} alone", name,
                           design.x_name);
      any_slope = true;
    }
  if (!any_slope)
    return "the model has random intercepts only, so the variance is the same at every " + design.x_name;
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  if (!(*hi > *lo)) return design.x_name + " takes a single value";
  return "";
}

// The marginal variance over x: Var(y_t) = Σ_terms z(t)'Σz(t) + σ².
VarianceCurve variance_curve(const LinearMixedModel& model, const Design& design, const std::vector<double>& x) {
  const ModelFrame& f = model.frame();
  VarianceCurve vc;
  vc.x_name = design.x_name;
  vc.reason = variance_curve_reason(f, design, x);
  if (!vc.reason.empty()) return vc;
  vc.available = true;
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  const double xmin = *lo, xmax = *hi;
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
  return vc;
}

}  // namespace

namespace {

// A model without random-effects terms (nlme's gls with a residual structure) is drawn by the
// structure's groups (or the levels of its SD column): the frame with that grouping as its term.
ModelFrame structure_grouped(const ModelFrame& f) {
  ModelFrame g = f;
  const ResidualData& r = f.residual;
  ReTermData t;
  const bool by_group = !r.options.structure.empty();
  t.group = by_group ? r.options.group : r.options.sd_by;
  t.levels = by_group ? r.group_levels : r.sd_levels;
  t.refs = by_group ? r.group : r.sd_by;
  t.names = {"(Intercept)"};
  t.z.assign(f.n(), 1.0);
  g.re = {std::move(t)};
  return g;
}

}  // namespace

PlotData plot_data(const LinearMixedModel& model, const FitResult& result, const DataFrame& data,
                   const PlotOptions& options) {
  const ModelFrame& f0 = model.frame();
  const bool no_terms = f0.re.empty();
  const ModelFrame grouped = no_terms ? structure_grouped(f0) : ModelFrame();
  const ModelFrame& f = no_terms ? grouped : f0;
  PlotData pd;
  pd.notes = explain_warnings(result);
  pd.design = decide_design(f, data);
  if (no_terms && pd.design.kind == "nested_cross_sectional") {
    pd.design.kind = "factorial";  // (each level's regression line needs its random effects)
    pd.design.reason += "; without random effects the levels' means are drawn";
  }
  const Rows rows = shared_rows(model, f, data, pd.design, options);
  Trajectories& tr = pd.trajectories;
  tr.group = pd.design.group;
  tr.y_name = f.response;
  tr.x_name = pd.design.x_name;
  if (pd.design.kind == "factorial") {
    pd.group_means = group_means(f, rows, options, pd.notes);
  } else {
    fill_trajectories(f, f.y, rows, options, tr, pd.notes);
    if (pd.design.kind == "longitudinal") {
      longitudinal_curves(rows, tr);
    } else {
      AtX at = frame_rows(f, data, tr.x_name);
      nested_population(model, at, rows, tr);
      nested_group_lines(model, at, rows, options, tr);
    }
  }
  add_shrinkage(model, rows, options, pd);
  add_random_effects(model, options, pd);
  add_residuals(f, rows, options, pd);
  pd.variance_curve = variance_curve(model, pd.design, rows.x);
  pd.residual_structure = detail::residual_structure_plot(model);
  return pd;
}

}  // namespace lmm::report
