// SchemaSampler: the rows of a stream that a statistics schema's sample needs (lmm/statistics.h).
#include <algorithm>
#include <unordered_set>

#include "lmm/error.h"
#include "lmm/statistics.h"
#include "formula/rformat.h"

namespace lmm {

struct SchemaSampler::Impl {
  std::size_t head_rows = 0, complete = 0;
  std::vector<std::string> used;                   // every variable the model reads
  std::vector<std::vector<std::string>> tracked;   // variables (or groups of them) whose values count
  std::vector<bool> always;  // grouping and factor() variables: counted even when numeric
  std::vector<std::unordered_set<std::string>> seen;
  void add_used(const std::vector<std::string>& vars) {
    for (const auto& v : vars)
      if (std::find(used.begin(), used.end(), v) == used.end()) used.push_back(v);
  }
  void track(std::vector<std::string> vars, bool numeric_too) {
    const auto it = std::find(tracked.begin(), tracked.end(), vars);
    if (it != tracked.end()) {
      always[static_cast<std::size_t>(it - tracked.begin())] = always[static_cast<std::size_t>(it - tracked.begin())] || numeric_too;
      return;
    }
    tracked.push_back(std::move(vars));
    always.push_back(numeric_too);
  }
  void walk(const Expr& e) {  // factor(x), relevel(x, ...), C(x, ...): x's values are levels
    if (e.is_factor_call())
      for (const auto& v : e.variables()) track({v}, true);
    for (const Expr& a : e.args) walk(a);
  }
};

namespace {

// A cell's text as the model frame labels it (categorical: the level; numeric: its own text if kept, else R's).
std::string cell_label(const Column& c, std::size_t r) {
  if (!c.is_numeric()) return c.levels[static_cast<std::size_t>(c.codes[r])];
  if (c.has_text()) return c.text_levels[static_cast<std::size_t>(c.text_codes[r])];
  return detail::format_r_number(c.numbers[r]);
}

}  // namespace

SchemaSampler::SchemaSampler(const std::string& formula, std::size_t head_rows) : impl_(std::make_unique<Impl>()) {
  const Formula f = parse_formula(formula);
  Impl& s = *impl_;
  s.head_rows = head_rows;
  s.add_used(f.response.variables());
  auto terms = [&](const std::vector<Term>& ts) {
    for (const Term& t : ts)
      for (const Expr& e : t.factors) s.add_used(e.variables()), s.walk(e);
  };
  terms(f.fixed);
  for (const Expr& e : f.offsets) s.add_used(e.variables());
  for (const RandomTerm& r : f.random) {
    terms(r.terms);
    s.add_used(r.grouping);
    s.track(r.grouping, true);
    for (const auto& g : r.grouping) s.track({g}, true);
  }
  for (const auto& v : s.used) s.track({v}, false);  // counted where the column is categorical
  s.seen.resize(s.tracked.size());
}

SchemaSampler::~SchemaSampler() = default;
SchemaSampler::SchemaSampler(SchemaSampler&&) noexcept = default;
SchemaSampler& SchemaSampler::operator=(SchemaSampler&&) noexcept = default;

std::vector<std::size_t> SchemaSampler::select(const DataFrame& chunk) {
  Impl& s = *impl_;
  std::vector<const Column*> used;
  for (const auto& v : s.used) used.push_back(&chunk.at(v));
  std::vector<bool> counts(s.tracked.size());
  for (std::size_t t = 0; t < s.tracked.size(); ++t)
    counts[t] = s.always[t] || !chunk.at(s.tracked[t][0]).is_numeric();
  std::vector<std::size_t> out;
  std::string key;
  for (std::size_t r = 0; r < chunk.nrows; ++r) {
    if (std::any_of(used.begin(), used.end(), [&](const Column* c) { return c->missing(r); })) continue;
    bool keep = s.complete++ < s.head_rows;
    for (std::size_t t = 0; t < s.tracked.size(); ++t) {
      if (!counts[t]) continue;
      key.clear();
      for (const auto& v : s.tracked[t]) key += cell_label(chunk.at(v), r) + '\x1f';
      keep = s.seen[t].insert(key).second || keep;
    }
    if (keep) out.push_back(r);
  }
  return out;
}

}  // namespace lmm
