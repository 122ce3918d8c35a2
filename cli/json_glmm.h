// A GLMM's results as JSON (`lmm fit --family ... --json`), shared by the CLI and the Python module.
#pragma once
#include <nlohmann/json.hpp>

#include "lmm/glmm.h"

namespace lmm::cli {

/// The fit's keys: formula, family, link, nAGQ, nobs, ngroups, fixed[] (with z), random[], loglik,
/// aic, bic, deviance, theta, beta, ranef[], convergence, ICC and R² on the latent scale, ...
nlohmann::json glmm_json(const GlmmFitted& f);

}  // namespace lmm::cli
