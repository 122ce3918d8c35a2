// parse_formula: lme4's formula language, with R's rules for expanding and ordering terms
// (terms.formula in R's src/library/stats/src/model.c) and lme4's for random-effects terms
// (findbars, expandDoubleVerts, expandSlash).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "formula/rformat.h"
#include "lmm/error.h"
#include "lmm/formula.h"

namespace lmm {
namespace {

constexpr int kMaxDepth = 200;            // parentheses, calls, unary minus and '^' nested
constexpr int kMaxExprDepth = 1000;       // depth of an arithmetic expression tree (I(a + b + ...))
constexpr std::size_t kMaxTerms = 10000;  // terms after expanding '*', '^', '/'
constexpr std::size_t kMaxNesting = 100;  // levels of a/b/c/... in a grouping factor
constexpr std::size_t kWindow = 60;  // characters shown each side of the caret in long formulas

// ---------------------------------------------------------------------------------------------
// Error messages: what, where, and the formula with a caret under the position.

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// A line break in the message (a backquoted name may hold one) is shown as \n, so the error stays
// one line of message, the formula, and the caret; lmm::Error escapes the other control bytes.
std::string escape_line_breaks(std::string s) {
  for (std::size_t i = 0; (i = s.find('\n', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\n");
  return s;
}

[[noreturn]] void fail(std::string_view text, std::size_t pos, const std::string& what_raw) {
  const std::string what = escape_line_breaks(what_raw);
  if (pos > text.size()) pos = text.size();
  // Work in code points so that the caret lines up under UTF-8 text.
  std::vector<std::string> chars;
  std::size_t caret = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t j = i + 1;
    // Continuation bytes belong to a lead byte (>= 0xC0) only: after a line break they must not
    // make it a two-byte "character" that escapes the control-character replacement below.
    if (static_cast<unsigned char>(text[i]) >= 0xC0)
      while (j < text.size() && is_continuation(static_cast<unsigned char>(text[j]))) ++j;
    if (i < pos) caret = chars.size() + 1;  // ends as the index of the character at `pos`
    std::string ch(text.substr(i, j - i));
    if (ch.size() == 1 && (static_cast<unsigned char>(ch[0]) < 0x20 || ch[0] == 0x7f)) ch = " ";
    chars.push_back(std::move(ch));
    i = j;
  }
  std::size_t from = 0, to = chars.size();
  std::string prefix, suffix;
  if (chars.size() > 2 * kWindow + 20) {
    if (caret > kWindow) {
      from = caret - kWindow;
      prefix = "...";
    }
    if (caret + kWindow < chars.size()) {
      to = caret + kWindow;
      suffix = "...";
    }
  }
  std::string line = prefix;
  for (std::size_t i = from; i < to; ++i) line += chars[i];
  line += suffix;
  const std::size_t column = prefix.size() + (caret - from);
  throw Error("formula: " + what + " at character " + std::to_string(caret + 1) + "\n  " + line +
              "\n  " + std::string(column, ' ') + "^");
}

// ---------------------------------------------------------------------------------------------
// Tokens.

enum class Tok { Name, Number, Op, LParen, RParen, Comma, End };

struct Token {
  Tok kind = Tok::End;
  std::string text;  // operator, name (without backquotes), or the number as written
  std::size_t pos = 0;
  std::size_t end = 0;
  double value = 0;
  bool quoted = false;
};

bool name_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80 || c == '.';
}
bool name_char(unsigned char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '_'; }
bool digit(unsigned char c) { return c >= '0' && c <= '9'; }

std::string quote_token(const Token& t) {
  switch (t.kind) {
    case Tok::End:
      return "the end of the formula";
    case Tok::Name:
      return "'" + detail::quote_name(t.text) + "'";
    default:
      return "'" + t.text + "'";
  }
}

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto at = [&](std::size_t k) -> unsigned char {
    return k < n ? static_cast<unsigned char>(s[k]) : 0;
  };
  while (i < n) {
    const unsigned char c = at(i);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (digit(c) || (c == '.' && digit(at(i + 1)))) {
      std::size_t j = i;
      while (digit(at(j))) ++j;
      if (at(j) == '.') {
        ++j;
        while (digit(at(j))) ++j;
      }
      bool bad = false;
      if (at(j) == 'e' || at(j) == 'E') {
        std::size_t k = j + 1;
        if (at(k) == '+' || at(k) == '-') ++k;
        if (digit(at(k))) {
          while (digit(at(k))) ++k;
          j = k;
        } else {
          bad = true;
          j = k;
        }
      }
      if (name_char(at(j))) bad = true;
      while (name_char(at(j))) ++j;
      t.kind = Tok::Number;
      t.text = std::string(s.substr(i, j - i));
      t.end = j;
      if (!bad) {
        errno = 0;
        char* endp = nullptr;
        t.value = std::strtod(t.text.c_str(), &endp);
        if (endp != t.text.c_str() + t.text.size()) bad = true;
        if (std::isinf(t.value) || errno == ERANGE) {
          if (std::isinf(t.value)) fail(s, i, "number '" + t.text + "' is too large");
        }
      }
      if (bad) fail(s, i, "bad number '" + t.text + "'");
      out.push_back(std::move(t));
      i = j;
      continue;
    }
    if (name_start(c)) {
      std::size_t j = i;
      while (name_char(at(j))) ++j;
      t.kind = Tok::Name;
      t.text = std::string(s.substr(i, j - i));
      t.end = j;
      out.push_back(std::move(t));
      i = j;
      continue;
    }
    if (c == '`') {
      const std::size_t close = s.find('`', i + 1);
      if (close == std::string_view::npos) fail(s, i, "unterminated backquote");
      if (close == i + 1) fail(s, i, "empty name ``");
      t.kind = Tok::Name;
      t.text = std::string(s.substr(i + 1, close - i - 1));
      t.quoted = true;
      t.end = close + 1;
      out.push_back(std::move(t));
      i = close + 1;
      continue;
    }
    t.end = i + 1;
    switch (c) {
      case '(':
        t.kind = Tok::LParen;
        t.text = "(";
        break;
      case ')':
        t.kind = Tok::RParen;
        t.text = ")";
        break;
      case ',':
        t.kind = Tok::Comma;
        t.text = ",";
        break;
      case '~':
      case '+':
      case '-':
      case '*':
      case '/':
      case '^':
      case ':':
        t.kind = Tok::Op;
        t.text = std::string(1, static_cast<char>(c));
        break;
      case '|':
        t.kind = Tok::Op;
        if (at(i + 1) == '|') {
          t.text = "||";
          t.end = i + 2;
        } else {
          t.text = "|";
        }
        break;
      default: {
        std::string shown;
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02X", c);
          shown = buf;
        } else {
          shown = std::string(1, static_cast<char>(c));
        }
        std::string hint;
        if (c == '%') hint = " (operators such as %in% are not supported)";
        if (c == '=' || c == '<' || c == '>' || c == '!' || c == '&')
          hint =
              " (comparisons and logical operators are not supported; compute the variable first)";
        if (c == '$' || c == '[' || c == '@') hint = " (refer to columns of the data by name)";
        fail(s, i, "unexpected character '" + shown + "'" + hint);
      }
    }
    i = t.end;
    out.push_back(std::move(t));
  }
  Token end;
  end.kind = Tok::End;
  end.pos = end.end = n;
  out.push_back(std::move(end));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Syntax tree: like R's, but with runs of the same-precedence operator kept in one node so that
// long formulas do not make deep trees.

struct Node {
  enum class K { Name, Num, Call, Chain, Power, Neg, Paren, Bar };
  K k = K::Name;
  std::string name;  // Name: the variable; Call: the function; Chain: "+", "*" or ":"; Bar: | or ||
  bool quoted = false;
  double value = 0;
  std::vector<Node> kids;
  std::vector<std::string> ops;     // Chain: ops[i] joins kids[i] and kids[i + 1]
  std::vector<std::size_t> op_pos;  // Chain: positions of ops
  std::size_t pos = 0;              // the position errors point at (operator, name, '(')
  std::size_t start = 0;            // first character
  std::size_t end = 0;              // one past the last character
};

const char* const kSupported = "I(), log(), exp(), sqrt() and factor()";

bool is_known_function(const std::string& f) {
  return f == "I" || f == "log" || f == "exp" || f == "sqrt" || f == "factor";
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text), toks_(tokenize(text)) {}

