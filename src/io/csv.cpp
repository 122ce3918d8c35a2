// CSV/TSV reader: the whole file is read into memory once and tokenized in one pass; fields are
// string_views into that buffer (a scratch copy only for quoted fields containing "" or stray text
// after the closing quote). Each column is built as it is read: numeric until a value fails to
// parse as a number, then categorical. Rows read before such a switch are filled in afterwards by
// one more pass over just those rows, shared by all columns that switched.
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/number_text.h"
#include "lmm/data.h"
#include "lmm/error.h"

namespace lmm {
namespace {

constexpr std::int32_t kPending = -2;  // a code not filled in yet (rows before the switch)

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

/// `t` is trimmed.
bool is_missing_token(std::string_view t) { return t.empty() || t == "NA" || t == "." || t == "NaN"; }

/// A name or value for a one-line message: control bytes escaped, long text cut.
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (s.size() > kMax) out += "...";
  return out;
}

/// Distinct strings numbered in order of first appearance: an open-addressing hash table of codes
/// (linear probing, at most half full) over a vector of the strings, so a lookup touches one or
/// two cache lines rather than a chain of nodes.
class Interner {
 public:
  std::size_t size() const { return levels_.size(); }
  std::int32_t intern(std::string_view v) {
    if (last_ >= 0 && levels_[static_cast<std::size_t>(last_)] == v) return last_;  // runs are common
    if (2 * (levels_.size() + 1) > slots_.size()) grow();
    const std::uint64_t h = std::hash<std::string_view>{}(v);
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.code < 0) {
        if (levels_.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
          throw Error("too many distinct values in one column");
        slot = {tag, static_cast<std::int32_t>(levels_.size())};
        levels_.emplace_back(v);
        hashes_.push_back(h);
        return last_ = slot.code;
      }
      if (slot.tag == tag && levels_[static_cast<std::size_t>(slot.code)] == v) return last_ = slot.code;
    }
  }

  /// The strings sorted by bytes, and for each code its index among them.
  std::pair<std::vector<std::string>, std::vector<std::int32_t>> sorted() {
    // Sort keys carry the first 8 bytes big-endian (zero-padded): comparing them agrees with
    // comparing the strings whenever they differ, so most comparisons never touch the strings.
    struct Key {
      std::uint64_t prefix;
      std::int32_t code;
    };
    std::vector<Key> keys(levels_.size());
    for (std::size_t c = 0; c < levels_.size(); ++c) {
      std::uint64_t prefix = 0;
      const std::string& s = levels_[c];
      for (std::size_t i = 0; i < 8; ++i)
        prefix = (prefix << 8) | (i < s.size() ? static_cast<unsigned char>(s[i]) : 0u);
      keys[c] = {prefix, static_cast<std::int32_t>(c)};
    }
    std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      return levels_[static_cast<std::size_t>(a.code)] < levels_[static_cast<std::size_t>(b.code)];
    });
    std::vector<std::string> levels(keys.size());
    std::vector<std::int32_t> remap(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      remap[static_cast<std::size_t>(keys[i].code)] = static_cast<std::int32_t>(i);
      levels[i] = std::move(levels_[static_cast<std::size_t>(keys[i].code)]);
    }
    *this = Interner();
    return {std::move(levels), std::move(remap)};
  }

 private:
  struct Slot {
    std::uint32_t tag = 0;
    std::int32_t code = -1;
  };
  void grow() {
    std::vector<Slot> slots(std::max<std::size_t>(16, slots_.size() * 2));
    const std::size_t mask = slots.size() - 1;
    for (std::size_t c = 0; c < levels_.size(); ++c) {
      std::size_t i = static_cast<std::size_t>(hashes_[c]) & mask;
      while (slots[i].code >= 0) i = (i + 1) & mask;
      slots[i] = {static_cast<std::uint32_t>(hashes_[c] >> 32), static_cast<std::int32_t>(c)};
    }
    slots_ = std::move(slots);
  }

  std::vector<Slot> slots_;
  std::vector<std::string> levels_;
  std::vector<std::uint64_t> hashes_;
  std::int32_t last_ = -1;
};

