// New responses of a saved GLMM from simulated linear predictors (src/glmm/glmm_simulate.cpp),
// for simulate_from_saved. Not a public header.
#pragma once
#include <vector>

#include "lmm/data.h"
#include "lmm/model.h"
#include "lmm/predict.h"
#include "lmm/rng.h"

namespace lmm::glmm_detail {

/// Replaces each simulated η in `sims` (per simulation, per row of `nf`) by a response drawn from
/// the model's family at μ = linkinv(η): 0/1 (Bernoulli), successes out of the row's trials for a
/// cbind(successes, failures) response (its two columns read from `data`), or a
/// Poisson count. Draws row by row within each simulation, after all η.
void draw_glmm_responses(const SavedModel& model, const DataFrame& data, const ModelFrame& nf,
                         std::vector<std::vector<double>>& sims, Rng& rng);

/// A Poisson draw with mean `mean` >= 0, and a binomial one with `trials` trials.
double draw_poisson(double mean, Rng& rng);
double draw_binomial(double trials, double p, Rng& rng);

}  // namespace lmm::glmm_detail
