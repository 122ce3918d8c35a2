// The GLMM's deviance: PIRLS for the conditional modes and the Laplace / adaptive Gauss-Hermite
// approximation at them (Bates et al., lme4's glmer; MixedModels.jl's pirls!). Each PIRLS step
// is one pass over the rows (μ, working weights and residuals), the product M = Λ'Z'WZΛ + I with
// the fixed pattern of ZΛ, and a numeric refactorization of M on the symbolic analysis made once.
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>

#include "glmm/glmm_impl.h"
#include "lmm/error.h"
#include "util/parallel.h"

namespace lmm {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::size_t kRowsPerChunk = 8192;

// f(begin, end) on chunks of the n rows, on the engine's threads.
template <class F>
void for_row_chunks(std::size_t n, F&& f) {
  const int nc = detail::chunk_count(n, kRowsPerChunk);
  if (nc == 1) return f(std::size_t{0}, n);
  detail::parallel_for(nc, [&](int c) { f(detail::chunk_begin(n, nc, c), detail::chunk_begin(n, nc, c + 1)); });
}

// The sum of f(begin, end) over the chunks, added in chunk order (the same with any thread count).
template <class F>
double sum_row_chunks(std::size_t n, F&& f) {
  const int nc = detail::chunk_count(n, kRowsPerChunk);
  if (nc == 1) return f(std::size_t{0}, n);
  std::vector<double> part(static_cast<std::size_t>(nc));
  detail::parallel_for(nc, [&](int c) {
    part[static_cast<std::size_t>(c)] = f(detail::chunk_begin(n, nc, c), detail::chunk_begin(n, nc, c + 1));
  });
  double s = 0;
  for (double x : part) s += x;
  return s;
}
}  // namespace

GlmmModel::GlmmModel(ModelFrame frame, std::vector<double> y, std::vector<double> pw, glmm_detail::Family family)
    : frame_(std::move(frame)),
      y_(std::move(y)),
      pw_(std::move(pw)),
      family_(family),
      X_(frame_.X.data(), static_cast<Eigen::Index>(frame_.n()), static_cast<Eigen::Index>(frame_.p())) {
  const auto nrow = static_cast<Eigen::Index>(n());
  offset_ = Eigen::VectorXd::Zero(nrow);
  for (std::size_t i = 0; i < frame_.offset.size(); ++i) offset_[static_cast<Eigen::Index>(i)] = frame_.offset[i];
  int th = 0;
  std::vector<Eigen::Triplet<double>> trip;
  for (const ReTermData& t : frame_.re) {
    Term tm;
    tm.q = t.q();
    tm.nlev = static_cast<Eigen::Index>(t.nlevels());
    tm.col0 = nre_;
    tm.theta0 = th;
    th += tm.q * (tm.q + 1) / 2;
    nre_ += tm.nlev * tm.q;
    terms_.push_back(tm);
  }
  for (Eigen::Index i = 0; i < nrow; ++i)
    for (std::size_t j = 0; j < terms_.size(); ++j) {
      const Term& tm = terms_[j];
      const Eigen::Index col = tm.col0 + frame_.re[j].refs[static_cast<std::size_t>(i)] * tm.q;
      for (int a = 0; a < tm.q; ++a) trip.emplace_back(i, col + a, 1.0);
    }
  zl_.resize(nrow, nre_);
  zl_.setFromTriplets(trip.begin(), trip.end());
  zl_.makeCompressed();
  setup_scatter();
  setup_response_constants();
  theta_ = theta_start();
  beta_ = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p()));
  u_ = Eigen::VectorXd::Zero(nre_);
  update_zl_values();
}

void GlmmModel::setup_response_constants() {
  log_constant_ = 0;
  binary_logit_ = family_.family() == GlmmFamily::Binomial && family_.link() == GlmmLink::Logit;
  for (std::size_t i = 0; i < n(); ++i) {
    log_constant_ += family_.minus_two_log_constant(y_[i], pw_[i]) + family_.minus_two_saturated_kernel(y_[i], pw_[i]);
    binary_logit_ = binary_logit_ && pw_[i] == 1 && (y_[i] == 0 || y_[i] == 1);
  }
}

void GlmmModel::set_response(std::vector<double> y) {
  if (y.size() != y_.size()) throw Error("GlmmModel::set_response: the response has a different number of rows");
  y_ = std::move(y);
  setup_response_constants();
}

