// Tables of data read from CSV/TSV: numeric and categorical columns with missing values.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmm {

/// One column. A column whose non-missing values all parse as numbers is numeric; anything else is
/// categorical. Missing values are empty fields, `NA`, `.` and `NaN`.
struct Column {
  enum class Type { Numeric, Categorical };
  std::string name;
  Type type = Type::Numeric;
  std::vector<double> numbers;      ///< Numeric: one per row, NaN where missing (±inf kept as read)
  std::vector<std::int32_t> codes;  ///< Categorical: index into `levels`, -1 where missing
  std::vector<std::string> levels;  ///< Categorical: distinct values sorted by bytes

  bool is_numeric() const { return type == Type::Numeric; }
  std::size_t size() const { return is_numeric() ? numbers.size() : codes.size(); }
  bool missing(std::size_t row) const;
};

/// A rectangular table. Rows are numbered from 1 in messages (the header is not a row).
struct DataFrame {
  std::vector<Column> columns;
  std::size_t nrows = 0;
  std::string source;  ///< file name, for messages

  const Column* find(std::string_view name) const;
  /// The column called `name`; throws lmm::Error naming the available columns when absent.
  const Column& at(std::string_view name) const;
  std::vector<std::string> names() const;
};

struct ReadOptions {
  char delimiter = 0;  ///< 0: by extension (.tsv/.tab -> tab, .csv -> comma), else sniffed from the header
};

/// Reads a CSV or TSV file: header row, RFC 4180 quoting, CRLF or LF, optional UTF-8 BOM.
/// Throws lmm::Error for a missing or unreadable file, an empty file, ragged rows (naming the line),
/// duplicate or empty column names, an unterminated quote.
DataFrame read_table(const std::string& path, const ReadOptions& options = {});

/// The same from text in memory; `source` names it in messages.
DataFrame parse_table(std::string_view text, char delimiter, const std::string& source = "<text>");

}  // namespace lmm
