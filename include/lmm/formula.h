// lme4's formula language: `y ~ x * g + I(x^2) + (1 + x | subject) + (1 | a/b)`.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace lmm {

/// An expression for one covariate: a variable, a number, a call (`I`, `log`, `exp`, `sqrt`,
/// `scale`; `factor`, `ordered`, `relevel`, `C`; `poly`), a binary operator (`+ - * / ^`) or a unary
/// minus. A call's further arguments may be strings (`relevel(x, "b")`), symbols that are not
/// columns (`contr.sum`, `TRUE`) and `c(...)` of strings or numbers.
struct Expr {
  enum class Kind { Variable, Number, Call, Binary, Negate, String, Symbol };
  Kind kind = Kind::Variable;
  std::string name;  ///< variable name, function name, operator symbol, string text or symbol
  double value = 0;  ///< Number
  std::vector<Expr> args;
  std::vector<std::string> arg_names;  ///< Call: per argument, its name as written or "" (may be empty)

  /// The text R's deparse() gives: `I(age^2)`, `log(x)`, `I(x - 1)`, `factor(Diet)`,
  /// `relevel(Sex, "Male")`, `poly(x, 2, raw = TRUE)`.
  std::string label() const;
  /// Variables the expression reads (columns of the data), in order of appearance, without repeats.
  std::vector<std::string> variables() const;
  /// True for a call that makes a factor: `factor(x)`, `ordered(x)`, `relevel(x, "b")`, `C(x, contr.sum)`.
  bool is_factor_call() const;
  /// The argument R's matching gives for the parameter `name` at `position` of the function's
  /// parameters (named arguments first, then positional ones in order), or null.
  const Expr* argument(std::string_view param, std::size_t position) const;
};

/// A model term: the interaction of one or more factors (`a`, `a:b`). Never empty.
struct Term {
  std::vector<Expr> factors;
  std::string label() const;  ///< "time:group"
};

/// One random-effects term `(lhs | g)` after expanding `||` and `/`.
struct RandomTerm {
  bool intercept = true;            ///< the LHS has an intercept (`1 +`, or implied)
  std::vector<Term> terms;          ///< the LHS's terms in R's order (main effects, then interactions)
  std::vector<std::string> grouping;  ///< variables whose interaction is the grouping factor: {"cask","batch"}
  /// Per grouping variable: written as factor(v) (the same grouping; only the label says so). May be
  /// empty (none).
  std::vector<bool> grouping_as_factor;
  std::string group_label() const;  ///< "cask:batch", as lme4 names it
};

struct Formula {
  std::string text;   ///< as given
  Expr response;
  bool intercept = true;
  std::vector<Term> fixed;  ///< in R's order: by the number of factors, then as written
  std::vector<RandomTerm> random;  ///< as written (the model frame orders them as lme4 does)
  std::string deparse() const;  ///< normalised text, for display
};

/// Parses a formula. Throws lmm::Error with the formula and a caret under the position at fault.
Formula parse_formula(std::string_view text);

}  // namespace lmm
