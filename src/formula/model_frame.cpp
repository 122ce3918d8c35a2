// build_model_frame: R's model.frame + model.matrix (contrasts, R's column names and order) and
// lme4's mkReTrms (grouping factors, term order, checks).
#include "lmm/model_frame.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "formula/coding.h"
#include "formula/level_index.h"
#include "formula/rformat.h"
#include "io/number_text.h"
#include "lmm/error.h"
#include "util/group_order.h"

namespace lmm {
namespace {

constexpr double kAliasTol = 1e-7;  // R's qr(X, tol = 1e-7), as lme4's chkRank.drop.cols

struct Factor {
  std::vector<std::int32_t> codes;  // per kept row
  std::vector<std::string> levels;
  Contrasts contrasts = Contrasts::Treatment;
  bool ordered = false;
};

/// A model variable evaluated on the rows used: numeric columns (one, or poly's k) or a factor.
struct Value {
  bool is_factor = false;
  std::vector<std::vector<double>> cols;
  std::vector<std::string> suffixes;  // per numeric column: "" or poly's "1", "2", ...
  Factor f;
};

struct Columns {
  std::vector<std::string> names;
  std::vector<std::vector<double>> cols;
  std::vector<ColumnCoding> codings;
};

/// The columns one variable of a term contributes.
struct VariableColumns {
  std::vector<std::string> names;
  std::vector<std::vector<double>> cols;
  std::vector<ColumnPart> parts;
};

std::string source_name(const DataFrame& d) { return d.source.empty() ? "the data" : d.source; }

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += v[i];
  }
  return s;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

/// For integers in a range of at most about twice their count (ids 1..n, codes 0..k): the index of
/// each value's distinct value in increasing order, and those values, from one table over the
/// range instead of a sort and a binary search per row. Empty when `x` is not such integers.
/// For InstEval's three grouping factors (73,421 rows; 2,972, 1,128 and 14 ids) this took the
/// model frame from 11.7 to 2.2 ms (warm repeats): the sorts and binary searches were 9.5 ms.
std::pair<std::vector<std::int32_t>, std::vector<double>> integer_ranks(const std::vector<double>& x) {
  if (x.empty()) return {};
  double lo = x[0], hi = x[0];
  for (double v : x) {
    lo = std::min(lo, v), hi = std::max(hi, v);
    if (v != std::trunc(v)) return {};  // also NaN and ±inf
  }
  constexpr double kMaxId = 1e15;  // integers below 2^53, so lo + k is exact
  if (!(lo >= -kMaxId && hi <= kMaxId) || hi - lo > 2.0 * static_cast<double>(x.size()) + 1024) return {};
  std::vector<std::int32_t> rank(static_cast<std::size_t>(hi - lo) + 1, -1);
  for (double v : x) rank[static_cast<std::size_t>(v - lo)] = 0;
  std::vector<double> u;
  for (std::size_t k = 0; k < rank.size(); ++k)
    if (rank[k] == 0) {
      rank[k] = static_cast<std::int32_t>(u.size());
      u.push_back(lo + static_cast<double>(k));
    }
  std::vector<std::int32_t> index(x.size());
  for (std::size_t r = 0; r < x.size(); ++r) index[r] = rank[static_cast<std::size_t>(x[r] - lo)];
  return {std::move(index), std::move(u)};
}

/// A factor from numbers, as R's factor(x): levels sorted numerically, labelled as.character(x).
Factor numeric_factor(const std::vector<double>& x) {
  auto [index, u] = integer_ranks(x);
  const bool ranked = !u.empty();
  if (!ranked) {
    u = x;
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
  }
  Factor f;
  std::vector<std::int32_t> level_of(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) {
    std::string lab = detail::format_r_number(u[i]);
    if (f.levels.empty() || f.levels.back() != lab) f.levels.push_back(std::move(lab));
    level_of[i] = static_cast<std::int32_t>(f.levels.size() - 1);
  }
  f.codes.resize(x.size());
  for (std::size_t r = 0; r < x.size(); ++r) {
    const std::size_t i = ranked ? static_cast<std::size_t>(index[r])
                                 : static_cast<std::size_t>(std::lower_bound(u.begin(), u.end(), x[r]) - u.begin());
    f.codes[r] = level_of[i];
  }
  return f;
}

/// The factor with its levels in the order `order` (indices into the old levels).
void reorder_levels(Factor& f, const std::vector<std::size_t>& order) {
  std::vector<std::int32_t> new_code(f.levels.size(), -1);
  std::vector<std::string> levels;
  for (std::size_t k = 0; k < order.size(); ++k) {
    new_code[order[k]] = static_cast<std::int32_t>(k);
    levels.push_back(f.levels[order[k]]);
  }
  for (auto& c : f.codes) c = new_code[static_cast<std::size_t>(c)];
  f.levels = std::move(levels);
}

/// R's relevel(): `ref` first, the others in their order. Returns false if `ref` is not a level.
bool move_to_front(Factor& f, const std::string& ref) {
  const auto it = std::find(f.levels.begin(), f.levels.end(), ref);
  if (it == f.levels.end()) return false;
  std::vector<std::size_t> order{static_cast<std::size_t>(it - f.levels.begin())};
  for (std::size_t l = 0; l < f.levels.size(); ++l)
    if (l != order[0]) order.push_back(l);
  reorder_levels(f, order);
  return true;
}

/// The data argument inside factor(), relevel(), C(), ... and parentheses.
const Expr& innermost(const Expr& e) {
  const Expr* p = &e;
  while (true) {
    if (p->kind == Expr::Kind::Call && p->name == "(") {
      p = &p->args.at(0);
    } else if (p->is_factor_call()) {
      const Expr* a = p->argument(p->name == "C" ? "object" : "x", 0);
      if (!a) break;
      p = a;
    } else {
      break;
    }
  }
  return *p;
}

const Expr* strip_parens(const Expr* p) {
  while (p->kind == Expr::Kind::Call && p->name == "(") p = &p->args.at(0);
  return p;
}

bool is_true(const Expr* e) { return e && e->kind == Expr::Kind::Symbol && e->name == "TRUE"; }

class FrameBuilder {
 public:
  FrameBuilder(const DataFrame& data, const Formula& formula, const ModelFrameOptions& options)
      : data_(data), formula_(formula), options_(options) {}
  /// New rows coded as `fitted` coded its data (model_frame_for_new_data).
  FrameBuilder(const DataFrame& data, const ModelFrame& fitted, const NewDataOptions& options)
      : data_(data), formula_(fitted.formula), fitted_(&fitted), new_options_(options) {
    options_.offset = fitted.offset_column;  // predictions need the offset; weights only the fit
  }

  ModelFrame build();
  ModelFrame build_new();
  /// Level lookups of the fitted terms made beforehand (detail::LevelIndex), for new data.
  void use_index(const detail::LevelIndex* index) { index_ = index; }

