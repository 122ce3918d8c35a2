#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <stdexcept>

#include "lmm/error.h"
#include "model/condvar.h"
#include "model/model_impl.h"
#include "model/residual.h"

namespace lmm {

using detail::Block;
using detail::BlockDiag;
using detail::Mat;
using detail::SpMat;

namespace {

// Pattern of a sparse matrix with every stored entry set to 1 (no cancellation in products).
SpMat pattern(const SpMat& S) {
  SpMat P = S;
  P.makeCompressed();  // fill_pattern() reads the index arrays
  for (Eigen::Index c = 0; c < P.outerSize(); ++c)
    for (SpMat::InnerIterator it(P, c); it; ++it) it.valueRef() = 1.0;
  return P;
}

bool is_block_diagonal(const SpMat& P, int q) {
  for (Eigen::Index c = 0; c < P.outerSize(); ++c)
    for (SpMat::InnerIterator it(P, c); it; ++it)
      if (it.row() / q != c / q) return false;
  return true;
}

// Closure of a pattern over block columns of width q: a row touching one column of a block
// touches all q after multiplying by a block-diagonal factor's inverse.
SpMat close_block_columns(const SpMat& P, int q, Eigen::Index nblocks) {
  if (q == 1) return P;
  Mat ones = Mat::Ones(q, q);
  return pattern(P * detail::kron_identity(ones, nblocks));
}

// The rows of a pattern's columns turned into the columns of its rows (the transpose's structure).
struct RowLists {
  std::vector<Eigen::Index> start;
  std::vector<int> col;
};

RowLists row_lists(const SpMat& P) {
  RowLists t;
  t.start.assign(static_cast<std::size_t>(P.rows()) + 1, 0);
  for (Eigen::Index c = 0; c < P.outerSize(); ++c)
    for (SpMat::InnerIterator it(P, c); it; ++it) ++t.start[static_cast<std::size_t>(it.row()) + 1];
  for (std::size_t r = 1; r < t.start.size(); ++r) t.start[r] += t.start[r - 1];
  t.col.resize(static_cast<std::size_t>(t.start.back()));
  std::vector<Eigen::Index> next(t.start.begin(), t.start.end() - 1);
  for (Eigen::Index c = 0; c < P.outerSize(); ++c)
    for (SpMat::InnerIterator it(P, c); it; ++it)
      t.col[static_cast<std::size_t>(next[static_cast<std::size_t>(it.row())]++)] = static_cast<int>(c);
  return t;
}

// Whether a diagonal block of m rows (q x q level blocks) whose pattern M (its fill with the level
// blocks added) has an entry outside the level blocks and at least `entries` entries is factored
// densely for sure: sparse_factor_pays() refuses it before any trial factorisation, by the same
// test on the same numbers (it is too small, or the lower triangle alone is over the fill limit).
bool surely_dense(double entries, Eigen::Index m) {
  if (m < detail::sparse_min_size()) return true;
  const double md = static_cast<double>(m);
  return 0.5 * (entries + md) > detail::sparse_fill_limit() * (0.5 * md * (md + 1));
}

// The pattern M = Σ_k P_k P_k' + I ⊗ 1_q1_q' of a diagonal block of m rows filled in through the
// sparse blocks P_k (of its rows, by an earlier term's columns), with every entry 1: the fill
// pattern analyse() decides on. Nothing is returned where the block is certain to be factored
// densely (surely_dense(); the count of M's entries only grows, so stopping early changes no
// decision): a column of P_k with r entries spread over two level blocks puts r² entries into M,
// and M's columns are counted one by one before they are stored. A ratings design's items block
// (10,000 items, users who rated half of them) is settled by its heaviest user, without forming
// its 10⁸ entries (several GB as a sparse product).
std::optional<SpMat> fill_pattern(const std::vector<const SpMat*>& P, int q, Eigen::Index m) {
  if (P.empty()) return SpMat(m, m);  // the first term: nothing fills in
  for (const SpMat* p : P)
    for (Eigen::Index c = 0; c < p->outerSize(); ++c) {
      const auto* rows = p->innerIndexPtr();
      const Eigen::Index b = p->outerIndexPtr()[c], e = p->outerIndexPtr()[c + 1];
      if (e - b < 2) continue;
      const auto [lo, hi] = std::minmax_element(rows + b, rows + e);
      const double r = static_cast<double>(e - b);
      if (*lo / q != *hi / q && surely_dense(r * r, m)) return std::nullopt;
    }
  std::vector<RowLists> T;
  for (const SpMat* p : P) T.push_back(row_lists(*p));
  std::vector<int> inner, mark(static_cast<std::size_t>(m), -1);
  std::vector<Eigen::Index> outer{0};
  bool off_block = false;
  for (Eigen::Index c = 0; c < m; ++c) {
    auto add = [&](int r) {
      if (mark[static_cast<std::size_t>(r)] == c) return;
      mark[static_cast<std::size_t>(r)] = static_cast<int>(c);
      inner.push_back(r);
      off_block = off_block || r / q != c / q;
    };
    for (Eigen::Index r = c / q * q; r < (c / q + 1) * q; ++r) add(static_cast<int>(r));
    for (std::size_t k = 0; k < P.size(); ++k) {
      const auto& t = T[k];
      for (auto i = t.start[static_cast<std::size_t>(c)]; i < t.start[static_cast<std::size_t>(c) + 1]; ++i) {
        const int u = t.col[static_cast<std::size_t>(i)];
        const auto* rows = P[k]->innerIndexPtr();
        for (auto j = P[k]->outerIndexPtr()[u]; j < P[k]->outerIndexPtr()[u + 1]; ++j) add(rows[j]);
      }
    }
    // Unsorted: setFromTriplets() below orders each column (no duplicates: `mark`). For InstEval,
    // whose instructors block is settled as dense after 544 of its 1,128 columns (126,000
    // entries), analyse()'s symbolic step took 6.5 ms with a sort per column, 3.0 without.
    outer.push_back(static_cast<Eigen::Index>(inner.size()));
    if (off_block && surely_dense(static_cast<double>(inner.size()), m)) return std::nullopt;
  }
  std::vector<Eigen::Triplet<double>> t;
  t.reserve(inner.size());
  for (Eigen::Index c = 0; c < m; ++c)
    for (auto i = outer[static_cast<std::size_t>(c)]; i < outer[static_cast<std::size_t>(c) + 1]; ++i)
      t.emplace_back(inner[static_cast<std::size_t>(i)], c, 1.0);
  SpMat M(m, m);
  M.setFromTriplets(t.begin(), t.end());
  return M;
}

}  // namespace

// The response minus its least-squares fit on X, and that fit's coefficients. A holds y'y, and
// r² = y'y - (the part X and Z explain) loses the digits of y'y that r² does not have: a response
// of about 1e4 with a residual SD of 1 lost 5 digits of sigma, 1e9 all of them (lme4 computes r²
// from residuals and does not). Replacing y by y - X beta0 is exact for any beta0 (beta becomes
// beta - beta0; b, sigma, theta and the objective are unchanged), so beta0 only needs to remove
// most of y's size: one step of iterative refinement makes it good enough even for an
// ill-conditioned X'X. Throws lmm::Error for a response with nothing left to model.
std::vector<double> detail::response_shift(const ModelFrame& f, const std::vector<double>& response, Eigen::VectorXd& beta0) {
  const auto nrow = static_cast<Eigen::Index>(f.n());
  const auto np = static_cast<Eigen::Index>(f.p());
  Eigen::Map<const Mat> X(f.X.data(), nrow, np);
  Eigen::Map<const Eigen::VectorXd> y(response.data(), nrow);
  const double yy = y.squaredNorm();
  if (nrow > 0 && y.maxCoeff() == y.minCoeff())
    throw Error(fmt::format("the response '{}' has the same value ({}) in all {} rows: there is no variation to model",
                            f.response, y(0), nrow));
  Eigen::VectorXd r = y;
  beta0 = Eigen::VectorXd::Zero(np);
  if (np > 0) {
    Mat xtx = Mat::Zero(np, np);
    xtx.selfadjointView<Eigen::Lower>().rankUpdate(X.transpose());
    Eigen::LDLT<Mat> ldlt(xtx.selfadjointView<Eigen::Lower>());
    for (int step = 0; step < 2; ++step) {
      Eigen::VectorXd d = ldlt.solve(X.transpose() * r);
      if (!d.allFinite()) break;
      beta0 += d;
      r.noalias() = y - X * beta0;
    }
    if (!beta0.allFinite()) beta0.setZero(), r = y;
  }
  // A residual below rounding level: y is a linear function of the fixed effects, the residual
  // variance is 0 and every objective value is -inf (the factor's r² is 0).
  const double rr = r.squaredNorm();
  if (rr <= 1e-24 * yy) {
    std::string names;
    for (const auto& c : f.fixed_names) names += (names.empty() ? "" : ", ") + c;
    throw Error(fmt::format("the response '{}' is an exact linear function of the fixed effects ({}), up to rounding: "
                            "nothing is left for the random effects and the residual to explain",
                            f.response, names));
  }
  return {r.data(), r.data() + r.size()};
}

namespace {

// The rows the model's cross-products are built from: y - offset, and with prior weights every
// row of [Z X y] multiplied by √w. Without weights only the response is copied.
ModelFrame working_rows(const ModelFrame& f) {
  ModelFrame w;
  w.response = f.response;
  w.fixed_names = f.fixed_names;
  w.y = f.y;
  for (std::size_t i = 0; i < f.offset.size(); ++i) w.y[i] -= f.offset[i];
  if (f.weights.empty()) return w;
  const std::size_t n = f.n();
  std::vector<double> s(n);
  for (std::size_t i = 0; i < n; ++i) s[i] = std::sqrt(f.weights[i]);
  for (std::size_t i = 0; i < n; ++i) w.y[i] *= s[i];
  w.X = f.X;
  for (std::size_t c = 0; c < f.p(); ++c)
    for (std::size_t i = 0; i < n; ++i) w.X[c * n + i] *= s[i];
  w.re = f.re;
  for (auto& t : w.re) {
    const auto q = static_cast<std::size_t>(t.q());
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t a = 0; a < q; ++a) t.z[i * q + a] *= s[i];
  }
  return w;
}

}  // namespace

