#include "io/number_text.h"

#include <cctype>
#include <cstddef>

namespace lmm::detail {

bool is_foreign_number(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (s.size() < 3 || !std::isdigit(static_cast<unsigned char>(s.front())) ||
      !std::isdigit(static_cast<unsigned char>(s.back())))
    return false;
  bool separator = false;
  for (char c : s) {
    if (c == ',' || c == '\'' || c == ' ')
      separator = true;
    else if (c != '.' && !std::isdigit(static_cast<unsigned char>(c)))
      return false;
  }
  return separator;
}

std::string foreign_number_hint(const Column& c) {
  if (c.is_numeric() || c.levels.empty()) return "";
  std::size_t foreign = 0;
  const std::string* example = nullptr;
  for (const std::string& l : c.levels)
    if (is_foreign_number(l)) {
      ++foreign;
      if (!example) example = &l;
    }
  if (!example || 10 * foreign < 9 * c.levels.size()) return "";
  return "; its values look like numbers written with a decimal comma or digit-group separators (e.g. '" + *example +
         "'), which lmm does not read as numbers: write them with '.' as the decimal mark and no separators";
}

}  // namespace lmm::detail
