// Kenward-Roger's ingredients for a model with a residual structure (see kr_residual.h).
//
// V = Σ_r γ_r G_r + σ² Ω(η), with γ pbkrtest's elements of each term's covariance matrix
// (G_r = Z_k (I ⊗ E_r) Z_k'), Ω = D R D the structure's covariance, G_σ² = Ω and
// G_η_j = σ² ∂Ω/∂η_j = -σ² Ω (∂Ω⁻¹/∂η_j) Ω. Ω⁻¹'s entries are the structure's coefficients c_k(η)
// on fixed pairs of rows (src/model/residual.h); their derivatives are taken numerically
// (numDeriv's Richardson extrapolation) on those few numbers, the rest is exact.
//
// V is not linear in η, so Kenward & Roger's (1997) adjustment would have a second-derivative term
// R_rt = X'V⁻¹ ∂²V/∂γ_r∂γ_t V⁻¹X, whose value depends on the parametrisation. It is left out (as
// SAS's DDFM=KR(FIRSTORDER) and mmrm's "Kenward-Roger-Linear"): what remains, Σ W_rt (Q_rt - P_r Φ
// P_t), and the df (from P and W = 2 I⁻¹, I the expected REML information as in pbkrtest; mmrm
// uses the observed one) are the same in any parametrisation, in particular in the linear one of
// an unstructured covariance (us with --residual-sd-by), where R vanishes and the first-order
// method is the full one.
//
// The rows fall apart into blocks linked by a common group of the structure or a common level of
// a random-effects term (one block per person when the random effects are nested in the
// structure's groups); everything is summed block by block with m x m dense matrices.
#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "inference/kr_residual.h"
#include "inference/numderiv.h"
#include "lmm/error.h"
#include "model/model_access.h"
#include "model/residual.h"

