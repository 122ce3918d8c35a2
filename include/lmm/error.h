// Errors a user can act on: what was wrong and where.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lmm {

/// An error in the user's input (data, formula, options). The message is one line that says what
/// is wrong and where (file, row, column, position in the formula) and, where it helps, what to do.
/// The CLI prints it as `lmm: <message>` and exits with code 2.
///
/// Messages quote the user's own text (column names, values, formulas), which can be anything: the
/// constructor escapes control bytes other than the line breaks of a formula's caret display
/// (a NUL would end what() early, a CR would overwrite the terminal line) and cuts the message to
/// kMaxLength bytes (a 10 MB column name must not become a 10 MB message).
class Error : public std::runtime_error {
 public:
  static constexpr std::size_t kMaxLength = 2000;
  explicit Error(const std::string& what) : std::runtime_error(sanitize(what)) {}
  explicit Error(const char* what) : Error(std::string(what)) {}

  static std::string sanitize(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    std::size_t i = 0;
    for (; i < s.size() && out.size() < kMaxLength; ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if ((c < 0x20 && c != '\n') || c == 0x7f) {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
    if (i < s.size()) {
      // Do not end inside a UTF-8 sequence.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
      if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
      out += "... (" + std::to_string(s.size() - i) + " more bytes)";
    }
    return out;
  }
};

}  // namespace lmm
