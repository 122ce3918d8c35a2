// The GLMM's state and its deviance: ZΛ as a sparse matrix with a fixed pattern (each row holds
// its q_j values per term, at its levels' columns), M = Λ'Z'WZΛ + I factored by a sparse Cholesky
// whose symbolic analysis is done once, PIRLS for the conditional modes u (β fixed, or β with them
// for the first stage), and the Laplace / adaptive Gauss-Hermite deviance at the converged modes.
// Not a public header.
#pragma once
#include <Eigen/Dense>
#include <Eigen/Sparse>
#include <Eigen/SparseCholesky>
#include <vector>

#include "glmm/family.h"
#include "lmm/glmm.h"

namespace lmm {

class GlmmModel {
 public:
  using SpMat = Eigen::SparseMatrix<double>;
  using RowSpMat = Eigen::SparseMatrix<double, Eigen::RowMajor>;

  /// y: per row the response (a proportion of `pw` trials for binomial counts); pw the prior weights.
  GlmmModel(ModelFrame frame, std::vector<double> y, std::vector<double> pw, glmm_detail::Family family);

  const ModelFrame& frame() const { return frame_; }
  const glmm_detail::Family& family() const { return family_; }
  std::size_t n() const { return y_.size(); }
  std::size_t p() const { return frame_.p(); }
  std::size_t ntheta() const { return theta_.size(); }
  Eigen::Index nre() const { return nre_; }
  const std::vector<double>& y() const { return y_; }
  const std::vector<double>& prior_weights() const { return pw_; }

  /// A new response for the same rows and prior weights (a bootstrap replicate's).
  void set_response(std::vector<double> y);
  /// Xβ + offset + ZΛu at the current θ and β.
  Eigen::VectorXd eta_at(const Eigen::VectorXd& u) const;

  std::vector<double> theta_lower() const;  ///< 0 on λ's diagonals, -inf elsewhere
  std::vector<double> theta_start() const;  ///< 1 on the diagonals, 0 elsewhere
  void set_theta(const std::vector<double>& theta);
  void set_beta(const Eigen::VectorXd& beta);
  const std::vector<double>& theta() const { return theta_; }
  const Eigen::VectorXd& beta() const { return beta_; }
  const Eigen::VectorXd& u() const { return u_; }
  void set_u(const Eigen::VectorXd& u) { u_ = u; }

  /// β of the GLM without random effects (IRLS from R's mustart): the first stage's start.
  Eigen::VectorXd glm_start() const;
  /// PIRLS for u at the current θ and β; false if it did not converge.
  bool pirls_u();
  /// PIRLS for u and β together at the current θ (lme4's nAGQ = 0 stage); false if not converged.
  bool pirls_joint();
  /// du/dx at the current (converged) modes for x = (θ, β), one column per coordinate: the
  /// warm start u + S (x' - x) of PIRLS at a nearby x' (glmm_model.cpp).
  Eigen::MatrixXd mode_sensitivity() const;
  /// -2 log-likelihood by the Laplace approximation (nagq = 1) or adaptive Gauss-Hermite
  /// quadrature at the current (converged) modes; the factor must be at the final weights.
  double objective(int nagq) const;
  /// Sets θ and β, runs PIRLS for u (warm start) and returns objective(nagq); +inf on failure.
  double deviance_at(const std::vector<double>& theta, const Eigen::VectorXd& beta, int nagq);

  // --- at the current modes ---
  double sum_dev_resid() const;     ///< lme4's deviance(m)
  double pearson_chisq() const;
  const Eigen::VectorXd& eta() const { return eta_; }
  const Eigen::VectorXd& mu() const { return mu_; }
  std::vector<Eigen::VectorXd> ranef() const;   ///< b = Λu per term, level-major
  /// Per term and level, the q x q block of ΛM⁻¹Λ' (lme4's condVar), level-major, column-major.
  std::vector<Eigen::VectorXd> condvar_blocks() const;
  /// (X'WX - X'WZΛ M⁻¹ Λ'Z'WX)⁻¹ at the current weights: β's covariance at fixed θ.
  Eigen::MatrixXd vcov_rx() const;
  std::vector<Eigen::MatrixXd> lambda() const;
  /// Per term, in θ's order, the SDs (diagonal) and correlations (below it) of ΛΛ', and their
  /// names as the LMM's profile ("sd_(Intercept)|herd", "cor_time.(Intercept)|id").
  std::vector<double> sdcor() const;
  std::vector<std::string> sdcor_names() const;

