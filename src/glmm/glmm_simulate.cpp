// Drawing a saved GLMM's responses: Bernoulli, binomial (cbind) and Poisson at μ = linkinv(η).
// Poisson by multiplication of uniforms for small means and Hörmann's PTRS (transformed rejection
// with squeeze, 1993) for means of 10 and more; binomial by Bernoulli trials.
#include "glmm/glmm_simulate.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <numbers>

#include "glmm/family.h"
#include "lmm/error.h"

namespace lmm::glmm_detail {

namespace {

// Hörmann (1993), "The transformed rejection method for generating Poisson random variables".
double poisson_ptrs(double mean, Rng& rng) {
  const double slam = std::sqrt(mean), loglam = std::log(mean);
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double u = rng.uniform() - 0.5, v = rng.uniform_open();
    const double us = 0.5 - std::abs(u);
    const double k = std::floor((2 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <= -mean + k * loglam - std::lgamma(k + 1))
      return k;
  }
}

// The trials of each row of nf for a cbind(s, f) response: s + f evaluated on `data`.
std::vector<double> cbind_trials(const SavedModel& model, const DataFrame& data, const ModelFrame& nf) {
  ModelFrame coding = model.frame;
  Expr sum;
  sum.kind = Expr::Kind::Binary;
  sum.name = "+";
  sum.args = coding.formula.response.args;
  coding.formula.response = sum;
  const ModelFrame t = model_frame_for_new_data(coding, data, {.random_effects = false, .response = true});
  std::vector<double> trials(nf.rows.size(), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t i = 0, k = 0; i < nf.rows.size(); ++i) {
    while (k < t.rows.size() && t.rows[k] < nf.rows[i]) ++k;
    if (k < t.rows.size() && t.rows[k] == nf.rows[i]) trials[i] = t.y[k];
  }
  return trials;
}

}  // namespace

double draw_poisson(double mean, Rng& rng) {
  if (!(mean > 0)) return 0;
  if (mean >= 10) return poisson_ptrs(mean, rng);
  const double limit = std::exp(-mean);
  double k = 0, prod = rng.uniform_open();
  while (prod > limit) {
    prod *= rng.uniform_open();
    ++k;
  }
  return k;
}

double draw_binomial(double trials, double p, Rng& rng) {
  double k = 0;
  for (double t = 0; t < trials; ++t) k += rng.uniform() < p ? 1 : 0;
  return k;
}

void draw_glmm_responses(const SavedModel& model, const DataFrame& data, const ModelFrame& nf,
                         std::vector<std::vector<double>>& sims, Rng& rng) {
  const Family fam(parse_family(model.family), parse_link(model.link));
  const Expr& response = model.frame.formula.response;
  const bool cbind = response.kind == Expr::Kind::Call && response.name == "cbind" && response.args.size() == 2;
  std::vector<double> trials = cbind ? cbind_trials(model, data, nf) : std::vector<double>(nf.rows.size(), 1.0);
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (std::isnan(trials[i]))
      throw Error(fmt::format("the number of trials in '{}' is missing at row {}: simulating a cbind() response "
                              "needs both counts in every row",
                              response.label(), nf.rows[i] + 1));
    if (trials[i] < 0 || trials[i] != std::floor(trials[i]) || trials[i] > 1e7)
      throw Error(fmt::format("the number of trials in '{}' is {} at row {}: it must be a whole number from 0 to 1e7",
                              response.label(), trials[i], nf.rows[i] + 1));
  }
  for (auto& eta : sims)
    for (std::size_t i = 0; i < eta.size(); ++i) {
      const double mu = fam.linkinv(eta[i]);
      if (fam.family() == GlmmFamily::Poisson) {
        if (mu > 1e15)
          throw Error(fmt::format("the simulated Poisson mean at row {} is {:.3g}: too large to draw counts from",
                                  nf.rows[i] + 1, mu));
        eta[i] = draw_poisson(mu, rng);
      } else {
        eta[i] = draw_binomial(trials[i], mu, rng);
      }
    }
}

}  // namespace lmm::glmm_detail
