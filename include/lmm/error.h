// Errors a user can act on: what was wrong and where.
#pragma once
#include <stdexcept>
#include <string>

namespace lmm {

/// An error in the user's input (data, formula, options). The message is one line that says what
/// is wrong and where (file, row, column, position in the formula) and, where it helps, what to do.
/// The CLI prints it as `lmm: <message>` and exits with code 2.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lmm