  void parse(Node& lhs, Node& rhs, std::size_t& tilde_pos) {
    if (peek().kind == Tok::End) fail(text_, 0, "empty formula");
    bool has_tilde = false;
    for (const Token& t : toks_)
      if (t.kind == Tok::Op && t.text == "~") has_tilde = true;
    if (!has_tilde) {
      parse_bar();
      fail(text_, peek().pos,
           "missing '~' after the response (a formula looks like y ~ x + (1 | g))");
    }
    if (is_op("~")) fail(text_, peek().pos, "missing response before '~' (as in y ~ x + (1 | g))");
    lhs = parse_bar();
    if (!is_op("~")) unexpected(peek());
    tilde_pos = peek().pos;
    next();
    if (peek().kind == Tok::End) fail(text_, tilde_pos, "nothing after '~'");
    rhs = parse_bar();
    if (peek().kind != Tok::End) unexpected(peek());
  }

 private:
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser, std::size_t pos) : p(parser) {
      if (++p.depth_ > kMaxDepth)
        fail(p.text_, pos,
             "the formula is nested too deeply (more than " + std::to_string(kMaxDepth) +
                 " levels of parentheses or operators)");
    }
    ~DepthGuard() { --p.depth_; }
  };

  const Token& peek() const { return toks_[i_]; }
  const Token& next() { return toks_[i_ < toks_.size() - 1 ? i_++ : i_]; }
  const Token* prev() const { return i_ > 0 ? &toks_[i_ - 1] : nullptr; }
  bool is_op(std::string_view op) const { return peek().kind == Tok::Op && peek().text == op; }

  [[noreturn]] void unexpected(const Token& t) const {
    switch (t.kind) {
      case Tok::Name:
      case Tok::Number:
        fail(text_, t.pos, "missing operator (such as '+') before " + quote_token(t));
      case Tok::LParen:
        fail(text_, t.pos, "missing operator (such as '+') before '('");
      case Tok::RParen:
        fail(text_, t.pos, "unbalanced parentheses: ')' has no matching '('");
      case Tok::Comma:
        fail(text_, t.pos, "unexpected ','");
      case Tok::Op:
        if (t.text == "~") fail(text_, t.pos, "unexpected '~' (a formula has one '~')");
        fail(text_, t.pos, "unexpected '" + t.text + "'");
      case Tok::End:
        break;
    }
    fail(text_, t.pos, "unexpected end of the formula");
  }

  // '|' and '||' (lowest precedence, inside parentheses)
  Node parse_bar() {
    Node left = parse_sum();
    while (is_op("|") || is_op("||")) {
      const Token op = next();
      if (peek().kind == Tok::RParen || peek().kind == Tok::End || peek().kind == Tok::Comma ||
          is_op("~"))
        fail(text_, peek().pos, "missing grouping factor after '" + op.text + "'");
      Node right = parse_sum();
      Node bar;
      bar.k = Node::K::Bar;
      bar.name = op.text;
      bar.pos = op.pos;
      bar.start = left.start;
      bar.end = right.end;
      bar.kids.push_back(std::move(left));
      bar.kids.push_back(std::move(right));
      left = std::move(bar);
    }
    return left;
  }

  template <typename Sub>
  Node parse_chain(const char* a, const char* b, const char* chain_name, Sub sub) {
    Node first = (this->*sub)();
    if (!(is_op(a) || (b && is_op(b)))) return first;
    Node chain;
    chain.k = Node::K::Chain;
    chain.name = chain_name;
    chain.pos = peek().pos;
    chain.start = first.start;
    chain.kids.push_back(std::move(first));
    while (is_op(a) || (b && is_op(b))) {
      const Token op = next();
      chain.ops.push_back(op.text);
      chain.op_pos.push_back(op.pos);
      chain.kids.push_back((this->*sub)());
    }
    chain.end = chain.kids.back().end;
    return chain;
  }

  Node parse_sum() { return parse_chain("+", "-", "+", &Parser::parse_product); }
  Node parse_product() { return parse_chain("*", "/", "*", &Parser::parse_colon); }
  Node parse_colon() { return parse_chain(":", nullptr, ":", &Parser::parse_unary); }

  Node parse_unary() {
    if (is_op("-") || is_op("+")) {
      const Token op = next();
      DepthGuard guard(*this, op.pos);
      Node inner = parse_unary();
      if (op.text == "+") return inner;
      Node neg;
      neg.k = Node::K::Neg;
      neg.pos = neg.start = op.pos;
      neg.end = inner.end;
      neg.kids.push_back(std::move(inner));
      return neg;
    }
    return parse_power();
  }

  Node parse_power() {
    Node base = parse_primary();
    if (!is_op("^")) return base;
    const Token op = next();
    DepthGuard guard(*this, op.pos);
    Node exponent = parse_unary();
    Node pw;
    pw.k = Node::K::Power;
    pw.name = "^";
    pw.pos = op.pos;
    pw.start = base.start;
    pw.end = exponent.end;
    pw.kids.push_back(std::move(base));
    pw.kids.push_back(std::move(exponent));
    return pw;
  }

  void expect_close(const Token& open) {
    if (peek().kind == Tok::RParen) {
      next();
      return;
    }
    if (peek().kind == Tok::End)
      fail(text_, open.pos, "unbalanced parentheses: this '(' is never closed");
    unexpected(peek());
  }

  Node parse_primary() {
    const Token& t = peek();
    switch (t.kind) {
      case Tok::Number: {
        Node n;
        n.k = Node::K::Num;
        n.value = t.value;
        n.name = t.text;
        n.pos = n.start = t.pos;
        n.end = t.end;
        next();
        return n;
      }
      case Tok::Name: {
        Node n;
        n.name = t.text;
        n.quoted = t.quoted;
        n.pos = n.start = t.pos;
        n.end = t.end;
        next();
        if (peek().kind != Tok::LParen) {
          n.k = Node::K::Name;
          return n;
        }
        n.k = Node::K::Call;
        if (!is_known_function(n.name)) {
          if (peek().pos > n.end)  // `x (1 | g)`: a forgotten '+' rather than a call
            fail(text_, peek().pos, "missing operator (such as '+') before '('");
          fail(text_, n.pos,
               "unknown function '" + n.name + "'; the supported functions are " + kSupported);
        }
        const Token open = next();
        DepthGuard guard(*this, open.pos);
        if (peek().kind != Tok::RParen) {
          while (true) {
            if (peek().kind == Tok::Comma || peek().kind == Tok::RParen)
              fail(text_, peek().pos, "missing argument in call to " + n.name + "()");
            n.kids.push_back(parse_bar());
            if (peek().kind != Tok::Comma) break;
            next();
          }
        }
        n.end = peek().end;
        expect_close(open);
        return n;
      }
      case Tok::LParen: {
        const Token open = next();
        DepthGuard guard(*this, open.pos);
        if (peek().kind == Tok::RParen) fail(text_, open.pos, "empty parentheses '()'");
        Node n;
        n.k = Node::K::Paren;
        n.pos = n.start = open.pos;
        n.kids.push_back(parse_bar());
        n.end = peek().end;
        expect_close(open);
        return n;
      }
      case Tok::End: {
        const Token* p = prev();
        if (p && p->kind == Tok::Op) fail(text_, p->pos, "missing term after '" + p->text + "'");
        fail(text_, t.pos, "the formula ends too early");
      }
      case Tok::Op: {
        const Token* p = prev();
        if ((t.text == "|" || t.text == "||") && p && p->kind == Tok::LParen)
          fail(text_, t.pos,
               "empty random-effects term: nothing before '" + t.text + "' (write (1 " + t.text +
                   " g) for a random intercept)");
        if (p && p->kind == Tok::Op && p->text != "~")
          fail(text_, t.pos, "missing term between '" + p->text + "' and '" + t.text + "'");
        if (t.text == "~") fail(text_, t.pos, "unexpected '~' (a formula has one '~')");
        fail(text_, t.pos, "missing term before '" + t.text + "'");
      }
      case Tok::RParen: {
        const Token* p = prev();
        if (p && p->kind == Tok::Op) fail(text_, p->pos, "missing term after '" + p->text + "'");
        unexpected(t);
      }
      case Tok::Comma:
        unexpected(t);
    }
    unexpected(t);
  }

  std::string_view text_;
  std::vector<Token> toks_;
  std::size_t i_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// From syntax to meaning.

