// Tables of data read from CSV/TSV: numeric and categorical columns with missing values.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmm {

/// How read_table read a column, for notes and for the model frame's checks.
struct ColumnReadInfo {
  /// Text read as missing beyond the empty field, NA, . and NaN: common codes (N/A, NULL, -, ...)
  /// in a numeric column and ReadOptions::na_values, with how many cells each.
  std::vector<std::pair<std::string, std::size_t>> missing_codes;
  std::size_t number_cells = 0;     ///< categorical: cells that are numbers (also "1,5", "1,000")
  std::size_t text_cells = 0;       ///< categorical: the other non-missing cells
  std::size_t first_text_row = 0;   ///< categorical: data row (from 1) of the first text cell, 0 if none
  std::size_t first_text_line = 0;  ///< and its line in the file (the header's line counted)
  std::string first_text;           ///< and its text
  std::string sentinel_warning;     ///< numeric: a code like -99 far from the other values, or ""
};

/// One column. A column whose non-missing values all parse as numbers is numeric; anything else is
/// categorical. Missing values are empty fields, `NA`, `.` and `NaN`, in numeric columns also
/// common codes (`N/A`, `NULL`, `-`, ...), and the codes of ReadOptions::na_values.
struct Column {
  enum class Type { Numeric, Categorical };
  std::string name;
  Type type = Type::Numeric;
  std::vector<double> numbers;      ///< Numeric: one per row, NaN where missing (±inf kept as read)
  std::vector<std::int32_t> codes;  ///< Categorical: index into `levels`, -1 where missing
  std::vector<std::string> levels;  ///< Categorical: distinct values sorted by bytes (or as given)
  /// Categorical: an ordered factor (a pandas ordered Categorical): polynomial contrasts, as R's.
  bool ordered = false;
  /// Numeric columns whose text says more than their numbers ("01" and "1", "3.0", "1e3"): the
  /// text of each cell (trimmed) as codes into `text_levels` (sorted by bytes), -1 where missing.
  /// Grouping factors are categorical by this text. Empty when every cell is the plain decimal of
  /// its number (then the number's R text is the cell's text).
  std::vector<std::int32_t> text_codes;
  std::vector<std::string> text_levels;
  ColumnReadInfo read;

  bool is_numeric() const { return type == Type::Numeric; }
  bool has_text() const { return is_numeric() && !text_codes.empty(); }
  std::size_t size() const { return is_numeric() ? numbers.size() : codes.size(); }
  bool missing(std::size_t row) const;
};

/// A rectangular table. Rows are numbered from 1 in messages (the header is not a row).
struct DataFrame {
  std::vector<Column> columns;
  std::size_t nrows = 0;
  std::string source;  ///< file name, for messages
  std::vector<std::string> notes;  ///< how the file was read when it was not plain (decimal commas)

  const Column* find(std::string_view name) const;
  /// The column called `name`; throws lmm::Error naming the available columns when absent.
  const Column& at(std::string_view name) const;
  std::vector<std::string> names() const;
};

struct ReadOptions {
  char delimiter = 0;  ///< 0: by extension (.tsv/.tab -> tab, .csv -> comma), else sniffed from the header
  /// Decimal mark: '.', ',' or 0 (automatic: '.', and in a file separated by ';' also ',', as
  /// spreadsheets write them in decimal-comma locales; DataFrame::notes says when it was used).
  char decimal = 0;
  /// Extra missing-value codes ("-99", "N/A", "missing"), for every column: a cell whose trimmed
  /// text is one of them, or a number equal to one that is a number, is missing.
  std::vector<std::string> na_values;
};

/// Reads a CSV or TSV file: header row, RFC 4180 quoting, CRLF or LF, optional UTF-8 BOM.
/// Throws lmm::Error for a missing or unreadable file, an empty file, ragged rows (naming the line),
/// duplicate or empty column names, an unterminated quote.
DataFrame read_table(const std::string& path, const ReadOptions& options = {});

/// The same from text in memory; `source` names it in messages.
DataFrame parse_table(std::string_view text, char delimiter, const std::string& source = "<text>");
DataFrame parse_table(std::string_view text, const ReadOptions& options, const std::string& source = "<text>");

/// What the reader did that a user should know, one line each: DataFrame::notes, then for each
/// named column (all columns when `columns` is empty) the cells read as missing codes and a
/// warning for a likely undeclared code (-99, 999, ...).
std::vector<std::string> reading_notes(const DataFrame& data, const std::vector<std::string>& columns = {});

}  // namespace lmm
