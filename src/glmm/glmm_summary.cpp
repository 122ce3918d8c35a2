// glmer's summary() layout as text, with the Poisson overdispersion check.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "lmm/glmm.h"
#include "report/text_format.h"

namespace lmm {

namespace {

std::string number(double v, int digits) {
  if (!std::isfinite(v)) return std::isnan(v) ? "NA" : (v > 0 ? "Inf" : "-Inf");
  return fmt::format("{:.{}g}", v, digits);
}

std::string p_text(double p) {
  if (!std::isfinite(p)) return "NA";
  return p < 2e-16 ? "< 2e-16" : fmt::format("{:.3g}", p);
}

std::string header(const GlmmResult& r, const std::string& data_name) {
  const std::string how = r.nagq == 0   ? "Laplace Approximation, fast: beta inside PIRLS (nAGQ = 0), approximate"
                          : r.nagq == 1 ? "Laplace Approximation"
                                        : fmt::format("Adaptive Gauss-Hermite Quadrature, nAGQ = {}", r.nagq);
  std::string out = fmt::format("Generalized linear mixed model fit by maximum likelihood ({})\n", how);
  out += fmt::format(" Family: {}  ( {} )\nFormula: {}\n", family_name(r.family), link_name(r.link), r.formula);
  if (!data_name.empty()) out += fmt::format("   Data: {}\n", data_name);
  out += fmt::format("\n{:>10} {:>10} {:>10} {:>10} {:>9}\n", "AIC", "BIC", "logLik", "deviance", "df.resid");
  out += fmt::format("{:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>9}\n\n", r.aic, r.bic, r.loglik, -2 * r.loglik,
                     static_cast<long long>(r.df_residual));
  return out;
}

std::string random_table(const GlmmResult& r) {
  std::size_t wg = 6, wn = 4;
  for (const auto& c : r.random) wg = std::max(wg, c.group.size()), wn = std::max(wn, c.term1.size());
  std::string out = fmt::format("Random effects:\n {:<{}} {:<{}} {:>10} {:>10} {}\n", "Groups", wg, "Name", wn,
                                "Variance", "Std.Dev.", "Corr");
  std::string last;
  for (const auto& c : r.random) {
    if (c.is_correlation()) continue;
    std::string corr;
    for (const auto& k : r.random)
      if (k.is_correlation() && k.group == c.group && k.term2 == c.term1) corr += fmt::format("{:6.2f}", k.cor);
    out += fmt::format(" {:<{}} {:<{}} {:>10} {:>10} {}\n", c.group == last ? "" : c.group, wg, c.term1, wn,
                       number(c.variance, 4), number(c.sd, 4), corr);
    last = c.group;
  }
  out += fmt::format("Number of obs: {}, groups:  ", r.nobs);
  for (std::size_t i = 0; i < r.ngroups.size(); ++i)
    out += fmt::format("{}{}, {}", i ? "; " : "", r.ngroups[i].group, r.ngroups[i].levels);
  return out + "\n";
}

std::string fixed_table(const GlmmResult& r) {
  std::size_t w = 0;
  for (const auto& f : r.fixed) w = std::max(w, f.term.size());
  std::string out = fmt::format("\nFixed effects:\n{:<{}} {:>10} {:>10} {:>8} {:>9}\n", "", w, "Estimate",
                                "Std. Error", "z value", "Pr(>|z|)");
  for (const auto& f : r.fixed)
    out += fmt::format("{:<{}} {:>10} {:>10} {:>8} {:>9} {}\n", f.term, w, number(f.estimate, 5),
                       number(f.std_error, 4), std::isfinite(f.t) ? fmt::format("{:.3f}", f.t) : "NA", p_text(f.p),
                       detail::signif_stars(f.p));
  return out + "---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1\n";
}

std::string checks(const GlmmResult& r) {
  std::string out;
  if (r.family == GlmmFamily::Poisson && std::isfinite(r.dispersion_ratio)) {
    out += fmt::format("\nOverdispersion: Pearson chi-squared / residual df = {:.1f} / {} = {:.3f}", r.pearson_chisq,
                       static_cast<long long>(r.df_residual), r.dispersion_ratio);
    out += r.dispersion_ratio > 1.2
               ? " (above 1: the counts vary more than Poisson; consider an observation-level random effect, "
                 "+ (1 | obs) with obs a row id)\n"
               : " (no sign of overdispersion)\n";
  }
  if (std::isfinite(r.latent.r2_marginal))
    out += fmt::format("\nLatent scale (distribution-specific variance: {}{}): ICC adjusted {}, unadjusted {}; R2 "
                       "marginal {}, conditional {}{}\n",
                       r.latent.distribution_name,
                       r.latent.dispersion > 0 ? fmt::format("; observation-level variance {:.4g}", r.latent.dispersion)
                                               : "",
                       number(r.latent.icc_adjusted, 3), number(r.latent.icc_unadjusted, 3),
                       number(r.latent.r2_marginal, 3), number(r.latent.r2_conditional, 3),
                       std::isfinite(r.latent.random) ? "" : " (singular fit: no random-effect variance, as performance)");
  if (r.nagq != 0)
    out += fmt::format("\nConvergence: {} (max|gradient| {}, scaled {}; Hessian {}positive definite; {} "
                       "deviance evaluations)\n",
                       r.converged ? "ok" : "FAILED", number(r.max_abs_gradient, 2), number(r.max_rel_gradient, 2),
                       r.hessian_positive_definite ? "" : "not ", r.evaluations);
  if (r.singular)
    out += "\nboundary (singular) fit: a random-effect standard deviation is estimated as 0 or a correlation "
           "as +-1; the data do not support that term\n";
  for (const auto& m : r.messages) out += m + "\n";
  return out;
}

}  // namespace

std::string format_glmm_summary(const GlmmResult& r, const std::string& data_name) {
  return header(r, data_name) + random_table(r) + fixed_table(r) + checks(r);
}

}  // namespace lmm
