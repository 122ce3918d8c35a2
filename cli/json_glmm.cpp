#include "json_glmm.h"

#include <algorithm>
#include <ostream>

#include "json_output.h"

namespace lmm::cli {

namespace {

// glmer's coefficient table: z for t, and the PIRLS standard error beside the Hessian's.
void write_glmm_fixed(JsonWriter& w, const GlmmResult& r) {
  w.begin_array();
  for (std::size_t j = 0; j < r.fixed.size(); ++j) {
    const FixedEffect& f = r.fixed[j];
    SortedObject()
        .add("term", f.term)
        .add("estimate", f.estimate)
        .add("std_error", f.std_error)
        .add("std_error_rx", r.std_error_rx[j])
        .add("z", f.t)
        .add("p", f.p)
        .write(w);
  }
  w.end_array();
}

}  // namespace

void write_glmm_json(JsonWriter& w, const GlmmFitted& f, const std::function<void(SortedObject&)>& extra) {
  const GlmmResult& r = f.result;
  const auto first10 = static_cast<std::ptrdiff_t>(std::min<std::size_t>(10, r.fitted.size()));
  SortedObject j;
  j.add("formula", r.formula).add("family", family_name(r.family)).add("link", link_name(r.link));
  j.add("nAGQ", r.nagq).add("nobs", r.nobs);
  j.add("ngroups", [&](JsonWriter& o) { write_ngroups(o, r.ngroups); });
  j.add("fixed", [&](JsonWriter& o) { write_glmm_fixed(o, r); });
  j.add("random", [&](JsonWriter& o) { write_random(o, r.random); });
  j.add("loglik", r.loglik).add("aic", r.aic).add("bic", r.bic).add("deviance", r.deviance);
  j.add("minus_twice_loglik", -2 * r.loglik).add("theta", r.theta).add("beta", r.beta);
  j.add("ranef", [&](JsonWriter& o) { write_ranef(o, r.ranef); });
  j.add("fitted_response_first10", std::vector<double>(r.fitted.begin(), r.fitted.begin() + first10));
  j.add("converged", r.converged).add("singular", r.singular).add("df_resid", r.df_residual);
  j.add("messages", r.messages).add("pearson_chisq", r.pearson_chisq).add("dispersion_ratio", r.dispersion_ratio);
  j.add("optimizer", r.optimizer).add("evaluations", r.evaluations).add("max_abs_gradient", r.max_abs_gradient);
  j.add("icc_adjusted", r.latent.icc_adjusted).add("icc_unadjusted", r.latent.icc_unadjusted);
  j.add("r2_marginal", r.latent.r2_marginal).add("r2_conditional", r.latent.r2_conditional);
  j.add("variance_distribution", r.latent.distribution).add("variance_distribution_name", r.latent.distribution_name);
  j.add("variance_fixed", r.latent.fixed).add("variance_random", r.latent.random);
  j.add("variance_dispersion", r.latent.dispersion);
  if (extra) extra(j);
  j.write(w);
}

void print_glmm_json(std::ostream& out, const GlmmFitted& f, const std::function<void(SortedObject&)>& extra) {
  print_indented(out, [&](JsonWriter& w) { write_glmm_json(w, f, extra); });
}

}  // namespace lmm::cli
