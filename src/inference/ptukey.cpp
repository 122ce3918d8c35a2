// The studentized range distribution's upper tail (R's ptukey(q, nmeans, df, lower.tail = FALSE)),
// used by emmeans' Tukey adjustment. R computes it as Copenhaver & Holland (1988, J. Stat. Comput.
// Simul. 30:1-15) describe: the distribution of the range W of k standard normals,
//   P(W < w) = k ∫ φ(z) [Φ(z + w) - Φ(z)]^(k-1) dz,
// integrated against the density of the scale s = sqrt(χ²_ν / ν) of the studentized range q = W/s:
//   P(Q > q) = ∫ g_ν(s) P(W > q s) ds,  g_ν(s) = 2 (ν/2)^(ν/2) / Γ(ν/2) s^(ν-1) exp(-ν s² / 2).
// R uses fixed Gauss-Legendre panels; this file uses adaptive Gauss-Kronrod (Boost.Math) on the
// ranges that carry all but 1e-15 of each integral, and integrates the upper tail P(W > w)
// directly so that small p-values keep their relative precision.
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/quadrature/gauss_kronrod.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "lmm/emmeans.h"

namespace lmm {

namespace {

constexpr double kTol = 1e-12;

double upper_normal(double x) { return 0.5 * std::erfc(x / std::numbers::sqrt2); }

// P(W > w) for the range W of k standard normals. As k ∫ φ(z) [1 - Φ(z)]^(k-1) dz = 1 (the
// minimum's density), P(W > w) = k ∫ φ(z) (a^(k-1) - b^(k-1)) dz with a = 1 - Φ(z) and
// b = Φ(z + w) - Φ(z) = a - (1 - Φ(z + w)): a non-negative integrand, computed as
// a^(k-1) (1 - (1 - Q(z+w)/a)^(k-1)) with expm1/log1p, so small tails keep their precision.
double range_upper(double w, double k) {
  if (!(w > 0)) return 1.0;
  const double inv_sqrt_2pi = 1 / std::sqrt(2 * std::numbers::pi);
  auto f = [&](double z) {
    const double a = upper_normal(z);
    if (!(a > 0)) return 0.0;
    const double r = upper_normal(z + w) / a;  // in [0, 1]
    const double diff = r >= 1 ? 1.0 : -std::expm1((k - 1) * std::log1p(-r));
    return k * inv_sqrt_2pi * std::exp(-z * z / 2 + (k - 1) * std::log(a)) * diff;
  };
  // φ carries less than 1e-18 outside |z| <= 9.
  const double p =
      boost::math::quadrature::gauss_kronrod<double, 31>::integrate(f, -9.0, 9.0, 15, kTol);
  return std::clamp(p, 0.0, 1.0);
}

}  // namespace

double ptukey_upper(double q, double nmeans, double df) {
  if (std::isnan(q) || std::isnan(nmeans) || std::isnan(df) || nmeans < 2 || !(df > 0))
    return std::numeric_limits<double>::quiet_NaN();
  if (!(q > 0)) return 1.0;
  if (std::isinf(q)) return 0.0;
  if (std::isinf(df) || df > 1e7) return range_upper(q, nmeans);
  // s = sqrt(X / ν), X ~ χ²_ν: the range of s carrying all but 1e-15 of its mass.
  const boost::math::chi_squared_distribution<double> chi(df);
  const double lo = std::sqrt(boost::math::quantile(chi, 1e-15) / df);
  const double hi = std::sqrt(boost::math::quantile(boost::math::complement(chi, 1e-15)) / df);
  const double log_c = (df / 2) * std::log(df / 2) + std::log(2.0) - std::lgamma(df / 2);
  auto g = [&](double s) {
    if (!(s > 0)) return 0.0;
    const double dens = std::exp(log_c + (df - 1) * std::log(s) - df * s * s / 2);
    return dens * range_upper(q * s, nmeans);
  };
  const double p =
      boost::math::quadrature::gauss_kronrod<double, 31>::integrate(g, lo, hi, 15, kTol);
  return std::clamp(p, 0.0, 1.0);
}

}  // namespace lmm
