#include "lmm/table_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include "lmm/error.h"

namespace lmm {

std::string format_double(double v) {
  if (std::isnan(v)) return "NA";
  if (v == 0) return "0";  // also -0
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, r.ptr};
}

Column numeric_column(std::string name, std::vector<double> values) {
  Column c;
  c.name = std::move(name);
  c.type = Column::Type::Numeric;
  c.numbers = std::move(values);
  return c;
}

Column categorical_column(std::string name, const std::vector<std::optional<std::string>>& values) {
  Column c;
  c.name = std::move(name);
  c.type = Column::Type::Categorical;
  std::map<std::string, std::int32_t> index;
  for (const auto& v : values)
    if (v) index.emplace(*v, 0);
  for (auto& [label, code] : index) {  // std::map orders std::string by bytes
    code = static_cast<std::int32_t>(c.levels.size());
    c.levels.push_back(label);
  }
  c.codes.reserve(values.size());
  for (const auto& v : values) c.codes.push_back(v ? index.at(*v) : -1);
  return c;
}

DataFrame select_rows(const DataFrame& data, const std::vector<std::size_t>& rows) {
  DataFrame out;
  out.source = data.source;
  out.notes = data.notes;
  out.nrows = rows.size();
  for (const Column& c : data.columns) {
    Column s;
    s.name = c.name;
    s.type = c.type;
    s.levels = c.levels;
    s.ordered = c.ordered;
    s.text_levels = c.text_levels;
    s.read = c.read;
    for (std::size_t r : rows) {
      if (c.is_numeric()) s.numbers.push_back(c.numbers[r]);
      if (!c.is_numeric()) s.codes.push_back(c.codes[r]);
      if (c.has_text()) s.text_codes.push_back(c.text_codes[r]);
    }
    out.columns.push_back(std::move(s));
  }
  return out;
}

std::string format_cell(const Column& column, std::size_t row, char delimiter) {
  if (column.missing(row)) return "NA";
  if (column.is_numeric() && !column.has_text()) return format_double(column.numbers[row]);
  const std::string& s = column.has_text() ? column.text_levels[static_cast<std::size_t>(column.text_codes[row])]
                                           : column.levels[static_cast<std::size_t>(column.codes[row])];
  // Quoted only where the CSV syntax needs it (RFC 4180).
  const bool quote = s.find_first_of(std::string{delimiter, '"', '\r', '\n'}) != std::string::npos;
  if (!quote) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

namespace {
std::string quote_name(const std::string& s, char delimiter) {
  if (s.find_first_of(std::string{delimiter, '"', '\r', '\n'}) == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}
}  // namespace

void write_csv(const DataFrame& data, std::ostream& out, char delimiter) {
  for (std::size_t c = 0; c < data.columns.size(); ++c) {
    if (c) out << delimiter;
    out << quote_name(data.columns[c].name, delimiter);
  }
  out << '\n';
  for (std::size_t r = 0; r < data.nrows; ++r) {
    for (std::size_t c = 0; c < data.columns.size(); ++c) {
      if (c) out << delimiter;
      out << format_cell(data.columns[c], r, delimiter);
    }
    out << '\n';
  }
}

std::string to_csv(const DataFrame& data, char delimiter) {
  std::ostringstream s;
  write_csv(data, s, delimiter);
  return s.str();
}

}  // namespace lmm
