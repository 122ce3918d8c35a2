// Products with Ṽ⁻¹ = (I + ZΛΛ'Z')⁻¹ for the variance-parameter derivatives of Satterthwaite and
// Kenward-Roger, from the model's cross-product blocks, without any n x n matrix and without the
// q x q matrices of all random effects. Not a public header.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/model_impl.h"

namespace lmm::detail {

/// D = I_nlevels ⊗ E on the random effects of `term` (E symmetric, q_term x q_term): the derivative
/// of ΛΛ' (or of the covariance) with respect to one variance parameter.
struct TermDerivative {
  int term = 0;
  Mat E;
};

/// The random effects split into the first term's (block-diagonal Z_0'Z_0, usually the factor with
/// the most levels) and the rest, R (m of them, held densely). With Ṽ_0 = I + Z_0Λ_0Λ_0'Z_0'
/// (block-diagonal by the first factor's levels), N = Z'Ṽ_0⁻¹Z, and by Woodbury
///   Z_a'Ṽ⁻¹Z_b = N_ab - N_aR G N_Rb,   G = Λ_R (I + Λ_R'N_RRΛ_R)⁻¹ Λ_R'   (m x m),
/// so M = Z'Ṽ⁻¹Z is known through its first-term diagonal blocks, M_0R = N_0R (I - G N_RR) and
/// M_RR (the n_0 x n_0 block is never formed). Costs an m x m factorisation and inverse, and m³
/// products only where a term after the first has several effects (or λ is near 0).
class VinvParts {
 public:
  /// At the model's current θ. Needs no residual structure.
  explicit VinvParts(const ModelState& m);

  /// Refusal reason (empty if feasible) for a model with these terms: m = Σ_{k≥1} q_k nlevels_k
  /// must be at most `max_dense`, and n_0 m (the dense M_0R) at most 50 million.
  static std::string infeasible(const std::vector<int>& q, const std::vector<Eigen::Index>& nlev, long max_dense);

  Eigen::Index size() const { return n0_ + m_; }
  /// Z'Ṽ⁻¹[X y], q x (p + 1).
  const Mat& zvx() const { return W1_; }
  /// [X y]'Ṽ⁻¹[X y].
  const Mat& xvx() const { return xvx_; }
  /// M v for v of q rows.
  Mat apply(const Mat& v) const;
  /// D v for v of q rows.
  Mat apply(const TermDerivative& d, const Mat& v) const;
  /// tr(D M).
  double trace(const TermDerivative& d) const;
  /// tr(D_r M D_s M) for all pairs (symmetric).
  Mat trace_pairs(const std::vector<TermDerivative>& d) const;
  /// tr(Ṽ⁻¹) with n the number of rows behind the model.
  double trace_vinv(double n) const;

  /// Whether M_RR and Y come from F⁻¹ entry by entry where Λ_R is diagonal and well away from
  /// singular (default), rather than by dense products; settable so that tests can compare them.
  static bool& scalar_shortcut();

 private:
  int K_ = 0, q0_ = 1;
  Eigen::Index n0_ = 0, m_ = 0, nc_ = 0;
  std::vector<int> q_;
  std::vector<Eigen::Index> nlev_, roff_;  // roff_: offset of term k >= 1 inside R
  Mat T0_, N00_, U00_;                      // q0 x n0, level blocks: T_0, N_00, diag blocks of N_0R G N_R0
  SpMat N0R_, N0Rt_, S0Rt_;                 // n0 x m, and its transpose; S_R0 = S_0R' (m x n0)
  SpMat SRR_, T0sp_;                        // S_RR (m x m) and T_0 (n0 x n0, block-diagonal)
  // Where the terms after the first are scalar (scalar_parts): F⁻¹ (the model's own, shared) and
  // Λ_R's diagonal; G, Y' and M_RR are then F⁻¹ scaled entry by entry and are not formed, nor is
  // M_R0 (first_term_panels). Elsewhere G_, M1RR_ (M_RR) and M0Rt_ (M_R0, m x n0) are.
  std::shared_ptr<const Mat> Finv_;
  Eigen::VectorXd lam_, lam2_;
  Mat NRR_, G_, M1RR_, M0Rt_;               // NRR_ (m x m) empty where scalar_parts applied
  std::vector<Mat> gram0_;                  // scalar_parts: block_gram of M_R0's rows of term k >= 1
  Mat GNN_;                                 // scalar_parts with q0 = 1: G N_R0 N_0R (m x m)
  Mat W1_, xvx_;
  double trT0S00_ = 0;                      // for tr(Ṽ⁻¹)

  bool scalar() const { return lam_.size() > 0; }
  void build_first_term(const ModelState& m, SpMat& S0R, Mat& S0X, SpMat& T0sp, SpMat& B0);
  void diag_blocks_U();
  void lambda_sandwich(Mat& M, const ModelState& m) const;
  static Mat block_gram(const Mat& M, Eigen::Index r0, int qa, Eigen::Index na, Eigen::Index c0, int qb,
                        Eigen::Index nb);
  bool scalar_parts(const ModelState& m);
  void first_term_panels();
  void general_parts(Mat& Yt);
  Mat dense_nrr() const;
  Mat nrr_times(const Mat& v) const;
  Mat g_times(const Mat& v) const;
  double m_rr_entry(Eigen::Index i, Eigen::Index j) const;
  Mat rr_gram(int a, int b) const;
  double trace_zero_zero(const TermDerivative& r, const TermDerivative& s, const Mat& GHr, const Mat& GHs,
                         double gnn_pair) const;
};

/// Why Kenward-Roger cannot run for a model of this frame (empty if it can), decided from the
/// terms' sizes before the fit (src/inference/kenward_roger.cpp).
std::string kenward_roger_unavailable(const ModelFrame& f);

}  // namespace lmm::detail