 private:
  struct Term {
    int q = 1;
    Eigen::Index nlev = 0, col0 = 0;  // its first column in u
    int theta0 = 0;
  };
  void update_zl_values();
  void update_weights();  // working weights and residuals at eta_ and its mu_
  bool factor();          // M at the current weights
  void setup_blocks();    // blocked_: one term, M block diagonal (blocks.cpp)
  bool factor_blocks();
  Eigen::MatrixXd solve(const Eigen::MatrixXd& b) const;  // M⁻¹b from the factor
  /// In one pass over the rows at the current weights (r = W·working residuals): gu = Λ'Z'r - u,
  /// gb = X'r, B = Λ'Z'WX, A = X'WX.
  void joint_blocks(Eigen::VectorXd& gu, Eigen::VectorXd& gb, Eigen::MatrixXd& B, Eigen::MatrixXd& A) const;
  /// Σ devresid at η, with μ at η in `mu` (one pass over the rows).
  double deviance_rows(const Eigen::VectorXd& eta, Eigen::VectorXd& mu) const;
  double deviance_rows_binary_logit(const Eigen::VectorXd& eta, Eigen::VectorXd& mu) const;
  void linear_predictor(const Eigen::VectorXd& u, const Eigen::VectorXd& fixed, Eigen::VectorXd& eta) const;
  double logdet() const;
  double agq_adjustment(int nagq) const;

  ModelFrame frame_;
  std::vector<double> y_, pw_;
  glmm_detail::Family family_;
  Eigen::Map<const Eigen::MatrixXd> X_;
  Eigen::VectorXd offset_;
  // Σ over rows of -2 log p(y | μ = y), normalising constants included: -2 log p(y | μ) is this
  // plus the deviance residuals' sum, so the Laplace deviance needs no further pass over the rows.
  double log_constant_ = 0;
  double dev_ = 0;  // Σ devresid at mu_ (kept by PIRLS)
  bool binary_logit_ = false;  // 0/1 responses, unit weights, logit link: deviance_rows_binary_logit
  std::vector<Term> terms_;
  Eigen::Index nre_ = 0;
  std::vector<double> theta_;
  Eigen::VectorXd beta_, u_, eta_fixed_, eta_, mu_, w_, wres_, mu_new_;
  void setup_scatter();
  void setup_response_constants();  // log_constant_ and binary_logit_ from y_ and pw_

  RowSpMat zl_;  // ZΛ
  // M's lower triangle (what the Cholesky reads) with the pattern of Z'Z + I, filled in one pass
  // over the rows: row i adds w_i (zλ)_a (zλ)_b at scatter_[i * pairs_ + k] for its k-th pair of
  // entries a >= b; diag_ holds the positions of the diagonal (for the + I).
  SpMat M_;
  std::vector<int> scatter_, diag_;
  int per_row_ = 0, pairs_ = 0;
  Eigen::SimplicialLLT<SpMat> chol_;
  bool factor_ok_ = false;
  bool blocked_ = false;
  std::vector<double> blocks_;  // with blocked_: per level the q x q Cholesky factor of M's block
};

namespace glmm_detail {
/// Gauss-Hermite nodes and weights for the standard normal density (weights sum to 1), as lme4's GHrule.
void gauss_hermite(int k, std::vector<double>& nodes, std::vector<double>& weights);
/// Rows of cells as the interval tables print them: the first column left-aligned, the others
/// right-aligned, each line indented by two spaces (glmm_profile.cpp).
std::string aligned_table(const std::vector<std::vector<std::string>>& rows);
}  // namespace glmm_detail

}  // namespace lmm