 private:
  const Column& col(const std::string& name) const { return *data_.find(name); }
  std::string row_name(std::size_t i) const { return "row " + std::to_string(rows_[i] + 1); }

  void check_columns();
  void check_text_in_numbers() const;
  [[noreturn]] void missing_column(const std::string& v) const;
  void drop_missing();
  void check_finite();
  void weights_and_offset(ModelFrame& mf);
  void residual_frame(ModelFrame& mf);
  void check_residual_times(const ResidualData& r) const;
  void check_residual_visits(const ResidualData& r) const;
  void start(ModelFrame& mf);

  std::vector<double> eval_num(const Expr& e, const Expr& top);
  void apply_function(const Expr& e, std::vector<double>& v);
  void check_result(const Expr& e, const Expr& top, const std::vector<double>& v);
  const TransformCoding& transform(const Expr& e, const std::vector<double>& x);
  const Value& eval(const Expr& e);
  Value eval_poly_call(const Expr& e);
  Factor column_factor(const std::string& name);
  Factor grouping_factor(const std::string& name);
  Factor text_factor(const std::vector<std::int32_t>& codes, const std::vector<std::string>& levels) const;
  Factor base_factor(const Expr& x, bool apply_reference);
  Factor eval_factor(const Expr& e);
  void set_levels(Factor& f, const Expr& levels, const Expr& call);
  Factor recode(const Expr& e, const FactorCoding& coding);
  bool grouping_only(const std::string& v) const;
  Columns model_matrix(const std::vector<Term>& terms, bool intercept, const std::string& what);
  VariableColumns variable_columns(const Expr& e, bool contrasts, const std::string& what);
  void add_term_columns(Columns& out, int term, std::vector<VariableColumns> vars);
  void drop_aliased(ModelFrame& mf, Columns x);
  ReTermData random_term(const RandomTerm& t);
  void fitted_refs(const RandomTerm& t, ReTermData& re);
  void grouping_refs(const RandomTerm& t, ReTermData& re);
  void order_random_terms(ModelFrame& mf, std::vector<ReTermData> re);
  void check_random_terms(const ModelFrame& mf, const std::vector<std::string>& lhs) const;
  void check_reference_options() const;

