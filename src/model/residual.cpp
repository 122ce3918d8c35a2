// The residual covariance's pairs of rows, coefficients and log-determinant (see residual.h).
#include "model/residual.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "lmm/error.h"
#include "util/group_order.h"

namespace lmm::detail {

namespace {

double logistic(double x) { return 1 / (1 + std::exp(-x)); }
double logit(double p) { return std::log(p / (1 - p)); }

// C's rows and columns `v`.
Mat submatrix(const Mat& C, const std::vector<int>& v) {
  const auto m = static_cast<Eigen::Index>(v.size());
  Mat out(m, m);
  for (Eigen::Index a = 0; a < m; ++a)
    for (Eigen::Index b = 0; b < m; ++b) out(a, b) = C(v[static_cast<std::size_t>(a)], v[static_cast<std::size_t>(b)]);
  return out;
}

// The index of `v` among the distinct `values` (appended if new), its count incremented.
template <class T>
int count_value(std::vector<T>& values, std::vector<double>& counts, const T& v) {
  for (std::size_t g = 0; g < values.size(); ++g)
    if (values[g] == v) {
      counts[g] += 1;
      return static_cast<int>(g);
    }
  values.push_back(v);
  counts.push_back(1);
  return static_cast<int>(values.size() - 1);
}

// us: C = L L' with row i of L = (η_i0, ..., η_i,i-1, 1) / its norm (unit diagonal for any η).
Mat correlation_from_eta(const double* eta, int V) {
  Mat L = Mat::Zero(V, V);
  for (int i = 0, k = 0; i < V; ++i) {
    for (int j = 0; j < i; ++j) L(i, j) = eta[k++];
    L(i, i) = 1;
    L.row(i) /= L.row(i).norm();
  }
  return L * L.transpose();
}

std::vector<double> eta_from_correlation(const Mat& C) {
  Eigen::LLT<Mat> llt(C);
  if (llt.info() != Eigen::Success) throw Error("ResidualOptions::value: the correlations are not positive definite");
  const Mat L = llt.matrixL();
  std::vector<double> eta;
  for (Eigen::Index i = 1; i < C.rows(); ++i)
    for (Eigen::Index j = 0; j < i; ++j) eta.push_back(L(i, j) / L(i, i));
  return eta;
}

}  // namespace

ResidualCovariance::ResidualCovariance(const ModelFrame& f) {
  const ResidualData& r = f.residual;
  structure_ = r.options.structure;
  fixed_ = r.options.fixed;
  value_ = r.options.value;
  sd_by_ = r.options.sd_by;
  sd_levels_ = r.sd_levels;
  visit_levels_ = r.visit_levels;
  nvisits_ = static_cast<int>(r.visit_levels.size());
  if (structure_ == "ar1" || structure_ == "car1" || structure_ == "cs") nstruct_ = 1;
  if (structure_ == "us") nstruct_ = nvisits_ * (nvisits_ - 1) / 2;
  nsd_ = r.sd_by.empty() ? 1 : static_cast<int>(r.sd_levels.size());
  sd_of_row_ = r.sd_by.empty() ? std::vector<std::int32_t>(f.n(), 0) : r.sd_by;
  sd_count_.assign(static_cast<std::size_t>(nsd_), 0.0);
  for (std::int32_t l : sd_of_row_) sd_count_[static_cast<std::size_t>(l)] += 1;
  make_pairs(r, f.n());
  if (!value_.empty() && static_cast<int>(value_.size()) != nparam())
    throw Error("ResidualOptions::value has " + std::to_string(value_.size()) + " values; the structure has " +
                std::to_string(nparam()) + " parameters");
}

void ResidualCovariance::make_pairs(const ResidualData& r, std::size_t n) {
  if (structure_.empty()) {
    for (std::size_t i = 0; i < n; ++i) add(static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i), 0);
  } else {
    const bool timed = structure_ == "ar1" || structure_ == "car1", us = structure_ == "us";
    const std::vector<std::uint32_t> order = order_by_group<std::uint32_t>(r.group, [&](std::uint32_t a, std::uint32_t b) {
      if (timed) return r.time[a] < r.time[b];
      if (us) return r.visit[a] < r.visit[b];
      return a < b;
    });
    std::vector<std::uint32_t> rows;
    for (std::size_t k = 0; k < n;) {
      rows.clear();
      const std::int32_t g = r.group[order[k]];
      for (; k < n && r.group[order[k]] == g; ++k) rows.push_back(order[k]);
      group_pairs(r, rows);
    }
    if (structure_ == "cs") {
      const double m = static_cast<double>(sizes_.empty() ? 1 : *std::max_element(sizes_.begin(), sizes_.end()));
      cs_lower_ = m > 2 ? -1 / (m - 1) : -1;
    }
  }
  // Keep only the keys that occur, numbered compactly.
  std::vector<std::int64_t> compact(static_cast<std::size_t>(nstruct_keys_) * nsd_ * nsd_, -1);
  for (ResidualPair& p : pairs_) {
    auto& c = compact[p.key];
    if (c < 0) {
      c = static_cast<std::int64_t>(key_s_.size());
      key_s_.push_back(static_cast<int>(p.key / static_cast<std::uint32_t>(nsd_ * nsd_)));
      key_la_.push_back(static_cast<int>(p.key / static_cast<std::uint32_t>(nsd_)) % nsd_);
      key_lb_.push_back(static_cast<int>(p.key % static_cast<std::uint32_t>(nsd_)));
    }
    p.key = static_cast<std::uint32_t>(c);
  }
}

