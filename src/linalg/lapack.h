// LAPACK from OpenBLAS for large dense blocks, where the build has it (LMM_HAVE_OPENBLAS is defined
// for src/linalg/blocks.cpp alone, which implements this beside the dense Cholesky factorisation
// and shares its thread handling).
#pragma once
#include "linalg/blocks.h"

namespace lmm::detail {

/// The lower triangle of (L L')⁻¹ in place of a dense lower factor L (its strict upper triangle is
/// left as it was), by LAPACK's dpotri; false, with m untouched, where the build has no OpenBLAS,
/// the block has fewer than 256 rows, OpenBLAS is busy in another fit or L has a zero on its
/// diagonal (the caller then inverts with Eigen).
bool lapack_inverse_from_factor(Mat& m);

/// L⁻¹'s lower triangle in place of a dense lower-triangular L (LAPACK's dtrtri; the strict upper
/// triangle is left as it was), under the same conditions as lapack_inverse_from_factor().
bool lapack_lower_inverse(Mat& m);

/// N'N's lower triangle in place of a dense lower-triangular N (LAPACK's dlauum; the strict upper
/// triangle is left as it was), under the same conditions as lapack_inverse_from_factor(), and false
/// also where the OpenBLAS found has no dlauum. dpotri is dtrtri followed by dlauum: applied to the
/// L⁻¹ of lapack_lower_inverse(), it gives lapack_inverse_from_factor()'s (L L')⁻¹ to the bit.
bool lapack_lower_gram(Mat& m);

}  // namespace lmm::detail