/// Missing-value codes beyond the empty field, NA, . and NaN: the reader's own (in numeric columns
/// only) and the caller's (ReadOptions::na_values, in every column).
struct MissingCodes {
  std::vector<std::string> declared;
  std::vector<double> declared_numbers;  ///< the declared codes that are numbers ("-99")
  char decimal = 0;                      ///< ReadOptions::decimal
  bool comma_decimals = false;           ///< decimal commas accepted (',' or automatic in a ';' file)

  static bool common(std::string_view t) {
    static constexpr std::array<std::string_view, 13> kCodes{"N/A", "n/a", "NULL", "null", "na", "-", "--",
                                                             "#N/A", "#NULL!", "#DIV/0!", "#VALUE!", "#NUM!", "N.A."};
    return std::find(kCodes.begin(), kCodes.end(), t) != kCodes.end();
  }
  bool is_declared(std::string_view t) const {
    return std::find(declared.begin(), declared.end(), t) != declared.end();
  }
  bool is_declared_number(double v) const {
    return std::find(declared_numbers.begin(), declared_numbers.end(), v) != declared_numbers.end();
  }
  /// Parses a number with the decimal mark in use; *comma is set when it had a decimal comma.
  bool number(std::string_view t, double& v, bool& comma) const {
    comma = false;
    if (decimal == ',') {
      comma = t.find(',') != std::string_view::npos;
      return detail::parse_decimal_comma(t, v);
    }
    if (detail::parse_number(t, v)) return true;
    if (!comma_decimals || t.find(',') == std::string_view::npos) return false;
    return comma = detail::parse_decimal_comma(t, v);
  }
};

/// Builds one column while the rows are read.
class ColumnBuilder {
 public:
  explicit ColumnBuilder(const MissingCodes* codes = nullptr) : na_(codes) {}

  /// At most `rows` rows follow: the column's vectors take their final size at once.
  void reserve(std::size_t rows) {
    rows_ = rows;
    numbers_.reserve(rows);
  }

  void add(std::string_view raw, std::size_t line) {
    if (!categorical_ && add_plain_decimal(raw)) return;
    std::string_view t = trim(raw);
    if (!categorical_) {
      if (add_number(t)) return;
      switch_to_text(t, line);
    }
    if (missing(t)) {
      codes_.push_back(-1);
      return;
    }
    const std::int32_t code = levels_.intern(raw);
    codes_.push_back(code);
    // A cell is a number or text as its level is (its trimmed text): classified once per level,
    // not per cell (for 200,000 cells of ids like S1 and I197 a failed number parse each cost 3 ms).
    if (static_cast<std::size_t>(code) == level_kind_.size()) level_kind_.push_back(text_kind(t));
    switch (level_kind_[static_cast<std::size_t>(code)]) {
      case TextKind::Number: ++info_.number_cells; break;
      case TextKind::Text: ++info_.text_cells; break;
      case TextKind::Code: break;  // a common missing-value code (N/A, NULL, ...) in a text column
    }
  }

  bool categorical() const { return categorical_; }
  std::size_t decimal_commas() const { return commas_; }
  /// Rows read before the column turned categorical, or before its text was worth keeping; their
  /// codes are filled in by `fill`.
  std::size_t prefix() const { return categorical_ ? prefix_ : text_ ? text_prefix_ : 0; }
  void fill(std::size_t row, std::string_view raw) {
    std::string_view t = trim(raw);
    if (categorical_)
      codes_[row] = missing(t) ? -1 : levels_.intern(raw);
    else
      text_codes_[row] = std::isnan(numbers_[row]) ? -1 : levels_.intern(t);
  }

  Column finish(std::string name);