detail::ModelState::ModelState(ModelFrame f, Method m, bool factor_start) : frame(std::move(f)), method(m) {
  K = static_cast<int>(frame.re.size());
  if (K == 0 && !frame.residual.any()) throw Error("the model has no random-effects term");
  if (frame.residual.any() && !frame.weights.empty())
    throw Error("ModelFrameOptions::weights cannot be combined with ModelFrameOptions::residual (use "
                "ResidualOptions::sd_by for a residual SD per group)");
  std::vector<double> yw;
  if (frame.weights.empty()) {  // (a residual structure has no prior weights, refused above)
    yw = response_shift(frame, frame.offset.empty() ? frame.y : working_rows(frame).y, beta0);
  } else {
    const ModelFrame w = working_rows(frame);
    yw = response_shift(w, w.y, beta0);
    detail::build_cross_products(w, yw.data(), A);
    for (double wi : frame.weights) log_det_weights += std::log(wi);
  }
  nobs = frame.n();
  init_terms();
  // --- A = [Z X y]'[Z X y], one pass over the rows per term (done above with weights) ---
  if (frame.residual.any()) {
    setup_residual(yw);
  } else if (frame.weights.empty()) {
    detail::build_cross_products(frame, yw.data(), A);
  }
  analyse(factor_start);
}

