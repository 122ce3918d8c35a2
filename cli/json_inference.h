#pragma once
#include <nlohmann/json.hpp>

#include "lmm/compare.h"
#include "lmm/fit.h"

namespace lmm::cli {

/// Adds the inference keys to a fit's JSON: icc_adjusted, icc_unadjusted, r2_marginal,
/// r2_conditional, variance_partition{}, confint_wald[], confint_profile[] (when computed),
/// bootstrap{} and confint_boot[] (when run), convergence{}, singular_advice[].
void add_inference_json(nlohmann::json& j, const FitResult& r);

/// `lmm compare --json`: npar, aic, bic, loglik, deviance (lists, table order), chisq, df, p (the
/// last pair), tests[] (every consecutive pair), formulas, refit_ml, messages.
nlohmann::json comparison_json(const ModelComparison& c);

}  // namespace lmm::cli
