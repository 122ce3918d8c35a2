// Dense kernels that go to OpenBLAS/LAPACK where the build has it (src/linalg/blocks.cpp). Not a
// public header.
#pragma once
#include <Eigen/Dense>

namespace lmm::detail {

/// (L L')⁻¹ in place from a lower Cholesky factor L (LAPACK's dpotri), the whole symmetric matrix.
/// Returns false, L untouched, where OpenBLAS is not built in, is busy with another fit, or L is
/// too small for it to pay (the caller then uses Eigen), or if L is singular (L then unspecified).
bool blas_llt_inverse(Eigen::MatrixXd& L);

}  // namespace lmm::detail
