// Writing tables, and building their columns in code.
#pragma once
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "lmm/data.h"

namespace lmm {

/// Shortest decimal text that reads back to the same double (std::to_chars), "NA" for NaN:
/// byte-identical on every platform.
std::string format_double(double v);

/// A numeric column (NaN = missing).
Column numeric_column(std::string name, std::vector<double> values);
/// A categorical column from labels (std::nullopt = missing); levels sorted by bytes, as
/// read_table.
Column categorical_column(std::string name, const std::vector<std::optional<std::string>>& values);

/// The rows `rows` (0-based, in that order) of `data`, every column with its type, levels, text and
/// read information.
DataFrame select_rows(const DataFrame& data, const std::vector<std::size_t>& rows);

/// The text of one cell: numbers as the shortest decimal that reads back to the same double
/// (std::to_chars, the same bytes on every platform), `NA` for a missing value, categorical labels
/// quoted as RFC 4180 when they contain the delimiter, a quote, CR or LF.
std::string format_cell(const Column& column, std::size_t row, char delimiter = ',');

/// Writes the table with a header row, LF line ends.
void write_csv(const DataFrame& data, std::ostream& out, char delimiter = ',');
std::string to_csv(const DataFrame& data, char delimiter = ',');

}  // namespace lmm
