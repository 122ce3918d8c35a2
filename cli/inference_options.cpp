#include "inference_options.h"

#include <string>

#include "lmm/error.h"
#include "lmm/inference.h"
#include "lmm/residuals.h"

namespace lmm::cli {

namespace {
constexpr const char* kInferenceHelp = R"HELP(

ICC and R² (every fit): as performance::icc and r2_nakagawa. The ICC is a partition of the
variance (the share that lies between groups), not variance explained; R² marginal is the share
explained by the fixed effects, R² conditional by fixed and random effects together.
Intervals: Wald intervals for the fixed effects always (--json: confint_wald); --profile adds
profile-likelihood intervals for every parameter as lme4's confint() (of the likelihood: a REML
fit is refitted by ML first, as lme4 does); --boot N --seed S a parametric bootstrap with
percentile intervals for every parameter, ICC and R² (the same seed gives the same result on any
number of --threads). With --residual/--residual-sd-by both include the structure's phi, rho,
correlations and SD ratios (the bootstrap draws each group's residuals with covariance σ²DRD).
Convergence: lme4's gradient and Hessian check at the optimum; when it
fails, lmm refits from there with a second optimizer (Nelder-Mead) and reports whether they agree.
Compare models with `lmm compare` (likelihood-ratio tests).)HELP";
}  // namespace

void add_inference_options(CLI::App* cmd, InferenceArgs& args) {
  cmd->footer(cmd->get_footer() + kInferenceHelp);
  cmd->add_flag("--profile", args.profile,
                "profile-likelihood 95% intervals for every parameter, as lme4's confint(method = \"profile\")");
  cmd->add_option("--boot", args.boot, "parametric bootstrap with N replicates: percentile intervals for every "
                                       "parameter, ICC and R²")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args.seed, "random seed of the bootstrap (the same seed gives the same result on any "
                                       "number of threads; default 1)");
  cmd->add_option("--threads", args.threads, "threads for the pass over the data, the optimizer and the bootstrap (default: all cores)")
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
  if (!args.residuals.empty()) {
    try {
      write_residuals(args.residuals, f.model, data.nrows, &data);
    } catch (const Error& e) {
      throw Error(std::string("--residuals: ") + e.what());  // say which output failed
    }
  }
}

}  // namespace lmm::cli
