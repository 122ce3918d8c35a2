// Labels of expressions, terms and formulas, as R's deparse() writes them.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "formula/rformat.h"
#include "formula/syntax.h"
#include "lmm/formula.h"

namespace lmm {
namespace detail {

std::string format_r_number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Inf" : "-Inf";
  if (x == 0) return "0";
  // An integer of at most 15 digits without snprintf (grouping factors label thousands of ids:
  // InstEval's 4,114 took 1.3 ms of its model frame through the general path below): its digits
  // are exact in both notations; fixed when not longer than the scientific d[.ddd]e+XX, as below.
  // Checked against the general path on 6 million integers.
  if (std::abs(x) < 1e15 && x == std::trunc(x)) {
    std::string fixed = std::to_string(static_cast<long long>(x));
    const std::size_t digits = fixed.size() - (x < 0);
    std::size_t sig = digits;
    while (fixed[fixed.size() - 1 - (digits - sig)] == '0') --sig;  // trailing zeros
    if (digits <= sig + (sig > 1) + 4) return fixed;
    const std::size_t lead = (x < 0) + 1;  // the sign and the first digit
    std::string sci(fixed, 0, lead);
    if (sig > 1) sci.append(1, '.').append(fixed, lead, sig - 1);
    const std::size_t expo = digits - 1;
    sci.append(expo < 10 ? "e+0" : "e+").append(std::to_string(expo));
    return sci;
  }
  // 15 significant digits, as R's formatReal with digits = 15.
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.14e", x);
  std::string s(buf);
  const auto epos = s.find('e');
  std::string mant = s.substr(0, epos);
  const int expo = std::atoi(s.c_str() + epos + 1);
  while (!mant.empty() && mant.back() == '0') mant.pop_back();
  if (!mant.empty() && mant.back() == '.') mant.pop_back();
  int nsig = 0;
  for (char c : mant)
    if (c >= '0' && c <= '9') ++nsig;
  const int aexp = expo < 0 ? -expo : expo;
  std::string sci =
      mant + "e" + (expo < 0 ? "-" : "+") + (aexp < 10 ? "0" : "") + std::to_string(aexp);
  const int rgt = std::max(0, nsig - 1 - expo);
  std::vector<char> fbuf(static_cast<std::size_t>(rgt) + 400);
  std::snprintf(fbuf.data(), fbuf.size(), "%.*f", rgt, x);
  std::string fixed(fbuf.data());
  return fixed.size() <= sci.size() ? fixed : sci;
}

bool is_syntactic_name(std::string_view name) {
  if (name.empty()) return false;
  static constexpr std::array<std::string_view, 20> reserved = {
      "if",          "else",     "repeat",        "while",       "function", "for", "next",
      "break",       "TRUE",     "FALSE",         "NULL",        "Inf",      "NaN", "NA",
      "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in",       "..."};
  if (std::find(reserved.begin(), reserved.end(), name) != reserved.end()) return false;
  auto letter = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
  };
  auto digit = [](unsigned char c) { return c >= '0' && c <= '9'; };
  const auto c0 = static_cast<unsigned char>(name[0]);
  if (!(letter(c0) || c0 == '.')) return false;
  if (c0 == '.' && name.size() > 1 && digit(static_cast<unsigned char>(name[1]))) return false;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (!(letter(c) || digit(c) || c == '.' || c == '_')) return false;
  }
  return true;
}

std::string quote_name(std::string_view name) {
  if (is_syntactic_name(name)) return std::string(name);
  std::string s;
  s.reserve(name.size() + 2);
  s.push_back('`');
  s.append(name);
  s.push_back('`');
  return s;
}

}  // namespace detail

std::string Expr::label() const {
  switch (kind) {
    case Kind::Variable:
      return detail::quote_name(name);
    case Kind::Number:
      return detail::format_r_number(value);
    case Kind::Negate: {
      std::string s(1, '-');
      if (!args.empty()) s += args[0].label();
      return s;
    }
    case Kind::Call: {
      std::string s = name == "(" ? std::string() : name;
      s += '(';
      for (std::size_t i = 0; i < args.size(); ++i) {
        if (i) s += ", ";
        if (i < arg_names.size() && !arg_names[i].empty()) s += arg_names[i] + " = ";
        s += args[i].label();
      }
      return s + ")";
    }
    case Kind::String: {
      std::string s(1, '"');
      for (char c : name) {
        if (c == '"' || c == '\\') s += '\\';
        s += c;
      }
      return s + '"';
    }
    case Kind::Symbol:
      return name;
    case Kind::Binary: {
      const std::string a = args.size() > 0 ? args[0].label() : std::string();
      const std::string b = args.size() > 1 ? args[1].label() : std::string();
      if (name == "/" || name == "^" || name == ":") return a + name + b;
      return a + " " + name + " " + b;
    }
  }
  return name;
}

namespace {
void collect_variables(const Expr& e, std::vector<std::string>& out) {
  if (e.kind == Expr::Kind::Variable) {
    if (std::find(out.begin(), out.end(), e.name) == out.end()) out.push_back(e.name);
    return;
  }
  for (const Expr& a : e.args) collect_variables(a, out);
}
}  // namespace

bool Expr::is_factor_call() const {
  if (kind != Kind::Call) return false;
  const auto* spec = formula_detail::find_function(name);
  return spec && spec->role == formula_detail::FunctionRole::Factor;
}

const Expr* Expr::argument(std::string_view param, std::size_t position) const {
  if (kind != Kind::Call) return nullptr;
  for (std::size_t i = 0; i < args.size() && i < arg_names.size(); ++i)
    if (arg_names[i] == param) return &args[i];
  // Positional arguments fill the parameters not given by name, in order.
  const auto* spec = formula_detail::find_function(name);
  std::vector<std::string_view> free;
  if (spec) {
    for (std::string_view p : spec->arg_names)
      if (std::find(arg_names.begin(), arg_names.end(), p) == arg_names.end()) free.push_back(p);
  }
  std::size_t k = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i < arg_names.size() && !arg_names[i].empty()) continue;
    if (spec ? (k < free.size() && free[k] == param) : k == position) return &args[i];
    ++k;
  }
  return nullptr;
}

std::vector<std::string> Expr::variables() const {
  std::vector<std::string> out;
  collect_variables(*this, out);
  return out;
}

std::string Term::label() const {
  std::string s;
  for (std::size_t i = 0; i < factors.size(); ++i) {
    if (i) s += ":";
    s += factors[i].label();
  }
  return s;
}

std::string RandomTerm::group_label() const {
  std::string s;
  for (std::size_t i = 0; i < grouping.size(); ++i) {
    if (i) s += ":";
    const bool call = i < grouping_as_factor.size() && grouping_as_factor[i];
    s += call ? "factor(" + detail::quote_name(grouping[i]) + ")" : detail::quote_name(grouping[i]);
  }
  return s;
}

std::string Formula::deparse() const {
  std::string s = response.label() + " ~ " + (intercept ? "1" : "0");
  for (const Term& t : fixed) s += " + " + t.label();
  for (const Expr& e : offsets) s += " + offset(" + e.label() + ")";
  for (const RandomTerm& r : random) {
    s += " + (";
    s += r.intercept ? "1" : "0";
    for (const Term& t : r.terms) s += " + " + t.label();
    s += " | " + r.group_label() + ")";
  }
  return s;
}

}  // namespace lmm
