// Likelihood-ratio tests between nested GLMMs, as lme4's anova(m0, m1) for glmer fits.
#include <fmt/format.h>

#include <algorithm>
#include <boost/math/distributions/chi_squared.hpp>
#include <cmath>
#include <numeric>

#include "lmm/error.h"
#include "lmm/glmm.h"

namespace lmm {

ModelComparison compare_glmms(const DataFrame& data, const std::vector<std::string>& formulas,
                              const GlmmOptions& options, std::vector<GlmmResult>* glmm_fits) {
  if (formulas.size() < 2) throw Error("compare needs at least two formulas");
  std::vector<GlmmResult> fits;
  for (const auto& f : formulas) fits.push_back(fit_glmm(data, f, options).result);
  for (std::size_t i = 1; i < fits.size(); ++i)
    if (fits[i].nobs != fits[0].nobs)
      throw Error(fmt::format("models 1 and {} use different rows ({} and {}): missing values in a variable only "
                              "some models use; drop those rows first",
                              i + 1, fits[0].nobs, fits[i].nobs));
  std::vector<std::size_t> order(fits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return fits[a].npar < fits[b].npar; });
  ModelComparison c;
  c.method = Method::ML;
  for (std::size_t r = 0; r < order.size(); ++r) {
    const GlmmResult& f = fits[order[r]];
    c.formulas.push_back(formulas[order[r]]);
    c.input_index.push_back(order[r]);
    c.npar.push_back(f.npar);
    c.loglik.push_back(f.loglik);
    c.deviance.push_back(-2 * f.loglik);
    c.aic.push_back(f.aic);
    c.bic.push_back(f.bic);
    if (!f.converged) c.messages.push_back(fmt::format("model {} failed the convergence check", r + 1));
  }
  for (std::size_t r = 1; r < order.size(); ++r) {
    LikelihoodRatioTest t;
    t.smaller = r - 1;
    t.larger = r;
    t.chisq = 2 * std::max(0.0, c.loglik[r] - c.loglik[r - 1]);
    t.df = c.npar[r] - c.npar[r - 1];
    if (t.df > 0) t.p = boost::math::cdf(boost::math::complement(boost::math::chi_squared(t.df), t.chisq));
    c.tests.push_back(t);
  }
  if (glmm_fits)
    for (auto r : order) glmm_fits->push_back(fits[r]);
  return c;
}

}  // namespace lmm
