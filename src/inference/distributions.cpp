#include "inference/distributions.h"

#include <boost/math/distributions/fisher_f.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>

namespace lmm::detail {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Report domain and other errors as NaN instead of throwing: a p-value that cannot be computed is
// shown as NA, as R does.
using Policy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::underflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>>;
}  // namespace

double t_pvalue(double t, double df) {
  if (std::isnan(t) || std::isnan(df) || !(df > 0)) return kNaN;
  const double at = std::abs(t);
  if (std::isinf(at)) return 0.0;
  if (std::isinf(df) || df > 1e12) {
    boost::math::normal_distribution<double, Policy> n;
    return 2 * boost::math::cdf(boost::math::complement(n, at));
  }
  boost::math::students_t_distribution<double, Policy> dist(df);
  return 2 * boost::math::cdf(boost::math::complement(dist, at));
}

double f_pvalue(double F, double df1, double df2) {
  if (std::isnan(F) || std::isnan(df1) || std::isnan(df2) || !(df1 > 0) || !(df2 > 0)) return kNaN;
  if (F <= 0) return 1.0;
  if (std::isinf(F)) return 0.0;
  if (std::isinf(df2) || df2 > 1e12) df2 = 1e12;  // the chi-squared limit, to ample precision
  boost::math::fisher_f_distribution<double, Policy> dist(df1, df2);
  return boost::math::cdf(boost::math::complement(dist, F));
}

}  // namespace lmm::detail
