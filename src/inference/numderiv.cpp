#include "inference/numderiv.h"

#include <cmath>
#include <limits>
#include <vector>

namespace lmm::detail {

namespace {

// numDeriv's zero.tol = sqrt(.Machine$double.eps / 7e-7).
double default_zero_tol() { return std::sqrt(std::numeric_limits<double>::epsilon() / 7e-7); }

// Initial steps: |d x| + eps where |x| < zero_tol.
Eigen::VectorXd initial_steps(const Eigen::VectorXd& x, const RichardsonOptions& opt) {
  Eigen::VectorXd h(x.size());
  for (Eigen::Index i = 0; i < x.size(); ++i)
    h(i) = std::abs(opt.d * x(i)) + (std::abs(x(i)) < opt.zero_tol ? opt.eps : 0.0);
  return h;
}

// Richardson extrapolation of r estimates made with steps h, h/2, h/4, ... (errors in h², h⁴, ...):
// numDeriv's loop `a[k] <- (a[k+1] 4^m - a[k]) / (4^m - 1)`.
template <class T>
T extrapolate(std::vector<T> a) {
  const int r = static_cast<int>(a.size());
  for (int m = 1; m < r; ++m) {
    const double f = std::pow(4.0, m);
    for (int k = 0; k < r - m; ++k) a[k] = (a[k + 1] * f - a[k]) / (f - 1);
  }
  return a[0];
}

}  // namespace

RichardsonOptions numderiv_hessian_defaults() {
  RichardsonOptions o;
  o.d = 0.1;
  o.zero_tol = default_zero_tol();
  return o;
}

RichardsonOptions numderiv_jacobian_defaults() {
  RichardsonOptions o;
  o.d = 1e-4;
  o.zero_tol = default_zero_tol();
  return o;
}

Eigen::MatrixXd hessian(const std::function<double(const Eigen::VectorXd&)>& f, const Eigen::VectorXd& x,
                        const RichardsonOptions& opt) {
  const Eigen::Index n = x.size();
  const double f0 = f(x);
  const Eigen::VectorXd h0 = initial_steps(x, opt);
  Eigen::VectorXd hdiag(n);
  // Diagonal: (f(x + h e_i) - 2 f0 + f(x - h e_i)) / h².
  for (Eigen::Index i = 0; i < n; ++i) {
    std::vector<double> a(opt.r);
    double h = h0(i);
    for (int k = 0; k < opt.r; ++k) {
      Eigen::VectorXd xp = x, xm = x;
      xp(i) += h;
      xm(i) -= h;
      a[k] = (f(xp) - 2 * f0 + f(xm)) / (h * h);
      h /= 2;
    }
    hdiag(i) = extrapolate(a);
  }
  Eigen::MatrixXd H(n, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    H(i, i) = hdiag(i);
    for (Eigen::Index j = 0; j < i; ++j) {
      // Off-diagonal from the second difference along e_i + e_j (genD's formula).
      std::vector<double> a(opt.r);
      double hi = h0(i), hj = h0(j);
      for (int k = 0; k < opt.r; ++k) {
        Eigen::VectorXd xp = x, xm = x;
        xp(i) += hi;
        xp(j) += hj;
        xm(i) -= hi;
        xm(j) -= hj;
        a[k] = (f(xp) - 2 * f0 + f(xm) - hdiag(i) * hi * hi - hdiag(j) * hj * hj) / (2 * hi * hj);
        hi /= 2;
        hj /= 2;
      }
      H(i, j) = H(j, i) = extrapolate(a);
    }
  }
  return H;
}

Eigen::MatrixXd jacobian(const std::function<Eigen::VectorXd(const Eigen::VectorXd&)>& f, const Eigen::VectorXd& x,
                         const RichardsonOptions& opt) {
  const Eigen::Index n = x.size();
  const Eigen::VectorXd h0 = initial_steps(x, opt);
  Eigen::MatrixXd J;
  for (Eigen::Index i = 0; i < n; ++i) {
    std::vector<Eigen::VectorXd> a(opt.r);
    double h = h0(i);
    for (int k = 0; k < opt.r; ++k) {
      Eigen::VectorXd xp = x, xm = x;
      xp(i) += h;
      xm(i) -= h;
      a[k] = (f(xp) - f(xm)) / (2 * h);
      h /= 2;
    }
    Eigen::VectorXd col = extrapolate(a);
    if (J.size() == 0) J.resize(col.size(), n);
    J.col(i) = col;
  }
  return J;
}

}  // namespace lmm::detail
