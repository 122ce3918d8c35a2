// Prediction from a fitted model, on new rows, conditional on the random effects or at the
// population level, with confidence and prediction intervals; and the fitted model as a plain value
// that can be saved and used later without the data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/model.h"
#include "lmm/model_frame.h"
#include "lmm/reshape.h"
#include "lmm/simulate.h"

namespace lmm {

/// Everything prediction and simulation need, without the data: what `lmm fit --save` writes.
struct SavedModel {
  // --- provenance ---
  std::string lmm_version;
  std::string data_source;  ///< the data file's name as given
  std::string data_hash;    ///< "fnv1a64:<16 hex digits>" of the data file's bytes
  std::size_t nobs = 0;
  Method method = Method::REML;
  std::vector<Centering>
      centering;  ///< applied to the data before fitting; applied again to new data
  /// A generalized linear mixed model's family and link ("binomial", "logit"; lmm/glmm.h); empty
  /// for a linear mixed model. predict() gives the linear predictor of such a model.
  std::string family, link;

  /// The model frame's coding: formula, fixed_names, aliased, factors, and per term group, names
  /// and levels (no rows: X, y, refs, z are empty).
  ModelFrame frame;

  // --- estimates ---
  std::vector<double> beta;  ///< p
  std::vector<double> vcov;  ///< p x p, column-major
  std::vector<double> theta;
  std::vector<std::vector<double>> lambda;  ///< per term, q x q column-major
  double sigma = 0;

  /// Per random-effects term and level: the conditional mode b̂, lme4's conditional covariance
  /// Var(b | y, β = β̂) (condvar), and for intervals the covariance of the prediction error b̂ - b
  /// including the uncertainty of β̂ (pe_cov, q x q) and its covariance with β̂ - β (pe_cross, q x
  /// p), all level-major and column-major within a level.
  struct TermEstimates {
    std::vector<double> b;         ///< nlevels x q
    std::vector<double> condvar;   ///< nlevels x q x q
    std::vector<double> pe_cov;    ///< nlevels x q x q
    std::vector<double> pe_cross;  ///< nlevels x q x p
  };
  std::vector<TermEstimates> re;
};

/// A model frame's coding without its rows (formula, names, factors and their levels, transforms,
/// each grouping factor's levels and effect names): the part of it a SavedModel keeps.
ModelFrame frame_coding(const ModelFrame& f);

/// The fitted model at its current θ as a SavedModel (provenance fields left for the caller).
/// The prediction-error covariances come from the joint covariance of (β̂, b̂ - b), σ² times the
/// inverse of Henderson's mixed-model-equations matrix, evaluated per level from the blocked
/// factor.
SavedModel snapshot(const LinearMixedModel& model);

/// What is wrong with a SavedModel's estimates, or "" if nothing: each must be what a fit can
/// produce, or predict() and simulate() would print NaN or nonsense from a damaged file. Checks
/// that vcov and every level's condvar and pe_cov are covariance matrices (symmetric, no negative
/// eigenvalue beyond rounding), that each λ is lower triangular with a non-negative diagonal, and
/// that θ is λ's column-wise lower triangle. The message starts with the field: "vcov is not
/// symmetric", "random[Subject].pe_cov of level '308' has a negative eigenvalue (-3.2)".
std::string check_estimates(const SavedModel& model);

/// FNV-1a (64 bit) of bytes, as "fnv1a64:<hex>": identifies the data a model was fitted to.
std::string data_hash(std::string_view bytes);
/// data_hash() of a file's bytes, read in 1 MiB blocks (a streamed fit's data need not fit in
/// memory); a file that cannot be read hashes as its readable prefix, the empty one if none.
std::string data_hash_of_file(const std::string& path);

enum class ReForm {
  Conditional,  ///< Xβ + Zb̂ (lme4's default re.form = NULL)
  Population,   ///< Xβ (lme4's re.form = NA)
};

enum class IntervalKind { None, Confidence, Prediction };

struct PredictOptions {
  ReForm re_form = ReForm::Conditional;
  IntervalKind interval = IntervalKind::None;
  double level = 0.95;
};

/// One prediction per row of the new data (NaN where a predictor is missing).
struct Predictions {
  std::vector<double> fit;
  std::vector<double> se;            ///< standard error used by the interval (empty without one)
  std::vector<double> lower, upper;  ///< the interval (empty without one)
  std::vector<std::string> notes;    ///< levels not in the fit, rows left out, ...
};

/// Predictions for the rows of `data`. A grouping level the fit did not see gets the population
/// prediction for that term (lme4's allow.new.levels = TRUE) and a note; a categorical predictor
/// level the fit did not see is an lmm::Error naming it.
///
/// Intervals (normal quantiles; the variance parameters are treated as known):
///  - Conditional, confidence: Var(x'β̂ + z'b̂ - x'β - z'b) = x'V x + Σ_terms (z'C_bb z + 2 z'C_bβ
///  x),
///    with C from `pe_cov`/`pe_cross`: the uncertainty of β̂ and of b̂ and their covariance.
///    Covariances between the random effects of different terms (crossed factors) are left out.
///    A term whose level is new contributes z'Σz (Σ = σ²λλ', the population covariance) instead.
///  - Population, confidence: x'V x (the uncertainty of the population mean Xβ̂).
///  - Prediction intervals add σ² to the conditional variance, and σ² + Σ_terms z'Σz to the
///    population one (a new observation of a new person).
Predictions predict(const SavedModel& model, const DataFrame& data,
                    const PredictOptions& options = {});

/// New responses at the rows of `data` (lme4's simulate(m, newdata = data)): new random effects are
/// drawn for every grouping level in `data` (its own levels, not the fit's), new residuals for
/// every row. Returns `data`'s columns with sim_1 ... sim_nsim appended (NA where a predictor is
/// missing).
DataFrame simulate_from_saved(const SavedModel& model, const DataFrame& data, std::size_t nsim,
                              Rng& rng);

}  // namespace lmm