  const DataFrame& data_;
  const Formula& formula_;
  ModelFrameOptions options_;
  std::vector<std::string> used_;  // columns the model uses, in order of appearance
  std::vector<std::size_t> rows_;  // kept rows
  std::unordered_map<std::string, Value> cache_;
  std::vector<FactorCoding> codings_;       // fitting: the factors' codings, in order of evaluation
  std::vector<TransformCoding> transforms_;  // fitting: scale() and poly() coefficients
  std::set<std::string> references_used_;   // keys of options_.reference_levels applied
  const ModelFrame* fitted_ = nullptr;      // new data: the frame whose coding is reused
  NewDataOptions new_options_;
  const detail::LevelIndex* index_ = nullptr;
};

// New data: a variable used only to group random effects may be missing (the row then gets the
// population-level prediction for that term) or absent (population-level predictions only).
bool FrameBuilder::grouping_only(const std::string& v) const {
  if (!fitted_ || v == options_.offset) return false;
  for (const Expr& e : formula_.offsets)
    for (const std::string& u : e.variables())
      if (u == v) return false;
  auto in = [&](const std::vector<std::string>& vars) {
    return std::find(vars.begin(), vars.end(), v) != vars.end();
  };
  if (new_options_.response && in(formula_.response.variables())) return false;
  for (const Term& t : formula_.fixed)
    for (const Expr& e : t.factors)
      if (in(e.variables())) return false;
  for (const RandomTerm& r : formula_.random)
    for (const Term& t : r.terms)
      for (const Expr& e : t.factors)
        if (in(e.variables())) return false;
  return true;
}

void FrameBuilder::missing_column(const std::string& v) const {
  // At most 50 names of at most 60 bytes each: files with 100,000 columns or a 10 MB name exist.
  std::vector<std::string> names;
  for (std::size_t j = 0; j < data_.columns.size() && j < 50; ++j) {
    const std::string& n = data_.columns[j].name;
    names.push_back(n.size() <= 60 ? n : n.substr(0, 60) + "...");
  }
  if (data_.columns.size() > 50)
    names.push_back("... (" + std::to_string(data_.columns.size()) + " columns)");
  std::string msg = "variable '" + v + "' in the formula is not a column of " +
                    source_name(data_) + "; columns are: " + join(names, ", ");
  for (const Column& c : data_.columns)
    if (lower(c.name) == lower(v)) {
      msg += " (did you mean '" + c.name + "'?)";
      break;
    }
  throw Error(msg);
}

void FrameBuilder::check_columns() {
  auto use = [&](const std::vector<std::string>& vars) {
    for (const std::string& v : vars)
      if (std::find(used_.begin(), used_.end(), v) == used_.end()) used_.push_back(v);
  };
  if (!fitted_ || new_options_.response) use(formula_.response.variables());
  for (const Term& t : formula_.fixed)
    for (const Expr& e : t.factors) use(e.variables());
  for (const Expr& e : formula_.offsets) use(e.variables());
  for (const RandomTerm& r : formula_.random)
    for (const Term& t : r.terms)
      for (const Expr& e : t.factors) use(e.variables());
  if (!fitted_ || new_options_.random_effects)
    for (const RandomTerm& r : formula_.random) use(r.grouping);
  for (const std::string* v : {&options_.weights, &options_.offset})
    if (!v->empty()) use({*v});
  if (!fitted_)
    for (const std::string* v : {&options_.residual.time, &options_.residual.group, &options_.residual.sd_by})
      if (!v->empty()) use({*v});

  for (const std::string& v : used_)
    if (!data_.find(v)) missing_column(v);
  check_text_in_numbers();
  for (const std::string& v : formula_.response.variables()) {
    if (fitted_ && !new_options_.response) break;
    const Column& c = col(v);
    if (c.is_numeric()) continue;
    std::string example;
    for (std::int32_t code : c.codes)
      if (code >= 0) {
        example = c.levels[static_cast<std::size_t>(code)];
        break;
      }
    throw Error("the response '" + v + "' is not numeric (it has values like '" + example + "')" +
                detail::foreign_number_hint(c));
  }
  for (const auto& [v, what] : {std::pair{options_.weights, "weights"}, std::pair{options_.offset, "offset"}})
    if (!v.empty() && !col(v).is_numeric())
      throw Error("the " + std::string(what) + " column '" + v + "' is not numeric" + detail::foreign_number_hint(col(v)));
}

// Prior weights and the offset, per kept row (check_finite() has seen that they are finite).
void FrameBuilder::weights_and_offset(ModelFrame& mf) {
  mf.offset_column = options_.offset;
  if (!options_.offset.empty()) {
    const Column& c = col(options_.offset);
    mf.offset.reserve(rows_.size());
    for (std::size_t r : rows_) mf.offset.push_back(c.numbers[r]);
  }
  for (const Expr& e : formula_.offsets) {  // offset(x) in the formula: added to the column's
    const std::vector<double> v = eval_num(e, e);
    if (mf.offset.empty()) mf.offset.assign(rows_.size(), 0.0);
    for (std::size_t i = 0; i < v.size(); ++i) mf.offset[i] += v[i];
  }
  if (fitted_ || options_.weights.empty()) return;
  mf.weights_column = options_.weights;
  const Column& c = col(options_.weights);
  mf.weights.reserve(rows_.size());
  for (std::size_t r : rows_) {
    const double w = c.numbers[r];
    if (!(w > 0))
      throw Error("weights column '" + options_.weights + "' has " + detail::format_r_number(w) + " at row " +
                  std::to_string(r + 1) + ": prior weights must be positive (drop the row or mark it missing)");
    mf.weights.push_back(w);
  }
}

// A column of numbers with a few text cells is an error where the model would use it as it is (not
// inside factor(), not as a grouping factor): it would silently become a factor.
void FrameBuilder::check_text_in_numbers() const {
  std::vector<std::string> plain = formula_.response.variables();
  auto add = [&](const std::vector<Term>& terms) {
    for (const Term& t : terms)
      for (const Expr& e : t.factors)
        if (!e.is_factor_call())
          for (const std::string& v : e.variables()) plain.push_back(v);
  };
  add(formula_.fixed);
  for (const RandomTerm& r : formula_.random) add(r.terms);
  for (const std::string& v : plain) {
    if (std::find(used_.begin(), used_.end(), v) == used_.end()) continue;
    const std::string problem = detail::mixed_column_problem(col(v), data_.source);
    if (!problem.empty()) throw Error(problem);
  }
}

void FrameBuilder::drop_missing() {
  std::vector<const Column*> cols;
  for (const std::string& v : used_)
    if (!grouping_only(v)) cols.push_back(&col(v));
  // Column by column, each a loop the compiler vectorises: 0.3 ms less than row by row through
  // Column::missing for the five columns of InstEval's model (warm repeats).
  std::vector<unsigned char> keep(data_.nrows, 1);
  for (const Column* c : cols) {
    const std::size_t n = std::min(c->size(), data_.nrows);
    if (c->is_numeric())
      for (std::size_t r = 0; r < n; ++r) keep[r] &= !std::isnan(c->numbers[r]);
    else
      for (std::size_t r = 0; r < n; ++r) keep[r] &= c->codes[r] >= 0;
    std::fill(keep.begin() + static_cast<std::ptrdiff_t>(n), keep.end(), 0);
  }
  rows_.reserve(static_cast<std::size_t>(std::count(keep.begin(), keep.end(), 1)));
  for (std::size_t r = 0; r < data_.nrows; ++r)
    if (keep[r]) rows_.push_back(r);
  if (!rows_.empty() || fitted_) return;
  if (data_.nrows == 0) throw Error("no observations: " + source_name(data_) + " has no rows");
  std::vector<std::string> with_missing;
  for (const Column* c : cols) {
    for (std::size_t r = 0; r < data_.nrows; ++r)
      if (r >= c->size() || c->missing(r)) {
        with_missing.push_back(c->name);
        break;
      }
  }
  throw Error("no observations left: all " + std::to_string(data_.nrows) +
              " rows have a missing value in " + join(with_missing, ", "));
}

void FrameBuilder::check_finite() {
  for (const std::string& v : used_) {
    const Column& c = col(v);
    if (!c.is_numeric()) continue;
    for (std::size_t r : rows_) {
      const double x = c.numbers[r];
      if (std::isnan(x) && grouping_only(v)) continue;  // new data: a missing grouping value
      if (!std::isfinite(x))
        throw Error("column '" + v + "' has an infinite value (" + detail::format_r_number(x) +
                    ") at row " + std::to_string(r + 1) +
                    "; remove the row or mark the value as missing");
    }
  }
}

Factor FrameBuilder::column_factor(const std::string& name) {
  const Column& c = col(name);
  if (c.is_numeric()) {
    std::vector<double> x(rows_.size());
    for (std::size_t i = 0; i < rows_.size(); ++i) x[i] = c.numbers[rows_[i]];
    return numeric_factor(x);
  }
  return text_factor(c.codes, c.levels);
}

// A grouping factor is categorical by its text: ids "01" and "1" are two levels (byte order, as R's
// factor() of ids read as text). A numeric column whose cells are all the plain decimals of their
// numbers keeps R's numeric level order (as factor() of ids read as numbers).
Factor FrameBuilder::grouping_factor(const std::string& name) {
  const Column& c = col(name);
  return c.has_text() ? text_factor(c.text_codes, c.text_levels) : column_factor(name);
}

// Levels in the column's (byte) order, keeping only those that occur in the rows used.
Factor FrameBuilder::text_factor(const std::vector<std::int32_t>& codes, const std::vector<std::string>& levels) const {
  std::vector<std::int32_t> remap(levels.size(), -1);
  for (std::size_t r : rows_) remap[static_cast<std::size_t>(codes[r])] = 0;
  Factor f;
  for (std::size_t l = 0; l < levels.size(); ++l)
    if (remap[l] == 0) {
      remap[l] = static_cast<std::int32_t>(f.levels.size());
      f.levels.push_back(levels[l]);
    }
  f.codes.resize(rows_.size());
  for (std::size_t i = 0; i < rows_.size(); ++i) f.codes[i] = remap[static_cast<std::size_t>(codes[rows_[i]])];
  return f;
}

std::vector<double> FrameBuilder::eval_num(const Expr& e, const Expr& top) {
  const std::size_t n = rows_.size();
  std::vector<double> v;
  switch (e.kind) {
    case Expr::Kind::Variable: {
      const Column& c = col(e.name);
      if (!c.is_numeric()) {
        std::string example = c.levels.empty() ? std::string() : c.levels.front();
        throw Error("'" + e.name + "' is categorical (values like '" + example +
                    "') and cannot be used in arithmetic in '" + top.label() + "'");
      }
      v.resize(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = c.numbers[rows_[i]];
      return v;  // checked by check_finite
    }
    case Expr::Kind::Number:
      return std::vector<double>(n, e.value);
    case Expr::Kind::Negate:
      v = eval_num(e.args.at(0), top);
      for (double& x : v) x = -x;
      return v;
    case Expr::Kind::Call:
      if (e.is_factor_call() || e.name == "poly")
        throw Error(e.name + "() cannot be used inside arithmetic in '" + top.label() + "'");
      v = eval_num(e.args.at(0), top);
      apply_function(e, v);
      break;
    case Expr::Kind::Binary: {
      v = eval_num(e.args.at(0), top);
      const std::vector<double> b = eval_num(e.args.at(1), top);
      const std::string& op = e.name;
      if (op == "+") {
        for (std::size_t i = 0; i < n; ++i) v[i] += b[i];
      } else if (op == "-") {
        for (std::size_t i = 0; i < n; ++i) v[i] -= b[i];
      } else if (op == "*") {
        for (std::size_t i = 0; i < n; ++i) v[i] *= b[i];
      } else if (op == "/") {
        for (std::size_t i = 0; i < n; ++i) v[i] /= b[i];
      } else if (op == "^") {
        for (std::size_t i = 0; i < n; ++i) v[i] = std::pow(v[i], b[i]);
      } else {
        throw Error("operator '" + op + "' is not supported in '" + top.label() + "'");
      }
      break;
    }
    case Expr::Kind::String:
    case Expr::Kind::Symbol:
      throw Error("'" + e.label() + "' is not a number in '" + top.label() + "'");
  }
  check_result(e, top, v);
  return v;
}

void FrameBuilder::apply_function(const Expr& e, std::vector<double>& v) {
  if (e.name == "log") {
    for (double& x : v) x = std::log(x);
  } else if (e.name == "exp") {
    for (double& x : v) x = std::exp(x);
  } else if (e.name == "sqrt") {
    for (double& x : v) x = std::sqrt(x);
  } else if (e.name == "scale") {
    const TransformCoding& c = transform(e, v);
    for (double& x : v) x = (x - c.center) / c.scale;
  } else if (e.name != "I" && e.name != "(") {
    if (e.name == "cbind")
      throw Error("cbind(successes, failures) is a binomial response: fit it with --family binomial "
                  "(GlmmOptions), not as a linear mixed model or inside '" + e.label() + "'");
    throw Error(e.name == "offset"
                    ? "offset() must be a term of its own among the fixed effects, as in y ~ x + offset(z) + (1 | g), "
                      "not inside '" + e.label() + "'"
                    : "unknown function '" + e.name + "' in '" + e.label() + "'");
  }
}

// The arguments were finite, so a non-finite value comes from this operation.
void FrameBuilder::check_result(const Expr& e, const Expr& top, const std::vector<double>& v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) continue;
    std::string vals;
    for (const std::string& var : e.variables()) {
      const Column& c = col(var);
      vals +=
          (vals.empty() ? " (" : ", ") + var + " = " + detail::format_r_number(c.numbers[rows_[i]]);
    }
    if (!vals.empty()) vals += ")";
    const std::string where = e.label() == top.label()
                                  ? "'" + top.label() + "'"
                                  : "'" + e.label() + "' in '" + top.label() + "'";
    throw Error("cannot evaluate " + where + " at " + row_name(i) + ": the result is " +
                detail::format_r_number(v[i]) + vals);
  }
}

