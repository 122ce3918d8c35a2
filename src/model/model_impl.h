// The state behind LinearMixedModel. Not a public header: src/model alone writes it; code above
// the model reads it through model/model_access.h.
#pragma once
#include <memory>
#include <vector>

#include "linalg/blocks.h"
#include "lmm/model.h"

namespace lmm::detail {

class ResidualCovariance;  // src/model/residual.h

struct ModelState {
  ModelFrame frame;
  Method method = Method::REML;

  int K = 0;                       // number of random-effects terms; block K is [X y]
  std::vector<int> q;              // per term
  std::vector<Eigen::Index> nlev;  // per term
  std::vector<int> theta_offset;   // per term: where its λ starts in θ

  // Lower triangles: A[i][j] and L[i][j] for 0 <= j <= i <= K.
  std::vector<std::vector<detail::Block>> A, L;

  // A is built from y - X beta0 (beta0: least squares of y on X) rather than y: the model is the
  // same with beta shifted by beta0, and r² no longer cancels catastrophically when y is large
  // relative to its residual spread. beta() adds beta0 back. See response_shift() in model.cpp.
  Eigen::VectorXd beta0;

  // Prior weights: A is built from the rows multiplied by √w (the model with residual variance
  // σ²/w_i is the unweighted one for those rows), and the objective gains -log|W| (lme4's ldW in
  // lmerResp::Laplace). 0 without weights.
  double log_det_weights = 0;

  // Correlated or heteroscedastic residuals (ModelFrame::residual, src/model/residual.h): θ's
  // values after the random-effects terms' (ntheta_re of them) are the structure's unconstrained
  // parameters η (unless they are fixed), and A = Σ_k c_k(η) A_k is recombined when η changes;
  // the objective gains log|R(η)|. Null without a structure.
  std::shared_ptr<const ResidualCovariance> residual;
  std::vector<std::vector<std::vector<detail::Block>>> A_keys;
  std::vector<double> residual_eta;
  double log_det_residual = 0;
  int ntheta_re = 0;
  void setup_residual(const std::vector<double>& y);
  void set_residual_eta(const std::vector<double>& eta);
  /// A and log|R| at residual_eta, from the A_k (after they change).
  void recombine_residual();
  /// A_k formed again from a new (shifted) response, A recombined at the current η.
  void set_residual_response(const std::vector<double>& y);

  std::vector<double> theta;
  std::vector<detail::Mat> lambda;  // per term, q x q lower triangular
  double objective = 0;
  bool factor_ok = false;
  // θ at which L and `objective` were last formed from the current A and method; empty once
  // either changes (mark_stale). set_theta() at that same θ has nothing to do.
  std::vector<double> factored_theta;
  // gradient_full() of the current factor once formed (the optimizer's last gradient, which the
  // convergence check asks for again at the optimum); dropped with the factor.
  mutable std::vector<detail::Mat> gradient_cache;
  mutable bool gradient_kept = false;
  // The Hessian of the objective in the optimizer's conditioned coordinates (ThetaMap), formed by
  // the Newton optimizer (src/model/optimize.cpp; exact, or from differences of the gradient) at
  // `hessian_at` and updated by its later steps; the convergence check takes it within hessian_reach
  // of there instead of forming its own. Empty until then (cleared as each fit starts); dropped
  // with the objective. Where the check is to take the exact Hessian below instead
  // (FitOptions::ddf Satterthwaite and detail::varpar_analytic, src/inference/varpar.h), the
  // optimizer does not form it again near its end, and this one only steers the check's
  // finishing Newton step, from however far it was formed (beyond VinvParts's limits, where the
  // Hessian below comes from differences of the gradient, it forms it again as without it).
  static constexpr double hessian_reach = 1e-3;  // largest coordinate of x - hessian_at
  Mat optimizer_hessian;
  std::vector<double> hessian_at;
  // Satterthwaite's derivatives at the current factor: H, the deviance's Hessian in u = (θ̃, σ/σ̂),
  // and J, Vcov(β)'s Jacobian (src/inference/satterthwaite.cpp; analytic, or H's θ block from
  // differences of the gradient beyond VinvParts's limits). The convergence check after Newton's
  // method takes H's profiled form as the Hessian of the objective, and Satterthwaite then reuses
  // both: one computation for the two. update_L() drops them.
  mutable Mat varpar_hessian, varpar_jacobian;
  mutable bool varpar_kept = false;
  void mark_stale() {
    factor_ok = false;
    factored_theta.clear();
    gradient_kept = false;
    varpar_kept = false;
    hessian_at.clear();
  }

