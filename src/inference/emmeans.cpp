// Estimated marginal means as emmeans 1.8.4 computes them for lmer fits (emmeans' ref_grid,
// emm_basis.merMod, emmeans(), pairs()):
//  - the reference grid: every combination of the fixed effects' factor levels and of the numeric
//    covariates' values (their mean over the rows used, each of their values when there are at most
//    2 (cov.keep = "2"), or the values given in `at`), the first variable varying fastest;
//  - its model matrix rows, coded as the fit coded its data (model_frame_for_new_data);
//  - for each combination of the specs and by variables, the equally weighted average L of the
//    rows over the other grid variables; emmean = Lβ, SE = sqrt(L V L');
//  - df from lmerTest's Satterthwaite for the contrast L (calcSatterth), or pbkrtest's adjusted
//    covariance and Kenward-Roger df (vcovAdj, Lb_ddf); t intervals;
//  - pairwise differences within each by group, p-values adjusted by Tukey's studentized range
//    (ptukey(sqrt(2) |t|, k, df)), Holm (R's p.adjust) or not at all.
#include "lmm/emmeans.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "formula/rformat.h"
#include "inference/distributions.h"
#include "inference/vinv_parts.h"
#include "lmm/error.h"
#include "lmm/model_frame.h"

namespace lmm {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// One variable of the reference grid.
struct GridVar {
  std::string name;
  bool factor = false;          // a factor of the fixed effects (else a numeric covariate)
  bool numeric_column = false;  // its data column is numeric (a covariate, or factor(x) of a number)
  std::vector<std::string> labels;  // the values as text: levels, or R's text of the numbers
  std::vector<double> numbers;      // numeric column: the values
};

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

GridVar* find_var(std::vector<GridVar>& vars, const std::string& name) {
  for (GridVar& g : vars)
    if (g.name == name) return &g;
  return nullptr;
}

double parse_number(const std::string& s) {
  double v = std::numeric_limits<double>::quiet_NaN();
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// A factor-valued expression of the fixed effects (`group`, `factor(temp)`) as a grid variable.
GridVar factor_variable(const Expr& e, const FactorCoding& coding, const DataFrame& data) {
  const std::vector<std::string> vars = e.variables();
  if (vars.size() != 1)
    throw Error("estimated marginal means need each factor of the fixed effects to be one "
                "variable; '" + e.label() + "' is made from " + join(vars, ", "));
  GridVar g;
  g.name = vars[0];
  g.factor = true;
  g.numeric_column = data.at(g.name).is_numeric();
  g.labels = coding.levels;
  if (g.numeric_column)
    for (const std::string& l : g.labels) g.numbers.push_back(parse_number(l));
  return g;
}

// The variables of the fixed-effect terms in order of appearance: factors with the fit's levels,
// numeric covariates (their values are set by covariate_values).
std::vector<GridVar> fixed_variables(const ModelFrame& frame, const DataFrame& data) {
  std::vector<GridVar> vars;
  auto conflict = [](const std::string& v) {
    return Error("'" + v + "' is used both as a factor and as a number in the fixed effects; "
                 "estimated marginal means need one or the other");
  };
  for (const Term& t : frame.formula.fixed)
    for (const Expr& e : t.factors) {
      const auto coding = std::find_if(frame.factors.begin(), frame.factors.end(),
                                       [&](const FactorCoding& c) { return c.expr == e.label(); });
      if (coding != frame.factors.end()) {
        GridVar g = factor_variable(e, *coding, data);
        if (const GridVar* old = find_var(vars, g.name)) {
          if (!old->factor) throw conflict(g.name);
          continue;
        }
        vars.push_back(std::move(g));
        continue;
      }
      for (const std::string& v : e.variables()) {
        if (const GridVar* old = find_var(vars, v)) {
          if (old->factor) throw conflict(v);
          continue;
        }
        vars.push_back({v, false, true, {}, {}});
      }
    }
  return vars;
}

const std::vector<double>* at_values(const EmmeansOptions& o, const std::string& name) {
  for (const auto& [n, v] : o.at)
    if (n == name) return &v;
  return nullptr;
}

// A covariate's values in the grid: `at`, else each of at most 2 distinct values, else the mean.
void covariate_values(GridVar& g, const DataFrame& data, const std::vector<std::size_t>& rows,
                      const EmmeansOptions& o) {
  if (const auto* at = at_values(o, g.name)) {
    g.numbers = *at;
  } else {
    const Column& c = data.at(g.name);
    std::vector<double> distinct;
    double sum = 0;
    for (std::size_t r : rows) {
      const double x = c.numbers[r];
      sum += x;
      if (distinct.size() <= 2 && std::find(distinct.begin(), distinct.end(), x) == distinct.end())
        distinct.push_back(x);
    }
    std::sort(distinct.begin(), distinct.end());
    g.numbers = distinct.size() <= 2 ? distinct
                                     : std::vector<double>{sum / static_cast<double>(rows.size())};
  }
  g.labels.clear();
  for (double x : g.numbers) g.labels.push_back(detail::format_r_number(x));
}

void check_at(const std::vector<GridVar>& vars, const EmmeansOptions& o) {
  for (std::size_t i = 0; i < o.at.size(); ++i) {
    const std::string& name = o.at[i].first;  // not a structured binding: clang 14 cannot capture one
    const auto& values = o.at[i].second;
    const auto g = std::find_if(vars.begin(), vars.end(),
                                [&](const GridVar& v) { return v.name == name; });
    if (g == vars.end() || g->factor)
      throw Error("EmmeansOptions::at: '" + name + "' is not a numeric covariate of the fixed " +
                  "effects" + (g != vars.end() ? " (it is a factor: use its levels)" : ""));
    if (values.empty()) throw Error("EmmeansOptions::at: no values for '" + name + "'");
    for (double x : values)
      if (!std::isfinite(x)) throw Error("EmmeansOptions::at: a value of '" + name + "' is not finite");
    for (std::size_t j = 0; j < i; ++j)
      if (o.at[j].first == name) throw Error("EmmeansOptions::at: '" + name + "' is given twice");
  }
}

// specs and by: known variables, factors or covariates with several values (or given in `at`),
// each once.
void check_specs(const std::vector<GridVar>& vars, const EmmeansOptions& o) {
  if (o.specs.empty()) throw Error("EmmeansOptions::specs is empty: name at least one factor");
  std::vector<std::string> names, seen;
  for (const GridVar& g : vars) names.push_back(g.name);
  auto check = [&](const std::string& field, const std::string& v) {
    const auto g = std::find_if(vars.begin(), vars.end(),
                                [&](const GridVar& x) { return x.name == v; });
    if (g == vars.end())
      throw Error(fmt::format("EmmeansOptions::{}: '{}' is not a variable of the fixed effects "
                              "(variables: {})", field, v, names.empty() ? "none" : join(names, ", ")));
    if (!g->factor && g->numbers.size() < 2 && !at_values(o, v))
      throw Error(fmt::format("EmmeansOptions::{}: '{}' is a numeric covariate (held at its mean), "
                              "not a factor; give its values in EmmeansOptions::at to use it here",
                              field, v));
    if (std::find(seen.begin(), seen.end(), v) != seen.end())
      throw Error(fmt::format("EmmeansOptions::{}: '{}' is named twice in specs and by", field, v));
    seen.push_back(v);
  };
  for (const std::string& v : o.specs) check("specs", v);
  for (const std::string& v : o.by) check("by", v);
}

// The reference grid as a table (all combinations, the first variable varying fastest), with
// the columns the formula reads that are not grid variables (random-effect covariates) set to
// the first used row's value: they do not enter X.
DataFrame grid_table(const std::vector<GridVar>& vars, const ModelFrame& frame,
                     const DataFrame& data, std::size_t nrows) {
  DataFrame t;
  t.nrows = nrows;
  t.source = "the reference grid";
  std::size_t stride = 1;
  for (const GridVar& g : vars) {
    const std::size_t n = g.labels.size();
    Column c;
    c.name = g.name;
    c.type = g.numeric_column ? Column::Type::Numeric : Column::Type::Categorical;
    if (!g.numeric_column) c.levels = g.labels;
    for (std::size_t r = 0; r < nrows; ++r) {
      const std::size_t l = (r / stride) % n;
      if (g.numeric_column) c.numbers.push_back(g.numbers[l]);
      else c.codes.push_back(static_cast<std::int32_t>(l));
    }
    stride *= n;
    t.columns.push_back(std::move(c));
  }
  for (const RandomTerm& rt : frame.formula.random)
    for (const Term& term : rt.terms)
      for (const Expr& e : term.factors)
        for (const std::string& v : e.variables()) {
          if (t.find(v)) continue;
          const Column& src = data.at(v);
          Column c = src;
          const std::size_t r0 = frame.rows.at(0);
          c.numbers.assign(src.is_numeric() ? nrows : 0, src.is_numeric() ? src.numbers[r0] : 0.0);
          c.codes.assign(src.is_numeric() ? 0 : nrows, src.is_numeric() ? 0 : src.codes[r0]);
          t.columns.push_back(std::move(c));
        }
  return t;
}

// The specs and by variables' cells (specs varying fastest), each the equally weighted average
// of the grid rows with its values.
std::vector<MarginalMean> average_rows(const std::vector<GridVar>& vars,
                                       const std::vector<std::size_t>& out, const ModelFrame& nf) {
  const std::size_t n = nf.rows.size(), p = nf.p();
  std::vector<std::size_t> stride(vars.size(), 1);
  for (std::size_t v = 1; v < vars.size(); ++v) stride[v] = stride[v - 1] * vars[v - 1].labels.size();
  std::size_t ncells = 1;
  for (std::size_t v : out) ncells *= vars[v].labels.size();
  std::vector<MarginalMean> means(ncells);
  for (std::size_t c = 0; c < ncells; ++c) {
    means[c].L.assign(p, 0.0);
    std::size_t s = 1;
    for (std::size_t v : out) {
      const std::size_t nl = vars[v].labels.size();
      means[c].values.push_back(vars[v].labels[(c / s) % nl]);
      s *= nl;
    }
  }
  const double w = static_cast<double>(ncells) / static_cast<double>(n);  // 1 / rows per cell
  for (std::size_t r = 0; r < n; ++r) {
    std::size_t cell = 0, s = 1;
    for (std::size_t v : out) {
      cell += ((r / stride[v]) % vars[v].labels.size()) * s;
      s *= vars[v].labels.size();
    }
    for (std::size_t j = 0; j < p; ++j) means[cell].L[j] += w * nf.X[j * n + r];
  }
  return means;
}

/// t tests of contrasts with the chosen df method.
class Tester {
 public:
  Tester(LinearMixedModel& model, DdfMethod ddf) : beta_(model.beta()), vcov_(model.vcov()) {
    if (ddf == DdfMethod::Satterthwaite) satt_.emplace(model);
    if (ddf == DdfMethod::KenwardRoger) kr_.emplace(model);
  }
  TTest test(const std::vector<double>& c) const {
    if (satt_) return satt_->test(c);
    if (kr_) return kr_->test(c);
    TTest t;
    const std::size_t p = beta_.size();
    double est = 0, var = 0;
    for (std::size_t i = 0; i < p; ++i) {
      est += c[i] * beta_[i];
      for (std::size_t j = 0; j < p; ++j) var += c[i] * vcov_[j * p + i] * c[j];
    }
    t.estimate = est;
    t.std_error = std::sqrt(var);
    t.t = est / t.std_error;
    t.df = kInf;
    t.p = detail::t_pvalue(t.t, kInf);
    return t;
  }

 private:
  std::vector<double> beta_, vcov_;
  std::optional<Satterthwaite> satt_;
  std::optional<KenwardRoger> kr_;
};

// R's qt(1 - (1 - level)/2, df); the normal quantile for infinite df.
double t_quantile(double level, double df) {
  const double tail = (1 - level) / 2;
  if (!(df > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(df) || df > 1e12)
    return boost::math::quantile(boost::math::complement(boost::math::normal(), tail));
  return boost::math::quantile(boost::math::complement(boost::math::students_t(df), tail));
}

// emmeans' contrast labels: a variable whose levels are all numbers gets its name in front
// ("temp175"), the specs' labels are joined by spaces, and a label with - + / * is parenthesised.
std::vector<std::string> contrast_levels(const std::vector<GridVar>& vars,
                                         const std::vector<std::size_t>& specs) {
  std::vector<std::string> levs{""};
  for (std::size_t v : specs) {
    const GridVar& g = vars[v];
    const bool numeric = std::all_of(g.labels.begin(), g.labels.end(), [](const std::string& l) {
      double x = 0;
      const auto [end, ec] = std::from_chars(l.data(), l.data() + l.size(), x);
      return ec == std::errc() && end == l.data() + l.size() && !std::isnan(x);
    });
    std::vector<std::string> next;
    for (const std::string& l : g.labels)
      for (const std::string& prev : levs)
        next.push_back(prev + (prev.empty() ? "" : " ") + (numeric ? g.name : "") + l);
    levs = std::move(next);
  }
  for (std::string& l : levs)
    if (l.find_first_of("-+/*") != std::string::npos) l = "(" + l + ")";
  return levs;
}

// R's p.adjust(p, "holm"): the i-th smallest times (m - i + 1), made monotone, capped at 1.
void holm(std::vector<PairwiseContrast*>& group) {
  std::vector<PairwiseContrast*> sorted = group;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const PairwiseContrast* a, const PairwiseContrast* b) { return a->p < b->p; });
  const std::size_t m = sorted.size();
  double run = 0;
  for (std::size_t i = 0; i < m; ++i) {
    run = std::max(run, std::min(1.0, static_cast<double>(m - i) * sorted[i]->p));
    sorted[i]->p = run;
  }
}

void add_pairwise(EmmeansResult& r, const Tester& tester, const std::vector<std::string>& levs) {
  const std::size_t k = levs.size(), groups = r.means.size() / k;
  r.family = r.adjust == PAdjust::Holm ? k * (k - 1) / 2 : k;
  for (std::size_t g = 0; g < groups; ++g) {
    std::vector<PairwiseContrast*> group;
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = i + 1; j < k; ++j) {
        const MarginalMean& a = r.means[g * k + i];
        const MarginalMean& b = r.means[g * k + j];
        std::vector<double> c(a.L.size());
        for (std::size_t x = 0; x < c.size(); ++x) c[x] = a.L[x] - b.L[x];
        const TTest t = tester.test(c);
        PairwiseContrast pc;
        pc.contrast = levs[i] + " - " + levs[j];
        pc.by.assign(a.values.begin() + static_cast<std::ptrdiff_t>(r.nspecs), a.values.end());
        pc.estimate = t.estimate;
        pc.se = t.std_error;
        pc.df = t.df;
        pc.t = t.t;
        pc.p = r.adjust == PAdjust::Tukey ? ptukey_upper(std::sqrt(2.0) * std::abs(t.t),
                                                         static_cast<double>(k), t.df)
                                          : t.p;
        r.contrasts.push_back(pc);
      }
    if (r.adjust != PAdjust::Holm) continue;
    const std::size_t first = r.contrasts.size() - k * (k - 1) / 2;
    for (std::size_t i = first; i < r.contrasts.size(); ++i) group.push_back(&r.contrasts[i]);
    holm(group);
  }
}

}  // namespace