void ResidualCovariance::group_pairs(const ResidualData& r, std::vector<std::uint32_t>& rows) {
  const std::size_t m = rows.size();
  if (structure_ == "ar1" || structure_ == "car1") {
    add(rows[0], rows[0], 0);
    for (std::size_t j = 1; j < m; ++j) {
      const int g = gap_index(r.time[rows[j]] - r.time[rows[j - 1]]);
      add(rows[j], rows[j], 1 + 3 * g);
      add(rows[j], rows[j - 1], 2 + 3 * g);
      add(rows[j - 1], rows[j - 1], 3 + 3 * g);
    }
  } else if (structure_ == "cs") {
    const int s = 1 + size_index(m);
    for (std::size_t a = 0; a < m; ++a) {
      add(rows[a], rows[a], 0);
      for (std::size_t b = a; b < m; ++b) add(rows[a], rows[b], s);
    }
  } else {  // us
    std::vector<int> visits;
    for (std::uint32_t i : rows) visits.push_back(r.visit[i]);
    const int off = pattern_offset_[static_cast<std::size_t>(pattern_index(visits))];
    for (std::size_t a = 0, k = 0; a < m; ++a)
      for (std::size_t b = a; b < m; ++b, ++k) add(rows[a], rows[b], off + static_cast<int>(k));
  }
}

void ResidualCovariance::add(std::uint32_t a, std::uint32_t b, int s) {
  nstruct_keys_ = std::max(nstruct_keys_, s + 1);
  if (sd_of_row_[a] > sd_of_row_[b]) std::swap(a, b);
  const auto key = static_cast<std::uint32_t>(s * nsd_ * nsd_ + sd_of_row_[a] * nsd_ + sd_of_row_[b]);
  pairs_.push_back({a, b, key});
}

int ResidualCovariance::gap_index(double d) { return count_value(gaps_, gap_count_, d); }

int ResidualCovariance::size_index(std::size_t m) { return count_value(sizes_, size_count_, m); }

int ResidualCovariance::pattern_index(const std::vector<int>& visits) {
  const std::size_t before = patterns_.size();
  const int g = count_value(patterns_, pattern_count_, visits);
  if (patterns_.size() == before) return g;
  pattern_offset_.push_back(nstruct_keys_);
  const auto m = static_cast<int>(visits.size());
  nstruct_keys_ += m * (m + 1) / 2;
  return g;
}

double ResidualCovariance::natural_phi(double eta) const {
  if (structure_ == "ar1") return std::tanh(eta);
  if (structure_ == "car1") return logistic(eta);
  if (structure_ == "cs") return cs_lower_ + (1 - cs_lower_) * logistic(eta);
  return 0;
}

std::vector<double> ResidualCovariance::start() const {
  std::vector<double> nat = value_;
  if (nat.empty()) {
    nat.assign(static_cast<std::size_t>(nparam()), 0.0);
    if (structure_ == "car1" && !fixed_) nat[0] = 0.2;  // nlme's corCAR1 start
    for (int l = 1; l < nsd_; ++l) nat[static_cast<std::size_t>(nstruct_ + l - 1)] = 1.0;
  }
  for (int l = 1; l < nsd_; ++l)
    if (!(nat[static_cast<std::size_t>(nstruct_ + l - 1)] > 0)) throw Error("ResidualOptions::value: SD ratios must be positive");
  auto eta = eta_from_natural(nat);
  if (!eta)
    throw Error("ResidualOptions::value is out of range (phi and rho below 1 in absolute value, car1's phi above 0, "
                "the correlations positive definite)");
  return *eta;
}

