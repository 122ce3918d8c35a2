// Internal to the formula parser: its limits, error reporting, tokens (lexer.cpp), syntax tree
// (parser.cpp) and the table of the functions a formula may call (functions.cpp). terms.cpp turns
// the syntax tree into a Formula.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lmm::formula_detail {

inline constexpr int kMaxDepth = 200;            // parentheses, calls, unary minus and '^' nested
inline constexpr int kMaxExprDepth = 1000;       // depth of an arithmetic expression tree
inline constexpr std::size_t kMaxTerms = 10000;  // terms after expanding '*', '^', '/'
inline constexpr std::size_t kMaxNesting = 100;  // levels of a/b/c/... in a grouping factor

/// Throws lmm::Error: "formula: WHAT at character N", the formula and a caret under `pos`.
[[noreturn]] void fail(std::string_view text, std::size_t pos, const std::string& what);

// ---- tokens (lexer.cpp) ----

enum class Tok { Name, Number, String, Op, LParen, RParen, Comma, Equals, End };

struct Token {
  Tok kind = Tok::End;
  std::string text;  // operator, name (without backquotes), string contents, or number as written
  std::size_t pos = 0;
  std::size_t end = 0;
  double value = 0;
  bool quoted = false;
};

/// The tokens of `text`, ending with one Tok::End. Operators: ~ + - * / ^ : | || %in%.
std::vector<Token> tokenize(std::string_view text);
/// How an error names a token: 'x', '+', the end of the formula.
std::string quote_token(const Token& t);

// ---- syntax tree (parser.cpp) ----

/// Like R's, but with runs of the same-precedence operator kept in one node so that long formulas
/// do not make deep trees.
struct Node {
  enum class K { Name, Num, Str, Call, Chain, Power, Neg, Paren, Bar };
  K k = K::Name;
  std::string name;  // Name: the variable; Str: the text; Call: the function; Chain: "+", "*",
                     // "%in%" or ":"; Bar: | or ||
  bool quoted = false;
  double value = 0;
  std::vector<Node> kids;
  std::vector<std::string> ops;        // Chain: ops[i] joins kids[i] and kids[i + 1]
  std::vector<std::size_t> op_pos;     // Chain: positions of ops
  std::vector<std::string> arg_names;  // Call: per argument, its name (`raw = TRUE`) or ""
  std::size_t pos = 0;                 // the position errors point at (operator, name, '(')
  std::size_t start = 0;               // first character
  std::size_t end = 0;                 // one past the last character
};

/// Parses `lhs ~ rhs`; tilde_pos is the position of the '~'.
void parse_syntax(std::string_view text, Node& lhs, Node& rhs, std::size_t& tilde_pos);

/// The first '|' or '||' node in `n`, or null.
const Node* find_bar(const Node& n);

// ---- the functions a formula may call (functions.cpp) ----

/// What a call makes: a number per row (I, log, scale, ...), a factor (factor, relevel, C, ...) or
/// several numeric columns (poly). A new function is one row of the table in functions.cpp, the
/// checks of its arguments in terms.cpp (check_call) and its evaluation in the model frame.
enum class FunctionRole { Arithmetic, Factor, Matrix };

struct FunctionSpec {
  std::string_view name;
  FunctionRole role;
  int min_args, max_args;                    // positional and named together
  std::vector<std::string_view> arg_names;   // the arguments in R's order, as they may be named
};

/// The function's spec, or null for a function formulas do not support.
const FunctionSpec* find_function(std::string_view name);
/// "I(), log(), ..., poly() and scale()": for error messages.
std::string supported_functions();

}  // namespace lmm::formula_detail

namespace lmm {
struct Expr;
}

namespace lmm::formula_detail {

// ---- from syntax to expressions (expressions.cpp) ----

/// Turns syntax nodes into Exprs, checking names, calls and their arguments.
class ExprBuilder {
 public:
  explicit ExprBuilder(std::string_view text) : text_(text) {}

  /// Rejects names that are not variables ('.', TRUE, NA, ...).
  void check_name(const Node& n) const;
  /// An arithmetic expression: the response, or what is inside I(), log(), ...
  Expr arith(const Node& n, int depth = 0) const;
  /// A variable of a model term: a column, I(...), log(...), factor(...), relevel(...), poly(...).
  Expr variable(const Node& n) const;
  std::string_view text() const { return text_; }

 private:
  const FunctionSpec& check_call(const Node& n) const;
  Expr arith_chain(const Node& n, int depth) const;
  Expr call(const Node& n, const FunctionSpec& spec, int depth) const;
  Expr constant(const Node& n, const Node& call, std::string_view param) const;

  std::string_view text_;
};

}  // namespace lmm::formula_detail
