// θ from variance parameters on the SD/correlation scale (lme4's profile scale), shared by the
// LMM (LinearMixedModel::theta_from_sdcor) and the GLMM's profile.
#pragma once

#include <optional>
#include <vector>

namespace lmm::detail {

/// θ for terms of sizes `q` from `v`: per term, its SDs and correlations in θ's lower-triangle
/// order, relative to `sigma` (1 for a GLMM). A semidefinite covariance (an SD at 0) gives zero
/// columns; nullopt for a negative SD, a correlation outside [-1, 1] or a matrix that is not
/// positive semidefinite.
std::optional<std::vector<double>> theta_from_sdcor(const std::vector<double>& v, const std::vector<int>& q,
                                                    double sigma);

}  // namespace lmm::detail
