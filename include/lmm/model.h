// The linear mixed model: the profiled deviance of Bates, Maechler, Bolker & Walker (2015,
// J. Stat. Softw. 67(1)) evaluated from a blocked Cholesky factor of Λ'AΛ + I, where
// A = [Z X y]'[Z X y] is built once in one pass over the data (the MixedModels.jl method).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lmm/model_frame.h"

namespace lmm {

namespace detail {
struct ModelState;   // the model's state (src/model/model_impl.h)
struct ModelAccess;  // read-only access to it for the engine's own code (src/model/model_access.h)
}  // namespace detail

/// Tolerance for the singular-fit check, as lme4's isSingular().
inline constexpr double kSingularTolerance = 1e-4;

enum class Method { REML, ML };

/// Which optimizer minimises the profiled objective over θ.
enum class Optimizer {
  Auto,    ///< L-BFGS with the analytic gradient for one random-effects term, and for several where
           ///< no term's block fills in and θ has four values or more (a vector-valued term beside
           ///< nested ones); Newton for crossed designs of two or three scalar terms whose gradient
           ///< costs at most about two evaluations (InstEval, large ratings data); else NEWUOA
           ///< (src/model/optimize.cpp has the figures)
  BOBYQA,  ///< NLopt's derivative-free BOBYQA with θ's diagonal bounded by 0, as lme4
  NEWUOA,  ///< NLopt's derivative-free NEWUOA, unbounded (λ's column signs do not matter)
  LBFGS,   ///< NLopt's L-BFGS with the analytic gradient (any number of terms; models without it,
           ///< e.g. with a residual structure or sparse blocks, fall back to NEWUOA), finished by a
           ///< short BOBYQA run if it stops early or at the bound
  Newton,  ///< Newton's method with the analytic gradient and a Hessian from its differences,
           ///< from the moment start; hands over to L-BFGS where it cannot go on (a Hessian that is
           ///< not positive definite, a step across a bound). Models without the gradient: NEWUOA
};

/// Denominator degrees of freedom for the fixed-effect t and F tests (see lmm/inference.h):
/// Satterthwaite's (lmerTest's default), Kenward-Roger's (pbkrtest; REML fits only), or none (lme4).
enum class DdfMethod { Satterthwaite, KenwardRoger, None };

/// How to fit. Plain struct with defaults (as ceres' Solver::Options).
struct FitOptions {
  Method method = Method::REML;
  double ftol_rel = 1e-12;   ///< the optimizer stops when the objective changes by less than this, relatively
  double xtol_abs = 1e-10;   ///< ... or θ moves by less than this
  int max_evaluations = 100000;
  double initial_step = 0.25;  ///< NEWUOA's and BOBYQA's initial trust-region radius (rhobeg)
  std::vector<double> theta_start;  ///< empty: lme4's start (1 on the diagonal, 0 elsewhere), or see moment_start
  Optimizer optimizer = Optimizer::Auto;
  /// With theta_start empty and L-BFGS or NEWUOA chosen: start from a moment estimate of θ where
  /// its objective is lower than at lme4's start.
  bool moment_start = true;
  /// Called after each evaluation of the objective with the number so far and the value (for a
  /// progress display). May be empty.
  std::function<void(int evaluations, double objective)> progress;
  DdfMethod ddf = DdfMethod::Satterthwaite;  ///< used by lmm::fit() for df, p and the type III ANOVA
  ModelFrameOptions frame;  ///< used by lmm::fit(): reference levels and contrasts (lmm/model_frame.h)
};

/// How and why the optimizer stopped (as ceres' Solver::Summary).
struct OptimizerSummary {
  std::string algorithm;        ///< "NLOPT_LD_LBFGS" (+ "+NLOPT_LN_BOBYQA" if that finished the fit), "NLOPT_LN_NEWUOA",
                                ///< "NLOPT_LN_BOBYQA", "Newton" ("Newton, then NLOPT_LD_LBFGS..." where it handed over)
  int evaluations = 0;          ///< objective evaluations
  std::string stop_reason;      ///< "ftol_rel reached", "xtol reached", "maxeval reached", ...
  bool converged = false;       ///< stopped by a tolerance, not by a limit or a failure
  double objective = 0;         ///< the objective at the optimum
  std::vector<double> theta;    ///< the optimum
};

/// A linear mixed model bound to its model frame. Evaluating the objective at θ costs the same
/// whatever the number of rows: only the cross-product blocks are touched.
class LinearMixedModel {
 public:
  explicit LinearMixedModel(ModelFrame frame, Method method = Method::REML);
  /// A model whose state the engine built itself (from accumulated statistics, lmm/statistics.h).
  explicit LinearMixedModel(std::unique_ptr<detail::ModelState> state);
  ~LinearMixedModel();
  LinearMixedModel(LinearMixedModel&&) noexcept;
  LinearMixedModel& operator=(LinearMixedModel&&) noexcept;

  const ModelFrame& frame() const;
  Method method() const;
  /// Switches between REML and ML; the factor is unchanged, the objective is re-evaluated.
  void set_method(Method method);

