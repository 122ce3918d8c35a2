// The families' formulas follow R's binomial(), poisson() and make.link() (the same clamping of η
// and of dμ/dη at the edges, so that weights stay positive and logs finite).
#include "glmm/family.h"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cfloat>
#include <cmath>
#include <numbers>

#include "lmm/error.h"

namespace lmm {

std::string family_name(GlmmFamily f) { return f == GlmmFamily::Binomial ? "binomial" : "poisson"; }

GlmmFamily parse_family(const std::string& name) {
  if (name == "binomial") return GlmmFamily::Binomial;
  if (name == "poisson") return GlmmFamily::Poisson;
  throw Error("GlmmOptions::family: unknown family '" + name + "' (binomial or poisson)");
}

std::string link_name(GlmmLink l) {
  switch (l) {
    case GlmmLink::Logit: return "logit";
    case GlmmLink::Probit: return "probit";
    case GlmmLink::Cloglog: return "cloglog";
    case GlmmLink::Log: return "log";
    case GlmmLink::Default: break;
  }
  return "default";
}

GlmmLink parse_link(const std::string& name) {
  for (GlmmLink l : {GlmmLink::Logit, GlmmLink::Probit, GlmmLink::Cloglog, GlmmLink::Log})
    if (link_name(l) == name) return l;
  throw Error("GlmmOptions::link: unknown link '" + name + "' (logit, probit, cloglog or log)");
}

namespace glmm_detail {

namespace {

constexpr double kEps = DBL_EPSILON;
constexpr double kLogitThresh = 30.0;
constexpr double kProbitThresh = 8.125890664701906;  // -qnorm(DBL_EPSILON)

double pnorm(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }
double dnorm(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi); }

// x log(x / m), 0 at x = 0
double ylogy(double x, double m) { return x > 0 ? x * std::log(x / m) : 0.0; }

}  // namespace

Family::Family(GlmmFamily family, GlmmLink link) : family_(family), link_(link) {
  if (link_ == GlmmLink::Default) link_ = family == GlmmFamily::Binomial ? GlmmLink::Logit : GlmmLink::Log;
  const bool ok = family == GlmmFamily::Binomial ? link_ != GlmmLink::Log : link_ == GlmmLink::Log;
  if (!ok)
    throw Error("GlmmOptions::link: the " + link_name(link_) + " link is not available for the " +
                family_name(family) + " family (" +
                (family == GlmmFamily::Binomial ? "logit, probit or cloglog" : "log") + ")");
}

double Family::linkfun(double mu) const {
  switch (link_) {
    case GlmmLink::Logit: return std::log(mu / (1 - mu));
    case GlmmLink::Probit: return boost::math::quantile(boost::math::normal(), mu);
    case GlmmLink::Cloglog: return std::log(-std::log1p(-mu));
    default: return std::log(mu);
  }
}

double Family::linkinv(double eta) const {
  switch (link_) {
    case GlmmLink::Logit: {
      const double e = std::exp(std::clamp(eta, -kLogitThresh, kLogitThresh));
      return e / (1 + e);
    }
    case GlmmLink::Probit: return pnorm(std::clamp(eta, -kProbitThresh, kProbitThresh));
    case GlmmLink::Cloglog: return std::clamp(-std::expm1(-std::exp(eta)), kEps, 1 - kEps);
    default: return std::max(std::exp(eta), kEps);
  }
}

double Family::mu_eta(double eta) const {
  switch (link_) {
    case GlmmLink::Logit: {
      if (eta > kLogitThresh || eta < -kLogitThresh) return kEps;
      const double e = std::exp(eta);
      return e / ((1 + e) * (1 + e));
    }
    case GlmmLink::Probit: return std::max(dnorm(eta), kEps);
    case GlmmLink::Cloglog: {
      const double e = std::min(eta, 700.0);
      return std::max(std::exp(e) * std::exp(-std::exp(e)), kEps);
    }
    default: return std::max(std::exp(eta), kEps);
  }
}

double Family::variance(double mu) const { return family_ == GlmmFamily::Binomial ? mu * (1 - mu) : mu; }

Family::Working Family::working(double eta, double y, double wt) const { return working(eta, linkinv(eta), y, wt); }

Family::Working Family::working(double eta, double m, double y, double wt) const {
  // logit: dμ/dη = μ(1 - μ), the value of R's e/(1 + e)² without a second exp
  const double d = link_ == GlmmLink::Logit && std::abs(eta) <= kLogitThresh ? m * (1 - m) : mu_eta(eta);
  return {m, wt * d * d / std::max(variance(m), 1e-300), (y - m) / d};
}

double Family::dev_resid(double y, double mu, double wt) const {
  if (family_ == GlmmFamily::Binomial) return 2 * wt * (ylogy(y, mu) + ylogy(1 - y, 1 - mu));
  return 2 * wt * (ylogy(y, mu) - (y - mu));
}

double Family::minus_two_loglik(double y, double mu, double wt) const {
  return minus_two_log_constant(y, wt) + minus_two_loglik_kernel(y, mu, wt);
}

double Family::minus_two_log_constant(double y, double wt) const {
  if (family_ == GlmmFamily::Poisson) return 2 * wt * std::lgamma(y + 1);
  if (!(wt > 0)) return 0;
  const double k = std::round(wt * y), m = std::round(wt);
  return -2 * (std::lgamma(m + 1) - std::lgamma(k + 1) - std::lgamma(m - k + 1));
}

double Family::minus_two_loglik_kernel(double y, double mu, double wt) const {
  if (family_ == GlmmFamily::Poisson) return -2 * wt * (y * std::log(mu) - mu);
  if (!(wt > 0)) return 0;
  const double k = std::round(wt * y), m = std::round(wt);
  double ll = 0;
  if (k > 0) ll += k * std::log(mu);
  if (m - k > 0) ll += (m - k) * std::log1p(-mu);
  return -2 * ll;
}

double Family::minus_two_saturated_kernel(double y, double wt) const {
  if (family_ == GlmmFamily::Poisson) return -2 * wt * (ylogy(y, 1) - y);
  return -2 * wt * (ylogy(y, 1) + ylogy(1 - y, 1));
}

double Family::mu_start(double y, double wt) const {
  return family_ == GlmmFamily::Binomial ? (wt * y + 0.5) / (wt + 1) : y + 0.1;
}

}  // namespace glmm_detail
}  // namespace lmm