 private:
  bool missing(std::string_view t) const { return is_missing_token(t) || (na_ && na_->is_declared(t)); }
  void count_missing(std::string_view code) {
    for (auto& [text, n] : info_.missing_codes)
      if (text == code) return void(++n);
    info_.missing_codes.emplace_back(code, 1);
  }
  bool add_number(std::string_view t);
  bool add_plain_decimal(std::string_view t);
  void switch_to_text(std::string_view t, std::size_t line);
  enum class TextKind : std::uint8_t { Number, Text, Code };
  TextKind text_kind(std::string_view t) const {
    double v;
    bool comma;
    if ((na_ ? na_->number(t, v, comma) : detail::parse_number(t, v)) || detail::is_foreign_number(t))
      return TextKind::Number;
    return MissingCodes::common(t) ? TextKind::Code : TextKind::Text;
  }
  void keep_text(std::string_view t);
  static std::string sentinel_warning(const std::string& name, const std::vector<double>& x);

  const MissingCodes* na_;
  std::size_t rows_ = 0;  // reserve()'s bound on the rows
  bool categorical_ = false;
  bool text_ = false;          // numeric: the cells' text is kept (text_codes_)
  bool text_dropped_ = false;  // numeric: too many distinct texts to be an identifier
  std::size_t prefix_ = 0, text_prefix_ = 0, numbers_seen_ = 0, commas_ = 0;
  std::vector<double> numbers_;
  std::vector<std::int32_t> codes_, text_codes_;
  std::vector<TextKind> level_kind_;  // categorical: per level (code), what its cells count as
  Interner levels_;
  ColumnReadInfo info_;
};

