// Simulation: a portable random number stream, data from a two-level growth model (for teaching
// and power planning), and new responses from a fitted model (lme4's simulate(m), the basis of
// the parametric bootstrap).
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/model.h"

namespace lmm {

/// Random numbers that are the same on every platform and standard library for the same seed:
/// std::mt19937_64 (whose output the C++ standard fixes) with our own transforms, not
/// std::uniform_real_distribution / std::normal_distribution (implementation-defined).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  /// Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  /// Uniform on (0, 1).
  double uniform_open();
  /// Standard normal by Marsaglia's polar method (Marsaglia & Bray 1964): needs only log and sqrt.
  double normal();

 private:
  std::mt19937_64 gen_;
  bool has_spare_ = false;
  double spare_ = 0;
};

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

/// The simulated data in long format: columns id (P001, P002, ...), time, group
/// (control/treatment), y (missing after dropout). Throws lmm::Error for an invalid design.
DataFrame simulate_growth(const GrowthDesign& design);

/// The design at which to simulate: a fixed-effects matrix and random-effects terms (as a model
/// frame's; y is not used).
struct SimulationDesign {
  std::size_t n = 0;
  std::vector<double> X;       ///< n x p, column-major
  std::vector<ReTermData> re;  ///< refs index the levels; nlevels from `levels`
  std::vector<double> offset;   ///< n values added to Xβ (a model's offset); empty: none
  std::vector<double> weights;  ///< n prior weights: residual SD σ/√w; empty: all 1
};

/// The parameters to simulate from: β, λ per term (q x q lower triangular, column-major), σ.
struct SimulationParameters {
  std::vector<double> beta;
  std::vector<std::vector<double>> lambda;
  double sigma = 1;
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
