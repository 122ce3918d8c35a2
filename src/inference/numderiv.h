// Numerical derivatives by Richardson extrapolation, as R's numDeriv 2016.8 (Gilbert & Varadhan)
// computes them, so that Satterthwaite's df agree with lmerTest's, which uses numDeriv::hessian and
// numDeriv::jacobian with their default settings. Not a public header.
#pragma once
#include <Eigen/Dense>
#include <functional>

namespace lmm::detail {

struct RichardsonOptions {
  double eps = 1e-4;    // step for coordinates near zero
  double d = 1e-4;      // relative step
  double zero_tol = 0;  // |x| below this counts as zero (numDeriv: sqrt(.Machine$double.eps / 7e-7))
  int r = 4;            // number of step halvings
};

RichardsonOptions numderiv_hessian_defaults();   // d = 0.1 (numDeriv::hessian)
RichardsonOptions numderiv_jacobian_defaults();  // d = 1e-4 (numDeriv::jacobian)

/// numDeriv's genD-based Hessian of a scalar function (central differences, Richardson).
Eigen::MatrixXd hessian(const std::function<double(const Eigen::VectorXd&)>& f, const Eigen::VectorXd& x,
                        const RichardsonOptions& opt = numderiv_hessian_defaults());

/// numDeriv's Jacobian (m x n) of a vector function.
Eigen::MatrixXd jacobian(const std::function<Eigen::VectorXd(const Eigen::VectorXd&)>& f, const Eigen::VectorXd& x,
                         const RichardsonOptions& opt = numderiv_jacobian_defaults());

}  // namespace lmm::detail