// The coefficients of scale(x) or poly(x, k): the fitted model's for new data, else computed from
// `x` (the argument's values in the rows used) and recorded.
const TransformCoding& FrameBuilder::transform(const Expr& e, const std::vector<double>& x) {
  const std::string key = e.label();
  const auto& known = fitted_ ? fitted_->transforms : transforms_;
  const auto it = std::find_if(known.begin(), known.end(),
                               [&](const TransformCoding& c) { return c.expr == key; });
  if (it != known.end()) return *it;
  if (fitted_)
    // Only a saved model without the coefficients gets here (a damaged file).
    throw Error("the coefficients of '" + key + "' (transforms[]) are missing from the fitted model");
  if (e.name == "scale") {
    transforms_.push_back(detail::fit_scale(x, key));
  } else {
    const Expr* degree = e.argument("degree", 1);
    transforms_.push_back(detail::fit_poly(x, degree ? static_cast<int>(degree->value) : 1, key));
  }
  return transforms_.back();
}

Value FrameBuilder::eval_poly_call(const Expr& e) {
  Value val;
  const Expr& x = *e.argument("x", 0);
  const std::vector<double> v = eval_num(x, e);
  const Expr* degree = e.argument("degree", 1);
  const int k = degree ? static_cast<int>(degree->value) : 1;
  val.cols = is_true(e.argument("raw", 2)) ? detail::raw_poly(v, k) : detail::eval_poly(v, transform(e, v));
  for (std::size_t c = 0; c < val.cols.size(); ++c) {
    val.suffixes.push_back(std::to_string(c + 1));
    check_result(e, e, val.cols[c]);
  }
  return val;
}

const Value& FrameBuilder::eval(const Expr& e) {
  const std::string key = e.label();
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  Value val;
  if (fitted_) {
    // New data: a factor when it was one in the fit, coded with the fit's levels.
    const auto fc = std::find_if(fitted_->factors.begin(), fitted_->factors.end(),
                                 [&](const FactorCoding& c) { return c.expr == key; });
    if (fc != fitted_->factors.end()) {
      val.is_factor = true;
      val.f = recode(e, *fc);
    }
  } else if ((e.kind == Expr::Kind::Variable && !col(e.name).is_numeric()) || e.is_factor_call()) {
    val.is_factor = true;
    val.f = eval_factor(e);
    codings_.push_back({key, val.f.levels, val.f.contrasts, val.f.ordered});
  }
  if (!val.is_factor) {
    if (e.kind == Expr::Kind::Call && e.name == "poly") {
      val = eval_poly_call(e);
    } else {
      val.cols.push_back(eval_num(e, e));
      val.suffixes.emplace_back();
    }
  }
  return cache_.emplace(key, std::move(val)).first->second;
}

// The factor of a data argument: a categorical column, or the numbers' distinct values (R's
// factor(x)); with the reference level of the options when `apply_reference`.
Factor FrameBuilder::base_factor(const Expr& x, bool apply_reference) {
  const Expr* inner = strip_parens(&x);
  Factor f;
  if (inner->kind == Expr::Kind::Variable && !col(inner->name).is_numeric())
    f = column_factor(inner->name);
  else
    f = numeric_factor(eval_num(x, x));
  f.contrasts = options_.unordered_contrasts;
  if (inner->kind == Expr::Kind::Variable && !col(inner->name).is_numeric() && col(inner->name).ordered) {
    f.ordered = true;  // an ordered factor column: contr.poly, as R's options(contrasts =)[2]
    f.contrasts = Contrasts::Poly;
  }
  if (!apply_reference || inner->kind != Expr::Kind::Variable) return f;
  const auto ref = options_.reference_levels.find(inner->name);
  if (ref == options_.reference_levels.end()) return f;
  if (!move_to_front(f, ref->second))
    throw Error("ModelFrameOptions::reference_levels: '" + ref->second + "' is not a level of '" +
                inner->name + "' (levels: " + join(f.levels, ", ") + ")");
  references_used_.insert(inner->name);
  return f;
}