std::optional<std::vector<double>> ResidualCovariance::eta_from_natural(const std::vector<double>& nat) const {
  std::vector<double> eta(nat.size());
  std::vector<double> lo, hi;
  natural_bounds(lo, hi);
  // (A structure fixed at its null may sit on car1's bound φ = 0: η = -inf gives φ = 0.)
  for (std::size_t k = 0; k < nat.size(); ++k)
    if (!(nat[k] > lo[k] && nat[k] < hi[k]) && !(fixed_ && nat[k] == 0)) return std::nullopt;
  if (structure_ == "ar1") eta[0] = std::atanh(nat[0]);
  if (structure_ == "car1") eta[0] = logit(nat[0]);
  if (structure_ == "cs") eta[0] = logit((nat[0] - cs_lower_) / (1 - cs_lower_));
  if (structure_ == "us") {
    Mat C = Mat::Identity(nvisits_, nvisits_);
    for (int a = 0, k = 0; a < nvisits_; ++a)
      for (int b = a + 1; b < nvisits_; ++b, ++k) C(a, b) = C(b, a) = nat[static_cast<std::size_t>(k)];
    if (Eigen::LLT<Mat>(C).info() != Eigen::Success) return std::nullopt;
    const std::vector<double> e = eta_from_correlation(C);
    std::copy(e.begin(), e.end(), eta.begin());
  }
  for (int l = 1; l < nsd_; ++l) {
    const auto k = static_cast<std::size_t>(nstruct_ + l - 1);
    eta[k] = std::log(nat[k]);
  }
  return eta;
}

std::vector<double> ResidualCovariance::natural(const double* eta) const {
  const ResidualEstimates e = estimates(eta);
  std::vector<double> out;
  if (nstruct_ == 1) out.push_back(structure_ == "cs" ? e.rho : e.phi);
  if (structure_ == "us") out = e.cor;
  for (int l = 1; l < nsd_; ++l) out.push_back(e.sd_ratios[static_cast<std::size_t>(l)]);
  return out;
}

void ResidualCovariance::natural_bounds(std::vector<double>& lo, std::vector<double>& hi) const {
  const auto np = static_cast<std::size_t>(nparam());
  lo.assign(np, -1.0);
  hi.assign(np, 1.0);
  if (structure_ == "car1") lo[0] = 0;
  if (structure_ == "cs") lo[0] = cs_lower_;
  for (auto k = static_cast<std::size_t>(nstruct_); k < np; ++k) {
    lo[k] = 0;
    hi[k] = std::numeric_limits<double>::infinity();
  }
}

std::vector<std::string> ResidualCovariance::natural_names() const {
  std::vector<std::string> out;
  if (nstruct_ == 1) out.emplace_back(structure_ == "cs" ? "rho" : "phi");
  if (structure_ == "us")
    for (int a = 0; a < nvisits_; ++a)
      for (int b = a + 1; b < nvisits_; ++b) out.push_back("cor:" + visit_levels_[a] + "," + visit_levels_[b]);
  for (int l = 1; l < nsd_; ++l) out.push_back("sd_ratio:" + sd_levels_[static_cast<std::size_t>(l)]);
  return out;
}

Mat ResidualCovariance::us_correlation(const double* eta) const { return correlation_from_eta(eta, nvisits_); }

std::vector<double> ResidualCovariance::struct_coefficients(const double* eta) const {
  std::vector<double> sc(static_cast<std::size_t>(nstruct_keys_), 0.0);
  sc[0] = 1;
  if (structure_ == "ar1" || structure_ == "car1") {
    const double phi = natural_phi(eta[0]);
    for (std::size_t g = 0; g < gaps_.size(); ++g) {
      const double rho = std::pow(phi, gaps_[g]), d = 1 - rho * rho;
      sc[1 + 3 * g] = 1 / d;
      sc[2 + 3 * g] = -rho / d;
      sc[3 + 3 * g] = rho * rho / d;
    }
  } else if (structure_ == "cs") {
    const double rho = natural_phi(eta[0]);
    sc[0] = 1 / (1 - rho);
    for (std::size_t g = 0; g < sizes_.size(); ++g) {
      const double m = static_cast<double>(sizes_[g]);
      sc[1 + g] = -(rho / (1 - rho + m * rho)) / (1 - rho);
    }
  } else if (structure_ == "us") {
    const Mat C = us_correlation(eta);
    for (std::size_t p = 0; p < patterns_.size(); ++p) {
      const Mat Cp = submatrix(C, patterns_[p]);
      const Eigen::Index m = Cp.rows();
      const Mat W = Cp.llt().solve(Mat::Identity(m, m));
      for (Eigen::Index a = 0, k = 0; a < m; ++a)
        for (Eigen::Index b = a; b < m; ++b, ++k) sc[static_cast<std::size_t>(pattern_offset_[p] + k)] = W(a, b);
    }
  }
  return sc;
}

