// Plain-language explanations of a singular (boundary) fit: which component, what it means, what to
// try. The test is lme4's isSingular(): a diagonal element of a term's λ below 1e-4.
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <set>

#include "inference/internal.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "model/model_access.h"

namespace lmm {

namespace {

// The factor whose contrast columns include one of the term's columns ("N" for "N0.2cwt"), or "".
std::string term_factor(const ModelFrame& f, const ReTermData& t) {
  for (const auto& name : t.names)
    for (const auto& fc : f.factors)
      for (const auto& level : fc.levels)
        if (name == fc.expr + level) return fc.expr;
  return "";
}

// What to try when a term's covariance matrix is degenerate. (x || g) drops the correlations of
// numeric columns only: lme4 keeps a factor's columns in one block whatever the bars say.
std::string simplify_advice(const ReTermData& t, const std::string& factor, const std::string& name) {
  if (factor.empty())
    return fmt::format("Try (x || {0}) to drop the correlations, or remove '{1}' from the term.", t.group, name);
  return fmt::format(
      "'{1}' is a factor, and for a factor lme4's (... || {0}) does not drop the correlations between its "
      "columns. Try (1 | {0}) + (1 | {0}:{1}) instead (one variance between {0} levels and one for {1} within "
      "them, i.e. equal correlations), or drop {1} from the random part.",
      t.group, factor);
}

}  // namespace

std::string inference::confounded_grouping_advice(const ModelFrame& f) {
  std::set<std::string> fixed_vars;
  for (const auto& term : f.formula.fixed)
    for (const auto& factor : term.factors)
      for (const auto& v : factor.variables()) fixed_vars.insert(v);
  for (const auto& t : f.re) {
    if (!fixed_vars.count(t.group)) continue;
    return fmt::format(
        "{0} is a grouping factor with {1} levels and also a fixed effect: the fixed effects already give each "
        "{0} level its own mean, so the variance between {0} levels is not determined by the data (the "
        "likelihood is flat in it) however the predictors are scaled. Drop (1 | {0}), or the fixed effect {0}{2}",
        t.group, t.nlevels(),
        t.nlevels() < 5 ? fmt::format("; with {} levels, {} is better a fixed effect only", t.nlevels(), t.group)
                        : "");
  }
  return "";
}

std::vector<std::string> singular_advice(const LinearMixedModel& model) {
  const auto& m = detail::model_state(model);
  const auto& f = model.frame();
  const double sigma = model.sigma();
  std::vector<std::string> out;
  std::map<std::string, int> terms_per_group;
  for (const auto& t : f.re) ++terms_per_group[t.group];
  const std::vector<bool> at_boundary = model.singular_positions();
  for (int j = 0; j < m.K; ++j) {
    const auto& t = f.re[j];
    const int q = t.q();
    const std::string factor = term_factor(f, t);
    bool advised = false;  // a factor's remedy is the same for each of its columns: said once per term
    auto remedy = [&](const std::string& name) {
      if (!factor.empty() && advised) return std::string("The same remedy as above applies.");
      advised = true;
      return simplify_advice(t, factor, name);
    };
    const detail::Mat S = sigma * sigma * m.lambda[j] * m.lambda[j].transpose();
    for (int a = 0, k = m.theta_offset[j]; a < q; k += q - a, ++a) {
      if (!at_boundary[static_cast<std::size_t>(k)]) continue;
      const std::string& name = t.names[a];
      // Zero variance on the response's scale (sd × root mean square of the column), so that
      // the verdict does not depend on the covariate's units.
      double mean_z2 = 0;
      if (const auto* ztz = std::get_if<detail::BlockDiag>(&m.A[j][j])) {
        for (Eigen::Index b = 0; b < ztz->nblocks; ++b) mean_z2 += ztz->block(b)(a, a);
      } else {  // a term coupled by correlated residuals: Z'R⁻¹Z is sparse
        const auto& s = std::get<detail::SpMat>(m.A[j][j]);
        for (Eigen::Index c = a; c < s.cols(); c += q) mean_z2 += s.coeff(c, c);
      }
      mean_z2 /= static_cast<double>(f.n());
      const bool zero_variance = std::sqrt(S(a, a) * mean_z2) < kSingularTolerance * sigma;
      if (zero_variance && q == 1 && m.K == 1 && name == "(Intercept)") {
        out.push_back(fmt::format(
            "the variance between {0} levels is estimated as 0: the {0} means differ no more than the residual "
            "variation alone would make them. The fixed effects are those of an ordinary linear model; the "
            "random term can be dropped, or kept if the design requires it (it has no effect on the estimates). "
            "ICC and R² conditional are then 0 or equal to R² marginal.",
            t.group));
      } else if (zero_variance && q == 1) {
        out.push_back(fmt::format(
            "the variance of '{}' for {} is estimated as 0: the data show no variation of this effect between {} "
            "levels beyond the residual variation. Try dropping that random-effects term.",
            name, t.group, t.group));
      } else if (zero_variance) {
        out.push_back(fmt::format("the variance of '{0}' for {1} is estimated as 0 (its correlations are then "
                                  "undefined): {1} levels do not differ detectably in '{0}'. ",
                                  name, t.group) +
                      remedy(name));
      } else {
        // The variance is positive, so the column is a linear combination of earlier ones: a
        // correlation at ±1 when q = 2, a degenerate covariance matrix in general.
        std::string what;
        for (int b = 0; b < a; ++b) {
          const double c = S(a, b) / std::sqrt(S(a, a) * S(b, b));
          if (std::abs(c) > 1 - 1e-3)
            what = fmt::format("the correlation of '{}' and '{}' for {} is estimated as {:+.0f}", t.names[b], name,
                               t.group, c);
        }
        if (what.empty())
          what = fmt::format("the covariance matrix of the random effects for {} is singular ('{}' moves as a linear "
                             "combination of the effects before it)",
                             t.group, name);
        out.push_back(what + ": the data cannot tell these effects' variation apart. " +
                      remedy(name));
      }
    }
  }
  return out;
}

}  // namespace lmm
