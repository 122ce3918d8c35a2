#pragma once
#include <nlohmann/json.hpp>

#include "lmm/fit.h"

namespace lmm::cli {

/// The fit as JSON with the keys of the lme4 reference files (nobs, ngroups, fixed[], random[],
/// loglik, aic, bic, reml_criterion or deviance, theta, sigma, singular, ...). Non-finite numbers
/// become null.
nlohmann::json to_json(const FitResult& r);

/// Dumps with 17 significant digits (nlohmann's default for doubles round-trips).
std::string dump(const nlohmann::json& j);

}  // namespace lmm::cli