Factor FrameBuilder::eval_factor(const Expr& e) {
  if (!e.is_factor_call()) return base_factor(e, true);
  if (e.name == "factor" || e.name == "ordered") {
    const Expr* levels = e.argument("levels", 1);
    Factor f = base_factor(*e.argument("x", 0), levels == nullptr);
    if (levels) set_levels(f, *levels, e);
    // R's factor(x, ordered = is.ordered(x)): an ordered column stays ordered unless told otherwise.
    const Expr* ordered = e.argument("ordered", 2);
    f.ordered = e.name == "ordered" || (ordered ? is_true(ordered) : f.ordered);
    f.contrasts = f.ordered ? Contrasts::Poly : options_.unordered_contrasts;
    return f;
  }
  const Expr& arg = *e.argument(e.name == "C" ? "object" : "x", 0);
  Factor f = arg.is_factor_call() ? eval_factor(arg) : base_factor(arg, true);
  if (e.name == "relevel") {
    const std::string& ref = e.argument("ref", 1)->name;
    if (!move_to_front(f, ref))
      throw Error("'" + e.label() + "': '" + ref + "' is not a level of '" + arg.label() +
                  "' (levels: " + join(f.levels, ", ") + ")");
  } else {  // C(x, contr)
    f.contrasts = parse_contrasts(e.argument("contr", 1)->name);
  }
  return f;
}

// factor(x, levels = c(...)): the levels in the order given (levels that do not occur are kept,
// as R keeps them; their columns are all zero and dropped as aliased).
void FrameBuilder::set_levels(Factor& f, const Expr& levels, const Expr& call) {
  std::vector<std::string> wanted;
  if (levels.kind == Expr::Kind::String) wanted.push_back(levels.name);
  for (const Expr& a : levels.args)
    wanted.push_back(a.kind == Expr::Kind::String ? a.name : detail::format_r_number(a.value));
  std::vector<std::int32_t> new_code(f.levels.size(), -1);
  for (std::size_t l = 0; l < f.levels.size(); ++l) {
    const auto it = std::find(wanted.begin(), wanted.end(), f.levels[l]);
    if (it == wanted.end()) {
      std::size_t row = 0;
      while (static_cast<std::size_t>(f.codes[row]) != l) ++row;
      throw Error("'" + call.label() + "': the value '" + f.levels[l] + "' at " + row_name(row) +
                  " is not one of the levels given");
    }
    new_code[l] = static_cast<std::int32_t>(it - wanted.begin());
  }
  for (auto& c : f.codes) c = new_code[static_cast<std::size_t>(c)];
  f.levels = std::move(wanted);
}

Factor FrameBuilder::recode(const Expr& e, const FactorCoding& coding) {
  // The label of each row as the fit saw it: a categorical value, or R's text of a number.
  const Expr* inner = strip_parens(&innermost(e));
  const std::size_t n = rows_.size();
  std::vector<std::string> labels(n);
  if (inner->kind == Expr::Kind::Variable && !col(inner->name).is_numeric()) {
    const Column& c = col(inner->name);
    for (std::size_t i = 0; i < n; ++i)
      labels[i] = c.levels[static_cast<std::size_t>(c.codes[rows_[i]])];
  } else {
    const std::vector<double> x = eval_num(*inner, e);
    for (std::size_t i = 0; i < n; ++i) labels[i] = detail::format_r_number(x[i]);
  }
  std::unordered_map<std::string, std::int32_t> index;
  for (std::size_t l = 0; l < coding.levels.size(); ++l)
    index.emplace(coding.levels[l], static_cast<std::int32_t>(l));
  Factor f;
  f.levels = coding.levels;
  f.contrasts = coding.contrasts;
  f.ordered = coding.ordered;
  f.codes.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto it = index.find(labels[i]);
    if (it == index.end())
      throw Error("'" + e.label() + "' is '" + labels[i] + "' at " + row_name(i) + " of " +
                  source_name(data_) +
                  ", a level not in the data the model was fitted to (levels: " +
                  join(coding.levels, ", ") + ")");
    f.codes[i] = it->second;
  }
  return f;
}

/// R's model.matrix for `~ terms` (with or without intercept): each factor coded by its contrasts
/// or by indicators per R's rule (detail::term_contrast_codes), columns enumerated with the first
/// factor varying fastest.
Columns FrameBuilder::model_matrix(const std::vector<Term>& terms, bool intercept,
                                   const std::string& what) {
  Columns out;
  if (intercept) {
    out.names.push_back("(Intercept)");
    out.cols.emplace_back(rows_.size(), 1.0);
    out.codings.push_back({-1, {}});
  }
  const auto code = detail::term_contrast_codes(
      terms, intercept, [&](const Expr& e) { return eval(e).is_factor; },
      [&](const Expr& e) { return eval(e).f.levels.size(); });
  for (std::size_t j = 0; j < terms.size(); ++j) {
    std::vector<VariableColumns> vars;
    for (std::size_t k = 0; k < terms[j].factors.size(); ++k)
      vars.push_back(variable_columns(terms[j].factors[k], code[j][k], what));
    add_term_columns(out, static_cast<int>(j), std::move(vars));
  }
  return out;
}

