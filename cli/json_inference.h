#pragma once
#include "json_writer.h"
#include "lmm/compare.h"
#include "lmm/fit.h"

namespace lmm::cli {

/// Adds the inference keys to a fit's JSON object: icc_adjusted, icc_unadjusted, r2_marginal,
/// r2_conditional, variance_partition{}, confint_wald[], confint_profile[] (when computed),
/// bootstrap{} and confint_boot[] (when run), convergence{}, singular_advice[]. The values are
/// written from `r` when the object is written: `r` must outlive `j`.
/// [{parameter, estimate, lower, upper, note?}]: the LMM's and the GLMM's confint_* arrays.
void write_intervals(JsonWriter& w, const std::vector<Interval>& ivs);

/// {replicates, failed, seed, threads, level, method}: the LMM's and the GLMM's bootstrap object.
void write_bootstrap(JsonWriter& w, const BootstrapResult& b);

void add_inference_members(SortedObject& j, const FitResult& r);

/// `lmm compare --json`: npar, aic, bic, loglik, deviance (lists, table order), chisq, df, p (the
/// last pair), tests[] (every consecutive pair), formulas, refit_ml, messages.
void write_comparison_json(JsonWriter& w, const ModelComparison& c);

}  // namespace lmm::cli