const Node* find_bar(const Node& n) {
  if (n.k == Node::K::Bar) return &n;
  for (const Node& k : n.kids)
    if (const Node* b = find_bar(k)) return b;
  return nullptr;
}

class Builder {
 public:
  explicit Builder(std::string_view text) : text_(text) {}

  void check_name(const Node& n) const {
    if (!n.quoted && n.name == ".")
      fail(text_, n.pos, "'.' (all other columns) is not supported; list the variables");
    if (!n.quoted && (n.name == "TRUE" || n.name == "FALSE" || n.name == "NA" || n.name == "NULL" ||
                      n.name == "Inf" || n.name == "NaN"))
      fail(text_, n.pos, "'" + n.name + "' is not a variable");
  }

  void check_call(const Node& n) const {
    if (!is_known_function(n.name))
      fail(text_, n.pos,
           "unknown function '" + n.name + "'; the supported functions are " + kSupported);
    if (n.kids.size() != 1)
      fail(text_, n.pos, n.name + "() takes one argument, not " + std::to_string(n.kids.size()));
  }

  /// An arithmetic expression: the response, or what is inside I(), log(), ...
  Expr arith(const Node& n, int depth = 0) const {
    if (depth > kMaxExprDepth)
      fail(text_, n.pos,
           "expression too long or nested too deeply (more than " + std::to_string(kMaxExprDepth) +
               " operations)");
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
      case Node::K::Call:
        check_call(n);
        if (n.name == "factor")
          fail(text_, n.pos, "factor() cannot be used inside an arithmetic expression");
        e.kind = Expr::Kind::Call;
        e.name = n.name;
        e.args.push_back(arith(n.kids[0], depth + 1));
        return e;
      case Node::K::Power:
        e.kind = Expr::Kind::Binary;
        e.name = "^";
        e.args.push_back(arith(n.kids[0], depth + 1));
        e.args.push_back(arith(n.kids[1], depth + 1));
        return e;
      case Node::K::Chain: {
        if (n.name == ":")
          fail(text_, n.op_pos[0],
               "':' is not arithmetic; inside I() or a function use '*' to multiply");
        if (static_cast<int>(n.kids.size()) + depth > kMaxExprDepth)
          fail(text_, n.pos,
               "expression too long or nested too deeply (more than " +
                   std::to_string(kMaxExprDepth) + " operations)");
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
      case Node::K::Bar:
        fail(text_, n.pos,
             "'" + n.name +
                 "' can only separate a random-effects term from its grouping factor, "
                 "as in (1 | g)");
    }
    fail(text_, n.pos, "unexpected expression");
  }

