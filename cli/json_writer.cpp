#include "json_writer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>

namespace lmm::cli {

namespace {

constexpr std::size_t kFlushAt = 1u << 16;

/// The length of the well-formed UTF-8 sequence (Unicode's table 3-7, which nlohmann's decoder
/// accepts) starting at s[i], a byte >= 0x80; 0 when it is not well formed.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const auto cont = [](unsigned b, unsigned lo = 0x80, unsigned hi = 0xBF) { return b >= lo && b <= hi; };
  const unsigned b = at(0);
  if (b >= 0xC2 && b <= 0xDF) return cont(at(1)) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    const unsigned lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    return cont(at(1), lo, hi) && cont(at(2)) ? 3 : 0;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    const unsigned lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    return cont(at(1), lo, hi) && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  return 0;
}

}  // namespace

JsonWriter::JsonWriter(std::ostream& out, int indent) : out_(&out), indent_(indent) { buf_.reserve(kFlushAt + 4096); }

JsonWriter::JsonWriter(int indent) : indent_(indent) {}

JsonWriter::~JsonWriter() {
  try {
    flush();
  } catch (...) {  // a destructor must not throw; the stream's state tells the caller
  }
}

void JsonWriter::flush() {
  if (!out_ || buf_.empty()) return;
  out_->write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
}

void JsonWriter::maybe_flush() {
  if (out_ && buf_.size() >= kFlushAt) flush();
}

void JsonWriter::newline_indent(std::size_t depth) {
  buf_ += '\n';
  buf_.append(depth * static_cast<std::size_t>(indent_), ' ');
}

// Separators and indentation before a value (or a key, for an object's member).
void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (stack_.empty()) return;
  Level& l = stack_.back();
  if (l.object) throw std::logic_error("JsonWriter: a value inside an object needs a key first");
  if (l.count++ > 0) buf_ += ',';
  if (indent_ >= 0) newline_indent(stack_.size());
}

JsonWriter& JsonWriter::key(std::string_view k) {
  if (stack_.empty() || !stack_.back().object || after_key_)
    throw std::logic_error("JsonWriter: a key outside an object");
  Level& l = stack_.back();
  if (l.count++ > 0) buf_ += ',';
  if (indent_ >= 0) newline_indent(stack_.size());
  buf_ += '"';
  escaped(k);
  buf_ += indent_ >= 0 ? "\": " : "\":";
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::open(bool object) {
  before_value();
  buf_ += object ? '{' : '[';
  stack_.push_back({object, 0});
  return *this;
}

JsonWriter& JsonWriter::close(bool object) {
  if (stack_.empty() || stack_.back().object != object || after_key_)
    throw std::logic_error(object ? "JsonWriter: unbalanced end_object" : "JsonWriter: unbalanced end_array");
  const bool any = stack_.back().count > 0;
  stack_.pop_back();
  if (any && indent_ >= 0) newline_indent(stack_.size());  // nlohmann writes an empty one as {} or []
  buf_ += object ? '}' : ']';
  maybe_flush();
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
  before_value();
  buf_ += '"';
  escaped(s);
  buf_ += '"';
  maybe_flush();
  return *this;
}

JsonWriter& JsonWriter::value(double v) {
  if (!std::isfinite(v)) return null();
  before_value();
  // nlohmann's own Grisu2 formatter, so the digits are the ones its dump() has always printed.
  std::array<char, 64> b{};
  const char* end = nlohmann::detail::to_chars(b.data(), b.data() + b.size(), v);
  buf_.append(b.data(), static_cast<std::size_t>(end - b.data()));
  maybe_flush();
  return *this;
}

JsonWriter& JsonWriter::value(bool v) {
  before_value();
  buf_ += v ? "true" : "false";
  return *this;
}

void print_indented(std::ostream& out, const std::function<void(JsonWriter&)>& write) {
  JsonWriter w(out, 2);
  write(w);
  w.flush();
  out << '\n';
}

JsonWriter& JsonWriter::value(const nlohmann::json& j) {
  using T = nlohmann::json::value_t;
  switch (j.type()) {
    case T::object:
      begin_object();
      for (const auto& [k, v] : j.items()) key(k).value(v);
      return end_object();
    case T::array:
      begin_array();
      for (const auto& v : j) value(v);
      return end_array();
    case T::string: return value(j.get_ref<const std::string&>());
    case T::boolean: return value(j.get<bool>());
    case T::number_integer: return value(j.get<std::int64_t>());
    case T::number_unsigned: return value(j.get<std::uint64_t>());
    case T::number_float: return value(j.get<double>());
    default: return null();
  }
}

JsonWriter& JsonWriter::null() {
  before_value();
  buf_ += "null";
  return *this;
}

JsonWriter& JsonWriter::signed_integer(std::int64_t v) {
  before_value();
  std::array<char, 24> b{};
  buf_.append(b.data(), static_cast<std::size_t>(std::to_chars(b.data(), b.data() + b.size(), v).ptr - b.data()));
  return *this;
}

JsonWriter& JsonWriter::unsigned_integer(std::uint64_t v) {
  before_value();
  std::array<char, 24> b{};
  buf_.append(b.data(), static_cast<std::size_t>(std::to_chars(b.data(), b.data() + b.size(), v).ptr - b.data()));
  return *this;
}

// Plain runs are copied as they are; escapes as nlohmann writes them. A string that is not valid
// UTF-8 (rare: a Latin-1 name) is handed to nlohmann whole, for its exact U+FFFD replacement.
void JsonWriter::escaped(std::string_view s) {
  const std::size_t start = buf_.size();
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) continue;
    if (c >= 0x80) {
      const std::size_t n = utf8_length(s, i);
      if (n == 0) {
        buf_.resize(start);
        const std::string text =
            nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        buf_.append(text, 1, text.size() - 2);  // without the quotes
        return;
      }
      i += n - 1;
      continue;
    }
    buf_.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': buf_ += "\\\""; break;
      case '\\': buf_ += "\\\\"; break;
      case '\b': buf_ += "\\b"; break;
      case '\f': buf_ += "\\f"; break;
      case '\n': buf_ += "\\n"; break;
      case '\r': buf_ += "\\r"; break;
      case '\t': buf_ += "\\t"; break;
      default: {
        static constexpr char hex[] = "0123456789abcdef";
        buf_ += "\\u00";
        buf_ += hex[c >> 4];
        buf_ += hex[c & 15];
      }
    }
  }
  buf_.append(s.data() + run, s.size() - run);
}

std::vector<std::size_t> map_order(const std::vector<std::string>& keys) {
  std::vector<std::size_t> idx(keys.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
  std::vector<std::size_t> out;
  out.reserve(idx.size());
  for (std::size_t k = 0; k < idx.size(); ++k)  // of equal keys (adjacent, in assignment order) the last
    if (k + 1 == idx.size() || keys[idx[k + 1]] != keys[idx[k]]) out.push_back(idx[k]);
  return out;
}

void SortedObject::write(JsonWriter& w) const {
  std::vector<std::string> keys;
  keys.reserve(members_.size());
  for (const auto& m : members_) keys.push_back(m.key);
  w.begin_object();
  for (std::size_t i : map_order(keys)) {
    w.key(members_[i].key);
    members_[i].write(w);
  }
  w.end_object();
}

}  // namespace lmm::cli
