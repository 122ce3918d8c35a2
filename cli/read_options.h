// Options every command that reads a data file shares: --na-values, --sep, --decimal.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "lmm/data.h"

namespace lmm::cli {

struct ReadArgs {
  std::string na_values;  ///< comma-separated codes
  std::string sep;        ///< "," ";" "tab" "|" or "" (automatic)
  std::string decimal;    ///< "." "," or "" (automatic)
};

void add_read_options(CLI::App* cmd, ReadArgs& args);

/// Reads `path` with the options. With `print_notes`, what the reader did that the user should
/// know (missing codes, decimal commas, likely undeclared codes) goes to stderr, one line each;
/// commands that fit a model print them in the fit's messages instead.
/// The options as the library takes them (throws lmm::Error naming the flag for a bad value).
ReadOptions read_options(const ReadArgs& args);

DataFrame read_data(const std::string& path, const ReadArgs& args, bool print_notes);

}  // namespace lmm::cli
