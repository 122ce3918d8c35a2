// Variance components as lme4's VarCorr lays them out, for every model kind (LMM summary, GLMM
// summary, report). Not a public header.
#pragma once
#include <Eigen/Dense>
#include <map>
#include <string>
#include <vector>

#include "lmm/fit.h"

namespace lmm::detail {

/// lme4's name for the next term on `group`: "Subject", then "Subject.1", "Subject.2", ...
/// (`seen` counts the terms per grouping factor so far).
std::string next_component_group(std::map<std::string, int>& seen, const std::string& group);

/// One term's variances, then its correlations, from its covariance S (q x q).
void add_term_components(const ReTermData& t, const std::string& gname, const Eigen::MatrixXd& S,
                         std::vector<VarianceComponent>& out);

/// summarize() (lmm/fit.h), with FitResult::ranef and ::coef left empty unless `level_tables`.
FitResult summarize(const LinearMixedModel& model, const OptimizerSummary& optimizer, bool level_tables);

}  // namespace lmm::detail
