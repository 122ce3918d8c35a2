// lmm::fit_glmm: the GLMM's rows, the optimizer stages and the results as glmer's summary,
// ranef(condVar = TRUE) and fitted() give them.
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <numbers>

#include "fit/components.h"
#include "glmm/glmm_frame.h"
#include "glmm/glmm_optimize.h"
#include "lmm/error.h"

namespace lmm {

namespace {

double p_normal_two_sided(double z) { return std::erfc(std::abs(z) / std::numbers::sqrt2); }

void check_options(const GlmmOptions& o, const ModelFrame& f) {
  if (o.nagq < 1) throw Error("GlmmOptions::nagq must be at least 1 (1: the Laplace approximation)");
  if (o.nagq > 1 && (f.re.size() != 1 || f.re[0].q() != 1))
    throw Error(fmt::format("GlmmOptions::nagq = {}: adaptive Gauss-Hermite quadrature needs a single random-effects "
                            "term with one effect, as (1 | g); this model has {} term(s), use the Laplace approximation",
                            o.nagq, f.re.size()));
  if (o.nagq > 100) throw Error("GlmmOptions::nagq must be at most 100");
}

void add_random(const GlmmModel& m, GlmmResult& r) {
  const auto& f = m.frame();
  const auto lam = m.lambda();
  std::map<std::string, int> seen;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const ReTermData& t = f.re[j];
    const bool first = seen.count(t.group) == 0;
    const Eigen::MatrixXd S = lam[j] * lam[j].transpose();
    detail::add_term_components(t, detail::next_component_group(seen, t.group), S, r.random);
    if (first) r.ngroups.push_back({t.group, t.nlevels()});
    for (int a = 0; a < t.q(); ++a)
      if (lam[j](a, a) < kSingularTolerance) r.singular = true;
  }
}

// One row per (grouping factor, level), terms on the same factor merged, as lme4's ranef().
void add_ranef(const GlmmModel& m, GlmmResult& r) {
  const auto& f = m.frame();
  const auto b = m.ranef();
  const auto cv = m.condvar_blocks();
  std::map<std::string, std::size_t> first_row;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const ReTermData& t = f.re[j];
    const auto [it, fresh] = first_row.emplace(t.group, r.ranef.size());
    for (std::size_t l = 0; l < t.nlevels(); ++l) {
      if (fresh) r.ranef.push_back({t.group, t.levels[l], {}, {}, {}});
      RandomEffectLevel& row = r.ranef[it->second + l];
      for (int a = 0; a < t.q(); ++a) {
        const auto k = static_cast<Eigen::Index>(l) * t.q() + a;
        row.terms.push_back(t.names[static_cast<std::size_t>(a)]);
        row.mode.push_back(b[j][k]);
        row.condsd.push_back(std::sqrt(cv[j][(static_cast<Eigen::Index>(l) * t.q() + a) * t.q() + a]));
      }
    }
  }
}

void add_fixed(const GlmmModel& m, const glmm_detail::GlmmOptimum& opt, GlmmResult& r) {
  const auto np = static_cast<Eigen::Index>(m.p());
  const auto nt = static_cast<Eigen::Index>(m.ntheta());
  const Eigen::MatrixXd vrx = m.vcov_rx();
  Eigen::MatrixXd v = vrx;
  if (opt.hessian.size() > 0) {
    Eigen::LLT<Eigen::MatrixXd> llt(opt.hessian);
    r.hessian_positive_definite = llt.info() == Eigen::Success;
    if (r.hessian_positive_definite) {
      const Eigen::MatrixXd hinv = llt.solve(Eigen::MatrixXd::Identity(opt.hessian.rows(), opt.hessian.cols()));
      v = 2 * hinv.bottomRightCorner(np, np);
      r.max_abs_gradient = opt.gradient.lpNorm<Eigen::Infinity>();
      r.max_rel_gradient = (hinv * opt.gradient).lpNorm<Eigen::Infinity>();
    } else {
      r.messages.push_back("the Hessian of the deviance over (theta, beta) is not positive definite: standard errors "
                           "are from the PIRLS information at fixed theta");
    }
  }
  (void)nt;
  r.vcov.assign(v.data(), v.data() + v.size());
  for (Eigen::Index j = 0; j < np; ++j) {
    FixedEffect fe;
    fe.term = m.frame().fixed_names[static_cast<std::size_t>(j)];
    fe.estimate = opt.beta[j];
    fe.std_error = std::sqrt(v(j, j));
    fe.t = fe.estimate / fe.std_error;
    fe.p = p_normal_two_sided(fe.t);
    r.fixed.push_back(fe);
    r.std_error_rx.push_back(std::sqrt(vrx(j, j)));
  }
}

