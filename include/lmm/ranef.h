// Random effects per level: conditional modes with their conditional SDs (lme4's
// ranef(m, condVar = TRUE)), and the level-specific coefficients (lme4's coef()).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "lmm/model.h"

namespace lmm {

/// One level of one grouping factor. Terms on the same grouping factor (`(1 | g) + (0 + x | g)`,
/// `(x || g)`) are merged into one row, as lme4's ranef() does.
struct RandomEffectLevel {
  std::string group;               ///< grouping factor: "Subject", "cask:batch"
  std::string level;               ///< "308", "a:A"
  std::vector<std::string> terms;  ///< "(Intercept)", "Days"
  std::vector<double> mode;        ///< conditional mode (BLUP) of each term
  std::vector<double> condsd;      ///< conditional SD of each term given the data and β̂
};

/// lme4's ranef(m, condVar = TRUE): one row per (grouping factor, level), grouping factors in the
/// order of the model's random-effects terms, levels in the factor's order. The conditional SD is
/// the square root of the diagonal of σ²Λ(Λ'Z'ZΛ + I)⁻¹Λ' (conditional on β̂, as lme4), computed by
/// selected inversion of the model's factor.
std::vector<RandomEffectLevel> random_effects(const LinearMixedModel& model);

/// One level's coefficients: fixed effect plus the level's random effect where the term has one,
/// for every fixed-effect column (lme4's coef()). Random-effect terms without a fixed-effect column
/// of the same name come first with a fixed part of 0, as lme4 puts them.
struct LevelCoefficients {
  std::string group, level;
  std::vector<std::string> terms;
  std::vector<double> values;
};
std::vector<LevelCoefficients> coefficients(const LinearMixedModel& model);
/// The same from random effects already computed by random_effects(model).
std::vector<LevelCoefficients> coefficients(const LinearMixedModel& model,
                                            const std::vector<RandomEffectLevel>& ranef);

}  // namespace lmm
