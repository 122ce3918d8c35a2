// Simulation: data from a two-level growth model (for teaching
// and power planning), and new responses from a fitted model (lme4's simulate(m), the basis of
// the parametric bootstrap).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/model.h"
#include "lmm/rng.h"

namespace lmm {

/// A two-level linear growth model:
///   y_ti = intercept + u0_i + (slope + group_effect·treatment_i + u1_i)·time_t + e_ti,
///   (u0, u1) ~ N(0, [sd_intercept², cor·sd_intercept·sd_slope; ., sd_slope²]), e ~ N(0, sigma²).
/// Persons are allocated to the arms `control` and `treatment` in equal numbers (randomly, a
/// shuffle of a balanced list; with an odd number the extra person is in control). Dropout is
/// monotone: after baseline, a person still in the study leaves before each wave with probability
/// `dropout`, independently of the outcomes (missing completely at random, a special case of MAR);
/// the waves after dropout are written with y missing.
struct GrowthDesign {
  std::size_t persons = 200;
  std::vector<double> waves{0, 1, 2, 3, 4};
  double intercept = 50;
  double slope = 2;
  double sd_intercept = 8;
  double sd_slope = 1.5;
  double cor = -0.3;
  double sigma = 4;
  double group_effect = 0;  ///< treatment effect on the slope
  double dropout = 0;       ///< probability of leaving before each wave after baseline
  std::uint64_t seed = 1;
};

/// A field of GrowthDesign out of range: its name as in the struct ("persons", "sd_intercept",
/// ...) and the rule it breaks, e.g. {"persons", "must be at least 2 (got 1)"}.
struct DesignProblem {
  std::string field;
  std::string rule;
};

/// The first field of `design` out of range, if any: persons in [2, 10⁸]; waves finite, distinct
/// and increasing, at least one; intercept, slope, group_effect finite; sd_intercept, sd_slope ≥ 0;
/// cor in [-1, 1]; sigma > 0; dropout in [0, 1).
std::optional<DesignProblem> check_growth_design(const GrowthDesign& design);

/// The simulated data and the random effects drawn for each person.
struct GrowthSimulation {
  DataFrame data;             ///< as simulate_growth
  std::vector<double> u0, u1;  ///< per person (P001 first): intercept and slope deviations
};

/// The simulated data in long format: columns id (P001, P002, ...), time, group
/// (control/treatment), y (missing after dropout). Throws lmm::Error naming the field for an
/// invalid design ("GrowthDesign::persons must be at least 2 (got 1)", see check_growth_design).
/// Random numbers: the allocation comes from stream 0 of `seed`, person k's effects, errors and
/// dropout draws from stream k (Rng(seed, k)), so that changing σ, the effects or the number of
/// persons keeps the same persons' draws.
GrowthSimulation simulate_growth_with_effects(const GrowthDesign& design);
DataFrame simulate_growth(const GrowthDesign& design);

/// The same simulation a block of persons at a time, for designs too large to hold: `visit` is
/// called with persons 1..k, then k+1..2k, ... (k = persons_per_block, the last block shorter),
/// each block's rows and effects exactly those of simulate_growth_with_effects for its persons
/// (their ids padded to the width of the whole design), so that the blocks' rows in order are its
/// data. Memory: one block, and one byte per person for the allocation to arms.
void simulate_growth_blocks(const GrowthDesign& design, std::size_t persons_per_block,
                            const std::function<void(GrowthSimulation&&)>& visit);

/// The design at which to simulate: a fixed-effects matrix and random-effects terms (as a model
/// frame's; y is not used).
struct SimulationDesign {
  std::size_t n = 0;
  std::vector<double> X;       ///< n x p, column-major
  std::vector<ReTermData> re;  ///< refs index the levels; nlevels from `levels`
  std::vector<double> offset;   ///< n values added to Xβ (a model's offset); empty: none
  std::vector<double> weights;  ///< n prior weights: residual SD σ/√w; empty: all 1
  /// Correlated or heteroscedastic residuals (a residual structure): per block of rows, the lower
  /// Cholesky factor C (m x m, column-major) of its D R D, so that the block's residuals are
  /// σ C ε; rows in no block keep σ ε. Empty: none.
  struct ResidualBlock {
    std::vector<std::uint32_t> rows;
    std::vector<double> chol;
  };
  std::vector<ResidualBlock> residual_blocks;
};

/// The parameters to simulate from: β, λ per term (q x q lower triangular, column-major), σ.
struct SimulationParameters {
  std::vector<double> beta;
  std::vector<std::vector<double>> lambda;
  double sigma = 1;
  bool residuals = true;  ///< false: no σε (a GLMM's linear predictor, whose family draws the response)
};

/// `nsim` new response vectors y* = Xβ + Σ_j Z_j b*_j + σε with new random effects
/// b*_j = σ λ_j u, u ~ N(0, I) for every level, and ε ~ N(0, I): lme4's simulate(m) (use.u =
/// FALSE). Draws, per simulation: the u of every term (term by term, level by level), then ε row by
/// row.
std::vector<std::vector<double>> simulate_responses(const SimulationDesign& design,
                                                    const SimulationParameters& params,
                                                    std::size_t nsim, Rng& rng);

/// The same at a fitted model's own design and estimates (for a parametric bootstrap).
std::vector<std::vector<double>> simulate_responses(const LinearMixedModel& model, std::size_t nsim,
                                                    Rng& rng);

}  // namespace lmm