void add_warnings(const GlmmModel& m, GlmmResult& r) {
  if (m.family().family() == GlmmFamily::Binomial) {
    std::size_t extreme = 0;
    for (Eigen::Index i = 0; i < m.mu().size(); ++i)
      if (m.mu()[i] < 1e-8 || m.mu()[i] > 1 - 1e-8) ++extreme;
    if (extreme > 0)
      r.messages.push_back(fmt::format("warning (separation): fitted probabilities numerically 0 or 1 in {} rows: a "
                                       "predictor or the random effects separate successes from failures, and "
                                       "estimates and standard errors there are unreliable",
                                       extreme));
  }
  if (!r.converged)
    r.messages.push_back(
        std::isfinite(r.max_rel_gradient)
            ? fmt::format("warning (convergence): the scaled gradient at the optimum is {:.3g} (above 0.001): the "
                          "estimates may not be at the optimum",
                          r.max_rel_gradient)
            : "warning (convergence): the optimizer did not converge or the Hessian at its end is not positive "
              "definite; the estimates may not be at an optimum");
}

// The ratios of performance's icc() and r2_nakagawa() from the variances; without the random
// part (a singular fit) only R² marginal, from the fixed and residual parts.
void latent_ratios(GlmmResult::LatentVariances& v) {
  const double residual = v.distribution + v.dispersion;
  if (!std::isfinite(v.random)) {
    v.r2_marginal = v.fixed / (v.fixed + residual);
    return;
  }
  const double total = v.fixed + v.random + residual;
  v.icc_adjusted = v.random / (v.random + residual);
  v.icc_unadjusted = v.random / total;
  v.r2_marginal = v.fixed / total;
  v.r2_conditional = (v.fixed + v.random) / total;
}

// performance's variance components: var(Xβ) (n - 1), and per term the mean of z'Σz over the rows
// with z the term's columns (Johnson 2014; σ² for a random intercept). A term with one level per
// row (an observation-level random effect) is overdispersion: insight adds it to the residual
// variance. A θ diagonal below 1e-5 (insight's singularity rule) leaves the random part out.
void add_latent_variances(const GlmmModel& m, GlmmResult& r) {
  const ModelFrame& f = m.frame();
  auto& v = r.latent;
  const std::size_t n = f.n();
  Eigen::Map<const Eigen::MatrixXd> X(f.X.data(), Eigen::Index(n), Eigen::Index(f.p()));
  const Eigen::VectorXd xb = X * Eigen::Map<const Eigen::VectorXd>(r.beta.data(), Eigen::Index(r.beta.size()));
  v.fixed = n > 1 ? (xb.array() - xb.mean()).square().sum() / static_cast<double>(n - 1) : NaN;
  const auto lam = m.lambda();
  v.random = 0;
  bool singular = false;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const Eigen::MatrixXd S = lam[j] * lam[j].transpose();
    const int q = f.re[j].q();
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      Eigen::Map<const Eigen::VectorXd> z(f.re[j].z.data() + i * static_cast<std::size_t>(q), q);
      s += z.dot(S * z);
    }
    (f.re[j].nlevels() == n ? v.dispersion : v.random) += s / static_cast<double>(n);
    for (int a = 0; a < q; ++a) singular = singular || std::abs(lam[j](a, a)) < 1e-5;
  }
  if (singular) v.random = NaN;
  if (r.family != GlmmFamily::Binomial) return;  // Poisson: from the null model (add_poisson_distribution)
  const double pi2 = std::numbers::pi * std::numbers::pi;
  v.distribution = r.link == GlmmLink::Logit ? pi2 / 3 : r.link == GlmmLink::Probit ? 1.0 : pi2 / 6;
  v.distribution_name = r.link == GlmmLink::Logit    ? "logistic, pi^2/3"
                        : r.link == GlmmLink::Probit ? "standard normal, 1"
                                                     : "Gumbel, pi^2/6";
  latent_ratios(v);
}

