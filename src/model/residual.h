// The residual covariance σ² D R(φ) D of ModelFrameOptions::residual inside the model (not a
// public header).
//
// Whitening by (D R D)^{-1/2} makes the model a plain LMM, and its cross-products
// [Z X y]' (D R D)⁻¹ [Z X y] are a linear combination Σ_k c_k(φ, δ) A_k of matrices formed once:
// every structure here has a precision matrix per group whose entries are a few known functions
// of the parameters times fixed pairs of rows:
//   - ar1/car1 (rows of a group sorted by time, gap d = t_j − t_{j−1}, ρ = φ^d): the precision
//     is tridiagonal, 1 for the first row, 1/(1−ρ²) on a row after a gap d, −ρ/(1−ρ²) on the pair,
//     ρ²/(1−ρ²) on the row before; one key per distinct gap and role; log|R| = Σ log(1−ρ²);
//   - cs (group of size m): (I − c_m 11')/(1−ρ), c_m = ρ/(1−ρ+mρ): one key for the diagonal and
//     one per distinct group size for all pairs of the group;
//   - us: per pattern of visits present, (C_P)⁻¹[k, l] on the pair of rows at visits k and l;
//   - SD ratios δ: the pair's key is also split by the SD levels of its two rows, c/(δ_a δ_b).
// The pairs couple rows of a group, so a random-effects term whose level changes within a group
// (crossed with it) gets a non-block-diagonal Z'R⁻¹Z (stored sparse and factored densely).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "linalg/blocks.h"
#include "lmm/model_frame.h"
#include "lmm/simulate.h"

namespace lmm::detail {

struct ResidualPair {
  std::uint32_t a, b;  // rows (a == b: a diagonal entry)
  std::uint32_t key;
};

class ResidualCovariance {
 public:
  explicit ResidualCovariance(const ModelFrame& f);

  /// Number of parameters (structure's, then log SD ratios of the levels after the first).
  int nparam() const { return nstruct_ + nsd_ - 1; }
  /// The unconstrained parameters at ResidualOptions::value, or at the null where it is empty.
  std::vector<double> start() const;
  bool fixed() const { return fixed_; }
  std::size_t nkeys() const { return key_s_.size(); }
  const std::vector<ResidualPair>& pairs() const { return pairs_; }
  /// c_k at the unconstrained parameters `eta` (nparam() values).
  std::vector<double> coefficients(const double* eta) const;
  /// log|D R D| at `eta`.
  double logdet(const double* eta) const;
  /// ∂c_k/∂η_j at `eta` (nkeys() x nparam()).
  Mat coefficient_jacobian(const double* eta) const;
  /// ∂log|D R D|/∂η at `eta`.
  std::vector<double> logdet_gradient(const double* eta) const;
  ResidualEstimates estimates(const double* eta) const;
  /// The parameters in natural units at `eta`, in ResidualOptions::value's order (φ or ρ, or the us
  /// correlations of the pairs (1,2), (1,3), ..., then the SD ratios of the levels after the first).
  std::vector<double> natural(const double* eta) const;
  /// The unconstrained parameters at natural values `nat`; nothing where they are out of range
  /// (|φ| ≥ 1, a correlation matrix not positive definite, an SD ratio ≤ 0).
  std::optional<std::vector<double>> eta_from_natural(const std::vector<double>& nat) const;
  /// The natural values' open ranges, and their names ("phi", "rho", "cor:v1,v2", "sd_ratio:level").
  void natural_bounds(std::vector<double>& lo, std::vector<double>& hi) const;
  std::vector<std::string> natural_names() const;
  /// The correlation matrix of the visits (us) at `eta`.
  Mat us_correlation(const double* eta) const;

