// The GLMM's optimizer stages and the finite-difference derivatives at the optimum
// (src/glmm/glmm_optimize.cpp). Not a public header.
#pragma once
#include <string>
#include <vector>

#include "glmm/glmm_impl.h"

namespace lmm::glmm_detail {

struct GlmmOptimum {
  std::vector<double> theta;
  Eigen::VectorXd beta;
  double objective = 0;
  std::string optimizer;
  int evaluations = 0;
  bool converged = false;   ///< every stage stopped by a tolerance
  /// Over (θ, β) by central differences, empty for a fast fit; taken at the last Newton iterate,
  /// one (small) Newton step before θ and β where that step lowered the deviance.
  Eigen::VectorXd gradient;
  Eigen::MatrixXd hessian;
};

/// lme4's two stages: θ with β inside PIRLS (nAGQ = 0), then (θ, β) with PIRLS for u alone; the
/// first only with `options.fast`. Leaves the model at the optimum (modes and factor).
GlmmOptimum optimize_glmm(GlmmModel& model, const GlmmOptions& options);

/// The second stage alone from (θ, β) (a bootstrap replicate's refit from the estimates), without
/// the derivatives at the end and on this thread only; a fast fit is redone in full.
GlmmOptimum refit_glmm(GlmmModel& model, const GlmmOptions& options, const std::vector<double>& theta,
                       const Eigen::VectorXd& beta);

}  // namespace lmm::glmm_detail