VariableColumns FrameBuilder::variable_columns(const Expr& e, bool contrasts,
                                               const std::string& what) {
  const Value& v = eval(e);
  const std::string lab = e.label();
  const std::size_t n = rows_.size();
  VariableColumns out;
  if (!v.is_factor) {
    for (std::size_t c = 0; c < v.cols.size(); ++c) {
      out.names.push_back(lab + v.suffixes[c]);
      out.cols.push_back(v.cols[c]);
      out.parts.push_back({lab, ColumnPart::Kind::Numeric, c});
    }
    return out;
  }
  const std::size_t nl = v.f.levels.size();
  if (contrasts && nl < 2)
    throw Error("the factor '" + lab + "' in the " + what + " has only one level ('" +
                (nl ? v.f.levels[0] : std::string()) +
                "') in the rows used; contrasts need at least 2 levels");
  if (contrasts) {
    const CodingMatrix m = detail::contrast_matrix(v.f.contrasts, v.f.levels);
    for (std::size_t k = 0; k < m.columns; ++k) {
      std::vector<double> x(n);
      for (std::size_t i = 0; i < n; ++i) x[i] = m(static_cast<std::size_t>(v.f.codes[i]), k);
      out.names.push_back(lab + m.suffixes[k]);
      out.cols.push_back(std::move(x));
      out.parts.push_back({lab, ColumnPart::Kind::Contrast, k});
    }
    return out;
  }
  for (std::size_t l = 0; l < nl; ++l) {
    std::vector<double> ind(n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      if (static_cast<std::size_t>(v.f.codes[i]) == l) ind[i] = 1.0;
    out.names.push_back(lab + v.f.levels[l]);
    out.cols.push_back(std::move(ind));
    out.parts.push_back({lab, ColumnPart::Kind::Indicator, l});
  }
  return out;
}

// The products of the variables' columns, the first variable's varying fastest.
void FrameBuilder::add_term_columns(Columns& out, int term, std::vector<VariableColumns> vars) {
  const std::size_t n = rows_.size(), nf = vars.size();
  std::size_t total = 1;
  for (const auto& v : vars) total *= v.cols.size();
  std::vector<std::size_t> idx(nf, 0);
  for (std::size_t c = 0; c < total; ++c) {
    std::string name;
    std::vector<double> col(n, 1.0);
    ColumnCoding coding{term, {}};
    for (std::size_t k = 0; k < nf; ++k) {
      if (k) name += ":";
      name += vars[k].names[idx[k]];
      const std::vector<double>& x = vars[k].cols[idx[k]];
      for (std::size_t i = 0; i < n; ++i) col[i] *= x[i];
      coding.parts.push_back(vars[k].parts[idx[k]]);
    }
    out.names.push_back(std::move(name));
    out.cols.push_back(std::move(col));
    out.codings.push_back(std::move(coding));
    for (std::size_t k = 0; k < nf; ++k) {
      if (++idx[k] < vars[k].cols.size()) break;
      idx[k] = 0;
    }
  }
}

std::string lhs_text(const RandomTerm& t) {
  std::vector<std::string> parts{t.intercept ? "1" : "0"};
  for (const Term& term : t.terms) parts.push_back(term.label());
  return join(parts, " + ");
}

// New data: refs into the fitted term's levels; -1 for a level the fit did not see, a missing
// grouping value, or when the random effects are not wanted.
void FrameBuilder::fitted_refs(const RandomTerm& t, ReTermData& re) {
  const ReTermData* ft = nullptr;
  std::size_t term = 0;
  for (std::size_t j = 0; j < fitted_->re.size(); ++j)
    if (fitted_->re[j].group == re.group) ft = &fitted_->re[j], term = j;
  if (!ft)
    // Only a saved model whose formula and terms disagree gets here (a damaged file).
    throw Error("the formula's random-effects term for '" + re.group +
                "' has no saved estimates (random[].group)");
  if (!index_) re.levels = ft->levels;
  std::fill(re.refs.begin(), re.refs.end(), -1);
  if (!new_options_.random_effects) return;
  std::optional<detail::LevelLookup> own;
  if (!index_) own.emplace(ft->levels);
  const detail::LevelLookup& index = index_ ? index_->terms[term] : *own;
  // One grouping variable coded by level (text or categorical): each of its levels looked up once.
  const Column* one = t.grouping.size() == 1 ? &col(t.grouping[0]) : nullptr;
  if (one && one->is_numeric() && !one->has_text()) one = nullptr;
  std::vector<std::int32_t> memo(one ? (one->has_text() ? one->text_levels.size() : one->levels.size()) : 0, -2);
  std::string lab;
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const std::size_t r = rows_[i];
    if (one) {
      if (one->missing(r)) continue;
      const auto code = static_cast<std::size_t>(one->has_text() ? one->text_codes[r] : one->codes[r]);
      if (memo[code] == -2) memo[code] = index.find(one->has_text() ? one->text_levels[code] : one->levels[code]);
      re.refs[i] = memo[code];
      continue;
    }
    lab.clear();
    bool missing = false;
    for (std::size_t m = 0; m < t.grouping.size() && !missing; ++m) {
      const Column& c = col(t.grouping[m]);
      if (c.missing(r)) {
        missing = true;
        break;
      }
      if (m) lab += ":";
      lab += c.has_text()     ? c.text_levels[static_cast<std::size_t>(c.text_codes[r])]
             : c.is_numeric() ? detail::format_r_number(c.numbers[r])
                              : c.levels[static_cast<std::size_t>(c.codes[r])];
    }
    if (!missing) re.refs[i] = index.find(lab);
  }
}

// Grouping factor: the interaction of the grouping variables, as R's a:b on factors (levels in
// the order of the first variable's levels, then the second's, ...), without unused levels.
void FrameBuilder::grouping_refs(const RandomTerm& t, ReTermData& re) {
  const std::size_t n = rows_.size();
  std::vector<Factor> parts;
  for (const std::string& g : t.grouping) parts.push_back(grouping_factor(g));
  if (parts.size() == 1) {
    re.levels = parts[0].levels;
    for (std::size_t i = 0; i < n; ++i) re.refs[i] = parts[0].codes[i];
    return;
  }
  std::map<std::vector<std::int32_t>, std::int32_t> combos;
  std::vector<std::int32_t> key(parts.size());
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < parts.size(); ++k) key[k] = parts[k].codes[i];
    combos.emplace(key, 0);
  }
  std::int32_t next = 0;
  for (auto& [k, id] : combos) {
    id = next++;
    std::string lab;
    for (std::size_t m = 0; m < k.size(); ++m) {
      if (m) lab += ":";
      lab += parts[m].levels[static_cast<std::size_t>(k[m])];
    }
    re.levels.push_back(std::move(lab));
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < parts.size(); ++k) key[k] = parts[k].codes[i];
    re.refs[i] = combos.at(key);
  }
}

ReTermData FrameBuilder::random_term(const RandomTerm& t) {
  const std::size_t n = rows_.size();
  ReTermData re;
  re.group = t.group_label();
  re.refs.resize(n);
  if (fitted_)
    fitted_refs(t, re);
  else
    grouping_refs(t, re);
  Columns z = model_matrix(t.terms, t.intercept,
                           "random-effects term (" + lhs_text(t) + " | " + re.group + ")");
  re.names = std::move(z.names);
  const std::size_t q = re.names.size();
  re.z.resize(n * q);
  for (std::size_t j = 0; j < q; ++j)
    for (std::size_t i = 0; i < n; ++i) re.z[i * q + j] = z.cols[j][i];
  return re;
}

// Fixed effects, dropping columns that are linear combinations of earlier ones (modified
// Gram-Schmidt with re-orthogonalisation; relative tolerance as R's qr with tol = 1e-7).
// Eigen's vectorised dot products and axpys: at a million rows the scalar loops' serial sums
// were a tenth of building the frame.
void FrameBuilder::drop_aliased(ModelFrame& mf, Columns x) {
  const auto rows = static_cast<Eigen::Index>(rows_.size());
  Eigen::MatrixXd basis(rows, static_cast<Eigen::Index>(x.cols.size()));
  Eigen::Index rank = 0;
  std::vector<bool> kept(x.cols.size(), false);
  for (std::size_t j = 0; j < x.cols.size(); ++j) {
    const Eigen::Map<const Eigen::VectorXd> c(x.cols[j].data(), rows);
    const double norm0 = c.norm();
    bool keep = norm0 > 0;
    if (keep) {
      auto r = basis.col(rank);
      r = c;
      for (int pass = 0; pass < 2; ++pass)
        for (Eigen::Index k = 0; k < rank; ++k) r -= basis.col(k).dot(r) * basis.col(k);
      const double norm = r.norm();
      keep = norm >= kAliasTol * norm0;
      if (keep) {
        r /= norm;
        ++rank;
      }
    }
    kept[j] = keep;
  }
  basis.resize(0, 0);
  mf.X.reserve(static_cast<std::size_t>(rank) * rows_.size());
  for (std::size_t j = 0; j < x.cols.size(); ++j) {
    if (kept[j]) {
      mf.fixed_names.push_back(x.names[j]);
      mf.X.insert(mf.X.end(), x.cols[j].begin(), x.cols[j].end());
      mf.columns.push_back(std::move(x.codings[j]));
    } else {
      mf.aliased.push_back(x.names[j]);
    }
    std::vector<double>().swap(x.cols[j]);
  }
}