// The common cell in one step: a plain decimal (detail::is_plain_decimal: "12", "-3", "0.25") of
// at most 15 digits and no spaces, in a column with no declared missing codes. Its value is the
// digits as an integer (exact below 2^53) divided by a power of ten (exact up to 10^22): one
// correctly rounded division, the double the full parser gives. add_number's checks all pass for
// such text (not a missing code, no comma, plain), so only the value is stored. With it the read
// of InstEval (514,000 cells, all small integers) took 8 ms instead of 13 (warm repeats in one
// process; trimming, the missing-code checks, the general parser and is_plain_decimal per cell).
bool ColumnBuilder::add_plain_decimal(std::string_view t) {
  if (na_ && !na_->declared.empty()) return false;
  const char* p = t.data();
  const char* const e = p + t.size();
  const bool negative = p != e && *p == '-';
  p += negative;
  if (p == e || *p < '0' || *p > '9' || (*p == '0' && p + 1 != e && p[1] != '.')) return false;  // "", "01"
  const bool point_ok = !na_ || na_->decimal != ',';  // with decimal commas "3.5" is text
  std::uint64_t m = 0;
  int digits = 0, decimals = -1;  // decimals: digits after the point, -1 before it
  for (; p != e; ++p) {
    const char c = *p;
    if (c >= '0' && c <= '9') {
      m = m * 10 + static_cast<std::uint64_t>(c - '0');
      ++digits;
      decimals += decimals >= 0;
    } else if (c == '.' && decimals < 0 && point_ok) {
      decimals = 0;
    } else {
      return false;
    }
  }
  if (digits > 15 || decimals == 0 || (decimals > 0 && e[-1] == '0') || (negative && decimals < 0 && m == 0))
    return false;  // too long, "3.", "3.10", "-0"
  static constexpr std::array<double, 16> kPow10{1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  double v = static_cast<double>(m);
  if (decimals > 0) v /= kPow10[static_cast<std::size_t>(decimals)];
  if (negative) v = -v;
  ++numbers_seen_;
  numbers_.push_back(v);
  if (text_) keep_text(t);
  return true;
}

bool ColumnBuilder::add_number(std::string_view t) {
  double v = std::numeric_limits<double>::quiet_NaN();
  bool comma = false;
  if (is_missing_token(t)) {
  } else if (na_ && na_->is_declared(t)) {
    count_missing(t);
  } else if (na_ ? na_->number(t, v, comma) : detail::parse_number(t, v)) {
    ++numbers_seen_;
    commas_ += comma;
    if (na_ && na_->is_declared_number(v)) {
      count_missing(t);
      v = std::numeric_limits<double>::quiet_NaN();
    }
  } else if (MissingCodes::common(t)) {
    count_missing(t);
  } else {
    return false;
  }
  numbers_.push_back(v);
  if (std::isnan(v)) {
    if (text_) text_codes_.push_back(-1);
  } else if (text_ || (!text_dropped_ && (comma || !detail::is_plain_decimal(t)))) {
    keep_text(t);
  }
  return true;
}

// The first cell whose text says more than its number: from here on the text is kept, and the rows
// before are filled in by `fill`. Dropped when the distinct texts outgrow an identifier's.
void ColumnBuilder::keep_text(std::string_view t) {
  if (!text_) {
    text_ = true;
    text_prefix_ = numbers_.size() - 1;
    text_codes_.reserve(std::max(rows_, numbers_.size()));
    text_codes_.assign(text_prefix_, kPending);
  }
  text_codes_.push_back(levels_.intern(t));
  if (levels_.size() > (1u << 16) && 2 * levels_.size() > numbers_.size()) {
    text_ = false, text_dropped_ = true, text_prefix_ = 0;
    std::vector<std::int32_t>().swap(text_codes_);
    levels_ = Interner();
  }
}

void ColumnBuilder::switch_to_text(std::string_view t, std::size_t line) {
  categorical_ = true;
  prefix_ = numbers_.size();
  info_.number_cells = numbers_seen_;
  info_.first_text_row = prefix_ + 1;
  info_.first_text_line = line;
  info_.first_text = std::string(t.substr(0, 60));
  // The common codes counted as missing so far are levels of a text column.
  std::erase_if(info_.missing_codes, [this](const auto& m) { return !(na_ && na_->is_declared(m.first)); });
  std::vector<double>().swap(numbers_);
  text_ = false, text_prefix_ = 0;
  std::vector<std::int32_t>().swap(text_codes_);
  levels_ = Interner();
  codes_.reserve(std::max(rows_, prefix_ + 1));
  codes_.assign(prefix_, kPending);
}

Column ColumnBuilder::finish(std::string name) {
  Column c;
  c.name = std::move(name);
  if (!categorical_) {
    c.type = Column::Type::Numeric;
    c.numbers = std::move(numbers_);
    if (text_) {
      auto [levels, remap] = levels_.sorted();
      for (std::int32_t& code : text_codes_)
        if (code >= 0) code = remap[static_cast<std::size_t>(code)];
      c.text_levels = std::move(levels);
      c.text_codes = std::move(text_codes_);
    }
    info_.sentinel_warning = sentinel_warning(c.name, c.numbers);
    c.read = std::move(info_);
    return c;
  }
  c.type = Column::Type::Categorical;
  auto [levels, remap] = levels_.sorted();
  for (std::int32_t& code : codes_)
    if (code >= 0) code = remap[static_cast<std::size_t>(code)];
  c.levels = std::move(levels);
  c.codes = std::move(codes_);
  c.read = std::move(info_);
  return c;
}

// Codes that stand for a missing value in many data sets. One that lies farther from the column's
// other values than their whole range is probably one; a note says so (it is kept as a value).
std::string ColumnBuilder::sentinel_warning(const std::string& name, const std::vector<double>& x) {
  static constexpr std::array<double, 7> kSentinels{-9, -99, -999, -9999, 99, 999, 9999};
  std::array<std::size_t, 7> count{};
  for (double v : x)  // one pass; most values are skipped by the first test
    if (!(v > -9 && v < 99))
      for (std::size_t k = 0; k < kSentinels.size(); ++k) count[k] += v == kSentinels[k];
  for (std::size_t k = 0; k < kSentinels.size(); ++k) {
    if (count[k] == 0) continue;
    const double s = kSentinels[k];
    const std::size_t hits = count[k];
    std::size_t rest = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (double v : x)
      if (v != s && std::isfinite(v)) ++rest, lo = std::min(lo, v), hi = std::max(hi, v);
    if (hits == 0 || rest < 5) continue;
    const double range = std::max(hi - lo, 1.0);
    if (s >= lo - range && s <= hi + range) continue;
    const std::string code = fmt::format("{}", s);
    return fmt::format(
        "warning: '{}' has {} cell{} {}, far from its other values ({:.6g} to {:.6g}): if {} codes a missing value, "
        "declare it (--na-values={} on the command line, ReadOptions::na_values in the library); it is used as a "
        "number",
        printable(name), hits, hits == 1 ? "" : "s", code, lo, hi, code, code);
  }
  return {};
}

/// Splits the text into records and fields, tracking physical line numbers.
class Tokenizer {
 public:
  Tokenizer(std::string_view text, char delimiter, const std::string& source)
      : s_(text.data()), n_(text.size()), delim_(delimiter), source_(source) {}

  std::size_t pos() const { return pos_; }
  std::size_t line() const { return line_; }
  void seek(std::size_t pos, std::size_t line) { pos_ = pos, line_ = line; }
  void set_names(const std::vector<std::string>* names) { names_ = names; }

  /// Skips lines holding nothing but spaces (and tabs unless they delimit); false at the end.
  bool skip_blank_lines() {
    while (pos_ < n_) {
      std::size_t p = pos_;
      while (p < n_ && (s_[p] == ' ' || s_[p] == '\r' || (s_[p] == '\t' && delim_ != '\t'))) ++p;
      if (p == n_) {
        pos_ = n_;
        return false;
      }
      if (s_[p] != '\n') return true;
      pos_ = p + 1;
      ++line_;
    }
    return false;
  }

  /// Reads one record, calling on_field(index, value) for each field; returns the field count.
  /// A value may point into scratch space that the next field reuses.
  template <class OnField>
  std::size_t record(OnField&& on_field) {
    std::size_t j = 0;
    for (;;) {
      std::string_view field;
      if (pos_ < n_ && s_[pos_] == '"') {
        field = quoted_short(j);
      } else {
        std::size_t start = pos_;
        while (pos_ < n_ && s_[pos_] != delim_ && s_[pos_] != '\n') ++pos_;
        field = ending(start);
      }
      on_field(j++, field);
      if (pos_ >= n_) return j;
      if (s_[pos_] == delim_) {
        ++pos_;
        continue;
      }
      ++pos_;  // '\n'
      ++line_;
      return j;
    }
  }

 private:
  // [start, pos_) without a '\r' that belongs to a CRLF line ending.
  std::string_view ending(std::size_t start) const {
    std::size_t end = pos_;
    if (end > start && s_[end - 1] == '\r' && (pos_ == n_ || s_[pos_] == '\n')) --end;
    return {s_ + start, end - start};
  }

  std::string label(std::size_t j) const {
    if (names_ && j < names_->size()) return fmt::format("column '{}'", printable((*names_)[j]));
    return fmt::format("field {}{}", j + 1, names_ ? "" : " of the header");
  }

  // A quoted field as most are: short, on one line, with no "" inside and nothing between the
  // closing quote and the delimiter; anything else goes to quoted(). Scanning their few bytes here
  // rather than with memchr in quoted() took the read of InstEval (440,000 quoted fields) from 8.1
  // to 6.9 ms (warm repeats).
  std::string_view quoted_short(std::size_t j) {
    constexpr std::size_t kShort = 32;
    const std::size_t open = pos_ + 1, last = std::min(n_, open + kShort);
    for (std::size_t p = open; p < last; ++p) {
      const char c = s_[p];
      if (c == '\n') break;
      if (c != '"') continue;
      const std::size_t after = p + 1;
      if (after < n_ && s_[after] != delim_ && s_[after] != '\n') break;  // "" or text after the quote
      pos_ = after;
      return {s_ + open, p - open};
    }
    return quoted(j);
  }

  std::string_view quoted(std::size_t j) {
    const std::size_t open_line = line_;
    ++pos_;
    std::size_t seg = pos_;
    bool copied = false;
    for (;;) {
      const void* q = std::memchr(s_ + pos_, '"', n_ - pos_);
      if (!q)
        throw Error(fmt::format("{}: line {}: a quoted field is not closed ({}); the file ends inside it", source_,
                                open_line, label(j)));
      std::size_t qp = static_cast<std::size_t>(static_cast<const char*>(q) - s_);
      line_ += static_cast<std::size_t>(std::count(s_ + pos_, s_ + qp, '\n'));
      if (qp + 1 < n_ && s_[qp + 1] == '"') {  // "" is a quote
        if (!copied) scratch_.clear(), copied = true;
        scratch_.append(s_ + seg, qp + 1 - seg);
        pos_ = qp + 2;
        seg = pos_;
        continue;
      }
      std::string_view content(s_ + seg, qp - seg);
      pos_ = qp + 1;
      // Text between the closing quote and the delimiter is kept (leniently), e.g. "a"b -> ab.
      std::size_t start = pos_;
      while (pos_ < n_ && s_[pos_] != delim_ && s_[pos_] != '\n') ++pos_;
      std::string_view rest = ending(start);
      if (!copied && rest.empty()) return content;
      if (!copied) scratch_.clear();
      scratch_.append(content);
      scratch_.append(rest);
      return scratch_;
    }
  }

  const char* s_;
  std::size_t n_;
  char delim_;
  const std::string& source_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  const std::vector<std::string>* names_ = nullptr;
  std::string scratch_;
};

/// Guesses the delimiter from the first lines: tab if the header has tabs and no commas (outside
/// quotes), else whichever of , \t ; splits the header into the most fields and the same number
/// on the following lines; comma when nothing fits.
char sniff_delimiter(std::string_view text) {
  constexpr std::array<char, 3> kCandidates{',', '\t', ';'};
  constexpr std::size_t kMaxRecords = 20, kMaxBytes = 1 << 20;
  std::array<std::size_t, 3> header{}, current{};
  std::array<bool, 3> consistent{true, true, true};
  bool have_header = false, in_quotes = false, nonblank = false;
  std::size_t records = 0;
  auto end_record = [&] {
    if (!nonblank) return;
    if (!have_header)
      header = current, have_header = true;
    else
      for (std::size_t k = 0; k < 3; ++k) consistent[k] = consistent[k] && current[k] == header[k];
    ++records;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      in_quotes = !in_quotes;
      nonblank = true;
    } else if (in_quotes) {
      continue;
    } else if (c == '\n') {
      end_record();
      current = {};
      nonblank = false;
      if (records >= kMaxRecords || (have_header && i >= kMaxBytes)) break;
    } else {
      for (std::size_t k = 0; k < 3; ++k) current[k] += c == kCandidates[k];
      if (c != ' ' && c != '\r') nonblank = true;
    }
  }
  if (nonblank && !in_quotes) end_record();
  if (!have_header) return ',';
  if (header[1] > 0 && header[0] == 0) return '\t';
  int best = -1;
  for (int pass = 0; pass < 2 && best < 0; ++pass)  // first among consistent candidates, then any
    for (std::size_t k = 0; k < 3; ++k)
      if (header[k] > 0 && (pass == 1 || consistent[k]) && (best < 0 || header[k] > header[best]))
        best = static_cast<int>(k);
  return best < 0 ? ',' : kCandidates[static_cast<std::size_t>(best)];
}

