#include "json_glmm.h"

#include <algorithm>
#include <cmath>

namespace lmm::cli {

namespace {

using nlohmann::json;

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json fixed_json(const GlmmResult& r) {
  json a = json::array();
  for (std::size_t j = 0; j < r.fixed.size(); ++j) {
    const FixedEffect& f = r.fixed[j];
    a.push_back({{"term", f.term},
                 {"estimate", number_or_null(f.estimate)},
                 {"std_error", number_or_null(f.std_error)},
                 {"std_error_rx", number_or_null(r.std_error_rx[j])},
                 {"z", number_or_null(f.t)},
                 {"p", number_or_null(f.p)}});
  }
  return a;
}

json random_json(const GlmmResult& r) {
  json a = json::array();
  for (const auto& c : r.random) {
    if (c.is_correlation())
      a.push_back({{"group", c.group}, {"term1", c.term1}, {"term2", c.term2}, {"cor", number_or_null(c.cor)}});
    else
      a.push_back({{"group", c.group}, {"term1", c.term1}, {"variance", number_or_null(c.variance)},
                   {"sd", number_or_null(c.sd)}});
  }
  return a;
}

json ranef_json(const GlmmResult& r) {
  json a = json::array();
  for (const auto& l : r.ranef) {
    json o = {{"group", l.group}, {"level", l.level}};
    for (std::size_t k = 0; k < l.terms.size(); ++k) {
      o[l.terms[k]] = number_or_null(l.mode[k]);
      o["condsd_" + l.terms[k]] = number_or_null(l.condsd[k]);
    }
    a.push_back(o);
  }
  return a;
}

}  // namespace

json glmm_json(const GlmmFitted& f) {
  const GlmmResult& r = f.result;
  json ng = json::object();
  for (const auto& g : r.ngroups) ng[g.group] = g.levels;
  std::vector<double> first10(r.fitted.begin(), r.fitted.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(10, r.fitted.size())));
  return {{"formula", r.formula}, {"family", family_name(r.family)}, {"link", link_name(r.link)},
          {"nAGQ", r.nagq}, {"nobs", r.nobs}, {"ngroups", ng}, {"fixed", fixed_json(r)},
          {"random", random_json(r)}, {"loglik", number_or_null(r.loglik)}, {"aic", number_or_null(r.aic)},
          {"bic", number_or_null(r.bic)}, {"deviance", number_or_null(r.deviance)},
          {"minus_twice_loglik", number_or_null(-2 * r.loglik)}, {"theta", r.theta}, {"beta", r.beta},
          {"ranef", ranef_json(r)}, {"fitted_response_first10", first10}, {"converged", r.converged},
          {"singular", r.singular}, {"df_resid", number_or_null(r.df_residual)}, {"messages", r.messages},
          {"pearson_chisq", number_or_null(r.pearson_chisq)}, {"dispersion_ratio", number_or_null(r.dispersion_ratio)},
          {"optimizer", r.optimizer}, {"evaluations", r.evaluations},
          {"max_abs_gradient", number_or_null(r.max_abs_gradient)},
          {"icc_adjusted", number_or_null(r.latent.icc_adjusted)},
          {"icc_unadjusted", number_or_null(r.latent.icc_unadjusted)},
          {"r2_marginal", number_or_null(r.latent.r2_marginal)},
          {"r2_conditional", number_or_null(r.latent.r2_conditional)},
          {"variance_distribution", number_or_null(r.latent.distribution)}};
}


}  // namespace lmm::cli