  // (L_DD L_DD')⁻¹ of the trailing terms from trailing_inverse_from on (model/condvar.h's
  // trailing_re_inverse), kept for the factor it came from: the summary's conditional variances and
  // Satterthwaite's Ṽ⁻¹ parts both need it (InstEval: 1,142 x 1,142, m³ operations each).
  // update_L() drops it; src/model/condvar.cpp alone reads and writes it.
  mutable std::shared_ptr<const detail::Mat> trailing_inverse;
  mutable int trailing_inverse_from = -1;
  // L_t⁻¹ of the dense tail (terms 1..K-1) of a crossed design's factor, as the gradient formed it
  // by LAPACK (ML, or REML without fixed effects: the tail then has no X rows), up to 6,000 rows:
  // trailing_inverse from term 1 is then its Gram matrix alone (dlauum, half of dpotri), formed in
  // its storage, and the conditional variances' blocks, which the gradient read off its own pass
  // over it, are kept with it (re_diagonal_blocks) instead of inverting again. update_L() drops
  // both; src/model/condvar.cpp alone reads and writes them.
  mutable std::shared_ptr<detail::Mat> tail_inverse_factor;
  mutable std::shared_ptr<const std::vector<detail::Mat>> re_diagonal_blocks;

  // Built from the frame: one pass over the rows into A; decides the types of L's blocks. With
  // `factor_start` false, for a caller that sets θ next (lmm::fit(), whose optimizer's first
  // evaluation is not lme4's start on a crossed design: the moment start), see analyse().
  ModelState(ModelFrame f, Method m, bool factor_start = true);
  // Built from cross-products accumulated elsewhere (lmm/statistics.h): `coding` is a frame
  // without rows (n() is `nobs`), `a` holds A from y - offset - X shift, and beta0 = shift.
  ModelState(ModelFrame coding, Method m, std::vector<std::vector<Block>> a, Eigen::VectorXd shift,
             std::size_t nobs);
  std::size_t nobs = 0;  // rows behind A (frame.n(), or the accumulated count without rows)
  void init_terms();     // q, nlev, theta's layout and lme4's start
  // The types of L's blocks, then the factor at the start. Without `factor_start`, where the
  // model has several terms and a dense block (an evaluation that costs a dense factorisation),
  // L's blocks only take their shapes and patterns there (scale_blocks()) and the factor waits for
  // the first set_theta(): the optimizer's choices read only those (use_lbfgs, use_newton), and
  // until then objective() is NaN and factor_ok false. Everything after is the same to the bit.
  void analyse(bool factor_start = true);
  void scale_blocks();   // L's blocks from A at λ, before the downdates and factorisations

  void set_lambda(const std::vector<double>& th);
  void update_L();
  double compute_objective() const;

  // Downdates of dense diagonal blocks by a first term with one effect per level, by groups of
  // its levels with equal counts (src/model/grouped_downdate.cpp).
  struct GroupedDowndate {
    std::vector<double> alpha;     // the distinct A_00(c)
    std::vector<detail::Mat> B;    // per distinct value: Σ_c A_i0(:, c) A_i0(:, c)'
  };
  std::vector<GroupedDowndate> grouped;  // per term; empty B: scatter instead
  // The row lists of L[j][k] for the downdate of a large dense L[j][j], per pair j * (K + 1) + k,
  // kept between evaluations (the blocks' patterns do not change).
  std::vector<detail::DowndatePlan> downdate_plans;
  void setup_grouped_downdates();
  /// L[i][i] -= L[i][0] L[i][0]' if term i has a grouped downdate; false otherwise.
  bool grouped_downdate(int i);

  // One term: the factor in one sweep over the levels with fixed-size kernels
  // (src/model/single_term.cpp).
  void update_L_single();
  /// True when the analytic gradient is implemented for this model's structure: no residual
  /// structure, and no sparse-Cholesky diagonal block (the selected inverse has no kernel for it).
  bool has_gradient() const;
  /// The gradient for several terms, from the selected inverse of the factor (src/model/multi_term.cpp).
  std::vector<detail::Mat> gradient_multi() const;
  /// ∂objective/∂λ_j(r, c) for every entry of each term's λ (upper ones too), at the current
  /// factor; NaN if the factor failed (src/model/single_term.cpp).
  std::vector<detail::Mat> gradient_full() const;
  std::vector<detail::Mat> gradient_full_uncached() const;
  /// The gradient with respect to θ (the lower triangles of gradient_full(), then the residual
  /// structure's gradient_residual()).
  std::vector<double> gradient() const;
  /// ∂objective/∂η for the residual structure's free parameters η at the current factor (one
  /// term; empty without them).
  std::vector<double> gradient_residual() const;
  /// A moment estimate of each term's relative covariance Σ_j/σ² to start the optimizer from
  /// (src/model/start.cpp); empty if there is none.
  std::vector<detail::Mat> moment_covariance() const;
  /// The joint estimate behind moment_covariance() for several terms of one effect each, from the
  /// OLS fit (R: Cholesky factor of [X y]'[X y], beta, e'e).
  std::vector<detail::Mat> scalar_terms_moment(const detail::Mat& R, const Eigen::VectorXd& beta,
                                               double ee) const;

