// "ar1(day | id)" and the other residual structures' syntax (lmm/residual.h).
#include <cctype>
#include <string>

#include "lmm/error.h"
#include "lmm/residual.h"

namespace lmm {

namespace {

std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// A column name as the formula writes one: a plain name or `backquoted`.
std::string column_name(const std::string& s, const std::string& text) {
  std::string t = trim(s);
  if (t.size() >= 2 && t.front() == '`' && t.back() == '`') return t.substr(1, t.size() - 2);
  for (char c : t)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'))
      throw Error("residual structure '" + text + "': '" + t + "' is not a column name (write `" + t + "`)");
  if (t.empty()) throw Error("residual structure '" + text + "': a column name is missing");
  return t;
}

}  // namespace

void parse_residual_structure(const std::string& text, ResidualOptions& out) {
  const std::string t = trim(text);
  const std::string usage = "; write ar1(time | group), car1(time | group), cs(1 | group) or us(visit | group)";
  const auto open = t.find('(');
  if (open == std::string::npos || t.back() != ')') throw Error("residual structure '" + text + "' is not understood" + usage);
  const std::string name = trim(t.substr(0, open));
  if (name != "ar1" && name != "car1" && name != "cs" && name != "us")
    throw Error("residual structure '" + name + "' is unknown" + usage);
  const std::string inner = t.substr(open + 1, t.size() - open - 2);
  const auto bar = inner.find('|');
  if (bar == std::string::npos || inner.find('|', bar + 1) != std::string::npos)
    throw Error("residual structure '" + text + "' needs one '|' between the time and the group" + usage);
  const std::string lhs = trim(inner.substr(0, bar));
  out.structure = name;
  out.group = column_name(inner.substr(bar + 1), text);
  if (name == "cs") {
    if (lhs != "1") throw Error("residual structure '" + text + "': compound symmetry has no time; write cs(1 | " + out.group + ")");
    out.time.clear();
  } else {
    if (lhs == "1")
      throw Error("residual structure '" + text + "' needs a time column before '|' (row order is not used: write " + name +
                  "(time | " + out.group + "))");
    out.time = column_name(lhs, text);
  }
}

std::string residual_structure_label(const std::string& structure) {
  if (structure == "ar1") return "AR(1)";
  if (structure == "car1") return "Continuous AR(1)";
  if (structure == "cs") return "Compound symmetry";
  if (structure == "us") return "General (unstructured)";
  return "";
}

}  // namespace lmm
