// The formula's tokens, and its error messages: what, where, and the formula with a caret under
// the position at fault.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formula/rformat.h"
#include "formula/syntax.h"
#include "lmm/error.h"

namespace lmm::formula_detail {
namespace {

constexpr std::size_t kWindow = 60;  // characters shown each side of the caret in long formulas

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// A line break in the message (a backquoted name may hold one) is shown as \n, so the error stays
// one line of message, the formula, and the caret; lmm::Error escapes the other control bytes.
std::string escape_line_breaks(std::string s) {
  for (std::size_t i = 0; (i = s.find('\n', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\n");
  return s;
}

/// The formula split into code points (control characters shown as spaces), and the index of the
/// character at byte `pos`.
std::vector<std::string> code_points(std::string_view text, std::size_t pos, std::size_t& caret) {
  std::vector<std::string> chars;
  caret = 0;
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
  return chars;
}

}  // namespace

[[noreturn]] void fail(std::string_view text, std::size_t pos, const std::string& what_raw) {
  const std::string what = escape_line_breaks(what_raw);
  if (pos > text.size()) pos = text.size();
  std::size_t caret = 0;
  const std::vector<std::string> chars = code_points(text, pos, caret);
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

std::string quote_token(const Token& t) {
  if (t.kind == Tok::End) return "the end of the formula";
  std::string s(1, '\'');
  if (t.kind == Tok::String) s += '"';
  s += t.kind == Tok::Name ? detail::quote_name(t.text) : t.text;
  if (t.kind == Tok::String) s += '"';
  s += '\'';
  return s;
}

namespace {

bool name_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80 || c == '.';
}
bool name_char(unsigned char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '_'; }
bool digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    while (i_ < s_.size()) {
      const unsigned char c = at(i_);
      if (space(c)) {
        ++i_;
        continue;
      }
      Token t;
      t.pos = i_;
      if (digit(c) || (c == '.' && digit(at(i_ + 1))))
        number(t);
      else if (name_start(c))
        name(t);
      else if (c == '`')
        backquoted(t);
      else if (c == '"' || c == '\'')
        string(t);
      else
        punctuation(t);
      i_ = t.end;
      out.push_back(std::move(t));
    }
    Token end;
    end.kind = Tok::End;
    end.pos = end.end = s_.size();
    out.push_back(std::move(end));
    return out;
  }

 private:
  unsigned char at(std::size_t k) const {
    return k < s_.size() ? static_cast<unsigned char>(s_[k]) : 0;
  }

  void number(Token& t) {
    std::size_t j = i_;
    while (digit(at(j))) ++j;
    if (at(j) == '.') {
      ++j;
      while (digit(at(j))) ++j;
    }
    bool bad = false;
    if (at(j) == 'e' || at(j) == 'E') {
      std::size_t k = j + 1;
      if (at(k) == '+' || at(k) == '-') ++k;
      bad = !digit(at(k));
      while (digit(at(k))) ++k;
      j = k;
    }
    if (name_char(at(j))) bad = true;
    while (name_char(at(j))) ++j;
    t.kind = Tok::Number;
    t.text = std::string(s_.substr(i_, j - i_));
    t.end = j;
    if (!bad) {
      errno = 0;
      char* endp = nullptr;
      t.value = std::strtod(t.text.c_str(), &endp);
      if (endp != t.text.c_str() + t.text.size()) bad = true;
      if (std::isinf(t.value)) fail(s_, i_, "number '" + t.text + "' is too large");
    }
    if (bad) fail(s_, i_, "bad number '" + t.text + "'");
  }

  void name(Token& t) {
    std::size_t j = i_;
    while (name_char(at(j))) ++j;
    t.kind = Tok::Name;
    t.text = std::string(s_.substr(i_, j - i_));
    t.end = j;
  }

  void backquoted(Token& t) {
    const std::size_t close = s_.find('`', i_ + 1);
    if (close == std::string_view::npos) fail(s_, i_, "unterminated backquote");
    if (close == i_ + 1) fail(s_, i_, "empty name ``");
    t.kind = Tok::Name;
    t.text = std::string(s_.substr(i_ + 1, close - i_ - 1));
    t.quoted = true;
    t.end = close + 1;
  }

  // "text" or 'text', with R's escapes \" \' \\ (other escapes are kept as written).
  void string(Token& t) {
    const char q = s_[i_];
    std::size_t j = i_ + 1;
    std::string text;
    while (j < s_.size() && s_[j] != q) {
      if (s_[j] == '\\' && j + 1 < s_.size() &&
          (s_[j + 1] == q || s_[j + 1] == '\\' || s_[j + 1] == '"' || s_[j + 1] == '\''))
        ++j;
      text += s_[j++];
    }
    if (j >= s_.size()) fail(s_, i_, "unterminated string");
    t.kind = Tok::String;
    t.text = std::move(text);
    t.end = j + 1;
  }

  void punctuation(Token& t);
  [[noreturn]] void unexpected_character(unsigned char c) const;

  std::string_view s_;
  std::size_t i_ = 0;
};

void Lexer::punctuation(Token& t) {
  const unsigned char c = at(i_);
  t.end = i_ + 1;
  switch (c) {
    case '(':
      t.kind = Tok::LParen;
      break;
    case ')':
      t.kind = Tok::RParen;
      break;
    case ',':
      t.kind = Tok::Comma;
      break;
    case '~': case '+': case '-': case '*': case '/': case '^': case ':':
      t.kind = Tok::Op;
      break;
    case '|':
      t.kind = Tok::Op;
      if (at(i_ + 1) == '|') t.end = i_ + 2;
      break;
    case '=':
      if (at(i_ + 1) == '=') unexpected_character(c);
      t.kind = Tok::Equals;
      break;
    case '%':
      if (s_.substr(i_, 4) != "%in%") unexpected_character(c);
      t.kind = Tok::Op;
      t.end = i_ + 4;
      break;
    default:
      unexpected_character(c);
  }
  t.text = std::string(s_.substr(i_, t.end - i_));
}

void Lexer::unexpected_character(unsigned char c) const {
  std::string shown;
  if (c < 0x20 || c == 0x7f) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02X", c);
    shown = buf;
  } else {
    shown = std::string(1, static_cast<char>(c));
  }
  std::string hint;
  if (c == '%') hint = " (of the %...% operators only %in% is supported)";
  if (c == '=' || c == '<' || c == '>' || c == '!' || c == '&')
    hint = " (comparisons and logical operators are not supported; compute the variable first)";
  if (c == '$' || c == '[' || c == '@') hint = " (refer to columns of the data by name)";
  fail(s_, i_, "unexpected character '" + shown + "'" + hint);
}

}  // namespace

std::vector<Token> tokenize(std::string_view text) { return Lexer(text).run(); }

}  // namespace lmm::formula_detail