detail::ModelState::ModelState(ModelFrame coding, Method m, std::vector<std::vector<Block>> a,
                               Eigen::VectorXd shift, std::size_t n_rows)
    : frame(std::move(coding)), method(m), A(std::move(a)), beta0(std::move(shift)), nobs(n_rows) {
  K = static_cast<int>(frame.re.size());
  if (K == 0) throw Error("the model has no random-effects term");
  init_terms();
  analyse();
}

void detail::ModelState::init_terms() {
  int off = 0;
  for (const auto& t : frame.re) {
    q.push_back(t.q());
    nlev.push_back(static_cast<Eigen::Index>(t.nlevels()));
    theta_offset.push_back(off);
    off += t.q() * (t.q() + 1) / 2;
  }
  theta.assign(static_cast<std::size_t>(off), 0.0);
  for (int j = 0; j < K; ++j)
    for (int c = 0, k = theta_offset[j]; c < q[j]; ++c)
      for (int r = c; r < q[j]; ++r, ++k) theta[k] = (r == c) ? 1.0 : 0.0;
  ntheta_re = off;
}

void detail::ModelState::analyse(bool factor_start) {
  L.assign(K + 1, {});
  for (int i = 0; i <= K; ++i) L[i].resize(i + 1);

  // --- symbolic analysis: which blocks of L stay block-diagonal or sparse ---
  std::vector<std::vector<SpMat>> P(K);
  std::vector<bool> dense_diag(K, false);
  for (int i = 0; i < K; ++i) {
    P[i].resize(i + 1);
    for (int j = 0; j < i; ++j) P[i][j] = pattern(std::get<SpMat>(A[i][j]));
  }
  for (int j = 0; j < K; ++j) {
    // A term coupled by the residual pairs has a sparse, non-block-diagonal Z'R⁻¹Z: factored densely.
    bool dense = !std::holds_alternative<BlockDiag>(A[j][j]);
    for (int k = 0; k < j; ++k) dense = dense || dense_diag[k];
    // The fill (with the level blocks), or nothing where it is dense for sure (fill_pattern()).
    std::optional<SpMat> D;
    if (!dense) {
      std::vector<const SpMat*> through;
      for (int k = 0; k < j; ++k) through.push_back(&P[j][k]);
      D = fill_pattern(through, q[j], q[j] * nlev[j]);
    }
    // A block that fills in only through sparse blocks (the earlier diagonal blocks all stayed
    // block-diagonal) may stay sparse enough for a sparse Cholesky with a fill-reducing ordering.
    const bool fill_from_sparse = !dense && (!D || !is_block_diagonal(*D, q[j]));
    dense = dense || fill_from_sparse;
    dense_diag[j] = dense;
    for (int i = j + 1; i < K && !dense; ++i) {
      for (int k = 0; k < j; ++k) P[i][j] = pattern(P[i][j] + P[i][k] * SpMat(P[j][k].transpose()));
      P[i][j] = close_block_columns(P[i][j], q[j], nlev[j]);
    }
    if (fill_from_sparse && D && detail::sparse_factor_pays(*D, q[j], nlev[j])) {
      L[j][j] = detail::SparseChol();
    } else if (dense) {
      L[j][j] = Mat();
    } else {
      BlockDiag d;
      d.q = q[j];
      d.nblocks = nlev[j];
      L[j][j] = std::move(d);
    }
    for (int i = j + 1; i < K; ++i) L[i][j] = dense ? Block(Mat()) : Block(SpMat());
    L[K][j] = Mat();
  }
  // A later diagonal block below a dense one gets dense off-diagonal blocks too.
  for (int j = 0; j < K; ++j)
    if (dense_diag[j])
      for (int i = j + 1; i < K; ++i) {
        L[i][j] = Mat();
        L[i][i] = Mat();
        dense_diag[i] = true;
      }
  L[K][K] = Mat();
  setup_grouped_downdates();

  set_lambda(theta);
  bool dense = false;
  for (int j = 0; j < K; ++j) dense = dense || std::holds_alternative<Mat>(L[j][j]);
  if (factor_start || K < 2 || residual || !dense) {
    update_L();
    return;
  }
  scale_blocks();
  factor_ok = false;
  objective = std::numeric_limits<double>::quiet_NaN();
  factored_theta.clear();
}

