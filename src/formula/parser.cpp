// The formula's syntax: R's grammar for the operators formulas use (precedence from low to high:
// | and ||, ~, + and -, * and /, %in%, :, unary minus, ^), calls with positional and named
// arguments, parentheses. Semantics (terms, random-effects terms) are terms.cpp's.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formula/syntax.h"

namespace lmm::formula_detail {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text), toks_(tokenize(text)) {}

  void parse(Node& lhs, Node& rhs, std::size_t& tilde_pos);

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
  const Token& peek2() const { return toks_[i_ + 1 < toks_.size() ? i_ + 1 : i_]; }
  const Token& next() { return toks_[i_ < toks_.size() - 1 ? i_++ : i_]; }
  const Token* prev() const { return i_ > 0 ? &toks_[i_ - 1] : nullptr; }
  bool is_op(std::string_view op) const { return peek().kind == Tok::Op && peek().text == op; }

  [[noreturn]] void unexpected(const Token& t) const;
  Node parse_bar();
  Node parse_chain(const char* a, const char* b, const char* chain_name, Node (Parser::*sub)());
  Node parse_sum() { return parse_chain("+", "-", "+", &Parser::parse_product); }
  Node parse_product() { return parse_chain("*", "/", "*", &Parser::parse_special); }
  Node parse_special() { return parse_chain("%in%", nullptr, "%in%", &Parser::parse_colon); }
  Node parse_colon() { return parse_chain(":", nullptr, ":", &Parser::parse_unary); }
  Node parse_unary();
  Node parse_power();
  void expect_close(const Token& open);
  Node parse_primary();
  Node parse_leaf(Node::K kind);
  Node parse_call(Node n);
  Node parse_paren();
  [[noreturn]] void misplaced(const Token& t) const;

  std::string_view text_;
  std::vector<Token> toks_;
  std::size_t i_ = 0;
  int depth_ = 0;
  int in_call_ = 0;  // inside a call's arguments, where c("a", "b") may appear
};

