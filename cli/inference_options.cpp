#include "inference_options.h"

#include "lmm/inference.h"
#include "lmm/residuals.h"

namespace lmm::cli {

void add_inference_options(CLI::App* cmd, InferenceArgs& args) {
  cmd->add_flag("--profile", args.profile,
                "profile-likelihood 95% intervals for every parameter, as lme4's confint(method = \"profile\")");
  cmd->add_option("--boot", args.boot, "parametric bootstrap with N replicates: percentile intervals for every "
                                       "parameter, ICC and R²")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args.seed, "random seed of the bootstrap (the same seed gives the same result on any "
                                       "number of threads; default 1)");
  cmd->add_option("--threads", args.threads, "threads for the bootstrap (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--residuals", args.residuals,
                  "write fitted values, residuals, scaled residuals and grouping levels per data row to this CSV file");
}

void run_inference(const InferenceArgs& args, Fitted& f, const DataFrame& data) {
  if (args.profile) f.result.confint_profile = profile_intervals(f.model);
  if (args.boot > 0) {
    BootstrapOptions o;
    o.replicates = args.boot;
    o.seed = args.seed;
    o.threads = args.threads;
    f.result.bootstrap = bootstrap(f.model, o);
  }
  if (!args.residuals.empty()) write_residuals(args.residuals, f.model, data.nrows);
}

}  // namespace lmm::cli
