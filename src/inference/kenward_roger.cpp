// Kenward & Roger (1997, Biometrics 53(3), 983-997) as pbkrtest 0.5.2 computes it (vcovAdj and
// Lb_ddf; Halekoh & Højsgaard 2014, J. Stat. Softw. 59(9)), without any n x n matrix.
//
// pbkrtest writes V = Σ_r γ_r G_r with γ the unique elements of each term's covariance matrix Σ_k
// (lower triangle, column-wise) and σ², G_r = Z_k (I ⊗ E_r) Z_k' (E_r = e_a e_b' + e_b e_a', or
// e_a e_a') and G_σ² = I. V is linear in γ, so the second-derivative terms of Kenward-Roger vanish:
//   P_r = -X'V⁻¹G_rV⁻¹X,   Q_rs = X'V⁻¹G_rV⁻¹G_sV⁻¹X,   K_rs = tr(V⁻¹G_rV⁻¹G_s),
//   I_rs = K_rs - 2 tr(Φ Q_rs) + tr(Φ P_r Φ P_s)   (twice the REML information),  W = 2 I⁻¹,
//   U = Σ_rs W_rs (Q_rs - P_r Φ P_s),   Φ_A = Φ + 2 Φ U Φ,   Φ = (X'V⁻¹X)⁻¹.
// With V = σ²(I + ZΛΛ'Z') and T = Λ(Λ'Z'ZΛ + I)⁻¹Λ', Woodbury gives V⁻¹ = σ⁻²(I - Z T Z'), so every
// quantity above is a product of S = Z'Z, Z'X, X'X (the model's A blocks) and T:
//   X'V⁻¹X = s(X'X - X'Z T Z'X),        W1 := Z'V⁻¹X = s(Z'X - S T Z'X),     s = 1/σ²
//   X'V⁻²X = s(X'V⁻¹X - X'Z T W1),      W2 := Z'V⁻²X = s(W1 - S T W1)
//   X'V⁻³X = s(X'V⁻²X - X'Z T W2),      M1 := Z'V⁻¹Z = s(S - S T S),  M2 := Z'V⁻²Z = s(M1 - S T M1)
//   tr(V⁻²) = s²(n - 2 tr(TS) + tr(TSTS))
// and P_r = -W1' D_r W1, Q_rs = W1' D_r M1 D_s W1, Q_rσ² = W1' D_r W2, K_rs = tr(D_r M1 D_s M1),
// K_rσ² = tr(D_r M2), P_σ² = -X'V⁻²X, Q_σ²σ² = X'V⁻³X, K_σ²σ² = tr(V⁻²), with D_r = I ⊗ E_r.
// When every random-effects term has the same grouping factor, S, T, M1 and M2 are block-diagonal
// by level, and all of it is accumulated level by level.
//
// With a residual structure (ModelFrameOptions::residual) P, Q and K come from dense blocks of V
// instead (kenward_roger_residual.cpp) and the rest is the same.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <functional>

#include "inference/distributions.h"
#include "inference/kr_residual.h"
#include "inference/vinv_parts.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "model/model_access.h"

namespace lmm {

namespace {

using detail::Mat;
using Eigen::Index;
using Eigen::VectorXd;

// One block of the random effects: the whole of them, or one level of a common grouping factor.
struct ReBlock {
  Mat S;       // Z'Z restricted to the block, Q x Q
  Mat SX;      // Z'X, Q x p
  Mat Lambda;  // Q x Q
};

// Index pairs (i, j) of D_r inside a block: D_r = Σ e_i e_j'.
using Pairs = std::vector<std::pair<Index, Index>>;

struct Accumulator {
  Index p = 0;
  int nre = 0;  // random-effects variance parameters; σ² is parameter nre
  double s = 0;
  Mat sum1, sum2, sum3;              // Σ X'Z T Z'X, Σ X'Z T W1, Σ X'Z T W2
  std::vector<Mat> P;                // RE parameters: -W1' D_r W1
  std::vector<Mat> Q;                // RE pairs r <= s, packed; then r with σ²
  Mat K;                             // (nre + 1)²
  double trTS = 0, trTSTS = 0;