  /// A variable of a model term: a column, I(...), log(...), factor(...).
  Expr variable(const Node& n) const {
    if (n.k == Node::K::Name) return arith(n);
    if (n.k == Node::K::Call) {
      check_call(n);
      Expr e;
      e.kind = Expr::Kind::Call;
      e.name = n.name;
      e.args.push_back(arith(n.kids[0], 1));
      return e;
    }
    fail(text_, n.pos, "unexpected expression");
  }

  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

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

  std::vector<Bits> encode(const Node& n) {
    switch (n.k) {
      case Node::K::Name:
      case Node::K::Call:
        return {{install(b_.variable(n))}};
      case Node::K::Num:
        if (n.value == 1) {
          intercept = parity_;
          return {};
        }
        if (n.value == 0) {
          intercept = !parity_;
          return {};
        }
        fail(b_.text(), n.pos,
             "a number (" + n.name +
                 ") cannot be a model term; use I() for arithmetic, as in "
                 "I(2 * x)");
      case Node::K::Paren:
        return encode(n.kids[0]);
      case Node::K::Neg: {
        parity_ = !parity_;
        encode(n.kids[0]);
        parity_ = !parity_;
        return {};
      }
      case Node::K::Power: {
        const Node& ex = n.kids[1];
        if (ex.k != Node::K::Num || ex.value < 1 || ex.value != std::floor(ex.value))
          fail(b_.text(), ex.start,
               "the power of terms in (a + b)^n must be a positive whole number; for "
               "arithmetic use I(x^2)");
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
      case Node::K::Chain:
        return encode_chain(n);
      case Node::K::Bar:
        fail(b_.text(), n.pos,
             "'" + n.name +
                 "' outside parentheses: write random-effects terms in parentheses, "
                 "as in y ~ x + (1 | g)");
    }
    return {};
  }

  std::vector<Term> sorted_terms(std::vector<Bits> bits) const {
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

  /// A list of terms without repeats, in order of first appearance.
  struct TermList {
    std::vector<Bits> terms;
    std::set<Bits> seen;
    void add(std::vector<Bits>&& more) {
      for (Bits& t : more)
        if (!t.empty() && seen.insert(t).second) terms.push_back(std::move(t));
    }
    void remove(const std::vector<Bits>& drop) {
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
  int install(Expr e) {
    std::string key = e.label();
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    const int id = static_cast<int>(vars.size());
    index_.emplace(std::move(key), id);
    vars.push_back(std::move(e));
    return id;
  }

  void guard(std::size_t a, std::size_t b, std::size_t pos) const {
    if (a != 0 && b > kMaxTerms / a)
      fail(b_.text(), pos,
           "the formula expands to too many terms (more than " + std::to_string(kMaxTerms) + ")");
  }

  std::vector<Bits> encode_chain(const Node& n) {
    std::vector<Bits> acc;
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
    acc = encode(n.kids[0]);
    bool unsorted = false;  // a:b:c:... of single terms: sort the union once, at the end
    for (std::size_t i = 1; i < n.kids.size(); ++i) {
      const std::string& op = n.ops[i - 1];
      std::vector<Bits> r = encode(n.kids[i]);
      if (op == ":" && acc.size() == 1 && r.size() == 1) {
        acc[0].insert(acc[0].end(), r[0].begin(), r[0].end());
        unsorted = true;
        continue;
      }
      if (unsorted) {
        std::sort(acc[0].begin(), acc[0].end());
        acc[0].erase(std::unique(acc[0].begin(), acc[0].end()), acc[0].end());
        unsorted = false;
      }
      if (op == ":") {
        guard(acc.size(), r.size(), n.op_pos[i - 1]);
        std::vector<Bits> out;
        for (const Bits& l : acc)
          for (const Bits& x : r) out.push_back(unite(l, x));
        acc = std::move(out);
      } else if (op == "*") {
        guard(acc.size() + 1, r.size() + 1, n.op_pos[i - 1]);
        std::vector<Bits> out = acc;
        out.insert(out.end(), r.begin(), r.end());
        for (const Bits& l : acc)
          for (const Bits& x : r) out.push_back(unite(l, x));
        acc = std::move(out);
      } else {  // "/": a/b = a + a:b, with all of the left side's variables
        Bits all;
        for (const Bits& l : acc) all = unite(all, l);
        for (const Bits& x : r) acc.push_back(unite(all, x));
      }
      trim_repeats(acc);
      if (acc.size() > kMaxTerms)
        fail(b_.text(), n.op_pos[i - 1],
             "the formula expands to too many terms (more than " + std::to_string(kMaxTerms) + ")");
    }
    if (unsorted) {
      std::sort(acc[0].begin(), acc[0].end());
      acc[0].erase(std::unique(acc[0].begin(), acc[0].end()), acc[0].end());
    }
    return acc;
  }

  const Builder& b_;
  std::unordered_map<std::string, int> index_;
  bool parity_ = true;
};

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

using Group = std::vector<std::string>;

/// The grouping factors of `(lhs | g)`: lme4's expandSlash. `a/b` gives {b:a, a}.
std::vector<Group> groupings(const Builder& b, const Node& n) {
  auto bad = [&](const Node& at) -> void {
    fail(b.text(), at.pos,
         "the grouping factor after '|' must be a variable, an interaction such as a:b, or a "
         "nesting such as a/b");
  };
  switch (n.k) {
    case Node::K::Paren:
      return groupings(b, n.kids[0]);
    case Node::K::Name:
      b.check_name(n);
      return {{n.name}};
    case Node::K::Chain: {
      if (n.name == "+") {
        fail(b.text(), n.op_pos[0],
             "'" + n.ops[0] +
                 "' in a grouping factor: use a:b for the interaction of two grouping variables, "
                 "or separate terms (1 | a) + (1 | b)");
      }
      if (n.name == ":") {
        Group g;
        std::set<std::string> seen;
        for (const Node& k : n.kids) {
          std::vector<Group> sub = groupings(b, k);
          if (sub.size() != 1) bad(k);
          for (std::string& v : sub[0])
            if (seen.insert(v).second) g.push_back(std::move(v));
        }
        return {g};
      }
      // '*' and '/'
      for (std::size_t i = 0; i < n.ops.size(); ++i)
        if (n.ops[i] == "*")
          fail(b.text(), n.op_pos[i],
               "'*' in a grouping factor: use a:b for crossed grouping or a/b for nesting");
      if (n.kids.size() > kMaxNesting)
        fail(b.text(), n.op_pos[kMaxNesting - 1],
             "too many levels of nesting with '/' (more than " + std::to_string(kMaxNesting) + ")");
      std::vector<Group> acc = groupings(b, n.kids[0]);
      for (std::size_t i = 1; i < n.kids.size(); ++i) {
        std::vector<Group> right = groupings(b, n.kids[i]);
        if (right.size() != 1)
          fail(b.text(), n.kids[i].start, "nesting on the right of '/' is not supported");
        Group inner = right[0];
        for (const std::string& v : acc[0])
          if (std::find(inner.begin(), inner.end(), v) == inner.end()) inner.push_back(v);
        acc.insert(acc.begin(), std::move(inner));
      }
      return acc;
    }
    default:
      bad(n);
  }
  return {};
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
    if (enc.intercept) parts.push_back(RandomTerm{true, {}, {}});
    for (const Term& t : terms) parts.push_back(RandomTerm{false, {t}, {}});
  } else {
    parts.push_back(RandomTerm{enc.intercept, std::move(terms), {}});
  }
  for (const RandomTerm& p : parts)
    for (const Group& g : groups) {
      RandomTerm r = p;
      r.grouping = g;
      out.push_back(std::move(r));
    }
}

}  // namespace

Formula parse_formula(std::string_view text) {
  Parser parser(text);
  Node lhs, rhs;
  std::size_t tilde = 0;
  parser.parse(lhs, rhs, tilde);
  Builder b(text);

  Formula f;
  f.text = std::string(text);

  // Response: an arithmetic expression of the data's columns.
  if (const Node* bar = find_bar(lhs)) fail(text, bar->pos, "'" + bar->name + "' in the response");
  {
    const Node& r = unwrap(lhs);
    if (r.k == Node::K::Call && r.name == "factor")
      fail(text, r.pos, "the response must be numeric, not factor(...)");
  }
  f.response = b.arith(lhs);
  if (f.response.variables().empty()) fail(text, lhs.start, "the response must contain a variable");

  std::vector<std::pair<bool, const Node*>> fixed;
  std::vector<const Node*> bars;
  split_rhs(b, rhs, fixed, bars);

  Encoder enc(b);
  Encoder::TermList acc;
  for (const auto& [minus, node] : fixed) {
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