void detail::ModelState::set_lambda(const std::vector<double>& th) {
  if (th.size() != theta.size())
    throw std::invalid_argument("theta has " + std::to_string(th.size()) + " values, the model needs " +
                                std::to_string(theta.size()));
  theta = th;
  if (residual) {
    const auto tail = theta.begin() + ntheta_re;
    if (tail != theta.end()) set_residual_eta(std::vector<double>(tail, theta.end()));
  }
  lambda.resize(K);
  for (int j = 0; j < K; ++j) {
    lambda[j] = Mat::Zero(q[j], q[j]);
    for (int c = 0, k = theta_offset[j]; c < q[j]; ++c)
      for (int r = c; r < q[j]; ++r, ++k) lambda[j](r, c) = theta[k];
  }
}

void detail::ModelState::update_L() {
  trailing_inverse.reset();  // of the factor being replaced
  tail_inverse_factor.reset();
  re_diagonal_blocks.reset();
  gradient_kept = false;
  varpar_kept = false;
  if (K == 1 && std::holds_alternative<BlockDiag>(A[0][0])) {
    update_L_single();
    objective = compute_objective();
    factored_theta = theta;
    return;
  }
  scale_blocks();
  downdate_plans.resize(static_cast<std::size_t>((K + 1) * (K + 1)));
  factor_ok = true;
  for (int j = 0; j <= K; ++j) {
    for (int k = 0; k < j; ++k) {
      if (k > 0 || !grouped_downdate(j)) detail::rank_downdate(L[j][j], L[j][k], &downdate_plans[j * (K + 1) + k]);
      for (int i = j + 1; i <= K; ++i) detail::downdate(L[i][j], L[i][k], L[j][k]);
    }
    if (!detail::cholesky(L[j][j])) {
      factor_ok = false;
      break;
    }
    for (int i = j + 1; i <= K; ++i) detail::rdiv_lower_transpose(L[i][j], L[j][j]);
  }
  objective = compute_objective();
  factored_theta = theta;
}

