// Likelihood-ratio comparison of nested models, as lme4's anova(m0, m1, ...).
#pragma once
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/fit.h"

namespace lmm {

struct CompareOptions {
  /// false (the default, as lme4's anova(refit = TRUE)): every model is fitted by ML, because REML
  /// criteria of models with different fixed effects are not comparable. true: compare REML
  /// criteria (anova(refit = FALSE)); allowed only when all models have the same fixed effects.
  bool reml = false;
  /// Fit every model to the rows that have no missing value in any model's variables (and say how
  /// many rows that drops). false: models that would use different rows are refused.
  bool complete_cases = false;
  /// Reference levels and contrasts for every model; a reference level is applied to the models
  /// whose formula uses that variable (each key must be used by at least one).
  ModelFrameOptions frame;
  /// Per model (one per formula), its residual structure in place of frame.residual: to compare
  /// structures (independent against AR(1), say) with the same formula. Empty: frame.residual
  /// for every model.
  std::vector<ResidualOptions> residual;
};

/// A likelihood-ratio test between consecutive models of the table.
struct LikelihoodRatioTest {
  std::size_t smaller = 0, larger = 0;  ///< rows of the table
  double chisq = NaN;                    ///< 2·max(0, ℓ_larger - ℓ_smaller), as lme4
  int df = 0;                            ///< difference in npar
  double p = NaN;                        ///< P(χ²_df > chisq); NaN when df = 0
};

struct ModelComparison {
  Method method = Method::ML;
  bool refit_ml = false;  ///< the user's models are REML fits that were refitted by ML
  /// One row per model, ordered by npar (stably: ties keep the order given), as lme4's anova().
  std::vector<std::string> formulas;
  std::vector<std::size_t> input_index;  ///< position of each row's model in the input
  std::vector<int> npar;
  std::vector<double> aic, bic, loglik, deviance;
  std::vector<LikelihoodRatioTest> tests;  ///< rows (0,1), (1,2), ...
  std::vector<FitResult> fits;             ///< each model's fit, in table order
  std::vector<std::string> messages;       ///< what the user must know to read the table
};

/// Fits every formula on `data` and compares them. Throws lmm::Error with fewer than two formulas,
/// when the models use different rows (missing values in a variable only some models use) unless
/// options.complete_cases, or with options.reml when the fixed effects differ.
ModelComparison compare_models(const DataFrame& data, const std::vector<std::string>& formulas,
                               const CompareOptions& options = {});

/// The comparison as lme4 prints anova(m0, m1).
std::string format_comparison(const ModelComparison& c);

}  // namespace lmm