namespace lmm::detail {

namespace {

using Eigen::Index;
using Rows = std::vector<std::uint32_t>;

struct Dsu {
  std::vector<std::uint32_t> parent;
  explicit Dsu(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0u); }
  std::uint32_t find(std::uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(std::uint32_t a, std::uint32_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

// Unites each row with the first row of the same value of `key`.
void unite_by(Dsu& d, const std::vector<std::int32_t>& key, std::size_t nkeys) {
  std::vector<std::int64_t> first(nkeys, -1);
  for (std::size_t i = 0; i < key.size(); ++i) {
    auto& f = first[static_cast<std::size_t>(key[i])];
    if (f < 0)
      f = static_cast<std::int64_t>(i);
    else
      d.unite(static_cast<std::uint32_t>(f), static_cast<std::uint32_t>(i));
  }
}

std::vector<Rows> row_blocks(const ModelFrame& f) {
  const std::size_t n = f.n();
  Dsu d(n);
  if (!f.residual.options.structure.empty())
    unite_by(d, f.residual.group, f.residual.group_levels.size());
  for (const auto& t : f.re) unite_by(d, t.refs, t.nlevels());
  std::vector<std::int64_t> index(n, -1);
  std::vector<Rows> blocks;
  for (std::uint32_t i = 0; i < n; ++i) {
    auto& b = index[d.find(i)];
    if (b < 0) {
      b = static_cast<std::int64_t>(blocks.size());
      blocks.emplace_back();
    }
    blocks[static_cast<std::size_t>(b)].push_back(i);
  }
  return blocks;
}

struct Param {
  int term, a, b;
};

struct Setup {
  const ModelFrame& f;
  std::vector<Param> re;      // pbkrtest's parameters of the random effects
  std::vector<double> gamma;  // their values: σ² λλ'(a, b)
  double sigma2 = 0;
  std::vector<double> c;  // Ω⁻¹'s coefficients at η
  Mat dc;                 // nkeys x (number of free η): ∂c/∂η
  std::vector<Rows> blocks;
  std::vector<std::vector<ResidualPair>> pairs;  // per block
  std::vector<std::uint32_t> local;              // row -> its index in its block
  int ng() const { return static_cast<int>(re.size()) + 1 + static_cast<int>(dc.cols()); }
};

// Column a of term t's Z restricted to `rows`, one column per level present: q matrices.
std::vector<Mat> term_z(const ReTermData& t, const Rows& rows) {
  std::vector<std::int32_t> present;
  std::vector<Index> col(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const std::int32_t l = t.refs[rows[r]];
    auto it = std::find(present.begin(), present.end(), l);
    col[r] = it - present.begin();
    if (it == present.end()) present.push_back(l);
  }
  const int q = t.q();
  std::vector<Mat> Z(static_cast<std::size_t>(q), Mat::Zero(static_cast<Index>(rows.size()),
                                                            static_cast<Index>(present.size())));
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (int a = 0; a < q; ++a)
      Z[static_cast<std::size_t>(a)](static_cast<Index>(r), col[r]) =
          t.z[rows[r] * static_cast<std::size_t>(q) + a];
  return Z;
}

// Ω⁻¹ (or its derivative) on a block: the coefficients `cv` on the block's pairs of rows.
Mat precision(const Setup& s, std::size_t bi, const double* cv) {
  const auto m = static_cast<Index>(s.blocks[bi].size());
  Mat Pi = Mat::Zero(m, m);
  for (const ResidualPair& p : s.pairs[bi]) {
    const Index a = s.local[p.a], b = s.local[p.b];
    Pi(a, b) += cv[p.key];
    if (a != b) Pi(b, a) += cv[p.key];
  }
  return Pi;
}

struct BlockMats {
  Mat X, V;
  std::vector<Mat> G;  // ∂V/∂γ_r on the block
};

BlockMats block_mats(const Setup& s, std::size_t bi) {
  const Rows& rows = s.blocks[bi];
  const auto m = static_cast<Index>(rows.size());
  const auto p = static_cast<Index>(s.f.p());
  const std::size_t n = s.f.n();
  BlockMats b;
  b.X.resize(m, p);
  for (Index j = 0; j < p; ++j)
    for (Index r = 0; r < m; ++r)
      b.X(r, j) = s.f.X[static_cast<std::size_t>(j) * n + rows[static_cast<std::size_t>(r)]];
  b.V = Mat::Zero(m, m);
  std::vector<std::vector<Mat>> Z(s.f.re.size());
  for (std::size_t r = 0; r < s.re.size(); ++r) {
    const Param& pr = s.re[r];
    auto& Zk = Z[static_cast<std::size_t>(pr.term)];
    if (Zk.empty()) Zk = term_z(s.f.re[static_cast<std::size_t>(pr.term)], rows);
    const Mat& za = Zk[static_cast<std::size_t>(pr.a)];
    const Mat& zb = Zk[static_cast<std::size_t>(pr.b)];
    Mat G = za * zb.transpose();
    if (pr.a != pr.b) G += zb * za.transpose();
    b.V += s.gamma[r] * G;
    b.G.push_back(std::move(G));
  }
  const Mat Omega = precision(s, bi, s.c.data()).llt().solve(Mat::Identity(m, m));
  b.V += s.sigma2 * Omega;
  b.G.push_back(Omega);
  for (Index j = 0; j < s.dc.cols(); ++j)
    b.G.push_back(-s.sigma2 * Omega * precision(s, bi, s.dc.col(j).data()) * Omega);
  return b;
}

void accumulate(const BlockMats& b, KrIngredients& out) {
  const Eigen::LLT<Mat> llt(b.V);
  if (llt.info() != Eigen::Success)
    throw Error("Kenward-Roger: V is not positive definite at the estimates");
  const Mat VX = llt.solve(b.X);
  const auto ng = b.G.size();
  std::vector<Mat> C(ng), D(ng), B(ng);  // G_r V⁻¹X, V⁻¹G_rV⁻¹X, V⁻¹G_r
  for (std::size_t r = 0; r < ng; ++r) {
    C[r] = b.G[r] * VX;
    D[r] = llt.solve(C[r]);
    B[r] = llt.solve(b.G[r]);
    out.P[r].noalias() -= VX.transpose() * C[r];
  }
  for (std::size_t r = 0; r < ng; ++r)
    for (std::size_t t = r; t < ng; ++t) {
      out.Q[r * ng + t].noalias() += C[r].transpose() * D[t];
      const double k = (B[r].array() * B[t].transpose().array()).sum();
      out.K(static_cast<Index>(r), static_cast<Index>(t)) += k;
      if (t != r) out.K(static_cast<Index>(t), static_cast<Index>(r)) += k;
    }
}

Setup make_setup(const LinearMixedModel& model) {
  const ModelState& m = model_state(model);
  Setup s{model.frame(), {}, {}, 0, {}, Mat(), {}, {}, {}};
  const double sigma = m.sigma();
  s.sigma2 = sigma * sigma;
  for (int k = 0; k < m.K; ++k) {
    const Mat S = s.sigma2 * m.lambda[static_cast<std::size_t>(k)] *
                  m.lambda[static_cast<std::size_t>(k)].transpose();
    for (int b = 0; b < m.q[static_cast<std::size_t>(k)]; ++b)
      for (int a = b; a < m.q[static_cast<std::size_t>(k)]; ++a) {
        s.re.push_back({k, a, b});
        s.gamma.push_back(S(a, b));
      }
  }
  const ResidualCovariance& rc = *m.residual;
  s.c = rc.coefficients(m.residual_eta.data());
  s.dc = Mat::Zero(static_cast<Index>(s.c.size()), 0);
  if (!rc.fixed() && rc.nparam() > 0) {
    const Eigen::VectorXd eta =
        Eigen::Map<const Eigen::VectorXd>(m.residual_eta.data(), rc.nparam());
    s.dc = jacobian(
        [&rc](const Eigen::VectorXd& e) {
          const std::vector<double> c = rc.coefficients(e.data());
          return Eigen::VectorXd(
              Eigen::Map<const Eigen::VectorXd>(c.data(), static_cast<Index>(c.size())));
        },
        eta);
  }
  return s;
}

}  // namespace

KrIngredients kenward_roger_residual(const LinearMixedModel& model, long max_block_rows) {
  const ModelState& m = model_state(model);
  if (!model.frame().weights.empty())
    throw Error(
        "Kenward-Roger's method is not available with ModelFrameOptions::weights; use "
        "DdfMethod::Satterthwaite");
  Setup s = make_setup(model);
  s.blocks = row_blocks(s.f);
  std::size_t largest = 0;
  for (const Rows& b : s.blocks) largest = std::max(largest, b.size());
  if (static_cast<long>(largest) > max_block_rows)
    throw Error(fmt::format(
        "Kenward-Roger with ModelFrameOptions::residual needs dense matrices of the rows linked by "
        "the structure's "
        "groups and the random effects' levels: {0} rows here, more than the {1} allowed; use "
        "DdfMethod::Satterthwaite",
        largest, max_block_rows));
  s.local.resize(s.f.n());
  std::vector<std::uint32_t> block_of(s.f.n());
  for (std::size_t bi = 0; bi < s.blocks.size(); ++bi)
    for (std::size_t r = 0; r < s.blocks[bi].size(); ++r) {
      s.local[s.blocks[bi][r]] = static_cast<std::uint32_t>(r);
      block_of[s.blocks[bi][r]] = static_cast<std::uint32_t>(bi);
    }
  s.pairs.resize(s.blocks.size());
  for (const ResidualPair& p : m.residual->pairs()) s.pairs[block_of[p.a]].push_back(p);

  const auto ng = static_cast<std::size_t>(s.ng());
  const auto p = static_cast<Index>(s.f.p());
  KrIngredients out;
  out.P.assign(ng, Mat::Zero(p, p));
  out.Q.assign(ng * ng, Mat::Zero(p, p));
  out.K = Mat::Zero(static_cast<Index>(ng), static_cast<Index>(ng));
  for (std::size_t bi = 0; bi < s.blocks.size(); ++bi) accumulate(block_mats(s, bi), out);
  for (std::size_t r = 0; r < ng; ++r)
    for (std::size_t t = 0; t < r; ++t) out.Q[r * ng + t] = out.Q[t * ng + r].transpose();
  return out;
}

}  // namespace lmm::detail