// insight's Poisson (log link) distribution variance: the lognormal approximation ln(1 + 1/λ),
// λ = exp(β₀) of the null model (performance 0.10.2 with insight 0.19: no σ²/2 term).
void add_poisson_distribution(GlmmResult& r, double null_intercept) {
  auto& v = r.latent;
  v.lambda = std::exp(null_intercept);
  v.distribution = std::log1p(1 / v.lambda);
  v.distribution_name = fmt::format("Poisson, lognormal approximation ln(1 + 1/lambda) = {:.4g} with lambda = "
                                    "exp(intercept of the null model) = {:.4g}",
                                    v.distribution, v.lambda);
  latent_ratios(v);
  if (v.lambda < 6)
    r.messages.push_back(fmt::format("note (latent scale): lambda = {:.3g} is below 6; the lognormal approximation "
                                     "of the Poisson variance is unreliable there (performance warns the same)",
                                     v.lambda));
}

GlmmResult summarize_glmm(const GlmmModel& m, const glmm_detail::GlmmOptimum& opt, const GlmmOptions& o) {
  GlmmResult r;
  const ModelFrame& f = m.frame();
  r.formula = f.formula.text;
  r.family = m.family().family();
  r.link = m.family().link();
  r.nagq = o.fast ? 0 : o.nagq;
  r.nobs = f.n();
  r.n_dropped = f.n_dropped;
  r.aliased = f.aliased;
  r.theta = opt.theta;
  r.beta.assign(opt.beta.data(), opt.beta.data() + opt.beta.size());
  r.npar = static_cast<int>(m.ntheta() + m.p());
  r.loglik = -opt.objective / 2;
  r.aic = opt.objective + 2 * r.npar;
  r.bic = opt.objective + r.npar * std::log(static_cast<double>(r.nobs));
  r.deviance = m.sum_dev_resid();
  r.df_residual = static_cast<double>(r.nobs) - r.npar;
  r.optimizer = opt.optimizer;
  r.evaluations = opt.evaluations;
  add_fixed(m, opt, r);
  add_random(m, r);
  add_ranef(m, r);
  add_latent_variances(m, r);
  r.eta.assign(m.eta().data(), m.eta().data() + m.eta().size());
  r.fitted.assign(m.mu().data(), m.mu().data() + m.mu().size());
  r.pearson_chisq = m.pearson_chisq();
  r.dispersion_ratio = r.pearson_chisq / r.df_residual;
  r.converged = opt.converged && std::isfinite(r.loglik) &&
                (o.fast || (r.hessian_positive_definite && r.max_rel_gradient < 1e-3) || r.singular);
  if (f.n_dropped > 0)
    r.messages.push_back(fmt::format("{} rows with missing values dropped", f.n_dropped));
  if (!f.aliased.empty())
    r.messages.push_back(fmt::format("{} fixed-effect column(s) dropped as aliased", f.aliased.size()));
  add_warnings(m, r);
  return r;
}

// The fit without the Poisson latent variance (which needs a second fit).
GlmmFitted fit_glmm_formula(const DataFrame& data, const Formula& fml, const GlmmOptions& options) {
  glmm_detail::GlmmRows rows = glmm_detail::glmm_rows(data, fml, options);
  check_options(options, rows.frame);
  auto model = std::make_shared<GlmmModel>(std::move(rows.frame), std::move(rows.y), std::move(rows.pw),
                                           glmm_detail::Family(options.family, options.link));
  const glmm_detail::GlmmOptimum opt = glmm_detail::optimize_glmm(*model, options);
  GlmmResult r = summarize_glmm(*model, opt, options);
  r.messages.insert(r.messages.begin(), rows.messages.begin(), rows.messages.end());
  return {model, std::move(r)};
}