char delimiter_for_extension(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  auto dot = name.rfind('.');
  if (dot == std::string::npos) return 0;
  std::string ext = name.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (ext == "csv") return ',';
  if (ext == "tsv" || ext == "tab") return '\t';
  return 0;
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(fmt::format("cannot read '{}': it is a directory", path));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error(fmt::format("cannot open '{}': {}", path, std::generic_category().message(errno)));
  std::uintmax_t size = std::filesystem::file_size(path, ec);
  std::string buf;
  buf.resize(ec ? std::size_t{1} << 16 : static_cast<std::size_t>(size) + 1);
  std::size_t len = 0;
  for (;;) {
    len += std::fread(buf.data() + len, 1, buf.size() - len, f.get());
    if (len < buf.size()) {
      if (std::ferror(f.get()))
        throw Error(fmt::format("cannot read '{}': {}", path, std::generic_category().message(errno)));
      break;
    }
    buf.resize(buf.size() * 2);
  }
  buf.resize(len);
  return buf;
}

/// A regular file's bytes mapped read-only, or nothing (empty file, not a regular file, mmap
/// failed; the caller then reads it with read_file). The parsed table copies what it keeps, so the
/// mapping lives only while the text is parsed. Reading the 2.7 MB of the crossed 1,000 x 500
/// benchmark into a string cost 5-15 ms of CPU (zeroing the string, the kernel clearing fresh heap
/// pages and copying into them), mapping it with its pages populated 1-3 ms (a test program).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p != MAP_FAILED) data_ = static_cast<const char*>(p), size_ = static_cast<std::size_t>(st.st_size);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  bool ok() const { return data_ != nullptr; }
  std::string_view text() const { return {data_, size_}; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

namespace {

std::vector<std::string> read_header(Tokenizer& tok, const std::string& source) {
  tok.skip_blank_lines();
  const std::size_t header_line = tok.line();
  std::vector<std::string> names;
  tok.record([&](std::size_t, std::string_view f) { names.emplace_back(trim(f)); });
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(names.size());
  for (std::size_t j = 0; j < names.size(); ++j) {
    if (names[j].empty())
      throw Error(fmt::format("{}: column {} has an empty name in the header (line {})", source, j + 1, header_line));
    auto [it, inserted] = seen.emplace(names[j], j);
    if (!inserted)
      throw Error(fmt::format("{}: duplicate column name '{}' (columns {} and {})", source, printable(names[j]),
                              it->second + 1, j + 1));
  }
  return names;
}

MissingCodes missing_codes(const ReadOptions& options, char delimiter, const std::string& source) {
  if (options.decimal != 0 && options.decimal != '.' && options.decimal != ',')
    throw Error(fmt::format("{}: the decimal mark (ReadOptions::decimal) must be '.' or ','", source));
  if (options.decimal == ',' && delimiter == ',')
    throw Error(fmt::format("{}: the decimal mark and the field separator are both ','", source));
  MissingCodes m;
  m.decimal = options.decimal;
  m.comma_decimals = options.decimal == ',' || (options.decimal == 0 && delimiter == ';');
  for (const std::string& code : options.na_values) {
    const std::string_view t = trim(code);
    if (t.empty()) continue;
    m.declared.emplace_back(t);
    double v;
    if (detail::parse_number(t, v) && !std::isnan(v)) m.declared_numbers.push_back(v);
  }
  return m;
}

}  // namespace

DataFrame parse_table(std::string_view text, char delimiter, const std::string& source) {
  ReadOptions o;
  o.delimiter = delimiter;
  return parse_table(text, o, source);
}

DataFrame parse_table(std::string_view text, const ReadOptions& options, const std::string& source) {
  char delimiter = options.delimiter;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }))
    throw Error(fmt::format("{}: the file is empty", source));
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r')
    throw Error(fmt::format("{}: a quote or line break cannot be the delimiter", source));

  // Old Mac line endings (CR only): read them as LF.
  std::string converted;
  if (!std::memchr(text.data(), '\n', text.size()) && std::memchr(text.data(), '\r', text.size())) {
    converted.assign(text);
    std::replace(converted.begin(), converted.end(), '\r', '\n');
    text = converted;
  }
  if (delimiter == 0) delimiter = sniff_delimiter(text);
  const MissingCodes codes = missing_codes(options, delimiter, source);

  Tokenizer tok(text, delimiter, source);
  std::vector<std::string> names = read_header(tok, source);
  const std::size_t ncols = names.size();
  tok.set_names(&names);

  const std::size_t data_pos = tok.pos(), data_line = tok.line();
  std::vector<ColumnBuilder> builders(ncols, ColumnBuilder(&codes));
  // Each line break ends at most one row: with the columns' vectors reserved at that count, none
  // grows by copying (counting takes 0.2 ms for InstEval's 2.3 MB, plus ~1 ms of first reading the
  // mapped file that the parse no longer pays). Growing by doubling, InstEval's 7 columns of 73,421
  // rows copied 4 MB and touched 8 MB of fresh memory instead of 4 (1 ms of 14 in warm repeats).
  const std::size_t max_rows =
      static_cast<std::size_t>(std::count(text.begin() + static_cast<std::ptrdiff_t>(data_pos), text.end(), '\n')) + 1;
  for (ColumnBuilder& b : builders) b.reserve(max_rows);
  std::size_t nrows = 0;
  while (tok.skip_blank_lines()) {
    const std::size_t line = tok.line();
    std::size_t nf = tok.record([&](std::size_t j, std::string_view f) {
      if (j < ncols) builders[j].add(f, line);
    });
    if (nf != ncols)
      throw Error(fmt::format("{}: line {} has {} field{}, the header has {}", source, line, nf, nf == 1 ? "" : "s",
                              ncols));
    ++nrows;
  }

  // Columns that turned categorical after some rows, or whose text is kept from some row on: read
  // those rows again, once for all of them.
  std::size_t refill = 0;
  for (const ColumnBuilder& b : builders) refill = std::max(refill, b.prefix());
  if (refill > 0) {
    tok.seek(data_pos, data_line);
    for (std::size_t row = 0; row < refill && tok.skip_blank_lines(); ++row)
      tok.record([&](std::size_t j, std::string_view f) {
        if (row < builders[j].prefix()) builders[j].fill(row, f);
      });
  }

  DataFrame df;
  df.source = source;
  df.nrows = nrows;
  df.columns.reserve(ncols);
  std::size_t commas = 0;
  for (std::size_t j = 0; j < ncols; ++j) {
    if (!builders[j].categorical()) commas += builders[j].decimal_commas();
    df.columns.push_back(builders[j].finish(std::move(names[j])));
  }
  if (commas > 0 && options.decimal == 0)
    df.notes.push_back(fmt::format("{} is separated by ';' with decimal commas: {} number{} like '3,5' read as 3.5",
                                   source, commas, commas == 1 ? "" : "s"));
  return df;
}

DataFrame read_table(const std::string& path, const ReadOptions& options) {
  const MappedFile mapped(path);
  std::string copy;
  if (!mapped.ok()) copy = read_file(path);
  const std::string_view text = mapped.ok() ? mapped.text() : std::string_view(copy);
  if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0x1f && static_cast<unsigned char>(text[1]) == 0x8b)
    throw Error(fmt::format("{}: the file is gzip-compressed; decompress it first", path));
  char delimiter = options.delimiter ? options.delimiter : delimiter_for_extension(path);
  // Spreadsheets in locales with a decimal comma save ".csv" files separated by ';'. A header with
  // no comma cannot be a comma-separated table of more than one column: let the sniffer decide.
  if (!options.delimiter && delimiter == ',') {
    const std::size_t eol = std::min(text.find('\n'), text.size());
    const std::string_view header = text.substr(0, eol);
    if (header.find(',') == std::string_view::npos && header.find_first_of(";\t") != std::string_view::npos)
      delimiter = 0;
  }
  ReadOptions o = options;
  o.delimiter = delimiter;
  return parse_table(text, o, path);
}

}  // namespace lmm
