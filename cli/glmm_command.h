// `lmm fit ... --family binomial|poisson`: the GLMM options of the fit command and their run
// (cli/glmm_command.cpp).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "lmm/compare.h"
#include "lmm/data.h"
#include "lmm/glmm.h"
#include "lmm/model_frame.h"

namespace lmm::cli {

struct GlmmArgs {
  std::string family;  ///< "" for a linear mixed model
  std::string link;
  int nagq = 1;
  bool fast = false;
  bool profile = false;  ///< --profile: profile-likelihood intervals (set from the fit command's option)
  std::string newdata;  ///< rows to predict on the link scale (JSON's predict_link_newdata)
  std::string save;     ///< --save: the model for `lmm predict` (set from the fit command's option)
  int boot = 0;         ///< --boot: bootstrap replicates (set from the fit command's options, with seed, threads)
  std::uint64_t seed = 1;
  int threads = 0;
};

/// The GLMM's options from the flags (lmm::Error naming --family / --link when they are not known).
GlmmOptions glmm_options(const GlmmArgs& args, const ModelFrameOptions& frame);

/// Throws lmm::Error naming the first of `flags` that is set: fit's options that a GLMM does not have.
void refuse_for_glmm(const std::vector<std::pair<const char*, bool>>& flags);

void add_glmm_options(CLI::App* cmd, GlmmArgs& args);

/// --family, --link and --nagq alone (for compare).
void add_glmm_family_options(CLI::App* cmd, GlmmArgs& args);

/// `lmm compare --family ...`: the GLMMs' likelihood-ratio tests.
ModelComparison compare_glmm_models(const GlmmArgs& args, const DataFrame& data, const std::vector<std::string>& formulas,
                                    const ModelFrameOptions& frame);

/// Fits the GLMM and prints its summary (or JSON); returns the exit code.
int run_glmm_fit(const GlmmArgs& args, const DataFrame& data, const std::string& formula,
                 const ModelFrameOptions& frame, bool json, const std::string& data_name);

}  // namespace lmm::cli