std::vector<double> ResidualCovariance::coefficients(const double* eta) const {
  const std::vector<double> sc = struct_coefficients(eta);
  std::vector<double> delta(static_cast<std::size_t>(nsd_), 1.0);
  for (int l = 1; l < nsd_; ++l) delta[static_cast<std::size_t>(l)] = std::exp(eta[nstruct_ + l - 1]);
  std::vector<double> c(key_s_.size());
  for (std::size_t k = 0; k < c.size(); ++k)
    c[k] = sc[static_cast<std::size_t>(key_s_[k])] /
           (delta[static_cast<std::size_t>(key_la_[k])] * delta[static_cast<std::size_t>(key_lb_[k])]);
  return c;
}

double ResidualCovariance::logdet(const double* eta) const {
  double ld = struct_logdet(eta);
  for (int l = 1; l < nsd_; ++l) ld += 2 * sd_count_[static_cast<std::size_t>(l)] * eta[nstruct_ + l - 1];
  return std::isfinite(ld) ? ld : std::numeric_limits<double>::infinity();
}

double ResidualCovariance::struct_logdet(const double* eta) const {
  double ld = 0;
  if (structure_ == "ar1" || structure_ == "car1") {
    const double phi = natural_phi(eta[0]);
    for (std::size_t g = 0; g < gaps_.size(); ++g) {
      const double rho = std::pow(phi, gaps_[g]);
      ld += gap_count_[g] * std::log1p(-rho * rho);
    }
  } else if (structure_ == "cs") {
    const double rho = natural_phi(eta[0]);
    for (std::size_t g = 0; g < sizes_.size(); ++g) {
      const double m = static_cast<double>(sizes_[g]);
      ld += size_count_[g] * ((m - 1) * std::log1p(-rho) + std::log1p((m - 1) * rho));
    }
  } else if (structure_ == "us") {
    const Mat C = us_correlation(eta);
    for (std::size_t p = 0; p < patterns_.size(); ++p) {
      Eigen::LLT<Mat> llt(submatrix(C, patterns_[p]));
      if (llt.info() != Eigen::Success) return std::numeric_limits<double>::infinity();
      const Mat Lp = llt.matrixL();
      ld += pattern_count_[p] * 2 * Lp.diagonal().array().log().sum();
    }
  }
  return ld;
}