Eigen::VectorXd GlmmModel::eta_at(const Eigen::VectorXd& u) const {
  Eigen::VectorXd eta;
  linear_predictor(u, X_ * beta_ + offset_, eta);
  return eta;
}

std::vector<double> GlmmModel::theta_start() const {
  std::vector<double> th;
  for (const Term& t : terms_)
    for (int c = 0; c < t.q; ++c)
      for (int r = c; r < t.q; ++r) th.push_back(r == c ? 1.0 : 0.0);
  return th;
}

std::vector<double> GlmmModel::theta_lower() const {
  std::vector<double> lo = theta_start();
  for (double& x : lo) x = x == 1.0 ? 0.0 : -kInf;
  return lo;
}

std::vector<Eigen::MatrixXd> GlmmModel::lambda() const {
  std::vector<Eigen::MatrixXd> out;
  for (const Term& t : terms_) {
    Eigen::MatrixXd l = Eigen::MatrixXd::Zero(t.q, t.q);
    for (int c = 0, k = t.theta0; c < t.q; ++c)
      for (int r = c; r < t.q; ++r, ++k) l(r, c) = theta_[static_cast<std::size_t>(k)];
    out.push_back(l);
  }
  return out;
}

std::vector<double> GlmmModel::sdcor() const {
  std::vector<double> v;
  const auto lam = lambda();
  for (std::size_t j = 0; j < terms_.size(); ++j) {
    const Eigen::MatrixXd S = lam[j] * lam[j].transpose();
    for (int c = 0; c < terms_[j].q; ++c)
      for (int r = c; r < terms_[j].q; ++r) {
        const double d = std::sqrt(S(r, r) * S(c, c));
        v.push_back(r == c ? std::sqrt(S(c, c)) : d > 0 ? S(r, c) / d : 0.0);
      }
  }
  return v;
}

std::vector<std::string> GlmmModel::sdcor_names() const {
  std::vector<std::string> names;
  for (const ReTermData& t : frame_.re)
    for (int c = 0; c < t.q(); ++c)
      for (int r = c; r < t.q(); ++r)
        names.push_back(r == c ? "sd_" + t.names[std::size_t(c)] + "|" + t.group
                               : "cor_" + t.names[std::size_t(r)] + "." + t.names[std::size_t(c)] + "|" + t.group);
  return names;
}

void GlmmModel::set_theta(const std::vector<double>& theta) {
  if (theta == theta_) return;  // ZΛ holds this θ's values (the derivatives' points in β)
  theta_ = theta;
  update_zl_values();
}

void GlmmModel::set_beta(const Eigen::VectorXd& beta) { beta_ = beta; }

// Row i of ZΛ for term j: z_i'λ_j at the level's q columns (row i's entries are stored term by
// term, in column order).
void GlmmModel::update_zl_values() {
  const std::vector<Eigen::MatrixXd> lam = lambda();
  double* v = zl_.valuePtr();
  const std::size_t nrow = n();
  for (std::size_t i = 0; i < nrow; ++i)
    for (std::size_t j = 0; j < terms_.size(); ++j) {
      const int q = terms_[j].q;
      const double* z = frame_.re[j].z.data() + i * static_cast<std::size_t>(q);
      for (int a = 0; a < q; ++a) {
        double s = 0;
        for (int r = a; r < q; ++r) s += z[r] * lam[j](r, a);
        *v++ = s;
      }
    }
}

// η = fixed + ZΛu, row by row over ZΛ's fixed pattern (per_row_ entries a row).
void GlmmModel::linear_predictor(const Eigen::VectorXd& u, const Eigen::VectorXd& fixed, Eigen::VectorXd& eta) const {
  eta.resize(fixed.size());
  const double* v = zl_.valuePtr();
  const int* cols = zl_.innerIndexPtr();
  const auto r = static_cast<std::size_t>(per_row_);
  for_row_chunks(n(), [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      double s = fixed[Eigen::Index(i)];
      for (std::size_t a = i * r; a < (i + 1) * r; ++a) s += v[a] * u[cols[a]];
      eta[Eigen::Index(i)] = s;
    }
  });
}

