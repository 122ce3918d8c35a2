// A streaming JSON writer: values go to the output as they are written, so a result with 200,000
// random-effect levels is never held as a document. The text is byte for byte what nlohmann::json's
// dump(indent, ' ', false, error_handler_t::replace) prints for the same values: its number format
// (shortest round-trip digits, "1.0", "1e-05"), its string escapes (\" \\ \b \f \n \r \t, other
// control bytes \u00XX, UTF-8 passed through, invalid UTF-8 replaced by U+FFFD), its layout.
#pragma once
#include <array>
#include <concepts>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lmm::cli {

class JsonWriter {
 public:
  /// Writes to `out` through a buffer (flushed when full, by flush() and by the destructor).
  /// `indent`: spaces per level, as nlohmann's dump(indent); -1 writes everything on one line.
  explicit JsonWriter(std::ostream& out, int indent = 2);
  /// Collects the text in memory; take it with str().
  explicit JsonWriter(int indent = -1);
  ~JsonWriter();
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& begin_object() { return open(true); }
  JsonWriter& end_object() { return close(true); }
  JsonWriter& begin_array() { return open(false); }
  JsonWriter& end_array() { return close(false); }
  /// The next member's key (inside an object, before its value).
  JsonWriter& key(std::string_view k);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  /// Non-finite numbers are written null (as nlohmann does).
  JsonWriter& value(double v);
  JsonWriter& value(bool b);
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  JsonWriter& value(T v) {
    if constexpr (std::is_signed_v<T>)
      return signed_integer(v);
    else
      return unsigned_integer(v);
  }
  JsonWriter& null();
  /// A document built with nlohmann::json (small parts only: saved-model pieces, a few rows).
  JsonWriter& value(const nlohmann::json& j);
  /// An array of the elements, each written with value().
  template <class T>
  JsonWriter& value(const std::vector<T>& v) {
    begin_array();
    for (const auto& x : v) value(x);
    return end_array();
  }
  template <class T, std::size_t N>
  JsonWriter& value(const std::array<T, N>& v) {
    begin_array();
    for (const auto& x : v) value(x);
    return end_array();
  }
  /// A string, or null when it is empty.
  JsonWriter& string_or_null(std::string_view s) { return s.empty() ? null() : value(s); }

  /// Writes the buffered text to the stream (nothing in memory mode).
  void flush();
  /// The text written so far (memory mode).
  const std::string& str() const { return buf_; }

 private:
  struct Level {
    bool object;
    std::size_t count;
  };
  JsonWriter& open(bool object);
  JsonWriter& close(bool object);
  JsonWriter& signed_integer(std::int64_t v);
  JsonWriter& unsigned_integer(std::uint64_t v);
  void before_value();
  void newline_indent(std::size_t depth);
  void escaped(std::string_view s);
  void maybe_flush();

  std::ostream* out_ = nullptr;
  int indent_;
  std::string buf_;
  std::vector<Level> stack_;
  bool after_key_ = false;
};

/// What every `--json` prints: the document `write` writes, indented by 2, then a newline.
void print_indented(std::ostream& out, const std::function<void(JsonWriter&)>& write);

/// The order nlohmann::json (whose objects are std::maps) prints an object's members in: by key,
/// byte order, and of a key assigned more than once only the last assignment. `keys` are in the
/// order of assignment; the result lists the indices of `keys` to write, in writing order.
std::vector<std::size_t> map_order(const std::vector<std::string>& keys);

/// An object whose members are written in map_order: add them in any order, then write(). Each
/// value is a copy of a small value or a function that writes it (for arrays that stream).
class SortedObject {
 public:
  using Write = std::function<void(JsonWriter&)>;
  SortedObject& add(std::string key, Write write) {
    members_.push_back({std::move(key), std::move(write)});
    return *this;
  }
  template <class T>
    requires(!std::is_invocable_v<T, JsonWriter&>)
  SortedObject& add(std::string key, T v) {
    return add(std::move(key), Write([v = std::move(v)](JsonWriter& w) { w.value(v); }));
  }
  SortedObject& add(std::string key, const char* v) { return add(std::move(key), std::string(v)); }
  SortedObject& add_null(std::string key) {
    return add(std::move(key), Write([](JsonWriter& w) { w.null(); }));
  }
  void write(JsonWriter& w) const;

 private:
  struct Member {
    std::string key;
    Write write;
  };
  std::vector<Member> members_;
};

}  // namespace lmm::cli