  // --- θ, lme4's relative covariance factor: per term, the column-wise lower triangle of λ ---
  std::size_t ntheta() const;
  std::vector<double> theta() const;
  std::vector<double> theta_lower() const;  ///< 0 for diagonal elements, -inf elsewhere
  std::vector<double> theta_start() const;  ///< 1 on the diagonal, 0 elsewhere
  /// Sets θ, updates the blocked Cholesky factor L and returns the objective there.
  double set_theta(const std::vector<double>& theta);
  /// The objective at the current θ: the REML criterion or the deviance (-2 log-likelihood).
  double objective() const;
  /// Minimises the objective over θ with `options.optimizer` (Optimizer::Auto: L-BFGS where the
  /// analytic gradient is available, else NEWUOA) from `options.theta_start` (or lme4's start or
  /// a moment estimate); leaves the model at the optimum.
  OptimizerSummary fit(const FitOptions& options = {});

  // --- estimates at the current θ ---
  std::vector<double> beta() const;   ///< fixed effects, p
  double sigma() const;               ///< residual SD (REML: pwrss/(n-p); ML: pwrss/n)
  double pwrss() const;               ///< penalised weighted residual sum of squares, r²
  double logdet_re() const;           ///< log|L_θ|²
  double logdet_x() const;            ///< log|R_X|²
  std::vector<double> vcov() const;   ///< σ²(R_X R_X')⁻¹, p x p column-major
  /// Conditional modes b = Λu of each random-effects term: per term, nlevels x q values,
  /// level-major (b[level*q + j]).
  std::vector<std::vector<double>> ranef() const;
  /// Spherical random effects u, per term (level-major).
  std::vector<std::vector<double>> ranef_spherical() const;
  /// Conditional covariance of each level's random effects, σ²Λ(L L')⁻¹Λ' restricted to the
  /// level's q x q block (lme4's condVar): per term, nlevels blocks of q*q values, column-major.
  std::vector<std::vector<double>> ranef_condvar() const;
  /// λ of each term (q x q lower triangular, column-major) at the current θ.
  std::vector<std::vector<double>> lambda() const;
  std::vector<double> fitted() const;     ///< Xβ + Zb per row
  std::vector<double> residuals() const;  ///< y - fitted
  double loglik() const;                  ///< -objective/2 (REML fits: the REML log-likelihood)
  /// Number of parameters as lme4 counts them: p + length(θ) + 1 (θ includes the residual
  /// structure's parameters).
  int npar() const;

  // --- correlated or heteroscedastic residuals (ModelFrameOptions::residual) ---
  /// The residual structure's estimates in natural units (structure "" and no SD ratios without one).
  ResidualEstimates residual_estimates() const;
  /// log|D R D| of the residual structure at the current θ (0 without one).
  double logdet_residual() const;
  /// How many of θ's values belong to the random-effects terms; the rest, up to ntheta(), are the
  /// residual structure's unconstrained parameters (φ by atanh for ar1, logit for car1 and cs, the
  /// unit-diagonal Cholesky rows for us, log SD ratios).
  std::size_t ntheta_random() const;

  // --- for refitting and inference (bootstrap, simulation, profiles, df, diagnostics) ---
  /// Replaces the response by `y` (one value per row, as the frame's y) and updates the
  /// cross-products in one pass over the rows, as MixedModels.jl's refit!(m, y) does before
  /// refitting; the factor is refreshed at the next set_theta() or fit().
  void set_response(const std::vector<double>& y);
  /// For a model built from `full`'s frame without fixed-effect column j: makes its response
  /// y - b·x_j (an offset, as lme4's profile of a fixed effect), from `full`'s cross-products
  /// without touching the rows; the factor is refreshed at the next set_theta() or fit().
  void set_offset_response(const LinearMixedModel& full, std::size_t j, double b);
  /// False when the last set_theta() found Λ'AΛ + I or R_X not positive definite.
  bool factor_ok() const;
  /// True when the analytic gradient of the objective is available (no residual structure, no
  /// block factored as sparse).
  bool has_gradient() const;
  /// ∂objective/∂θ at the current θ (needs has_gradient(); NaN where the factor failed).
  std::vector<double> gradient() const;
  /// (R_X R_X')⁻¹ = vcov()/σ², p x p column-major.
  std::vector<double> vcov_unscaled() const;
  /// Per θ position: true for a diagonal element of λ at the boundary, by lme4's isSingular()
  /// rule (below kSingularTolerance) applied in the optimizer's unit-free coordinates, so that
  /// the verdict does not depend on the covariates' units.
  std::vector<bool> singular_positions() const;
  /// θ from standard deviations, correlations and σ laid out as θ (per term the column-wise lower
  /// triangle, SDs on the diagonal and correlations below it) with σ appended, the order of
  /// lmm::variance_parameters(); nothing if the implied covariance matrix is not positive
  /// semi-definite or σ ≤ 0.
  std::optional<std::vector<double>> theta_from_sdcor(const std::vector<double>& sdcor) const;

 private:
  friend struct detail::ModelAccess;
  std::unique_ptr<detail::ModelState> impl_;
};

}  // namespace lmm
