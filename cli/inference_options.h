// The fit command's inference options (--profile, --boot, --seed, --threads, --residuals), kept
// apart from cmd_fit.cpp.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "lmm/data.h"
#include "lmm/fit.h"

namespace lmm::cli {

struct InferenceArgs {
  bool profile = false;
  int boot = 0;
  std::uint64_t seed = 1;
  int threads = 0;
  std::string residuals;
};

void add_inference_options(CLI::App* cmd, InferenceArgs& args);

/// Runs what the options ask for on a fitted model and stores it in f.result; writes the residuals
/// file. Call before printing anything, so that an error leaves no partial output.
void run_inference(const InferenceArgs& args, Fitted& f, const DataFrame& data);

}  // namespace lmm::cli
