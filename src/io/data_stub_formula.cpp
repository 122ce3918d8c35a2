// TEMPORARY stand-ins for the DataFrame/Column members that src/io/csv.cpp implements on the `csv`
// branch, so that the formula branch links on its own. Delete this file when merging with csv.
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "lmm/data.h"
#include "lmm/error.h"

namespace lmm {

bool Column::missing(std::size_t row) const {
  return is_numeric() ? std::isnan(numbers[row]) : codes[row] < 0;
}

const Column* DataFrame::find(std::string_view name) const {
  for (const Column& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const Column& DataFrame::at(std::string_view name) const {
  if (const Column* c = find(name)) return *c;
  std::string list;
  for (const Column& c : columns) list += (list.empty() ? "" : ", ") + c.name;
  throw Error("no column '" + std::string(name) + "' in " + source + "; columns are: " + list);
}

std::vector<std::string> DataFrame::names() const {
  std::vector<std::string> out;
  for (const Column& c : columns) out.push_back(c.name);
  return out;
}

}  // namespace lmm
