// From syntax nodes to expressions: variables, arithmetic, and the calls of the function table
// (functions.cpp) with their arguments checked as R would match them.
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formula/syntax.h"
#include "lmm/formula.h"

namespace lmm::formula_detail {
namespace {

std::string too_deep() {
  return "expression too long or nested too deeply (more than " + std::to_string(kMaxExprDepth) +
         " operations)";
}

const char* const kContrasts[] = {"contr.treatment", "contr.sum", "contr.helmert", "contr.poly"};

bool is_contrast_name(std::string_view s) {
  for (const char* c : kContrasts)
    if (s == c) return true;
  return false;
}

bool is_logical_name(const Node& n) {
  return n.k == Node::K::Name && !n.quoted &&
         (n.name == "TRUE" || n.name == "FALSE" || n.name == "T" || n.name == "F");
}

}  // namespace

void ExprBuilder::check_name(const Node& n) const {
  if (!n.quoted && n.name == ".")
    fail(text_, n.pos, "'.' (all other columns) is not supported; list the variables");
  if (!n.quoted && (n.name == "TRUE" || n.name == "FALSE" || n.name == "NA" || n.name == "NULL" ||
                    n.name == "Inf" || n.name == "NaN"))
    fail(text_, n.pos, "'" + n.name + "' is not a variable");
}

const FunctionSpec& ExprBuilder::check_call(const Node& n) const {
  const FunctionSpec* spec = find_function(n.name);
  if (!spec)
    fail(text_, n.pos,
         "unknown function '" + n.name + "'; the supported functions are " + supported_functions());
  const auto nargs = static_cast<int>(n.kids.size());
  if (nargs < spec->min_args || nargs > spec->max_args) {
    const std::string takes =
        spec->min_args == spec->max_args
            ? (spec->min_args == 1 ? std::string("one argument")
                                   : std::to_string(spec->min_args) + " arguments")
            : std::to_string(spec->min_args) + " to " + std::to_string(spec->max_args) +
                  " arguments";
    fail(text_, n.pos, n.name + "() takes " + takes + ", not " + std::to_string(nargs));
  }
  for (std::size_t i = 0; i < n.arg_names.size(); ++i) {
    const std::string& a = n.arg_names[i];
    if (a.empty()) continue;
    bool known = false;
    for (std::string_view p : spec->arg_names) known = known || p == a;
    if (!known) {
      std::string params;
      for (std::string_view p : spec->arg_names) params += (params.empty() ? "" : ", ") + std::string(p);
      fail(text_, n.kids[i].start,
           "unknown argument '" + a + "' of " + n.name + "() (its arguments are " + params + ")");
    }
    for (std::size_t j = 0; j < i; ++j)
      if (n.arg_names[j] == a) fail(text_, n.kids[i].start, "argument '" + a + "' given twice");
  }
  return *spec;
}

Expr ExprBuilder::arith(const Node& n, int depth) const {
  if (depth > kMaxExprDepth) fail(text_, n.pos, too_deep());
  Expr e;
  switch (n.k) {
    case Node::K::Name:
      check_name(n);
      e.kind = Expr::Kind::Variable;
      e.name = n.name;
      return e;
    case Node::K::Num:
      e.kind = Expr::Kind::Number;
      e.value = n.value;
      return e;
    case Node::K::Str:
      fail(text_, n.pos, "a string (\"" + n.name + "\") is not a number");
    case Node::K::Neg:
      e.kind = Expr::Kind::Negate;
      e.name = "-";
      e.args.push_back(arith(n.kids[0], depth + 1));
      return e;
    case Node::K::Paren:
      e.kind = Expr::Kind::Call;
      e.name = "(";
      e.args.push_back(arith(n.kids[0], depth + 1));
      return e;
    case Node::K::Call: {
      const FunctionSpec& spec = check_call(n);
      if (spec.role != FunctionRole::Arithmetic)
        fail(text_, n.pos, n.name + "() cannot be used inside an arithmetic expression");
      return call(n, spec, depth + 1);
    }
    case Node::K::Power:
      e.kind = Expr::Kind::Binary;
      e.name = "^";
      e.args.push_back(arith(n.kids[0], depth + 1));
      e.args.push_back(arith(n.kids[1], depth + 1));
      return e;
    case Node::K::Chain:
      return arith_chain(n, depth);
    case Node::K::Bar:
      fail(text_, n.pos,
           "'" + n.name +
               "' can only separate a random-effects term from its grouping factor, as in (1 | g)");
  }
  fail(text_, n.pos, "unexpected expression");
}

Expr ExprBuilder::arith_chain(const Node& n, int depth) const {
  if (n.name == ":" || n.name == "%in%")
    fail(text_, n.op_pos[0],
         "'" + n.name + "' is not arithmetic; inside I() or a function use '*' to multiply");
  if (static_cast<int>(n.kids.size()) + depth > kMaxExprDepth) fail(text_, n.pos, too_deep());
  Expr acc = arith(n.kids[0], depth + static_cast<int>(n.kids.size()));
  for (std::size_t i = 1; i < n.kids.size(); ++i) {
    Expr b;
    b.kind = Expr::Kind::Binary;
    b.name = n.ops[i - 1];
    b.args.push_back(std::move(acc));
    b.args.push_back(arith(n.kids[i], depth + 1));
    acc = std::move(b);
  }
  return acc;
}

Expr ExprBuilder::variable(const Node& n) const {
  if (n.k == Node::K::Name) return arith(n);
  if (n.k == Node::K::Call) return call(n, check_call(n), 1);
  if (n.k == Node::K::Str)
    fail(text_, n.pos, "a string (\"" + n.name + "\") cannot be a model term");
  fail(text_, n.pos, "unexpected expression");
}

// A call with its arguments in the order written; each is matched to its parameter as R does
// (named ones by name, the others in order) and checked for what that parameter takes.
Expr ExprBuilder::call(const Node& n, const FunctionSpec& spec, int depth) const {
  Expr e;
  e.kind = Expr::Kind::Call;
  e.name = n.name;
  std::vector<std::string_view> free;
  for (std::string_view p : spec.arg_names) {
    bool named = false;
    for (const std::string& a : n.arg_names) named = named || a == p;
    if (!named) free.push_back(p);
  }
  std::size_t next_free = 0;
  for (std::size_t i = 0; i < n.kids.size(); ++i) {
    const Node& kid = n.kids[i];
    const std::string_view param = !n.arg_names[i].empty() ? std::string_view(n.arg_names[i])
                                   : next_free < free.size() ? free[next_free++]
                                                             : std::string_view();
    if (param == spec.arg_names.front() || n.name == "cbind") {  // cbind(successes, failures): both data
      // The data argument: arithmetic, or for relevel() and C() also a factor call.
      const bool factor_arg = kid.k == Node::K::Call && (n.name == "relevel" || n.name == "C") &&
                              find_function(kid.name) &&
                              find_function(kid.name)->role == FunctionRole::Factor;
      e.args.push_back(factor_arg ? variable(kid) : arith(kid, depth));
    } else {
      e.args.push_back(constant(kid, n, param));
    }
  }
  e.arg_names = n.arg_names;
  bool any_name = false;
  for (const std::string& a : e.arg_names) any_name = any_name || !a.empty();
  if (!any_name) e.arg_names.clear();
  if (!e.argument(spec.arg_names.front(), 0))
    fail(text_, n.pos, n.name + "() needs its argument '" + std::string(spec.arg_names.front()) + "'");
  return e;
}

// An argument that is not data: levels = c("a", "b"), ref = "b", contr = contr.sum, degree = 2,
// raw = TRUE, ordered = TRUE.
Expr ExprBuilder::constant(const Node& n, const Node& call, std::string_view param) const {
  const std::string where = "argument '" + std::string(param) + "' of " + call.name + "()";
  Expr e;
  if (param == "levels") {
    if (n.k == Node::K::Str) return Expr{Expr::Kind::String, n.name, 0, {}, {}};
    if (n.k == Node::K::Call && n.name == "c" && !n.kids.empty()) {
      e.kind = Expr::Kind::Call;
      e.name = "c";
      for (const Node& k : n.kids) {
        if (k.k != Node::K::Str && k.k != Node::K::Num)
          fail(text_, k.start, where + " must list levels as strings, as in c(\"a\", \"b\")");
        e.args.push_back(k.k == Node::K::Str ? Expr{Expr::Kind::String, k.name, 0, {}, {}}
                                             : Expr{Expr::Kind::Number, "", k.value, {}, {}});
      }
      return e;
    }
    fail(text_, n.start, where + " must list levels as strings, as in c(\"a\", \"b\")");
  }
  if (param == "ordered" || param == "raw") {
    if (!is_logical_name(n)) fail(text_, n.start, where + " must be TRUE or FALSE");
    const bool v = n.name == "TRUE" || n.name == "T";
    return Expr{Expr::Kind::Symbol, v ? "TRUE" : "FALSE", 0, {}, {}};
  }
  if (param == "ref") {
    if (n.k != Node::K::Str) fail(text_, n.start, where + " must be a level in quotes, as in \"b\"");
    return Expr{Expr::Kind::String, n.name, 0, {}, {}};
  }
  if (param == "contr") {
    if ((n.k == Node::K::Name && !n.quoted) || n.k == Node::K::Str) {
      if (is_contrast_name(n.name))
        return Expr{n.k == Node::K::Str ? Expr::Kind::String : Expr::Kind::Symbol, n.name, 0, {}, {}};
    }
    fail(text_, n.start,
         where + " must be contr.treatment, contr.sum, contr.helmert or contr.poly");
  }
  if (param == "degree") {
    if (n.k != Node::K::Num || n.value < 1 || n.value != std::floor(n.value) || n.value > 100)
      fail(text_, n.start, where + " must be a whole number from 1 to 100");
    return Expr{Expr::Kind::Number, "", n.value, {}, {}};
  }
  fail(text_, n.start, "too many arguments in call to " + call.name + "()");
}

}  // namespace lmm::formula_detail