// Random effects, ordered as lme4's mkReTrms: if the numbers of levels are not already
// non-increasing, by rev(order(nlevels)) (decreasing; ties end up in reverse order).
void FrameBuilder::order_random_terms(ModelFrame& mf, std::vector<ReTermData> re) {
  std::vector<std::size_t> order(re.size());
  std::iota(order.begin(), order.end(), 0);
  bool increases = false;
  for (std::size_t k = 1; k < re.size(); ++k)
    if (re[k].nlevels() > re[k - 1].nlevels()) increases = true;
  if (increases) {
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return re[a].nlevels() < re[b].nlevels();
    });
    std::reverse(order.begin(), order.end());
  }
  std::vector<std::string> lhs;
  for (std::size_t k : order) {
    lhs.push_back(lhs_text(formula_.random[k]));
    mf.re.push_back(std::move(re[k]));
  }
  check_random_terms(mf, lhs);
}

// lme4's checks (checkNlevels, checkZdims), as errors.
void FrameBuilder::check_random_terms(const ModelFrame& mf, const std::vector<std::string>& lhs) const {
  const std::size_t n = rows_.size();
  for (const ReTermData& t : mf.re)
    if (t.nlevels() < 2)
      throw Error("grouping factor '" + t.group + "' has " + std::to_string(t.nlevels()) +
                  " level" + (t.levels.size() == 1 ? " ('" + t.levels[0] + "')" : std::string()) +
                  " in the rows used; grouping factors must have > 1 sampled level");
  if (!options_.check_nobs_vs_nlev) return;
  for (const ReTermData& t : mf.re)
    if (t.nlevels() >= n)
      throw Error("grouping factor '" + t.group + "' has " + std::to_string(t.nlevels()) +
                  " levels for " + std::to_string(n) +
                  " observations; the number of levels of each grouping factor must be < the "
                  "number of observations");
  for (std::size_t k = 0; k < mf.re.size(); ++k) {
    const ReTermData& t = mf.re[k];
    const std::size_t nre = t.nlevels() * static_cast<std::size_t>(t.q());
    if (nre >= n)
      throw Error("number of observations (=" + std::to_string(n) +
                  ") <= number of random effects (=" + std::to_string(nre) + ") for term (" +
                  lhs[k] + " | " + t.group +
                  "); the random-effects parameters and the residual variance are probably "
                  "unidentifiable");
  }
}

void FrameBuilder::check_reference_options() const {
  for (const auto& [var, level] : options_.reference_levels) {
    if (references_used_.count(var)) continue;
    if (!data_.find(var)) missing_column(var);
    throw Error("ModelFrameOptions::reference_levels: '" + var +
                "' is not a factor of the formula (a categorical column or factor(" + var + "))");
  }
}

void FrameBuilder::start(ModelFrame& mf) {
  check_columns();
  drop_missing();
  check_finite();
  mf.formula = formula_;
  mf.rows = rows_;
  mf.n_dropped = data_.nrows - rows_.size();
  mf.response = formula_.response.label();
}

// The residual structure's columns per row used (ModelFrameOptions::residual), with the checks
// that name the column and the row of what cannot work.
void FrameBuilder::residual_frame(ModelFrame& mf) {
  const ResidualOptions& o = options_.residual;
  ResidualData& r = mf.residual;
  r.options = o;
  if (!o.any()) return;
  const std::string& s = o.structure;
  if (!s.empty() && s != "ar1" && s != "car1" && s != "cs" && s != "us")
    throw Error("ResidualOptions::structure '" + s + "' is not one of ar1, car1, cs, us");
  if (!s.empty()) {
    if (o.group.empty()) throw Error("ResidualOptions::group is empty: the structure " + s + " needs a grouping column");
    Factor g = grouping_factor(o.group);
    r.group = std::move(g.codes);
    r.group_levels = std::move(g.levels);
  }
  if (s == "ar1" || s == "car1") {
    const Column& c = col(o.time);
    if (!c.is_numeric())
      throw Error("ResidualOptions::time: the column '" + o.time + "' of " + s + "(" + o.time + " | " + o.group +
                  ") is not numeric (for visits as a factor use us(" + o.time + " | " + o.group + "))");
    for (std::size_t r0 : rows_) r.time.push_back(c.numbers[r0]);
    check_residual_times(r);
  } else if (s == "us") {
    Factor v = column_factor(o.time);
    r.visit = std::move(v.codes);
    r.visit_levels = std::move(v.levels);
    check_residual_visits(r);
  } else if (s == "cs" && !o.time.empty() && o.time != "1") {
    throw Error("ResidualOptions::time must be empty for cs (write cs(1 | " + o.group + "))");
  }
  if (!o.sd_by.empty()) {
    Factor f = column_factor(o.sd_by);
    r.sd_by = std::move(f.codes);
    r.sd_levels = std::move(f.levels);
  }
}

// ar1: integer times (a lag is a difference of them), car1: any; neither repeated within a group.
void FrameBuilder::check_residual_times(const ResidualData& r) const {
  const std::string& t = r.options.time;
  const bool ar1 = r.options.structure == "ar1";
  const std::vector<std::size_t> order =
      detail::order_by_group<std::size_t>(r.group, [&](std::size_t a, std::size_t b) { return r.time[a] < r.time[b]; });
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = order[k];
    if (ar1 && (r.time[i] != std::round(r.time[i]) || std::abs(r.time[i]) > 1e9))
      throw Error("the time column '" + t + "' of ar1(" + t + " | " + r.options.group + ") has " +
                  detail::format_r_number(r.time[i]) + " at " + row_name(i) +
                  ": ar1 needs integer times (lags are their differences); for real times use car1(" + t + " | " +
                  r.options.group + ")");
    if (k > 0 && r.group[order[k - 1]] == r.group[i] && r.time[order[k - 1]] == r.time[i])
      throw Error("the time column '" + t + "' repeats " + detail::format_r_number(r.time[i]) + " within " +
                  r.options.group + " '" + r.group_levels[static_cast<std::size_t>(r.group[i])] + "' at " +
                  row_name(std::max(i, order[k - 1])) + " (also at " + row_name(std::min(i, order[k - 1])) +
                  "): each time may occur once per group");
  }
}