  /// Throws lmm::Error naming `operation` when release_cross_products() freed A (lmm/statistics.h).
  void require_cross_products(const char* operation) const;

  std::size_t n() const { return nobs; }
  std::size_t p() const { return frame.p(); }
  const detail::Mat& LKK() const { return std::get<detail::Mat>(L[K][K]); }
  double pwrss() const;
  double sigma() const;
  Eigen::VectorXd beta() const;        // the fixed effects (beta0 added back)
  Eigen::VectorXd beta_shifted() const;  // beta - beta0, as the factor holds it
  std::vector<Eigen::VectorXd> u() const;  // spherical random effects per term
  detail::Mat vcov_unscaled() const;       // (R_X R_X')⁻¹
};

/// y - X beta0 with beta0 the least-squares fit of `response` on f's X refined once (the response
/// shift that keeps r²'s digits, model.cpp); throws lmm::Error for a constant response or one that
/// X explains exactly.
std::vector<double> response_shift(const ModelFrame& f, const std::vector<double>& response, Eigen::VectorXd& beta0);

/// Builds A = [Z X y]'[Z X y] in blocks from the rows (src/model/cross_products.cpp).
/// y: the response the blocks are built from (y - X beta0, see response_shift() in model.cpp).
void build_cross_products(const ModelFrame& f, const double* y, std::vector<std::vector<Block>>& A);

// The optimizer works in a better-conditioned parametrisation than lme4's θ. For each term, the
// columns of its model matrix are transformed z̃ = z S with S = √n R⁻¹ (R from z'z = R'R, read off
// the diagonal block of A, no pass over the rows), so that z̃ has orthogonal columns of unit
// scale: the intercept and a slope on `time + 100` or `1e6 * time` become uncorrelated, unit-scale
// effects. The likelihood is the same; only the coordinates differ: b = S b̃, so
// λλ' = S λ̃λ̃' S', and λ is recovered as the lower-triangular factor of that product (by a QR of
// (Sλ̃)', which also works at the boundary where it is singular). lme4 optimises in θ directly and
// stalls on such scalings ("Model failed to converge", "nearly unidentifiable").
class ThetaMap {
 public:
  explicit ThetaMap(const detail::ModelState& m);
  std::vector<double> to_theta(const std::vector<double>& conditioned) const;  ///< θ̃ -> θ
  std::vector<double> from_theta(const std::vector<double>& theta) const;      ///< θ -> θ̃
  /// θ̃ whose λλ' is each term's relative covariance `cov[j]`, made positive definite in the
  /// conditioned coordinates (eigenvalues raised to a floor) so that it is away from the bound.
  std::vector<double> from_covariance(const std::vector<Mat>& cov) const;
  /// The gradient with respect to θ̃ at θ̃ = `conditioned`, from J_j = ∂objective/∂λ_j (all
  /// entries) at λ = to_theta(conditioned).
  std::vector<double> gradient_conditioned(const std::vector<double>& conditioned,
                                           const std::vector<Mat>& J) const;
  /// Term j's S (λλ' = S λ̃λ̃' S').
  const Mat& scale(int j) const { return S_[static_cast<std::size_t>(j)]; }

 private:
  std::vector<double> apply(const std::vector<double>& in, const std::vector<Mat>& T) const;
  std::vector<int> q_, offset_;
  std::vector<Mat> S_, Sinv_;
};

/// The objective's gradient with respect to the conditioned coordinates x (θ̃, then η) at the
/// model's current factor (which must be at map.to_theta(x)); needs has_gradient().
std::vector<double> conditioned_gradient(const ModelState& m, const ThetaMap& map, const std::vector<double>& x);
/// conditioned_gradient() as an Eigen vector (the Newton optimizer's and the convergence check's).
inline Eigen::VectorXd conditioned_gradient_vector(const ModelState& m, const ThetaMap& map, const std::vector<double>& x) {
  const std::vector<double> g = conditioned_gradient(m, map, x);
  return Eigen::Map<const Eigen::VectorXd>(g.data(), static_cast<Eigen::Index>(g.size()));
}

}  // namespace lmm::detail