void Parser::parse(Node& lhs, Node& rhs, std::size_t& tilde_pos) {
  if (peek().kind == Tok::End) fail(text_, 0, "empty formula");
  bool has_tilde = false;
  for (const Token& t : toks_)
    if (t.kind == Tok::Op && t.text == "~") has_tilde = true;
  if (!has_tilde) {
    parse_bar();
    fail(text_, peek().pos, "missing '~' after the response (a formula looks like y ~ x + (1 | g))");
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

void Parser::unexpected(const Token& t) const {
  switch (t.kind) {
    case Tok::Name:
    case Tok::Number:
    case Tok::String:
      fail(text_, t.pos, "missing operator (such as '+') before " + quote_token(t));
    case Tok::LParen:
      fail(text_, t.pos, "missing operator (such as '+') before '('");
    case Tok::RParen:
      fail(text_, t.pos, "unbalanced parentheses: ')' has no matching '('");
    case Tok::Comma:
      fail(text_, t.pos, "unexpected ','");
    case Tok::Equals:
      fail(text_, t.pos,
           "unexpected '=' (only a function's argument is named with '=', as in poly(x, 2, raw = "
           "TRUE); comparisons are not supported)");
    case Tok::Op:
      if (t.text == "~") fail(text_, t.pos, "unexpected '~' (a formula has one '~')");
      fail(text_, t.pos, "unexpected '" + t.text + "'");
    case Tok::End:
      break;
  }
  fail(text_, t.pos, "unexpected end of the formula");
}

// '|' and '||' (lowest precedence, inside parentheses)
Node Parser::parse_bar() {
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

Node Parser::parse_chain(const char* a, const char* b, const char* chain_name,
                         Node (Parser::*sub)()) {
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

Node Parser::parse_unary() {
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

Node Parser::parse_power() {
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

void Parser::expect_close(const Token& open) {
  if (peek().kind == Tok::RParen) {
    next();
    return;
  }
  if (peek().kind == Tok::End)
    fail(text_, open.pos, "unbalanced parentheses: this '(' is never closed");
  unexpected(peek());
}

Node Parser::parse_leaf(Node::K kind) {
  const Token& t = peek();
  Node n;
  n.k = kind;
  n.value = t.value;
  n.name = t.text;
  n.quoted = t.quoted;
  n.pos = n.start = t.pos;
  n.end = t.end;
  next();
  return n;
}

Node Parser::parse_primary() {
  const Token& t = peek();
  switch (t.kind) {
    case Tok::Number:
      return parse_leaf(Node::K::Num);
    case Tok::String:
      return parse_leaf(Node::K::Str);
    case Tok::Name: {
      Node n = parse_leaf(Node::K::Name);
      if (peek().kind != Tok::LParen) return n;
      return parse_call(std::move(n));
    }
    case Tok::LParen:
      return parse_paren();
    default:
      misplaced(t);
  }
}

// A call: the name is parsed, '(' is next. Arguments are positional or `name = value`.
Node Parser::parse_call(Node n) {
  n.k = Node::K::Call;
  if (!find_function(n.name) && !(in_call_ > 0 && n.name == "c" && !n.quoted)) {
    if (peek().pos > n.end)  // `x (1 | g)`: a forgotten '+' rather than a call
      fail(text_, peek().pos, "missing operator (such as '+') before '('");
    fail(text_, n.pos,
         "unknown function '" + n.name + "'; the supported functions are " + supported_functions());
  }
  const Token open = next();
  DepthGuard guard(*this, open.pos);
  ++in_call_;
  if (peek().kind != Tok::RParen) {
    while (true) {
      if (peek().kind == Tok::Comma || peek().kind == Tok::RParen)
        fail(text_, peek().pos, "missing argument in call to " + n.name + "()");
      std::string arg_name;
      if (peek().kind == Tok::Name && peek2().kind == Tok::Equals) {
        arg_name = next().text;
        next();
        if (peek().kind == Tok::Comma || peek().kind == Tok::RParen)
          fail(text_, peek().pos, "missing value of argument '" + arg_name + "' of " + n.name + "()");
      }
      n.arg_names.push_back(std::move(arg_name));
      n.kids.push_back(parse_bar());
      if (peek().kind != Tok::Comma) break;
      next();
    }
  }
  --in_call_;
  n.end = peek().end;
  expect_close(open);
  return n;
}

Node Parser::parse_paren() {
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

// A token where a term should start.
void Parser::misplaced(const Token& t) const {
  const Token* p = prev();
  switch (t.kind) {
    case Tok::End:
      if (p && p->kind == Tok::Op) fail(text_, p->pos, "missing term after '" + p->text + "'");
      fail(text_, t.pos, "the formula ends too early");
    case Tok::Op:
      if ((t.text == "|" || t.text == "||") && p && p->kind == Tok::LParen)
        fail(text_, t.pos,
             "empty random-effects term: nothing before '" + t.text + "' (write (1 " + t.text +
                 " g) for a random intercept)");
      if (p && p->kind == Tok::Op && p->text != "~")
        fail(text_, t.pos, "missing term between '" + p->text + "' and '" + t.text + "'");
      if (t.text == "~") fail(text_, t.pos, "unexpected '~' (a formula has one '~')");
      fail(text_, t.pos, "missing term before '" + t.text + "'");
    case Tok::RParen:
      if (p && p->kind == Tok::Op) fail(text_, p->pos, "missing term after '" + p->text + "'");
      unexpected(t);
    default:
      unexpected(t);
  }
}

}  // namespace

void parse_syntax(std::string_view text, Node& lhs, Node& rhs, std::size_t& tilde_pos) {
  Parser(text).parse(lhs, rhs, tilde_pos);
}

const Node* find_bar(const Node& n) {
  if (n.k == Node::K::Bar) return &n;
  for (const Node& k : n.kids)
    if (const Node* b = find_bar(k)) return b;
  return nullptr;
}

}  // namespace lmm::formula_detail