void detail::ModelState::scale_blocks() {
  static const Mat identity;  // empty: Λ = I for the [X y] block
  for (int j = 0; j < K; ++j) {
    detail::scale(L[j][j], A[j][j], lambda[j], lambda[j], true);
    for (int i = j + 1; i < K; ++i) detail::scale(L[i][j], A[i][j], lambda[i], lambda[j], false);
    detail::scale(L[K][j], A[K][j], identity, lambda[j], false);
  }
  L[K][K] = std::get<Mat>(A[K][K]);
}

double detail::ModelState::compute_objective() const {
  if (!factor_ok) return std::numeric_limits<double>::infinity();
  const double nn = static_cast<double>(n());
  const double pp = static_cast<double>(p());
  double ld = 0;
  for (int j = 0; j < K; ++j) ld += detail::logdet(L[j][j]);
  const double r2 = pwrss();
  if (!(r2 > 0)) return std::numeric_limits<double>::infinity();
  constexpr double two_pi = 2 * std::numbers::pi;
  ld -= log_det_weights;
  ld += log_det_residual;
  if (!std::isfinite(ld)) return std::numeric_limits<double>::infinity();
  if (method == Method::ML) return ld + nn * (1 + std::log(two_pi * r2 / nn));
  double ldx = 0;
  const Mat& lkk = LKK();
  for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(p()); ++i) ldx += 2 * std::log(lkk(i, i));
  return ld + ldx + (nn - pp) * (1 + std::log(two_pi * r2 / (nn - pp)));
}

double detail::ModelState::pwrss() const {
  const Mat& lkk = LKK();
  const auto np = static_cast<Eigen::Index>(p());
  return lkk(np, np) * lkk(np, np);
}

double detail::ModelState::sigma() const {
  const double denom = method == Method::ML ? static_cast<double>(n()) : static_cast<double>(n() - p());
  return std::sqrt(pwrss() / denom);
}

Eigen::VectorXd detail::ModelState::beta() const { return beta_shifted() + beta0; }

