// The functions a formula may call, as R names them and their arguments.
#include <string>
#include <string_view>
#include <vector>

#include "formula/syntax.h"

namespace lmm::formula_detail {
namespace {

const std::vector<FunctionSpec>& table() {
  static const std::vector<FunctionSpec> specs = {
      {"I", FunctionRole::Arithmetic, 1, 1, {"x"}},
      {"log", FunctionRole::Arithmetic, 1, 1, {"x"}},
      {"exp", FunctionRole::Arithmetic, 1, 1, {"x"}},
      {"sqrt", FunctionRole::Arithmetic, 1, 1, {"x"}},
      {"scale", FunctionRole::Arithmetic, 1, 1, {"x"}},
      {"factor", FunctionRole::Factor, 1, 3, {"x", "levels", "ordered"}},
      {"ordered", FunctionRole::Factor, 1, 2, {"x", "levels"}},
      {"relevel", FunctionRole::Factor, 2, 2, {"x", "ref"}},
      {"C", FunctionRole::Factor, 2, 2, {"object", "contr"}},
      {"poly", FunctionRole::Matrix, 2, 3, {"x", "degree", "raw"}},
      {"offset", FunctionRole::Arithmetic, 1, 1, {"object"}},
      {"cbind", FunctionRole::Arithmetic, 2, 2, {"successes", "failures"}},
  };
  return specs;
}

}  // namespace

const FunctionSpec* find_function(std::string_view name) {
  for (const FunctionSpec& f : table())
    if (f.name == name) return &f;
  return nullptr;
}

std::string supported_functions() {
  const auto& t = table();
  std::string s;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i) s += i + 1 == t.size() ? " and " : ", ";
    s += std::string(t[i].name) + "()";
  }
  return s;
}

}  // namespace lmm::formula_detail
