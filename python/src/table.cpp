// Columns handed over from Python as buffers (float64 numbers, int32 category codes with their
// labels) into an lmm::DataFrame, and back. Nothing is printed and parsed again.
#include "table.h"

#include <cmath>
#include <cstring>
#include <unordered_set>

#include "lmm/error.h"

namespace lmm::python {

namespace {

std::string column_error(const std::string& name, const std::string& what) {
  return "column '" + name + "': " + what;
}

Column numeric_from(const std::string& name, const py::array_t<double, py::array::c_style | py::array::forcecast>& a,
                    std::size_t nrows) {
  if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != nrows)
    throw Error(column_error(name, "has " + std::to_string(a.size()) + " values, the table has " +
                                       std::to_string(nrows) + " rows"));
  Column c;
  c.name = name;
  c.type = Column::Type::Numeric;
  c.numbers.resize(nrows);
  if (nrows > 0) std::memcpy(c.numbers.data(), a.data(), nrows * sizeof(double));
  return c;
}

Column categorical_from(const std::string& name, const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& a,
                        const std::vector<std::string>& levels, std::size_t nrows) {
  if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != nrows)
    throw Error(column_error(name, "has " + std::to_string(a.size()) + " values, the table has " +
                                       std::to_string(nrows) + " rows"));
  std::unordered_set<std::string> seen;
  for (const auto& l : levels)
    if (!seen.insert(l).second) throw Error(column_error(name, "the level '" + l + "' appears twice"));
  Column c;
  c.name = name;
  c.type = Column::Type::Categorical;
  c.levels = levels;
  c.codes.assign(a.data(), a.data() + nrows);
  const auto nl = static_cast<std::int32_t>(levels.size());
  for (std::size_t i = 0; i < nrows; ++i)
    if (c.codes[i] < -1 || c.codes[i] >= nl)
      throw Error(column_error(name, "code " + std::to_string(c.codes[i]) + " at row " + std::to_string(i + 1) +
                                         " is not one of its " + std::to_string(nl) + " levels"));
  return c;
}

}  // namespace

DataFrame table_from_columns(const py::list& columns, std::size_t nrows, const std::string& source) {
  DataFrame df;
  df.nrows = nrows;
  df.source = source;
  std::unordered_set<std::string> names;
  for (const py::handle item : columns) {
    const auto t = item.cast<py::tuple>();
    const auto name = t[0].cast<std::string>();
    if (name.empty()) throw Error("a column has an empty name");
    if (!names.insert(name).second) throw Error("the column name '" + name + "' appears twice");
    if (t[2].is_none())
      df.columns.push_back(numeric_from(name, t[1].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>(), nrows));
    else {
      df.columns.push_back(categorical_from(name, t[1].cast<py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>>(),
                                            t[2].cast<std::vector<std::string>>(), nrows));
      df.columns.back().ordered = t.size() > 3 && t[3].cast<bool>();
    }
  }
  return df;
}

py::list table_to_columns(const DataFrame& df) {
  py::list out;
  for (const Column& c : df.columns) {
    if (c.is_numeric()) {  // also numbers whose text had more digits ("01"): the numbers
      py::array_t<double> a(static_cast<py::ssize_t>(c.numbers.size()));
      if (!c.numbers.empty()) std::memcpy(a.mutable_data(), c.numbers.data(), c.numbers.size() * sizeof(double));
      out.append(py::make_tuple(c.name, a, py::none()));
      continue;
    }
    py::array_t<std::int32_t> a(static_cast<py::ssize_t>(c.codes.size()));
    if (!c.codes.empty()) std::memcpy(a.mutable_data(), c.codes.data(), c.codes.size() * sizeof(std::int32_t));
    out.append(py::make_tuple(c.name, a, c.levels, c.ordered));
  }
  return out;
}

}  // namespace lmm::python
