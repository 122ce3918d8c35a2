// Hints about what the data may mean that the formula does not say: numeric codes of categories
// used as slopes, a 0/1 response fitted as continuous; and the reader's notes on the columns used.
#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "model/conditioning.h"

namespace lmm::detail {
namespace {

/// The distinct non-missing values of a numeric column, up to `limit` + 1 of them.
std::vector<double> distinct_values(const Column& c, std::size_t limit) {
  std::vector<double> seen;
  for (double v : c.numbers) {
    if (std::isnan(v) || std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
    seen.push_back(v);
    if (seen.size() > limit) break;
  }
  return seen;
}

/// A row's level of a grouping column as a number (its code or its value); NaN when missing.
double group_key(const Column& g, std::size_t r) {
  if (g.missing(r)) return std::nan("");
  if (g.has_text()) return g.text_codes[r];
  return g.is_numeric() ? g.numbers[r] : g.codes[r];
}

/// True when `x` takes one value within each level of `g` (rows missing either are skipped).
bool constant_within(const Column& x, const Column& g) {
  std::unordered_map<double, double> first;
  for (std::size_t r = 0; r < x.size() && r < g.size(); ++r) {
    const double k = group_key(g, r);
    if (std::isnan(k) || std::isnan(x.numbers[r])) continue;
    const auto [it, fresh] = first.emplace(k, x.numbers[r]);
    if (!fresh && it->second != x.numbers[r]) return false;
  }
  return true;
}

bool in_random_terms(const Formula& f, const std::string& v) {
  for (const RandomTerm& r : f.random)
    for (const Term& t : r.terms)
      for (const Expr& e : t.factors) {
        const auto vars = e.variables();
        if (std::find(vars.begin(), vars.end(), v) != vars.end()) return true;
      }
  return false;
}

std::vector<std::string> formula_variables(const Formula& f) {
  std::vector<std::string> out = f.response.variables();
  auto add = [&](const std::vector<Term>& terms) {
    for (const Term& t : terms)
      for (const Expr& e : t.factors)
        for (const std::string& v : e.variables()) out.push_back(v);
  };
  add(f.fixed);
  for (const RandomTerm& r : f.random) {
    add(r.terms);
    out.insert(out.end(), r.grouping.begin(), r.grouping.end());
  }
  return out;
}

/// The variables that appear as the argument of factor() in the fixed-effects terms.
std::vector<std::string> factor_call_variables(const Formula& f) {
  std::vector<std::string> out;
  for (const Term& t : f.fixed)
    for (const Expr& e : t.factors)
      if (e.kind == Expr::Kind::Call && e.name == "factor" && !e.args.empty() &&
          e.args.front().kind == Expr::Kind::Variable &&
          std::find(out.begin(), out.end(), e.args.front().name) == out.end())
        out.push_back(e.args.front().name);
  return out;
}

/// factor(x) of a numeric column levels its numbers, as R's factor() of a column read as numbers:
/// cells written differently ("01", "1", "1.0") that are one number become one level. A grouping
/// factor keeps them apart by their text, so say so when it happens.
void merged_text_hints(const DataFrame& data, const Formula& formula, std::vector<std::string>& out) {
  for (const std::string& v : factor_call_variables(formula)) {
    const Column* c = data.find(v);
    if (!c || !c->has_text()) continue;
    std::unordered_map<double, std::size_t> first_text;  // number -> index of its first text level
    for (std::size_t r = 0; r < c->size(); ++r) {
      if (c->missing(r)) continue;
      const auto code = static_cast<std::size_t>(c->text_codes[r]);
      const auto [it, fresh] = first_text.emplace(c->numbers[r], code);
      if (fresh || it->second == code) continue;
      out.push_back(fmt::format("factor({0}): '{1}' and '{2}' in column {0} are the same number, so they form one "
                                "level (as R's factor() of numbers); as a grouping factor they are two. If {0} is an "
                                "identifier, write the ids with one spelling",
                                v, c->text_levels[it->second], c->text_levels[code]));
      break;
    }
  }
}

}  // namespace

std::vector<std::string> data_hints(const DataFrame& data, const Formula& formula) {
  std::vector<std::string> out = reading_notes(data, formula_variables(formula));
  const Column* group = nullptr;
  if (!formula.random.empty() && !formula.random.front().grouping.empty())
    group = data.find(formula.random.front().grouping.front());
  std::vector<std::string> seen;
  for (const Term& t : formula.fixed)
    for (const Expr& e : t.factors) {
      if (e.kind != Expr::Kind::Variable || std::find(seen.begin(), seen.end(), e.name) != seen.end()) continue;
      seen.push_back(e.name);
      const Column* c = data.find(e.name);
      if (!c || !c->is_numeric() || in_random_terms(formula, e.name)) continue;
      const std::vector<double> values = distinct_values(*c, 5);
      const bool integers = std::all_of(values.begin(), values.end(), [](double v) { return v == std::round(v); });
      if (values.size() < 3 || values.size() > 5 || !integers) continue;
      if (group && group->size() == c->size() && !constant_within(*c, *group)) continue;  // e.g. time in a person
      out.push_back(fmt::format("{} has {} distinct integer values; treated as numeric (a slope). If it codes "
                                "categories, write factor({}).",
                                e.name, values.size(), e.name));
    }
  merged_text_hints(data, formula, out);
  if (formula.response.kind == Expr::Kind::Variable)
    if (const Column* y = data.find(formula.response.name); y && y->is_numeric()) {
      std::vector<double> values = distinct_values(*y, 2);
      std::sort(values.begin(), values.end());
      if (values == std::vector<double>{0, 1})
        out.push_back(fmt::format("{} takes only the values 0 and 1: a linear mixed model treats it as continuous "
                                  "(a linear probability model); fit a logistic mixed model with --family binomial "
                                  "(lmm::fit_glmm)",
                                  y->name));
    }
  return out;
}

}  // namespace lmm::detail
