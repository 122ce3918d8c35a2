// Plain-language explanations of a singular (boundary) fit: which component, what it means, what to
// try. The test is lme4's isSingular(): a diagonal element of a term's λ below 1e-4.
#include <cmath>
#include <fmt/format.h>
#include <map>

#include "inference/internal.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "model/model_access.h"

namespace lmm {

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
    const detail::Mat S = sigma * sigma * m.lambda[j] * m.lambda[j].transpose();
    for (int a = 0, k = m.theta_offset[j]; a < q; k += q - a, ++a) {
      if (!at_boundary[static_cast<std::size_t>(k)]) continue;
      const std::string& name = t.names[a];
      // Zero variance on the response's scale (sd × root mean square of the column), so that
      // the verdict does not depend on the covariate's units.
      const auto& ztz = std::get<detail::BlockDiag>(m.A[j][j]);
      double mean_z2 = 0;
      for (Eigen::Index b = 0; b < ztz.nblocks; ++b) mean_z2 += ztz.block(b)(a, a);
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
        out.push_back(fmt::format(
            "the variance of '{0}' for {1} is estimated as 0 (its correlations are then undefined): {1} levels do "
            "not differ detectably in '{0}'. Try removing '{0}' from the {1} term, or keep it uncorrelated with "
            "(x || {1}).",
            name, t.group));
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
        out.push_back(what + fmt::format(
                                 ": the data cannot tell these effects' variation apart. Try (x || {}) to drop the "
                                 "correlations, or remove '{}' from the term.",
                                 t.group, name));
      }
    }
  }
  return out;
}

}  // namespace lmm