void GlmmModel::update_weights() {
  const auto nrow = static_cast<Eigen::Index>(n());
  w_.resize(nrow);
  wres_.resize(nrow);
  for_row_chunks(n(), [&](std::size_t b, std::size_t e) {
    for (std::size_t k = b; k < e; ++k) {
      const auto i = static_cast<Eigen::Index>(k);
      if (binary_logit_ && std::abs(eta_[i]) <= 30) {  // Family::working's weight d²/V(μ) with d = V(μ) = μ(1 - μ)
        const double d = mu_[i] * (1 - mu_[i]);
        w_[i] = d;
        wres_[i] = (y_[k] - mu_[i]) / d;
        continue;
      }
      const auto r = family_.working(eta_[i], mu_[i], y_[k], pw_[k]);
      w_[i] = r.weight;
      wres_[i] = r.residual;
    }
  });
}

void GlmmModel::setup_scatter() {
  per_row_ = 0;
  for (const Term& t : terms_) per_row_ += t.q;
  pairs_ = per_row_ * (per_row_ + 1) / 2;
  const auto nrow = static_cast<Eigen::Index>(n());
  std::vector<Eigen::Triplet<double>> trip;
  for (Eigen::Index j = 0; j < nre_; ++j) trip.emplace_back(j, j, 1.0);
  const int* cols = zl_.innerIndexPtr();
  for (Eigen::Index i = 0; i < nrow; ++i)
    for (int a = 0; a < per_row_; ++a)
      for (int b = 0; b <= a; ++b) trip.emplace_back(cols[i * per_row_ + a], cols[i * per_row_ + b], 1.0);
  M_.resize(nre_, nre_);
  M_.setFromTriplets(trip.begin(), trip.end());
  M_.makeCompressed();
  auto position = [this](int r, int c) {
    const int* begin = M_.innerIndexPtr() + M_.outerIndexPtr()[c];
    const int* end = M_.innerIndexPtr() + M_.outerIndexPtr()[c + 1];
    return static_cast<int>(std::lower_bound(begin, end, r) - M_.innerIndexPtr());
  };
  diag_.resize(static_cast<std::size_t>(nre_));
  for (Eigen::Index j = 0; j < nre_; ++j) diag_[static_cast<std::size_t>(j)] = position(int(j), int(j));
  scatter_.resize(static_cast<std::size_t>(nrow) * static_cast<std::size_t>(pairs_));
  std::size_t k = 0;
  for (Eigen::Index i = 0; i < nrow; ++i)
    for (int a = 0; a < per_row_; ++a)
      for (int b = 0; b <= a; ++b) scatter_[k++] = position(cols[i * per_row_ + a], cols[i * per_row_ + b]);
  setup_blocks();
  if (!blocked_) chol_.analyzePattern(M_);
}

bool GlmmModel::factor() {
  double* m = M_.valuePtr();
  std::fill(m, m + M_.nonZeros(), 0.0);
  for (int d : diag_) m[d] = 1.0;
  const double* v = zl_.valuePtr();
  const int* sc = scatter_.data();
  const auto nrow = static_cast<Eigen::Index>(n());
  for (Eigen::Index i = 0; i < nrow; ++i, v += per_row_) {
    const double wi = w_[i];
    for (int a = 0; a < per_row_; ++a) {
      const double wa = wi * v[a];
      for (int b = 0; b <= a; ++b) m[*sc++] += wa * v[b];
    }
  }
  if (blocked_) {
    factor_ok_ = factor_blocks();
    return factor_ok_;
  }
  chol_.factorize(M_);
  factor_ok_ = chol_.info() == Eigen::Success;
  return factor_ok_;
}

// Implicit differentiation of the PIRLS equations Λ'Z'r - u = 0 (r = W·working residual, whose
// derivative in η is -W for a canonical link, Fisher's approximation otherwise): column k of the
// result is M⁻¹ times the equations' derivative in x_k at fixed u. For θ_k = Λ_t(a, c), row i's
// entry of ZΛ at its level's column c changes by z_i[a], so the derivative is that column's
// Σ z_i[a] r_i minus Λ'Z'W d with d_i = z_i[a] u_c; for β it is -Λ'Z'WX.
Eigen::MatrixXd GlmmModel::mode_sensitivity() const {
  const auto nrow = static_cast<Eigen::Index>(n());
  const auto np = static_cast<Eigen::Index>(p());
  const auto nt = static_cast<Eigen::Index>(ntheta());
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(nre_, nt + np);
  const Eigen::VectorXd r = w_.cwiseProduct(wres_);
  const int* cols = zl_.innerIndexPtr();
  Eigen::VectorXd wd(nrow);
  int offset = 0;  // the term's first entry in each row of ZΛ
  for (std::size_t j = 0; j < terms_.size(); ++j) {
    const int q = terms_[j].q;
    const double* z = frame_.re[j].z.data();
    for (int c = 0, k = terms_[j].theta0; c < q; ++c)
      for (int a = c; a < q; ++a, ++k) {
        for (Eigen::Index i = 0; i < nrow; ++i) {
          const int col = cols[i * per_row_ + offset + c];
          const double za = z[i * q + a];
          g(col, k) += za * r[i];
          wd[i] = w_[i] * za * u_[col];
        }
        g.col(k) -= zl_.transpose() * wd;
      }
    offset += q;
  }
  Eigen::VectorXd gu, gb;
  Eigen::MatrixXd b, a;
  joint_blocks(gu, gb, b, a);
  g.rightCols(np) = -b;
  return solve(g);
}

