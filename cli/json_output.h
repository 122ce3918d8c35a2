#pragma once
#include <iosfwd>

#include "json_writer.h"
#include "lmm/fit.h"

namespace lmm::cli {

/// The fit as one JSON object with the keys of the lme4 reference files (nobs, ngroups, fixed[],
/// random[], loglik, aic, bic, reml_criterion or deviance, theta, sigma, singular, ...), written
/// as it goes: the ranef[] and coef[] arrays come straight from the result's vectors. Members are
/// in key order (byte order), as lmm has always printed them. Non-finite numbers are null.
void write_json(JsonWriter& w, const FitResult& r);

/// `lmm fit --json`: the fit indented by 2, then a newline.
void print_json(std::ostream& out, const FitResult& r);

}  // namespace lmm::cli
