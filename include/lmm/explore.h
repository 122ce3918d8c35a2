// The engine side of `lmm explore`: a two-level growth model to simulate from and its true variance
// partition. (The explorer's likelihood-ratio test is lmm::compare_models.)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/fit.h"

namespace lmm::explore {

/// y_ij = (β0 + b0_i) + (β1 + b1_i) t_j + e_ij, with (b0, b1) ~ N(0, [[sd0², ρ sd0 sd1], [., sd1²]])
/// and e ~ N(0, σ²). The `lmm simulate` growth model without group or dropout.
struct GrowthParams {
  double intercept = 50, slope = 2;
  double sd_intercept = 8, sd_slope = 1.5, cor = 0, sigma = 4;
  std::size_t persons = 200;
  std::vector<double> times{0, 1, 2, 3, 4};
  std::uint64_t seed = 1;
};

/// Throws lmm::Error naming the first parameter out of range (negative SD, |cor| > 1, σ <= 0,
/// fewer than 2 or more than 5000 persons, fewer than 2 or more than 20 times, not increasing).
void validate(const GrowthParams& params);

struct GrowthSample {
  std::vector<std::string> ids;    ///< "P001", ... per person
  std::vector<std::int32_t> person;  ///< per row: index into ids
  std::vector<double> time, y;     ///< per row
  std::vector<double> b0, b1;      ///< per person: the drawn random effects
  std::vector<double> wave_mean;   ///< per time: the mean of y over persons
};

/// Draws a sample with lmm::simulate_growth_with_effects (no group effect, no dropout). Each person
/// has their own random stream (seed, person), so moving a slider other than `seed` changes the
/// same people's trajectories smoothly rather than drawing new people, and the result is the same
/// on every platform.
GrowthSample simulate_growth(const GrowthParams& params);

/// The long table (id, time, y) that `lmm fit` reads.
DataFrame to_table(const GrowthSample& sample);

/// The true variance partition: between(t) = sd0² + 2tρ sd0 sd1 + t²sd1², total(t) = between(t) + σ².
struct GrowthVariance {
  double icc_baseline = 0;  ///< between(0) / total(0) = sd0² / (sd0² + σ²)
  double icc_mean = 0;      ///< mean over the waves of between(t), over itself plus σ² (Nakagawa et al. 2017)
  std::vector<double> t, between, total, icc;  ///< over a grid from the first to the last time
};
GrowthVariance growth_variance(const GrowthParams& params);

}  // namespace lmm::explore