// β₀ of insight's null model: the response on an intercept, the offsets and the same random terms,
// fitted to the same data with the same options. NaN (with a note) if that fit fails.
double null_model_intercept(const DataFrame& data, const Formula& fml, const GlmmOptions& options,
                            GlmmResult& r) {
  if (r.fixed.size() == 1 && r.fixed[0].term == "(Intercept)") return r.beta[0];
  Formula null = fml;
  null.fixed.clear();
  null.intercept = true;
  null.text = null.deparse();
  try {
    return fit_glmm_formula(data, null, options).result.beta.at(0);
  } catch (const Error& e) {
    r.messages.push_back(std::string("note (latent scale): the null model for the Poisson variance could not be "
                                     "fitted, so ICC and R2 are not given: ") + e.what());
    return NaN;
  }
}

}  // namespace

GlmmFitted fit_glmm(const DataFrame& data, const std::string& formula, const GlmmOptions& options) {
  if (options.frame.residual.any())
    throw Error("ModelFrameOptions::residual and ResidualOptions::sd_by are for linear mixed models; a GLMM "
                "(GlmmOptions::family) has no residual covariance to structure");
  const Formula fml = parse_formula(formula);
  GlmmFitted f = fit_glmm_formula(data, fml, options);
  if (f.result.family == GlmmFamily::Poisson) {
    const double b0 = null_model_intercept(data, fml, options, f.result);
    if (std::isfinite(b0)) add_poisson_distribution(f.result, b0);
  }
  return f;
}

std::vector<double> glmm_predict_link(const GlmmFitted& fitted, const DataFrame& newdata, bool use_ranef) {
  const ModelFrame& f = fitted.model->frame();
  const ModelFrame nf = model_frame_for_new_data(f, newdata, {.random_effects = use_ranef, .response = false});
  const std::size_t n = nf.n() > 0 ? nf.n() : nf.rows.size();
  std::vector<double> eta(n, 0.0);
  const auto& beta = fitted.result.beta;
  for (std::size_t c = 0; c < beta.size(); ++c)
    for (std::size_t i = 0; i < n; ++i) eta[i] += nf.X[c * n + i] * beta[c];
  for (std::size_t i = 0; i < nf.offset.size() && i < n; ++i) eta[i] += nf.offset[i];
  if (!use_ranef) return eta;
  const auto b = fitted.model->ranef();
  for (std::size_t j = 0; j < nf.re.size(); ++j) {
    const int q = nf.re[j].q();
    for (std::size_t i = 0; i < n; ++i) {
      const std::int32_t l = nf.re[j].refs[i];
      if (l < 0) continue;
      for (int a = 0; a < q; ++a) eta[i] += nf.re[j].z[i * static_cast<std::size_t>(q) + a] * b[j][l * q + a];
    }
  }
  return eta;
}

SavedModel glmm_snapshot(const GlmmFitted& fitted) {
  const ModelFrame& f = fitted.model->frame();
  const GlmmResult& r = fitted.result;
  SavedModel s;
  s.nobs = f.n();
  s.method = Method::ML;
  s.family = family_name(r.family);
  s.link = link_name(r.link);
  s.frame = frame_coding(f);
  s.beta = r.beta;
  s.vcov = r.vcov;
  s.theta = r.theta;
  s.sigma = 1;
  const auto b = fitted.model->ranef();
  const auto cv = fitted.model->condvar_blocks();
  const auto lam = fitted.model->lambda();
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const ReTermData& t = f.re[j];
    s.lambda.emplace_back(lam[j].data(), lam[j].data() + lam[j].size());
    SavedModel::TermEstimates te;
    te.b.assign(b[j].data(), b[j].data() + b[j].size());
    te.condvar.assign(cv[j].data(), cv[j].data() + cv[j].size());
    te.pe_cov = te.condvar;
    te.pe_cross.assign(t.nlevels() * static_cast<std::size_t>(t.q()) * f.p(), 0.0);
    s.re.push_back(std::move(te));
  }
  return s;
}

const ModelFrame& glmm_model_frame(const GlmmFitted& fitted) { return fitted.model->frame(); }

std::vector<double> glmm_link_inverse(GlmmFamily family, GlmmLink link, const std::vector<double>& eta) {
  const glmm_detail::Family fam(family, link);
  std::vector<double> mu;
  mu.reserve(eta.size());
  for (double e : eta) mu.push_back(fam.linkinv(e));
  return mu;
}

}  // namespace lmm
