// Kenward-Roger's ingredients for a model with a residual structure (ModelFrameOptions::residual),
// from dense blocks of V = ZGZ' + σ² D R D (src/inference/kenward_roger_residual.cpp). Not a
// public header.
#pragma once
#include <vector>

#include "linalg/blocks.h"
#include "lmm/model.h"

namespace lmm::detail {

/// The largest block of rows Kenward-Roger with a residual structure forms densely (its cost grows
/// as the cube: about 10 s at 1500 rows with crossed random effects, 30 s at 2200).
inline constexpr long kMaxDenseResidualRows = 1500;

/// For the variance parameters γ (pbkrtest's elements of each term's covariance matrix, σ², then
/// the structure's unconstrained parameters η unless they are fixed) and G_r = ∂V/∂γ_r:
///   P_r = -X'V⁻¹G_rV⁻¹X,  Q_rt = X'V⁻¹G_rV⁻¹G_tV⁻¹X,  K_rt = tr(V⁻¹G_rV⁻¹G_t).
struct KrIngredients {
  std::vector<Mat> P;  ///< per parameter, p x p
  std::vector<Mat> Q;  ///< ng x ng of them, Q[r * ng + t]
  Mat K;               ///< ng x ng
};

/// V falls apart into blocks of rows linked by the structure's groups and the random effects'
/// levels; a block larger than `max_block_rows` throws lmm::Error (crossed random effects on
/// large data: use Satterthwaite).
KrIngredients kenward_roger_residual(const LinearMixedModel& model, long max_block_rows);

}  // namespace lmm::detail
