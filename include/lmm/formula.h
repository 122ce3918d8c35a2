// lme4's formula language: `y ~ x * g + I(x^2) + (1 + x | subject) + (1 | a/b)`.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace lmm {

/// An expression for one covariate: a variable, a number, a call (`I`, `log`, `exp`, `sqrt`,
/// `factor`), a binary operator (`+ - * / ^`) or a unary minus.
struct Expr {
  enum class Kind { Variable, Number, Call, Binary, Negate };
  Kind kind = Kind::Variable;
  std::string name;  ///< variable name, function name, or operator symbol
  double value = 0;  ///< Number
  std::vector<Expr> args;

  /// The text R's deparse() gives: `I(age^2)`, `log(x)`, `I(x - 1)`, `factor(Diet)`.
  std::string label() const;
  /// Variables the expression reads, in order of appearance, without repeats.
  std::vector<std::string> variables() const;
  /// True for `factor(x)`.
  bool is_factor_call() const { return kind == Kind::Call && name == "factor"; }
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
