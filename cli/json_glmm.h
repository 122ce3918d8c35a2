// A GLMM's results as JSON (`lmm fit --family ... --json`), shared by the CLI and the Python module.
#pragma once
#include <functional>
#include <iosfwd>

#include "json_writer.h"
#include "lmm/glmm.h"

namespace lmm::cli {

/// The fit's keys: formula, family, link, nAGQ, nobs, ngroups, fixed[] (with z), random[], loglik,
/// aic, bic, deviance, theta, beta, ranef[], convergence, ICC and R² on the latent scale, ...,
/// written as they go, in key order, non-finite numbers as null. `extra` may add members.
void write_glmm_json(JsonWriter& w, const GlmmFitted& f, const std::function<void(SortedObject&)>& extra = {});

/// `lmm fit --family ... --json`: the fit indented by 2, then a newline.
void print_glmm_json(std::ostream& out, const GlmmFitted& f, const std::function<void(SortedObject&)>& extra = {});

}  // namespace lmm::cli