void check_emmeans_ddf(const ModelFrame& frame, Method method, DdfMethod ddf) {
  if (ddf != DdfMethod::KenwardRoger) return;
  if (method != Method::REML)
    throw Error("EmmeansOptions::ddf KenwardRoger needs a REML fit (it adjusts the REML covariance of the fixed "
                "effects); refit with Method::REML, or use DdfMethod::Satterthwaite");
  const std::string why = detail::kenward_roger_unavailable(frame);
  if (!why.empty()) throw Error("EmmeansOptions::ddf KenwardRoger: " + why + "; use DdfMethod::Satterthwaite");
}

EmmeansResult emmeans(LinearMixedModel& model, const DataFrame& data, const EmmeansOptions& o) {
  const ModelFrame& frame = model.frame();
  if (!frame.aliased.empty())
    throw Error("estimated marginal means are not available for a model with aliased columns (" +
                join(frame.aliased, ", ") + ")");
  if (!(o.level > 0 && o.level < 1)) throw Error("EmmeansOptions::level must be between 0 and 1");
  if (frame.rows.empty() || frame.rows.back() >= data.nrows)
    throw Error("the data given are not the data the model was fitted to");
  std::vector<GridVar> vars = fixed_variables(frame, data);
  check_at(vars, o);
  std::size_t nrows = 1;
  for (GridVar& g : vars) {
    if (!g.factor) covariate_values(g, data, frame.rows, o);
    nrows *= g.labels.size();
    if (nrows > 1000000) throw Error("the reference grid has more than 1,000,000 rows");
  }
  check_specs(vars, o);
  NewDataOptions nd;
  nd.random_effects = false;
  const ModelFrame nf = model_frame_for_new_data(frame, grid_table(vars, frame, data, nrows), nd);
  if (nf.rows.size() != nrows) throw std::logic_error("emmeans: grid rows were dropped");

  EmmeansResult r;
  r.ddf = o.ddf;
  r.adjust = o.adjust;
  r.level = o.level;
  r.nspecs = o.specs.size();
  std::vector<std::size_t> out, spec_idx;
  for (const auto* list : {&o.specs, &o.by})
    for (const std::string& v : *list) {
      const auto i = static_cast<std::size_t>(
          std::find_if(vars.begin(), vars.end(), [&](const GridVar& g) { return g.name == v; }) - vars.begin());
      out.push_back(i);
      if (list == &o.specs) spec_idx.push_back(i);
      r.variables.push_back(v);
      r.numeric.push_back(!vars[i].factor);
    }
  for (std::size_t v = 0; v < vars.size(); ++v) {
    if (std::find(out.begin(), out.end(), v) != out.end()) continue;
    if (vars[v].factor || vars[v].numbers.size() > 1) r.averaged_over.push_back(vars[v].name);
    else r.covariates_at.emplace_back(vars[v].name, vars[v].numbers[0]);
  }
  r.means = average_rows(vars, out, nf);
  const Tester tester(model, o.ddf);
  for (MarginalMean& m : r.means) {
    const TTest t = tester.test(m.L);
    const double half = t_quantile(o.level, t.df) * t.std_error;
    m.emmean = t.estimate;
    m.se = t.std_error;
    m.df = t.df;
    m.lower = t.estimate - half;
    m.upper = t.estimate + half;
  }
  if (o.pairwise) add_pairwise(r, tester, contrast_levels(vars, spec_idx));
  return r;
}

PAdjust parse_p_adjust(const std::string& name) {
  if (name == "tukey") return PAdjust::Tukey;
  if (name == "holm") return PAdjust::Holm;
  if (name == "none") return PAdjust::None;
  throw Error("unknown p-value adjustment '" + name + "' (expected tukey, holm or none)");
}

std::string p_adjust_name(PAdjust adjust) {
  switch (adjust) {
    case PAdjust::Tukey: return "tukey";
    case PAdjust::Holm: return "holm";
    case PAdjust::None: break;
  }
  return "none";
}

}  // namespace lmm