Eigen::VectorXd detail::ModelState::beta_shifted() const {
  const auto np = static_cast<Eigen::Index>(p());
  const Mat& lkk = LKK();
  Eigen::VectorXd b = lkk.block(np, 0, 1, np).transpose();
  lkk.topLeftCorner(np, np).transpose().triangularView<Eigen::Upper>().solveInPlace(b);
  return b;
}

std::vector<Eigen::VectorXd> detail::ModelState::u() const {
  const auto np = static_cast<Eigen::Index>(p());
  const Eigen::VectorXd b = beta_shifted();
  std::vector<Eigen::VectorXd> out(K);
  for (int j = K - 1; j >= 0; --j) {
    const Mat& lkj = std::get<Mat>(L[K][j]);
    Eigen::VectorXd v = lkj.row(np).transpose();
    v.noalias() -= lkj.topRows(np).transpose() * b;
    for (int i = j + 1; i < K; ++i) detail::sub_transpose_times(L[i][j], out[i], v);
    detail::solve_lower_transpose(L[j][j], v);
    out[j] = std::move(v);
  }
  return out;
}

Mat detail::ModelState::vcov_unscaled() const {
  const auto np = static_cast<Eigen::Index>(p());
  Mat Rinv = Mat::Identity(np, np);
  LKK().topLeftCorner(np, np).triangularView<Eigen::Lower>().solveInPlace(Rinv);
  return Rinv.transpose() * Rinv;
}

// ---------------------------------------------------------------------------------------------

LinearMixedModel::LinearMixedModel(ModelFrame frame, Method method)
    : impl_(std::make_unique<detail::ModelState>(std::move(frame), method)) {}
LinearMixedModel::LinearMixedModel(std::unique_ptr<detail::ModelState> state) : impl_(std::move(state)) {}
LinearMixedModel::~LinearMixedModel() = default;
LinearMixedModel::LinearMixedModel(LinearMixedModel&&) noexcept = default;
LinearMixedModel& LinearMixedModel::operator=(LinearMixedModel&&) noexcept = default;

const ModelFrame& LinearMixedModel::frame() const { return impl_->frame; }
Method LinearMixedModel::method() const { return impl_->method; }
void LinearMixedModel::set_method(Method method) {
  impl_->method = method;
  impl_->objective = impl_->compute_objective();
}

std::size_t LinearMixedModel::ntheta() const { return impl_->theta.size(); }
std::vector<double> LinearMixedModel::theta() const { return impl_->theta; }

std::vector<double> LinearMixedModel::theta_lower() const {
  std::vector<double> lo(ntheta(), -std::numeric_limits<double>::infinity());
  for (int j = 0; j < impl_->K; ++j)
    for (int c = 0, k = impl_->theta_offset[j]; c < impl_->q[j]; ++c)
      for (int r = c; r < impl_->q[j]; ++r, ++k)
        if (r == c) lo[k] = 0.0;
  return lo;
}

std::vector<double> LinearMixedModel::theta_start() const {
  std::vector<double> lo = theta_lower();
  for (double& v : lo) v = (v == 0.0) ? 1.0 : 0.0;
  if (impl_->residual && !impl_->residual->fixed()) {
    const std::vector<double> eta = impl_->residual->start();
    std::copy(eta.begin(), eta.end(), lo.begin() + impl_->ntheta_re);
  }
  return lo;
}

double LinearMixedModel::set_theta(const std::vector<double>& theta) {
  impl_->require_cross_products("LinearMixedModel::set_theta");
  if (theta == impl_->factored_theta) return impl_->objective;  // formed there already
  impl_->set_lambda(theta);
  impl_->update_L();
  return impl_->objective;
}

double LinearMixedModel::objective() const { return impl_->objective; }

// fit() is in src/model/optimize.cpp.

std::vector<double> LinearMixedModel::beta() const {
  Eigen::VectorXd b = impl_->beta();
  return {b.data(), b.data() + b.size()};
}
double LinearMixedModel::sigma() const { return impl_->sigma(); }
double LinearMixedModel::pwrss() const { return impl_->pwrss(); }