  Accumulator(Index p_, int nre_, double s_) : p(p_), nre(nre_), s(s_) {
    sum1 = sum2 = sum3 = Mat::Zero(p, p);
    P.assign(nre, Mat::Zero(p, p));
    Q.assign(static_cast<std::size_t>(nre * (nre + 1) / 2 + nre), Mat::Zero(p, p));
    K = Mat::Zero(nre + 1, nre + 1);
  }
  std::size_t qidx(int r, int t) const {  // r <= t < nre
    return static_cast<std::size_t>(r * nre - r * (r - 1) / 2 + (t - r));
  }
  std::size_t qsig(int r) const { return static_cast<std::size_t>(nre * (nre + 1) / 2 + r); }

  void add(const ReBlock& b, const std::vector<Pairs>& pairs) {
    const Index nq = b.S.rows();
    Mat C = b.Lambda.transpose() * b.S * b.Lambda;
    C.diagonal().array() += 1.0;
    Eigen::LLT<Mat> llt(C);
    if (llt.info() != Eigen::Success) throw std::runtime_error("Kenward-Roger: Λ'Z'ZΛ + I is not positive definite");
    Mat Y = b.Lambda.transpose();
    llt.matrixL().solveInPlace(Y);
    const Mat T = Y.transpose() * Y;  // Λ C⁻¹ Λ'
    const Mat TS = T * b.S;
    const Mat TSX = T * b.SX;
    sum1.noalias() += b.SX.transpose() * TSX;
    const Mat W1 = s * (b.SX - b.S * TSX);
    const Mat TW1 = T * W1;
    sum2.noalias() += b.SX.transpose() * TW1;
    const Mat W2 = s * (W1 - b.S * TW1);
    sum3.noalias() += b.SX.transpose() * (T * W2);
    const Mat M1 = s * (b.S - b.S * TS);
    const Mat M2 = s * (M1 - b.S * (T * M1));
    trTS += TS.trace();
    trTSTS += (TS.array() * TS.transpose().array()).sum();

    std::vector<Mat> Y_r(static_cast<std::size_t>(nre));  // D_r W1
    std::vector<Mat> MY(static_cast<std::size_t>(nre));   // M1 D_r W1
    for (int r = 0; r < nre; ++r) {
      if (pairs[r].empty()) continue;
      Mat y = Mat::Zero(nq, p);
      for (const auto& [i, j] : pairs[r]) y.row(i) += W1.row(j);
      MY[r] = M1 * y;
      P[r].noalias() -= y.transpose() * W1;
      Q[qsig(r)].noalias() += y.transpose() * W2;
      double k = 0;
      for (const auto& [i, j] : pairs[r]) k += M2(j, i);
      K(r, nre) += k;
      Y_r[r] = std::move(y);
    }
    for (int r = 0; r < nre; ++r) {
      if (pairs[r].empty()) continue;
      for (int t = r; t < nre; ++t) {
        if (pairs[t].empty()) continue;
        Q[qidx(r, t)].noalias() += Y_r[r].transpose() * MY[t];
        // tr(D_r M1 D_t M1) = Σ_{(i,j) in r} Σ_{(k,m) in t} M1(j,k) M1(m,i)
        double k = 0;
        for (const auto& [i, j] : pairs[r])
          for (const auto& [kk, mm] : pairs[t]) k += M1(j, kk) * M1(mm, i);
        K(r, t) += k;
      }
    }
  }
};

// Pairs of D_r for E = e_a e_b' + e_b e_a' (or e_a e_a') at offset `off` in a block.
void add_pairs(Pairs& out, Index off, int a, int b) {
  out.emplace_back(off + a, off + b);
  if (a != b) out.emplace_back(off + b, off + a);
}

// A variance parameter: the (a, b) entry of term `term`'s covariance matrix.
struct Param {
  int term, a, b;
};

// Per term, the lower triangle of Σ_k column by column (pbkrtest's order).
std::vector<Param> variance_params(const detail::ModelState& m) {
  std::vector<Param> params;
  for (int k = 0; k < m.K; ++k)
    for (int b = 0; b < m.q[k]; ++b)
      for (int a = b; a < m.q[k]; ++a) params.push_back({k, a, b});
  return params;
}

// All terms share one grouping factor: the random effects fall apart into one block per level.
void accumulate_by_level(const detail::ModelState& m, const std::vector<Param>& params, Accumulator& acc) {
  const int K = m.K;
  const Index p = acc.p;
  std::vector<Index> qoff(K + 1, 0);  // offset of term k inside a level block
  for (int k = 0; k < K; ++k) qoff[k + 1] = qoff[k] + m.q[k];
  const Index Q = qoff[K];
  const Index nlev = m.nlev[0];
  std::vector<Pairs> pairs(params.size());
  for (std::size_t r = 0; r < params.size(); ++r) add_pairs(pairs[r], qoff[params[r].term], params[r].a, params[r].b);
  // Cross blocks Z_j'Z_k (j > k) are sparse; split their entries by level once.
  std::vector<std::vector<std::tuple<Index, Index, double>>> cross(static_cast<std::size_t>(nlev));
  for (int j = 0; j < K; ++j)
    for (int k = 0; k < j; ++k) {
      const auto& S = std::get<detail::SpMat>(m.A[j][k]);
      for (Index c = 0; c < S.outerSize(); ++c)
        for (detail::SpMat::InnerIterator it(S, c); it; ++it) {
          const Index lev = it.row() / m.q[j];
          cross[static_cast<std::size_t>(lev)].emplace_back(qoff[j] + it.row() % m.q[j], qoff[k] + c % m.q[k],
                                                           it.value());
        }
    }
  ReBlock b;
  b.Lambda = Mat::Zero(Q, Q);
  for (int k = 0; k < K; ++k) b.Lambda.block(qoff[k], qoff[k], m.q[k], m.q[k]) = m.lambda[k];
  for (Index lev = 0; lev < nlev; ++lev) {
    b.S = Mat::Zero(Q, Q);
    b.SX.resize(Q, p);
    for (int k = 0; k < K; ++k) {
      const auto& d = std::get<detail::BlockDiag>(m.A[k][k]);
      b.S.block(qoff[k], qoff[k], m.q[k], m.q[k]) = d.block(lev);
      const auto& xz = std::get<Mat>(m.A[K][k]);  // (p+1) x q_k nlev: [X y]'Z_k
      b.SX.middleRows(qoff[k], m.q[k]) = xz.block(0, lev * m.q[k], p, m.q[k]).transpose();
    }
    for (const auto& [i, j, v] : cross[static_cast<std::size_t>(lev)]) b.S(i, j) = b.S(j, i) = v;
    acc.add(b, pairs);
  }
}

// Do all terms share one grouping factor (same level of every row)? Then P, Q and K are
// accumulated level by level.
bool common_grouping(const ModelFrame& f) {
  for (std::size_t k = 1; k < f.re.size(); ++k)
    if (f.re[k].refs != f.re[0].refs || f.re[k].nlevels() != f.re[0].nlevels()) return false;
  return true;
}

// Terms with different grouping factors (crossed or nested): P, Q and K of the random-effects
// parameters through detail::VinvParts (no q x q matrix of all random effects), with D_r = I ⊗ E_r:
//   P_r = -s² W'D_rW,  Q_rt = s³ W'D_r M D_t W,  K_rt = s² tr(D_r M D_t M),  W = Z'Ṽ⁻¹X, M = Z'Ṽ⁻¹Z.
// σ²'s follow from V = Σ_t γ_t G_t + σ² I, i.e. G_σ² = I = s (V - Σ_t γ_t G_t):
//   P_σ² = -s (Φ⁻¹ + Σ_t γ_t P_t),   Q_rσ² = s (-P_r - Σ_t γ_t Q_rt),   Q_σ²σ² = s (-P_σ² - Σ_t γ_t Q_σ²t),
//   K_rσ² = s (tr(V⁻¹G_r) - Σ_t γ_t K_rt),   K_σ²σ² = s (tr(V⁻¹) - Σ_t γ_t K_tσ²).
struct KrParts {
  std::vector<Mat> P, Q;  // Q: ng x ng, Q[r * ng + t]
  Mat K;
};

KrParts crossed_parts(const detail::ModelState& m, const std::vector<Param>& params, Index p) {
  const std::string why = detail::VinvParts::infeasible(m.q, m.nlev, KenwardRoger::kMaxDenseRandomEffects);
  if (!why.empty()) throw Error("Kenward-Roger for this model " + why + "; use DdfMethod::Satterthwaite");
  const double sigma = m.sigma(), s = 1.0 / (sigma * sigma);
  const detail::VinvParts vp(m);
  const int nre = static_cast<int>(params.size()), ng = nre + 1;
  std::vector<detail::TermDerivative> d;
  VectorXd gamma(nre), trV(nre);
  for (const auto& pr : params) {
    Mat E = Mat::Zero(m.q[pr.term], m.q[pr.term]);
    E(pr.a, pr.b) = E(pr.b, pr.a) = 1;
    d.push_back({pr.term, E});
    const Mat& lam = m.lambda[pr.term];
    gamma(static_cast<Index>(d.size()) - 1) = sigma * sigma * lam.row(pr.a).dot(lam.row(pr.b));
  }
  const Mat Wx = vp.zvx().leftCols(p);
  KrParts out;
  out.P.resize(static_cast<std::size_t>(ng));
  out.Q.resize(static_cast<std::size_t>(ng * ng));
  std::vector<Mat> DW(static_cast<std::size_t>(nre)), MDW(static_cast<std::size_t>(nre));
  for (int r = 0; r < nre; ++r) {
    DW[r] = vp.apply(d[r], Wx);
    MDW[r] = vp.apply(DW[r]);
    out.P[r] = -s * s * Wx.transpose() * DW[r];
    trV(r) = s * vp.trace(d[r]);
  }
  auto Q = [&](int r, int t) -> Mat& { return out.Q[static_cast<std::size_t>(r * ng + t)]; };
  for (int r = 0; r < nre; ++r)
    for (int t = r; t < nre; ++t) {
      Q(r, t) = s * s * s * DW[r].transpose() * MDW[t];
      if (t != r) Q(t, r) = Q(r, t).transpose();  // (r = t would transpose in place: aliasing)
    }
  out.K = Mat::Zero(ng, ng);
  out.K.topLeftCorner(nre, nre) = s * s * vp.trace_pairs(d);
  Mat Ps = s * vp.xvx().topLeftCorner(p, p);
  for (int t = 0; t < nre; ++t) Ps += gamma(t) * out.P[t];
  out.P[nre] = -s * Ps;
  for (int r = 0; r < nre; ++r) {
    Mat q = -out.P[r];
    double k = trV(r);
    for (int t = 0; t < nre; ++t) {
      q -= gamma(t) * Q(r, t);
      k -= gamma(t) * out.K(r, t);
    }
    Q(r, nre) = s * q;
    Q(nre, r) = Q(r, nre).transpose();
    out.K(r, nre) = out.K(nre, r) = s * k;
  }
  Mat qq = -out.P[nre];
  double kk = s * vp.trace_vinv(static_cast<double>(m.n()));
  for (int t = 0; t < nre; ++t) {
    qq -= gamma(t) * Q(nre, t);
    kk -= gamma(t) * out.K(t, nre);
  }
  Q(nre, nre) = s * qq;
  out.K(nre, nre) = s * kk;
  return out;
}

// W = 2 IE2⁻¹, with MASS::ginv's generalized inverse where IE2 is numerically singular, made
// exactly symmetric (forceSymmetric).
Mat twice_inverse(const Mat& IE2) {
  const Index ng = IE2.rows();
  Mat W;
  Eigen::SelfAdjointEigenSolver<Mat> eig(IE2);
  const double condi = eig.eigenvalues().cwiseAbs().minCoeff();
  if (condi > 1e-10) {
    W = 2 * IE2.inverse();
  } else {
    // MASS::ginv: singular values above sqrt(eps) times the largest.
    Eigen::JacobiSVD<Mat> svd(IE2, Eigen::ComputeFullU | Eigen::ComputeFullV);
    const VectorXd sv = svd.singularValues();
    const double tol = std::sqrt(std::numeric_limits<double>::epsilon()) * (sv.size() ? sv(0) : 0.0);
    Mat inv = Mat::Zero(ng, ng);
    for (Index k = 0; k < sv.size(); ++k)
      if (sv(k) > tol) inv += svd.matrixV().col(k) * svd.matrixU().col(k).transpose() / sv(k);
    W = 2 * inv;
  }
  W = 0.5 * (W + W.transpose()).eval();  // forceSymmetric
  return W;
}

// Φ_A = Φ + 2Φ U Φ and W = 2 IE2⁻¹ from P_r, Q_rt (r <= t) and K_rt, σ² among the parameters.
struct Adjusted {
  Mat PhiA, W;
};

Adjusted adjust(const Eigen::Ref<const Mat>& Phi, const std::vector<Mat>& P,
                const std::function<const Mat&(int, int)>& Qrt, const Mat& Kt) {
  const auto ng = static_cast<int>(P.size());
  // pbkrtest's IE2 (twice the expected REML information) and W = 2 IE2⁻¹.
  Mat IE2(ng, ng);
  for (int i = 0; i < ng; ++i) {
    const Mat PhiPi = Phi * P[static_cast<std::size_t>(i)];
    for (int j = i; j < ng; ++j) {
      const double t1 = (Phi.array() * Qrt(i, j).array()).sum();
      const double t2 = (PhiPi.array() * (P[static_cast<std::size_t>(j)] * Phi).array()).sum();
      IE2(i, j) = IE2(j, i) = Kt(i, j) - 2 * t1 + t2;
    }
  }
  Adjusted a;
  a.W = twice_inverse(IE2);
  const Index p = Phi.rows();
  Mat U = Mat::Zero(p, p);
  for (int i = 0; i < ng - 1; ++i)
    for (int j = i + 1; j < ng; ++j)
      U += a.W(i, j) * (Qrt(i, j) - P[static_cast<std::size_t>(i)] * Phi * P[static_cast<std::size_t>(j)]);
  U = (U + U.transpose()).eval();
  for (int i = 0; i < ng; ++i)
    U += a.W(i, i) * (Qrt(i, i) - P[static_cast<std::size_t>(i)] * Phi * P[static_cast<std::size_t>(i)]);
  a.PhiA = Phi + 2 * Phi * U * Phi;
  return a;
}

// One grouping factor: P, Q and K accumulated level by level, then Φ_A and W.
Adjusted by_level(const detail::ModelState& m, const std::vector<Param>& params, const Eigen::Ref<const Mat>& Phi,
                  Index n, std::vector<Mat>& P) {
  const Index p = Phi.rows();
  const int K = m.K;
  const double sigma = m.sigma();
  const double s = 1.0 / (sigma * sigma);
  const int nre = static_cast<int>(params.size());
  Accumulator acc(p, nre, s);
  accumulate_by_level(m, params, acc);
  const Mat XX = std::get<Mat>(m.A[K][K]).topLeftCorner(p, p);
  const Mat XS1 = s * (XX - acc.sum1);
  const Mat XS2 = s * (XS1 - acc.sum2);
  const Mat XS3 = s * (XS2 - acc.sum3);
  acc.K(nre, nre) = s * s * (static_cast<double>(n) - 2 * acc.trTS + acc.trTSTS);
  // All parameters, σ² last: P_r, Q_rt (r <= t), K.
  P = acc.P;
  P.push_back(-XS2);
  auto Qrt = [&](int r, int t) -> const Mat& {
    if (t == nre) return r == nre ? XS3 : acc.Q[acc.qsig(r)];
    return acc.Q[acc.qidx(r, t)];
  };
  return adjust(Phi, P, Qrt, acc.K.selfadjointView<Eigen::Upper>());
}

}  // namespace

KenwardRoger::KenwardRoger(const LinearMixedModel& model) {
  if (model.method() != Method::REML)
    throw Error("Kenward-Roger's method needs a REML fit (it adjusts the REML covariance of the fixed effects); "
                "refit with Method::REML, or use DdfMethod::Satterthwaite");
  const auto& m = detail::model_state(model);
  const auto& f = model.frame();
  const Index p = static_cast<Index>(f.p());
  const Index n = static_cast<Index>(f.n());
  p_ = static_cast<int>(p);
  if (p == 0) return;
  const std::vector<double> v = model.vcov();
  beta_ = model.beta();
  vcov_ = v;
  const Eigen::Map<const Mat> Phi(v.data(), p, p);
  Adjusted adj;
  std::vector<Mat> P;
  if (f.residual.any()) {
    const detail::KrIngredients kr = detail::kenward_roger_residual(model, detail::kMaxDenseResidualRows);
    const int ng = static_cast<int>(kr.P.size());
    P = kr.P;
    auto Qrt = [&](int r, int t) -> const Mat& { return kr.Q[static_cast<std::size_t>(r * ng + t)]; };
    adj = adjust(Phi, P, Qrt, kr.K);
  } else {
    const std::vector<Param> params = variance_params(m);
    if (common_grouping(f)) {
      adj = by_level(m, params, Phi, n, P);
    } else {
      const KrParts kp = crossed_parts(m, params, p);
      const int ng = static_cast<int>(kp.P.size());
      P = kp.P;
      auto Qrt = [&](int r, int t) -> const Mat& { return kp.Q[static_cast<std::size_t>(r * ng + t)]; };
      adj = adjust(Phi, P, Qrt, kp.K);
    }
  }
  vcov_adj_.assign(adj.PhiA.data(), adj.PhiA.data() + adj.PhiA.size());
  for (const auto& Pi : P) P_.emplace_back(Pi.data(), Pi.data() + Pi.size());
  W_.assign(adj.W.data(), adj.W.data() + adj.W.size());
}

namespace {

// pbkrtest's Lb_ddf / .KR_adjust for a full-row-rank L: A1, A2 and the denominator df.
struct KrStats {
  double A1 = 0, A2 = 0, df2 = NaN;
};

KrStats kr_stats(const Mat& Lm, const Eigen::Ref<const Mat>& V0, const std::vector<std::vector<double>>& Plist,
                 const Eigen::Ref<const Mat>& W) {
  const Index p = V0.rows();
  const auto ng = static_cast<Index>(Plist.size());
  const Mat Theta = Lm.transpose() * (Lm * V0 * Lm.transpose()).ldlt().solve(Lm);
  const Mat ThetaV0 = Theta * V0;
  std::vector<Mat> u(static_cast<std::size_t>(ng));
  for (Index i = 0; i < ng; ++i)
    u[static_cast<std::size_t>(i)] = ThetaV0 * Eigen::Map<const Mat>(Plist[static_cast<std::size_t>(i)].data(), p, p) * V0;
  KrStats st;
  for (Index i = 0; i < ng; ++i)
    for (Index j = i; j < ng; ++j) {
      const double e = i == j ? 1 : 2;
      const Mat& ui = u[static_cast<std::size_t>(i)];
      const Mat& uj = u[static_cast<std::size_t>(j)];
      st.A1 += e * W(i, j) * ui.trace() * uj.trace();
      st.A2 += e * W(i, j) * (ui.array() * uj.transpose().array()).sum();
    }
  const double A1 = st.A1, A2 = st.A2;
  const double qd = static_cast<double>(Lm.rows());
  const double B = (A1 + 6 * A2) / (2 * qd);
  const double g = ((qd + 1) * A1 - (qd + 4) * A2) / ((qd + 2) * A2);
  const double den = 3 * qd + 2 * (1 - g);
  const double c1 = g / den, c2 = (qd - g) / den, c3 = (qd + 2 - g) / den;
  double V0s = 1 + c1 * B;
  const double V1 = 1 - c2 * B;
  const double V2 = 1 - c3 * B;
  if (std::abs(V0s) < 1e-10) V0s = 0;
  const double x = 1 - A2 / qd;
  const double ratio = (std::abs(x) < 1e-14 && std::abs(V1) < 1e-14) ? 1.0 : x / V1;  // pbkrtest's .divZero
  const double rho = ratio * ratio * V0s / (qd * V2);
  st.df2 = 4 + (qd + 2) / (qd * rho - 1);
  return st;
}

// The rows of L as a matrix; a rank-deficient L is replaced by an orthonormal basis of its row
// space (pbkrtest's force_full_rank; the test does not depend on the basis).
Mat full_rank_rows(const ContrastMatrix& L, Index p) {
  const auto q = static_cast<Index>(L.size());
  Mat Lm(q, p);
  for (Index i = 0; i < q; ++i) {
    if (static_cast<Index>(L[static_cast<std::size_t>(i)].size()) != p)
      throw std::invalid_argument("contrast length differs from the number of fixed effects");
    for (Index j = 0; j < p; ++j) Lm(i, j) = L[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
  }
  Eigen::ColPivHouseholderQR<Mat> qr(Lm.transpose());
  const Index rank = qr.rank();
  if (rank == q) return Lm;
  const Mat Q = qr.householderQ() * Mat::Identity(p, rank);
  return Q.transpose();
}

}  // namespace

double KenwardRoger::ddf(const ContrastMatrix& L) const {
  const Index p = p_;
  if (L.empty() || p == 0) return NaN;
  const Mat Lm = full_rank_rows(L, p);
  if (Lm.rows() == 0) return NaN;
  const auto ng = static_cast<Index>(P_.size());
  return kr_stats(Lm, Eigen::Map<const Mat>(vcov_.data(), p, p), P_, Eigen::Map<const Mat>(W_.data(), ng, ng)).df2;
}

FTest KenwardRoger::test(const ContrastMatrix& L) const {
  FTest r;
  const Index p = p_;
  if (L.empty() || p == 0) return r;
  const Mat Lm = full_rank_rows(L, p);
  const Index q = Lm.rows();
  if (q == 0) return r;
  const auto ng = static_cast<Index>(P_.size());
  const Eigen::Map<const Mat> Phi(vcov_.data(), p, p), PhiA(vcov_adj_.data(), p, p);
  const KrStats st = kr_stats(Lm, Phi, P_, Eigen::Map<const Mat>(W_.data(), ng, ng));
  // pbkrtest's .KR_adjust: Wald statistic with Φ_A, scaled by df2 (1 - A2/q) / (df2 - 2).
  const double qd = static_cast<double>(q);
  const double scaling = std::abs(st.df2 - 2) < 1e-2 ? 1.0 : st.df2 * (1 - st.A2 / qd) / (st.df2 - 2);
  const Eigen::Map<const VectorXd> beta(beta_.data(), p);
  const VectorXd Lb = Lm * beta;
  const double wald = Lb.dot((Lm * PhiA * Lm.transpose()).ldlt().solve(Lb));
  r.num_df = static_cast<int>(q);
  r.den_df = st.df2;
  r.F = scaling * wald / qd;
  r.p = detail::f_pvalue(r.F, qd, r.den_df);
  return r;
}

TTest KenwardRoger::test(const std::vector<double>& c) const {
  TTest r;
  const auto p = static_cast<std::size_t>(p_);
  if (c.size() != p) throw std::invalid_argument("contrast length differs from the number of fixed effects");
  r.estimate = 0;
  double var = 0;
  for (std::size_t j = 0; j < p; ++j) {
    r.estimate += c[j] * beta_[j];
    for (std::size_t i = 0; i < p; ++i) var += c[i] * vcov_adj_[j * p + i] * c[j];
  }
  r.std_error = std::sqrt(var);
  r.t = r.estimate / r.std_error;
  r.df = ddf({c});
  r.p = detail::t_pvalue(r.t, r.df);
  return r;
}

std::string detail::kenward_roger_unavailable(const ModelFrame& f) {
  if (f.residual.any() || common_grouping(f)) return {};
  std::vector<int> q;
  std::vector<Index> nlev;
  for (const auto& t : f.re) {
    q.push_back(t.q());
    nlev.push_back(static_cast<Index>(t.nlevels()));
  }
  const std::string why = VinvParts::infeasible(q, nlev, KenwardRoger::kMaxDenseRandomEffects);
  return why.empty() ? why : "Kenward-Roger for this model " + why;
}

}  // namespace lmm