 private:
  void make_pairs(const ResidualData& r, std::size_t n);
  void group_pairs(const ResidualData& r, std::vector<std::uint32_t>& rows);
  void add(std::uint32_t a, std::uint32_t b, int s);
  int gap_index(double d);
  int size_index(std::size_t m);
  int pattern_index(const std::vector<int>& visits);
  double natural_phi(double eta) const;
  std::vector<double> struct_coefficients(const double* eta) const;
  double struct_logdet(const double* eta) const;
  /// ∂(structure coefficients)/∂η_j and ∂(log|R|)/∂η_j for the structure's parameters j.
  void struct_derivatives(const double* eta, Mat& dsc, std::vector<double>& dld) const;

  std::string structure_;
  bool fixed_ = false;
  std::vector<double> value_;
  int nstruct_ = 0;        // structure parameters
  int nstruct_keys_ = 1;   // coefficients of the structure
  int nsd_ = 1;            // SD levels (1: none)
  double cs_lower_ = -1;   // cs: ρ > -1/(m_max - 1)
  int nvisits_ = 0;
  std::vector<std::int32_t> sd_of_row_;
  std::vector<double> sd_count_;
  std::vector<double> gaps_, gap_count_;  // ar1/car1: distinct gaps and their pair counts
  std::vector<std::size_t> sizes_;        // cs: distinct group sizes
  std::vector<double> size_count_;
  std::vector<std::vector<int>> patterns_;  // us: visits present, sorted
  std::vector<int> pattern_offset_;         // us: first key of each pattern
  std::vector<double> pattern_count_;
  std::vector<ResidualPair> pairs_;
  std::vector<int> key_s_, key_la_, key_lb_;  // per compact key: structure coefficient, SD levels
  std::vector<std::string> visit_levels_, sd_levels_;
  std::string sd_by_;
};

/// The rows of each group of the structure (each row alone without one) in the structure's order
/// (time, visit, or row order for cs), and D R D on each at `eta` (the inverse of the
/// coefficients on the group's pairs of rows).
struct ResidualGroups {
  std::vector<std::vector<std::uint32_t>> rows;
  std::vector<Mat> omega;
};
ResidualGroups residual_groups(const ModelFrame& f, const ResidualCovariance& rc, const double* eta);

/// Per group, its rows and the Cholesky factor of D R D at `eta`, for simulating residuals.
std::vector<SimulationDesign::ResidualBlock> residual_blocks(const ModelFrame& f, const ResidualCovariance& rc,
                                                             const double* eta);
/// The same for the rows `rows` of new data from a saved model's structure (its `value` the
/// estimates): their groups, times, visits and SD levels coded against the saved levels; lmm::Error
/// naming the column and row for a missing or unknown value or a time repeated within a group.
std::vector<SimulationDesign::ResidualBlock> saved_residual_blocks(const ResidualData& saved, const DataFrame& data,
                                                                   const std::vector<std::size_t>& rows);

/// Per row of `rows` of new data, the saved model's residual SD ratio δ of the row's level of
/// ResidualOptions::sd_by (1 without one); lmm::Error naming the column and row for a missing or
/// unknown level.
std::vector<double> saved_sd_ratios(const ResidualData& saved, const DataFrame& data, const std::vector<std::size_t>& rows);

/// Per key k, the blocks of A_k = Σ_{pairs of key k} [Z X y]_a' [Z X y]_b (+ transpose), in A's
/// layout; diagonal blocks of terms in `coupled` are sparse, and every sparse block of one position
/// has the same pattern in all keys (so that combining them adds value arrays).
std::vector<std::vector<std::vector<Block>>> residual_cross_products(const ModelFrame& f, const double* y,
                                                                     const ResidualCovariance& rc,
                                                                     const std::vector<bool>& coupled);
/// Which terms have a level that changes between the two rows of a pair.
std::vector<bool> coupled_terms(const ModelFrame& f, const ResidualCovariance& rc);
/// A = Σ_k c_k A_k.
void combine_cross_products(const std::vector<std::vector<std::vector<Block>>>& Ak, const std::vector<double>& c,
                            std::vector<std::vector<Block>>& A);

}  // namespace lmm::detail
