// R's term algebra for the fixed effects (terms.formula in R's src/library/stats/src/model.c:
// expanding *, /, ^, %in%, -, and ordering terms) and lme4's rules for random-effects terms
// (findbars, expandDoubleVerts, expandSlash); parse_formula.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "formula/syntax.h"
#include "lmm/formula.h"

namespace lmm {
namespace {

using formula_detail::ExprBuilder;
using formula_detail::fail;
using formula_detail::find_bar;
using formula_detail::kMaxNesting;
using formula_detail::kMaxTerms;
using formula_detail::Node;
using Builder = ExprBuilder;

// R's term algebra: terms are sets of variables (sorted indices into `vars`).
using Bits = std::vector<int>;

Bits unite(const Bits& a, const Bits& b) {
  Bits out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

void trim_repeats(std::vector<Bits>& terms) {
  std::set<Bits> seen;
  std::vector<Bits> out;
  out.reserve(terms.size());
  for (Bits& t : terms)
    if (!t.empty() && seen.insert(t).second) out.push_back(std::move(t));
  terms = std::move(out);
}
class Encoder {
 public:
  explicit Encoder(const Builder& b) : b_(b) {}

  bool intercept = true;
  std::vector<Expr> vars;

  std::vector<Bits> encode(const Node& n);
  std::vector<Term> sorted_terms(std::vector<Bits> bits) const;

  /// A list of terms without repeats, in order of first appearance.
  struct TermList {
    std::vector<Bits> terms;
    std::set<Bits> seen;
    void add(std::vector<Bits>&& more) {
      for (Bits& t : more)
        if (!t.empty() && seen.insert(t).second) terms.push_back(std::move(t));
    }
    void remove(const std::vector<Bits>& drop);
  };

  /// Adds `right` to `acc` (R's PlusTerms) or removes it (DeleteTerms).
  void plus(TermList& acc, const Node& right) { acc.add(encode(right)); }
  void minus(TermList& acc, const Node& right) {
    parity_ = !parity_;
    std::vector<Bits> r = encode(right);
    parity_ = !parity_;
    acc.remove(r);
  }

 private:
  int install(Expr e);
  void guard(std::size_t a, std::size_t b, std::size_t pos) const {
    if (a != 0 && b > kMaxTerms / a)
      fail(b_.text(), pos,
           "the formula expands to too many terms (more than " + std::to_string(kMaxTerms) + ")");
  }
  std::vector<Bits> encode_number(const Node& n);
  std::vector<Bits> encode_power(const Node& n);
  std::vector<Bits> encode_chain(const Node& n);
  void combine(std::vector<Bits>& acc, const std::string& op, std::vector<Bits> r, std::size_t pos);

  const Builder& b_;
  std::unordered_map<std::string, int> index_;
  bool parity_ = true;
};

void Encoder::TermList::remove(const std::vector<Bits>& drop) {
  std::set<Bits> d;
  for (const Bits& t : drop)
    if (seen.erase(t)) d.insert(t);
  if (d.empty()) return;
  std::vector<Bits> out;
  out.reserve(terms.size());
  for (Bits& t : terms)
    if (!d.count(t)) out.push_back(std::move(t));
  terms = std::move(out);
}

std::vector<Bits> Encoder::encode(const Node& n) {
  switch (n.k) {
    case Node::K::Name:
    case Node::K::Call:
    case Node::K::Str:
      return {{install(b_.variable(n))}};
    case Node::K::Num:
      return encode_number(n);
    case Node::K::Paren:
      return encode(n.kids[0]);
    case Node::K::Neg: {
      parity_ = !parity_;
      encode(n.kids[0]);
      parity_ = !parity_;
      return {};
    }
    case Node::K::Power:
      return encode_power(n);
    case Node::K::Chain:
      return encode_chain(n);
    case Node::K::Bar:
      fail(b_.text(), n.pos,
           "'" + n.name +
               "' outside parentheses: write random-effects terms in parentheses, as in y ~ x + "
               "(1 | g)");
  }
  return {};
}

std::vector<Bits> Encoder::encode_number(const Node& n) {
  if (n.value == 1) {
    intercept = parity_;
    return {};
  }
  if (n.value == 0) {
    intercept = !parity_;
    return {};
  }
  fail(b_.text(), n.pos,
       "a number (" + n.name + ") cannot be a model term; use I() for arithmetic, as in I(2 * x)");
}

std::vector<Bits> Encoder::encode_power(const Node& n) {
  const Node& ex = n.kids[1];
  if (ex.k != Node::K::Num || ex.value < 1 || ex.value != std::floor(ex.value))
    fail(b_.text(), ex.start,
         "the power of terms in (a + b)^n must be a positive whole number; for arithmetic use "
         "I(x^2)");
  std::vector<Bits> left = encode(n.kids[0]);
  std::vector<Bits> term = left;
  const double times = std::min(ex.value, static_cast<double>(vars.size()) + 1);
  for (int i = 1; i < static_cast<int>(times); ++i) {
    guard(left.size(), term.size(), n.pos);
    std::vector<Bits> next;
    next.reserve(left.size() * term.size());
    for (const Bits& l : left)
      for (const Bits& r : term) next.push_back(unite(l, r));
    trim_repeats(next);
    term = std::move(next);
  }
  return term;
}

std::vector<Term> Encoder::sorted_terms(std::vector<Bits> bits) const {
  std::stable_sort(bits.begin(), bits.end(),
                   [](const Bits& a, const Bits& b) { return a.size() < b.size(); });
  std::vector<Term> out;
  out.reserve(bits.size());
  for (const Bits& t : bits) {
    Term term;
    for (int v : t) term.factors.push_back(vars[static_cast<std::size_t>(v)]);
    out.push_back(std::move(term));
  }
  return out;
}

int Encoder::install(Expr e) {
  std::string key = e.label();
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  const int id = static_cast<int>(vars.size());
  index_.emplace(std::move(key), id);
  vars.push_back(std::move(e));
  return id;
}

void sort_unique(Bits& b) {
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
}

std::vector<Bits> Encoder::encode_chain(const Node& n) {
  if (n.name == "+") {
    TermList list;
    list.add(encode(n.kids[0]));
    for (std::size_t i = 1; i < n.kids.size(); ++i) {
      if (n.ops[i - 1] == "+")
        plus(list, n.kids[i]);
      else
        minus(list, n.kids[i]);
    }
    return std::move(list.terms);
  }
  std::vector<Bits> acc = encode(n.kids[0]);
  bool unsorted = false;  // a:b:c:... of single terms: sort the union once, at the end
  for (std::size_t i = 1; i < n.kids.size(); ++i) {
    const std::string& op = n.ops[i - 1];
    std::vector<Bits> r = encode(n.kids[i]);
    if (op == ":" && acc.size() == 1 && r.size() == 1) {
      acc[0].insert(acc[0].end(), r[0].begin(), r[0].end());
      unsorted = true;
      continue;
    }
    if (unsorted) sort_unique(acc[0]);
    unsorted = false;
    combine(acc, op, std::move(r), n.op_pos[i - 1]);
  }
  if (unsorted) sort_unique(acc[0]);
  return acc;
}

// acc <op> r for ':', '*', '/' and '%in%'.
void Encoder::combine(std::vector<Bits>& acc, const std::string& op, std::vector<Bits> r,
                      std::size_t pos) {
  if (op == ":") {
    guard(acc.size(), r.size(), pos);
    std::vector<Bits> out;
    for (const Bits& l : acc)
      for (const Bits& x : r) out.push_back(unite(l, x));
    acc = std::move(out);
  } else if (op == "*") {
    guard(acc.size() + 1, r.size() + 1, pos);
    std::vector<Bits> out = acc;
    out.insert(out.end(), r.begin(), r.end());
    for (const Bits& l : acc)
      for (const Bits& x : r) out.push_back(unite(l, x));
    acc = std::move(out);
  } else if (op == "/") {  // a/b = a + a:b, with all of the left side's variables
    Bits all;
    for (const Bits& l : acc) all = unite(all, l);
    for (const Bits& x : r) acc.push_back(unite(all, x));
  } else {  // "%in%" (R's InTerms): each left term with all of the right side's variables
    Bits all;
    for (const Bits& x : r) all = unite(all, x);
    for (Bits& l : acc) l = unite(l, all);
  }
  trim_repeats(acc);
  if (acc.size() > kMaxTerms)
    fail(b_.text(), pos,
         "the formula expands to too many terms (more than " + std::to_string(kMaxTerms) + ")");
}

// ---------------------------------------------------------------------------------------------
// Random-effects terms.

const Node& unwrap(const Node& n) {
  const Node* p = &n;
  while (p->k == Node::K::Paren) p = &p->kids[0];
  return *p;
}

bool is_bar_term(const Node& n) { return n.k == Node::K::Paren && unwrap(n).k == Node::K::Bar; }

/// Splits the right-hand side into fixed-effects summands (with their sign) and random terms, as
/// lme4's findbars/nobars do.
void split_rhs(const Builder& b, const Node& n, std::vector<std::pair<bool, const Node*>>& fixed,
               std::vector<const Node*>& bars) {
  auto one = [&](const Node& k, bool minus, std::size_t op_pos) {
    if (is_bar_term(k)) {
      if (minus) fail(b.text(), op_pos, "a random-effects term cannot be subtracted");
      bars.push_back(&unwrap(k));
      return;
    }
    if (k.k == Node::K::Bar)
      fail(b.text(), k.pos,
           "'" + k.name +
               "' outside parentheses: write random-effects terms in parentheses, as "
               "in y ~ x + (1 | g)");
    if (const Node* bar = find_bar(k)) {
      if (k.k == Node::K::Paren && unwrap(k).k == Node::K::Chain && unwrap(k).name == "+") {
        if (minus) fail(b.text(), op_pos, "random-effects terms cannot be subtracted");
        split_rhs(b, unwrap(k), fixed, bars);
        return;
      }
      fail(b.text(), bar->pos,
           "a random-effects term must be a separate term in parentheses, added with '+', as in "
           "y ~ x + (1 | g)");
    }
    fixed.emplace_back(minus, &k);
  };
  if (n.k == Node::K::Chain && n.name == "+") {
    for (std::size_t i = 0; i < n.kids.size(); ++i)
      one(n.kids[i], i > 0 && n.ops[i - 1] == "-", i > 0 ? n.op_pos[i - 1] : n.kids[i].pos);
  } else {
    one(n, false, n.pos);
  }
}

/// A grouping variable, written `v` or `factor(v)`.
struct GroupVar {
  std::string name;
  bool factor_call = false;
};
using Group = std::vector<GroupVar>;

bool contains(const Group& g, const std::string& name) {
  return std::any_of(g.begin(), g.end(), [&](const GroupVar& v) { return v.name == name; });
}

std::vector<Group> groupings(const Builder& b, const Node& n);

[[noreturn]] void bad_grouping(const Builder& b, const Node& at) {
  fail(b.text(), at.pos,
       "the grouping factor after '|' must be a variable, factor(variable), an interaction such "
       "as a:b, or a nesting such as a/b");
}

/// a:b:... of grouping variables.
Group interaction_group(const Builder& b, const Node& n) {
  Group g;
  for (const Node& k : n.kids) {
    std::vector<Group> sub = groupings(b, k);
    if (sub.size() != 1) bad_grouping(b, k);
    for (GroupVar& v : sub[0])
      if (!contains(g, v.name)) g.push_back(std::move(v));
  }
  return g;
}

/// a/b/...: lme4's expandSlash. `a/b` gives {b:a, a}.
std::vector<Group> nested_groups(const Builder& b, const Node& n) {
  for (std::size_t i = 0; i < n.ops.size(); ++i)
    if (n.ops[i] == "*" || n.ops[i] == "%in%")
      fail(b.text(), n.op_pos[i],
           "'" + n.ops[i] + "' in a grouping factor: use a:b for crossed grouping or a/b for nesting");
  if (n.kids.size() > kMaxNesting)
    fail(b.text(), n.op_pos[kMaxNesting - 1],
         "too many levels of nesting with '/' (more than " + std::to_string(kMaxNesting) + ")");
  std::vector<Group> acc = groupings(b, n.kids[0]);
  for (std::size_t i = 1; i < n.kids.size(); ++i) {
    std::vector<Group> right = groupings(b, n.kids[i]);
    if (right.size() != 1)
      fail(b.text(), n.kids[i].start, "nesting on the right of '/' is not supported");
    Group inner = right[0];
    for (const GroupVar& v : acc[0])
      if (!contains(inner, v.name)) inner.push_back(v);
    acc.insert(acc.begin(), std::move(inner));
  }
  return acc;
}

/// The grouping factors of `(lhs | g)`.
std::vector<Group> groupings(const Builder& b, const Node& n) {
  switch (n.k) {
    case Node::K::Paren:
      return groupings(b, n.kids[0]);
    case Node::K::Name:
      b.check_name(n);
      return {{GroupVar{n.name, false}}};
    case Node::K::Call:
      // factor(id): the same grouping as id (lme4 makes every grouping variable a factor).
      if (n.name == "factor" && n.kids.size() == 1 && n.arg_names[0].empty() &&
          n.kids[0].k == Node::K::Name) {
        b.check_name(n.kids[0]);
        return {{GroupVar{n.kids[0].name, true}}};
      }
      bad_grouping(b, n);
    case Node::K::Chain:
      if (n.name == "+")
        fail(b.text(), n.op_pos[0],
             "'" + n.ops[0] +
                 "' in a grouping factor: use a:b for the interaction of two grouping variables, "
                 "or separate terms (1 | a) + (1 | b)");
      if (n.name == ":") return {interaction_group(b, n)};
      return nested_groups(b, n);
    default:
      bad_grouping(b, n);
  }
}

std::string bar_text(std::string_view text, const Node& bar) {
  return std::string(text.substr(bar.start, bar.end - bar.start));
}

void add_random(const Builder& b, const Node& bar, std::vector<RandomTerm>& out) {
  const Node& lhs = bar.kids[0];
  const Node& rhs = bar.kids[1];
  if (const Node* inner = find_bar(lhs))
    fail(b.text(), inner->pos, "'" + inner->name + "' inside a random-effects term");
  if (const Node* inner = find_bar(rhs))
    fail(b.text(), inner->pos, "'" + inner->name + "' inside a random-effects term");
  Encoder enc(b);
  std::vector<Bits> bits = enc.encode(lhs);
  trim_repeats(bits);
  std::vector<Term> terms = enc.sorted_terms(bits);
  if (!enc.intercept && terms.empty())
    fail(b.text(), lhs.start,
         "the random-effects term (" + bar_text(b.text(), bar) +
             ") has no intercept and no covariates");
  const std::vector<Group> groups = groupings(b, rhs);

  std::vector<RandomTerm> parts;
  if (bar.name == "||") {
    if (enc.intercept) parts.push_back(RandomTerm{true, {}, {}, {}});
    for (const Term& t : terms) parts.push_back(RandomTerm{false, {t}, {}, {}});
  } else {
    parts.push_back(RandomTerm{enc.intercept, std::move(terms), {}, {}});
  }
  for (const RandomTerm& p : parts)
    for (const Group& g : groups) {
      RandomTerm r = p;
      bool any_call = false;
      for (const GroupVar& v : g) {
        r.grouping.push_back(v.name);
        r.grouping_as_factor.push_back(v.factor_call);
        any_call = any_call || v.factor_call;
      }
      if (!any_call) r.grouping_as_factor.clear();
      out.push_back(std::move(r));
    }
}

}  // namespace

Formula parse_formula(std::string_view text) {
  Node lhs, rhs;
  std::size_t tilde = 0;
  formula_detail::parse_syntax(text, lhs, rhs, tilde);
  Builder b(text);

  Formula f;
  f.text = std::string(text);

  // Response: an arithmetic expression of the data's columns.
  if (const Node* bar = find_bar(lhs)) fail(text, bar->pos, "'" + bar->name + "' in the response");
  {
    const Node& r = unwrap(lhs);
    if (r.k == Node::K::Call && r.name == "factor")
      fail(text, r.pos, "the response must be numeric, not factor(...)");
    if (r.k == Node::K::Call && formula_detail::find_function(r.name) &&
        formula_detail::find_function(r.name)->role != formula_detail::FunctionRole::Arithmetic)
      fail(text, r.pos, "the response must be numeric, not " + r.name + "(...)");
  }
  f.response = b.arith(lhs);
  if (f.response.variables().empty()) fail(text, lhs.start, "the response must contain a variable");

  std::vector<std::pair<bool, const Node*>> fixed;
  std::vector<const Node*> bars;
  split_rhs(b, rhs, fixed, bars);

  Encoder enc(b);
  Encoder::TermList acc;
  for (const auto& [minus, node] : fixed) {
    if (const Node& u = unwrap(*node); u.k == Node::K::Call && u.name == "offset") {
      if (minus) fail(text, u.pos, "offset() cannot be subtracted; write offset(-x)");
      Expr call = b.arith(u);  // checks the number of arguments
      f.offsets.push_back(std::move(call.args.at(0)));
      continue;
    }
    if (minus)
      enc.minus(acc, *node);
    else
      enc.plus(acc, *node);
  }
  f.intercept = enc.intercept;
  f.fixed = enc.sorted_terms(std::move(acc.terms));

  for (const Node* bar : bars) add_random(b, *bar, f.random);
  return f;
}

}  // namespace lmm