double LinearMixedModel::logdet_re() const {
  double ld = 0;
  for (int j = 0; j < impl_->K; ++j) ld += detail::logdet(impl_->L[j][j]);
  return ld;
}

double LinearMixedModel::logdet_x() const {
  double ld = 0;
  const Mat& lkk = impl_->LKK();
  for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(impl_->p()); ++i) ld += 2 * std::log(lkk(i, i));
  return ld;
}

std::vector<double> LinearMixedModel::vcov() const {
  Mat v = impl_->vcov_unscaled() * (sigma() * sigma());
  return {v.data(), v.data() + v.size()};
}

std::vector<std::vector<double>> LinearMixedModel::ranef_spherical() const {
  std::vector<std::vector<double>> out;
  for (const auto& v : impl_->u()) out.emplace_back(v.data(), v.data() + v.size());
  return out;
}

std::vector<std::vector<double>> LinearMixedModel::ranef() const {
  auto us = impl_->u();
  std::vector<std::vector<double>> out(impl_->K);
  for (int j = 0; j < impl_->K; ++j) {
    const int qj = impl_->q[j];
    Eigen::Map<Mat> U(us[j].data(), qj, impl_->nlev[j]);  // column b = level b's u
    Mat B = impl_->lambda[j].triangularView<Eigen::Lower>() * U;
    out[j].assign(B.data(), B.data() + B.size());
  }
  return out;
}

std::vector<std::vector<double>> LinearMixedModel::ranef_condvar() const {
  const detail::ModelState& m = *impl_;
  const double s2 = m.sigma() * m.sigma();
  // Diagonal level blocks of (L L')⁻¹ by selected inversion (src/model/condvar.cpp).
  const std::vector<Mat> G = detail::re_inverse_diagonal_blocks(m);
  std::vector<std::vector<double>> out(m.K);
  for (int j = 0; j < m.K; ++j) {
    const int qj = m.q[j];
    const Mat& lam = m.lambda[j];
    out[j].resize(static_cast<std::size_t>(m.nlev[j]) * qj * qj);
    for (Eigen::Index b = 0; b < m.nlev[j]; ++b) {
      Mat V = s2 * (lam * G[j].middleCols(b * qj, qj) * lam.transpose());
      std::copy(V.data(), V.data() + V.size(), out[j].begin() + b * qj * qj);
    }
  }
  return out;
}

std::vector<std::vector<double>> LinearMixedModel::lambda() const {
  std::vector<std::vector<double>> out;
  for (const auto& l : impl_->lambda) out.emplace_back(l.data(), l.data() + l.size());
  return out;
}

std::vector<double> LinearMixedModel::fitted() const {
  const auto& f = impl_->frame;
  const std::size_t nrow = f.n(), np = f.p();
  const auto b = beta();
  std::vector<double> out = f.offset.empty() ? std::vector<double>(nrow, 0.0) : f.offset;
  for (std::size_t c = 0; c < np; ++c)
    for (std::size_t i = 0; i < nrow; ++i) out[i] += f.X[c * nrow + i] * b[c];
  const auto re = ranef();
  for (int j = 0; j < impl_->K; ++j) {
    const auto& t = f.re[j];
    const int qj = t.q();
    for (std::size_t i = 0; i < nrow; ++i) {
      const double* z = &t.z[i * qj];
      const double* bj = &re[j][static_cast<std::size_t>(t.refs[i]) * qj];
      for (int a = 0; a < qj; ++a) out[i] += z[a] * bj[a];
    }
  }
  return out;
}

std::vector<double> LinearMixedModel::residuals() const {
  auto fv = fitted();
  for (std::size_t i = 0; i < fv.size(); ++i) fv[i] = impl_->frame.y[i] - fv[i];
  return fv;
}

double LinearMixedModel::loglik() const { return -impl_->objective / 2; }

int LinearMixedModel::npar() const { return static_cast<int>(impl_->p() + ntheta() + 1); }

}  // namespace lmm