void GlmmModel::joint_blocks(Eigen::VectorXd& gu, Eigen::VectorXd& gb, Eigen::MatrixXd& B, Eigen::MatrixXd& A) const {
  const std::size_t nrow = n(), np = p();
  gu = -u_;
  gb = Eigen::VectorXd::Zero(Eigen::Index(np));
  A = Eigen::MatrixXd::Zero(Eigen::Index(np), Eigen::Index(np));
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> b =
      Eigen::MatrixXd::Zero(nre_, Eigen::Index(np));  // a level's p values together
  const double* v = zl_.valuePtr();
  const int* cols = zl_.innerIndexPtr();
  const double* x = X_.data();
  std::vector<double> xi(np);
  double* bv = b.data();
  for (std::size_t i = 0; i < nrow; ++i) {
    const auto ii = static_cast<Eigen::Index>(i);
    const double wi = w_[ii], ri = wi * wres_[ii];
    for (std::size_t c = 0; c < np; ++c) xi[c] = x[c * nrow + i];
    for (std::size_t c = 0; c < np; ++c) {
      gb[Eigen::Index(c)] += ri * xi[c];
      for (std::size_t d = c; d < np; ++d) A(Eigen::Index(d), Eigen::Index(c)) += wi * xi[c] * xi[d];
    }
    for (int a = 0; a < per_row_; ++a, ++v, ++cols) {
      gu[*cols] += *v * ri;
      double* row = bv + static_cast<std::size_t>(*cols) * np;
      for (std::size_t c = 0; c < np; ++c) row[c] += *v * wi * xi[c];
    }
  }
  A = A.selfadjointView<Eigen::Lower>();
  B = b;
}

double GlmmModel::deviance_rows(const Eigen::VectorXd& eta, Eigen::VectorXd& mu) const {
  mu.resize(eta.size());
  if (binary_logit_) return deviance_rows_binary_logit(eta, mu);
  return sum_row_chunks(n(), [&](std::size_t b, std::size_t e) {
    double s = 0;
    for (std::size_t k = b; k < e; ++k) {
      const auto i = static_cast<Eigen::Index>(k);
      mu[i] = family_.linkinv(eta[i]);
      s += family_.dev_resid(y_[k], mu[i], pw_[k]);
    }
    return s;
  });
}

// 0/1 responses, logit link: with x = η clamped to ±30 (as R's plogis in binomial()$linkinv) and
// e = exp(-|x|), μ = 1/(1 + e) or e/(1 + e), and the deviance residual -2 log μ (y = 1) or
// -2 log(1 - μ) (y = 0) is 2 (max(∓x, 0) + log(1 + e)). The logs are taken of products of
// kLogBlock factors 1 + e (each in [1, 2], so no overflow): one exp a row and one log per block,
// with the rounding of summing the rows' logs (a relative error of about 2^-53 per factor).
double GlmmModel::deviance_rows_binary_logit(const Eigen::VectorXd& eta, Eigen::VectorXd& mu) const {
  constexpr int kLogBlock = 256;
  return sum_row_chunks(n(), [&](std::size_t b, std::size_t e) {
    double s = 0, prod = 1;
    int in_block = 0;
    for (std::size_t k = b; k < e; ++k) {
      const auto i = static_cast<Eigen::Index>(k);
      const double x = std::clamp(eta[i], -30.0, 30.0);
      const double ex = std::exp(-std::abs(x));
      const double p = 1 / (1 + ex);
      mu[i] = x >= 0 ? p : ex * p;
      s += std::max(y_[k] > 0 ? -x : x, 0.0);
      prod *= 1 + ex;
      if (++in_block == kLogBlock) s += std::log(prod), prod = 1, in_block = 0;
    }
    return 2 * (s + std::log(prod));
  });
}

}  // namespace lmm