// ar1/car1 (ρ = φ^d per gap d): the coefficients 1/D, -ρ/D, ρ²/D with D = 1 - ρ² have derivatives
// 2ρ/D², -(1 + ρ²)/D², 2ρ/D² in ρ, and log D has -2ρ/D; cs: 1/(1-ρ) has 1/(1-ρ)², the pair
// coefficient -ρ/((1-ρ)(1+(m-1)ρ)) has -(1 + (m-1)ρ²)/((1-ρ)(1+(m-1)ρ))², and (m-1)log(1-ρ) +
// log(1+(m-1)ρ) has (m-1)(1/(1+(m-1)ρ) - 1/(1-ρ)). us: central differences of the coefficients
// (each a smooth function of η, cheap to evaluate).
void ResidualCovariance::struct_derivatives(const double* eta, Mat& dsc, std::vector<double>& dld) const {
  dsc = Mat::Zero(nstruct_keys_, nstruct_);
  dld.assign(static_cast<std::size_t>(nstruct_), 0.0);
  if (structure_ == "ar1" || structure_ == "car1") {
    const double phi = natural_phi(eta[0]);
    const double dphi = structure_ == "ar1" ? 1 - phi * phi : phi * (1 - phi);
    for (std::size_t g = 0; g < gaps_.size(); ++g) {
      const double d = gaps_[g], rho = std::pow(phi, d), D = 1 - rho * rho;
      const double drho = d * std::pow(phi, d - 1) * dphi;
      const auto k = static_cast<Eigen::Index>(3 * g);
      dsc(1 + k, 0) = 2 * rho / (D * D) * drho;
      dsc(2 + k, 0) = -(1 + rho * rho) / (D * D) * drho;
      dsc(3 + k, 0) = 2 * rho / (D * D) * drho;
      dld[0] += gap_count_[g] * (-2 * rho / D) * drho;
    }
  } else if (structure_ == "cs") {
    const double s = logistic(eta[0]), rho = cs_lower_ + (1 - cs_lower_) * s;
    const double drho = (1 - cs_lower_) * s * (1 - s);
    dsc(0, 0) = drho / ((1 - rho) * (1 - rho));
    for (std::size_t g = 0; g < sizes_.size(); ++g) {
      const double m = static_cast<double>(sizes_[g]), h = (1 - rho) * (1 + (m - 1) * rho);
      dsc(static_cast<Eigen::Index>(1 + g), 0) = -(1 + (m - 1) * rho * rho) / (h * h) * drho;
      dld[0] += size_count_[g] * (m - 1) * (1 / (1 + (m - 1) * rho) - 1 / (1 - rho)) * drho;
    }
  } else if (structure_ == "us") {
    std::vector<double> e(eta, eta + nparam());
    for (int j = 0; j < nstruct_; ++j) {
      const double h = 1e-5 * std::max(1.0, std::abs(eta[j]));
      e[static_cast<std::size_t>(j)] = eta[j] + h;
      const std::vector<double> sp = struct_coefficients(e.data());
      const double lp = struct_logdet(e.data());
      e[static_cast<std::size_t>(j)] = eta[j] - h;
      const std::vector<double> sm = struct_coefficients(e.data());
      const double lm = struct_logdet(e.data());
      e[static_cast<std::size_t>(j)] = eta[j];
      for (std::size_t k = 0; k < sp.size(); ++k) dsc(static_cast<Eigen::Index>(k), j) = (sp[k] - sm[k]) / (2 * h);
      dld[static_cast<std::size_t>(j)] = (lp - lm) / (2 * h);
    }
  }
}

Mat ResidualCovariance::coefficient_jacobian(const double* eta) const {
  Mat dsc;
  std::vector<double> dld;
  struct_derivatives(eta, dsc, dld);
  const std::vector<double> c = coefficients(eta);
  std::vector<double> delta(static_cast<std::size_t>(nsd_), 1.0);
  for (int l = 1; l < nsd_; ++l) delta[static_cast<std::size_t>(l)] = std::exp(eta[nstruct_ + l - 1]);
  Mat J = Mat::Zero(static_cast<Eigen::Index>(c.size()), nparam());
  for (std::size_t k = 0; k < c.size(); ++k) {
    const auto r = static_cast<Eigen::Index>(k);
    const int la = key_la_[k], lb = key_lb_[k];
    const double dd = delta[static_cast<std::size_t>(la)] * delta[static_cast<std::size_t>(lb)];
    for (int j = 0; j < nstruct_; ++j) J(r, j) = dsc(key_s_[k], j) / dd;
    // c_k = sc / (δ_a δ_b) with δ_l = exp(η_l): ∂c_k/∂η_l = -c_k ([a = l] + [b = l]).
    for (int l = 1; l < nsd_; ++l) J(r, nstruct_ + l - 1) = -c[k] * ((la == l ? 1.0 : 0.0) + (lb == l ? 1.0 : 0.0));
  }
  return J;
}

std::vector<double> ResidualCovariance::logdet_gradient(const double* eta) const {
  Mat dsc;
  std::vector<double> g;
  struct_derivatives(eta, dsc, g);
  for (int l = 1; l < nsd_; ++l) g.push_back(2 * sd_count_[static_cast<std::size_t>(l)]);
  return g;
}

ResidualEstimates ResidualCovariance::estimates(const double* eta) const {
  ResidualEstimates e;
  e.structure = structure_;
  if (structure_ == "ar1" || structure_ == "car1") e.phi = natural_phi(eta[0]);
  if (structure_ == "cs") e.rho = natural_phi(eta[0]);
  if (structure_ == "us") {
    e.visit_levels = visit_levels_;
    const Mat C = us_correlation(eta);
    for (int a = 0; a < nvisits_; ++a)
      for (int b = a + 1; b < nvisits_; ++b) e.cor.push_back(C(a, b));
  }
  e.sd_by = sd_by_;
  if (!sd_by_.empty()) {
    e.sd_levels = sd_levels_;
    e.sd_ratios.push_back(1.0);
    for (int l = 1; l < nsd_; ++l) e.sd_ratios.push_back(std::exp(eta[nstruct_ + l - 1]));
  }
  return e;
}

}  // namespace lmm::detail
