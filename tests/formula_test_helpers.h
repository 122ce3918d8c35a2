// Hand-made DataFrames for the formula and model-frame tests, and a minimal loader for the simple
// CSV files in tests/data (so these tests do not need the real CSV reader).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "lmm/data.h"

namespace lmm::testing {

inline constexpr double NA = std::numeric_limits<double>::quiet_NaN();

/// A numeric column; NaN marks a missing value.
inline Column num(std::string name, std::vector<double> values) {
  Column c;
  c.name = std::move(name);
  c.type = Column::Type::Numeric;
  c.numbers = std::move(values);
  return c;
}

/// A categorical column; "" marks a missing value. Levels are sorted by bytes, as the CSV reader
/// sorts them.
inline Column cat(std::string name, const std::vector<std::string>& values) {
  Column c;
  c.name = std::move(name);
  c.type = Column::Type::Categorical;
  for (const std::string& v : values)
    if (!v.empty()) c.levels.push_back(v);
  std::sort(c.levels.begin(), c.levels.end());
  c.levels.erase(std::unique(c.levels.begin(), c.levels.end()), c.levels.end());
  for (const std::string& v : values) {
    if (v.empty()) {
      c.codes.push_back(-1);
    } else {
      c.codes.push_back(static_cast<std::int32_t>(
          std::lower_bound(c.levels.begin(), c.levels.end(), v) - c.levels.begin()));
    }
  }
  return c;
}

inline DataFrame frame(std::vector<Column> cols, std::string source = "data.csv") {
  DataFrame d;
  d.nrows = cols.empty() ? 0 : cols[0].size();
  d.columns = std::move(cols);
  d.source = std::move(source);
  return d;
}

}  // namespace lmm::testing

namespace lmm::testing {

/// A minimal reader for the simple CSV files in tests/data (quoted fields without embedded commas
/// or quotes; NA or empty is missing), so that these tests do not depend on the real CSV reader.
inline DataFrame load_simple_csv(const std::string& path, const std::string& source) {
  std::ifstream in(path);
  std::string line;
  auto split = [](const std::string& l) {
    std::vector<std::string> out;
    std::stringstream ss(l);
    std::string f;
    while (std::getline(ss, f, ',')) {
      if (!f.empty() && f.back() == '\r') f.pop_back();
      if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
      out.push_back(f);
    }
    if (!l.empty() && l.back() == ',') out.push_back("");
    return out;
  };
  std::getline(in, line);
  const std::vector<std::string> names = split(line);
  std::vector<std::vector<std::string>> cells(names.size());
  while (std::getline(in, line)) {
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> f = split(line);
    for (std::size_t j = 0; j < names.size(); ++j) cells[j].push_back(j < f.size() ? f[j] : "");
  }
  std::vector<Column> cols;
  for (std::size_t j = 0; j < names.size(); ++j) {
    std::vector<std::string>& v = cells[j];
    for (std::string& s : v)
      if (s == "NA") s.clear();
    bool numeric = true;
    std::vector<double> x;
    for (const std::string& s : v) {
      if (s.empty()) {
        x.push_back(NA);
        continue;
      }
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (end != s.c_str() + s.size()) numeric = false;
      x.push_back(d);
    }
    cols.push_back(numeric ? num(names[j], x) : cat(names[j], v));
  }
  return frame(std::move(cols), source);
}

}  // namespace lmm::testing
