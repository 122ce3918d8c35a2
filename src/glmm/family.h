// Binomial and Poisson families with their links, as lme4's glmFamily (src/glmFamily.cpp) and
// R's binomial()/poisson(): inverse link, dμ/dη, variance, deviance residuals and -2 log p(y | μ)
// with its full normalising constant (R's family$aic without the parameter penalty).
#pragma once
#include "lmm/glmm.h"

namespace lmm::glmm_detail {

class Family {
 public:
  Family(GlmmFamily family, GlmmLink link);
  GlmmFamily family() const { return family_; }
  GlmmLink link() const { return link_; }
  double linkfun(double mu) const;
  double linkinv(double eta) const;
  double mu_eta(double eta) const;
  double variance(double mu) const;
  /// Squared deviance residual of one row; `wt` the prior weight (trials for cbind()).
  double dev_resid(double y, double mu, double wt) const;
  /// -2 log p(y | μ) of one row, normalising constant included (y a proportion of `wt` trials).
  double minus_two_loglik(double y, double mu, double wt) const;
  /// Its two parts: the normalising constant (a function of the data alone) and the rest.
  double minus_two_log_constant(double y, double wt) const;
  double minus_two_loglik_kernel(double y, double mu, double wt) const;
  /// The kernel at μ = y (the saturated model): kernel(y, μ, wt) = this + dev_resid(y, μ, wt).
  double minus_two_saturated_kernel(double y, double wt) const;
  /// One IRLS row at η: μ, the working weight wt·(dμ/dη)²/V(μ) and the working residual
  /// (y − μ)/(dμ/dη), as glm.fit forms them.
  struct Working {
    double mu, weight, residual;
  };
  Working working(double eta, double y, double wt) const;
  Working working(double eta, double mu, double y, double wt) const;  ///< with μ = linkinv(η) known
  /// R's mustart: where IRLS starts.
  double mu_start(double y, double wt) const;

 private:
  GlmmFamily family_;
  GlmmLink link_;
};

}  // namespace lmm::glmm_detail
