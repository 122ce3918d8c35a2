// Read-only access to a model's state (the factor's blocks, λ, the θ layout) for the engine's own
// code above src/model: Kenward-Roger's and Satterthwaite's derivatives, the convergence check,
// the summary. Not a public header. Nothing outside src/model writes into the state; changing
// the model goes through LinearMixedModel's public operations (set_theta, set_response, ...).
#pragma once
#include "model/model_impl.h"

namespace lmm::detail {

struct ModelAccess {
  static const ModelState& state(const LinearMixedModel& model) { return *model.impl_; }
  /// For src/model alone (release_cross_products()).
  static ModelState& mutable_state(LinearMixedModel& model) { return *model.impl_; }
};

/// The state behind `model`, read-only.
inline const ModelState& model_state(const LinearMixedModel& model) { return ModelAccess::state(model); }

/// The residual structure's estimates at other unconstrained values `eta` (θ's values after the
/// terms'), for intervals; the model is not changed.
ResidualEstimates residual_estimates_at(const LinearMixedModel& model, const std::vector<double>& eta);

}  // namespace lmm::detail
