// Column and DataFrame accessors.
#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "lmm/data.h"
#include "lmm/error.h"

namespace lmm {
namespace {

// Control bytes escaped so that a message stays on one line.
std::string printable(std::string_view s) {
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += ch;
  }
  return out;
}

}  // namespace

bool Column::missing(std::size_t row) const {
  if (is_numeric()) return std::isnan(numbers[row]);
  return codes[row] < 0;
}

const Column* DataFrame::find(std::string_view name) const {
  for (const Column& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const Column& DataFrame::at(std::string_view name) const {
  if (const Column* c = find(name)) return *c;
  // List the columns, but not all of 100,000 of them.
  constexpr std::size_t kMaxListed = 30;
  std::string list;
  for (std::size_t i = 0; i < columns.size() && i < kMaxListed; ++i) {
    if (i) list += ", ";
    list += printable(columns[i].name);
  }
  if (columns.size() > kMaxListed) list += fmt::format(", ... ({} more)", columns.size() - kMaxListed);
  if (columns.empty()) list = "(none)";
  std::string where = source.empty() ? std::string() : " in " + source;
  throw Error(fmt::format("column '{}' not found{}; columns are: {}", printable(name), where, list));
}

std::vector<std::string> reading_notes(const DataFrame& data, const std::vector<std::string>& columns) {
  std::vector<std::string> out = data.notes;
  for (const Column& c : data.columns) {
    if (!columns.empty() && std::find(columns.begin(), columns.end(), c.name) == columns.end()) continue;
    if (!c.read.missing_codes.empty()) {
      std::size_t total = 0;
      std::string list;
      for (const auto& [code, n] : c.read.missing_codes) {
        total += n;
        list += fmt::format("{}{} '{}'", list.empty() ? "" : ", ", n, printable(code));
      }
      out.push_back(fmt::format("'{}': {} cell{} read as missing ({})", printable(c.name), total,
                                total == 1 ? "" : "s", list));
    }
    if (!c.read.sentinel_warning.empty()) out.push_back(c.read.sentinel_warning);
  }
  return out;
}

std::vector<std::string> DataFrame::names() const {
  std::vector<std::string> out;
  out.reserve(columns.size());
  for (const Column& c : columns) out.push_back(c.name);
  return out;
}

}  // namespace lmm
