// The options that choose how factors are coded (--ref, --contrasts), shared by the commands that
// fit a formula (fit, compare, report, shrinkage).
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "lmm/error.h"
#include "lmm/model_frame.h"

namespace lmm::cli {

struct FrameArgs {
  std::vector<std::string> refs;  ///< "x=level", repeatable
  std::string contrasts;          ///< "", treatment, sum, helmert
  std::string weights, offset;    ///< columns (lme4's weights = and offset =)
  /// --residual "ar1(day | id)", --residual-sd-by F (fit and report; compare takes one per model with
  /// its own flags, cmd_compare.cpp)
  std::string residual, residual_sd_by;
};

void add_frame_options(CLI::App* cmd, FrameArgs& args);
/// --residual and --residual-sd-by (ModelFrameOptions::residual).
void add_residual_options(CLI::App* cmd, FrameArgs& args);

/// The library options; throws lmm::Error naming the flag for a malformed value.
ModelFrameOptions frame_options(const FrameArgs& args);

/// Throws `e` again, with the library's name of an option (ModelFrameOptions::reference_levels)
/// replaced by the flag's (--ref).
[[noreturn]] void rethrow_with_flags(const Error& e);

/// Runs `body`, rephrasing the library's errors about ModelFrameOptions with the flags' names.
template <typename F>
auto with_frame_flags(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    rethrow_with_flags(e);
  }
}

}  // namespace lmm::cli