// us: a visit at most once per group, and every pair of visits seen together in some group (else
// their correlation is not identified).
void FrameBuilder::check_residual_visits(const ResidualData& r) const {
  const std::size_t nv = r.visit_levels.size(), ng = r.group_levels.size();
  const std::string& t = r.options.time;
  if (nv < 2) throw Error("the visit column '" + t + "' of us(" + t + " | " + r.options.group + ") has fewer than 2 levels");
  std::vector<std::int64_t> seen(ng * nv, -1);
  std::vector<char> pair(nv * nv, 0);
  std::vector<std::vector<std::int32_t>> visits(ng);
  for (std::size_t i = 0; i < r.visit.size(); ++i) {
    const auto g = static_cast<std::size_t>(r.group[i]), v = static_cast<std::size_t>(r.visit[i]);
    if (seen[g * nv + v] >= 0)
      throw Error("the visit column '" + t + "' repeats '" + r.visit_levels[v] + "' within " + r.options.group + " '" +
                  r.group_levels[g] + "' at " + row_name(i) + " (also at " +
                  row_name(static_cast<std::size_t>(seen[g * nv + v])) + "): each visit may occur once per group");
    seen[g * nv + v] = static_cast<std::int64_t>(i);
    for (std::int32_t u : visits[g]) pair[static_cast<std::size_t>(u) * nv + v] = pair[v * nv + static_cast<std::size_t>(u)] = 1;
    visits[g].push_back(static_cast<std::int32_t>(v));
  }
  for (std::size_t a = 0; a < nv; ++a)
    for (std::size_t b = a + 1; b < nv; ++b)
      if (!pair[a * nv + b])
        throw Error("us(" + t + " | " + r.options.group + ") has " + std::to_string(nv) + " levels of '" + t +
                    "' but no " + r.options.group + " with both '" + r.visit_levels[a] + "' and '" + r.visit_levels[b] +
                    "': their correlation cannot be identified (use fewer visit levels, or ar1/cs)");
}

ModelFrame FrameBuilder::build() {
  if (formula_.random.empty() && !options_.residual.any())
    throw Error(
        "the formula has no random-effects term such as (1 | subject); for a model without "
        "random effects use ordinary regression");
  ModelFrame mf;
  start(mf);
  mf.y = eval_num(formula_.response, formula_.response);
  weights_and_offset(mf);
  drop_aliased(mf, model_matrix(formula_.fixed, formula_.intercept, "fixed effects"));
  std::vector<ReTermData> re;
  for (const RandomTerm& t : formula_.random) re.push_back(random_term(t));
  order_random_terms(mf, std::move(re));
  check_reference_options();
  residual_frame(mf);
  mf.factors = codings_;
  mf.transforms = transforms_;
  return mf;
}

ModelFrame FrameBuilder::build_new() {
  ModelFrame mf;
  start(mf);
  if (new_options_.response) mf.y = eval_num(formula_.response, formula_.response);
  weights_and_offset(mf);
  // The fitted columns, by name: the same terms, codings and order give the same names.
  Columns x = model_matrix(formula_.fixed, formula_.intercept, "fixed effects");
  for (const std::string& name : fitted_->fixed_names) {
    const auto it = std::find(x.names.begin(), x.names.end(), name);
    if (it == x.names.end()) {
      // Only a saved model whose formula and columns disagree gets here (a damaged file).
      std::vector<std::string> some(x.names.begin(), x.names.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(x.names.size(), 10)));
      if (x.names.size() > 10) some.push_back("... (" + std::to_string(x.names.size()) + " columns)");
      throw Error("the fixed-effect column '" + name + "' (fixed_names) is not one the formula makes; it makes " +
                  (some.empty() ? std::string("none") : join(some, ", ")));
    }
    const auto j = static_cast<std::size_t>(it - x.names.begin());
    mf.X.insert(mf.X.end(), x.cols[j].begin(), x.cols[j].end());
    mf.columns.push_back(x.codings[j]);
  }
  mf.fixed_names = fitted_->fixed_names;
  mf.aliased = fitted_->aliased;
  // The terms in the fitted order, matched by grouping factor and columns.
  std::vector<ReTermData> re;
  for (const RandomTerm& t : formula_.random) re.push_back(random_term(t));
  std::vector<bool> taken(re.size(), false);
  for (const ReTermData& ft : fitted_->re) {
    std::size_t k = 0;
    while (k < re.size() && (taken[k] || re[k].group != ft.group || re[k].names != ft.names)) ++k;
    if (k == re.size())
      throw Error("the random-effects term for '" + ft.group + "' with columns " +
                  join(ft.names, ", ") + " (random[" + ft.group +
                  "].names) is not one the formula makes");
    taken[k] = true;
    mf.re.push_back(std::move(re[k]));
  }
  mf.factors = fitted_->factors;
  mf.transforms = fitted_->transforms;
  return mf;
}

}  // namespace

ModelFrame build_model_frame(const DataFrame& data, const Formula& formula,
                             const ModelFrameOptions& options) {
  FrameBuilder b(data, formula, options);
  return b.build();
}

ModelFrame model_frame_for_new_data(const ModelFrame& fitted, const DataFrame& data,
                                    const NewDataOptions& options) {
  FrameBuilder b(data, fitted, options);
  return b.build_new();
}

detail::LevelLookup::LevelLookup(const std::vector<std::string>& levels) : levels_(&levels) {
  // A single grouping variable's levels are in byte order already (as R's C-locale factor levels);
  // an interaction's (a:b) and a numeric variable's are not.
  if (std::is_sorted(levels.begin(), levels.end())) return;
  order_.resize(levels.size());
  for (std::size_t l = 0; l < levels.size(); ++l) order_[l] = static_cast<std::uint32_t>(l);
  std::sort(order_.begin(), order_.end(), [&levels](std::uint32_t a, std::uint32_t b) { return levels[a] < levels[b]; });
}

std::int32_t detail::LevelLookup::find(std::string_view label) const {
  const auto& lv = *levels_;
  std::size_t lo = 0, hi = lv.size();
  auto at = [&](std::size_t k) -> const std::string& { return lv[order_.empty() ? k : order_[k]]; };
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (std::string_view(at(mid)) < label)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == lv.size() || std::string_view(at(lo)) != label) return -1;
  return static_cast<std::int32_t>(order_.empty() ? lo : order_[lo]);
}

detail::LevelIndex::LevelIndex(const ModelFrame& fitted) {
  terms.reserve(fitted.re.size());
  for (const ReTermData& t : fitted.re) terms.emplace_back(t.levels);
}

ModelFrame detail::model_frame_for_new_data(const ModelFrame& fitted, const DataFrame& data,
                                            const NewDataOptions& options, const LevelIndex& index) {
  FrameBuilder b(data, fitted, options);
  b.use_index(&index);
  return b.build_new();
}

}  // namespace lmm
