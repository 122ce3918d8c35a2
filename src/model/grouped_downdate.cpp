// The downdate of a dense diagonal block by the first term's column when that term has one random
// effect per level (crossed designs: `(1 | subject) + (1 | item)`).
//
// With q_0 = 1, L_00 is diagonal with L_00(c)² = λ_0² a_c + 1 (a_c = A_00(c), the level's count
// for an intercept), and column c of L_i0 is Λ_i' A_i0(:, c) λ_0 / L_00(c). Hence
//   L_i0 L_i0' = Λ_i' [Σ_c w(a_c) A_i0(:, c) A_i0(:, c)'] Λ_i,   w(a) = λ_0² / (λ_0² a + 1),
// and w depends on c only through a_c. Grouping the levels of term 0 by a_c, the sums
// B_g = Σ_{c: a_c = α_g} A_i0(:, c) A_i0(:, c)' are fixed; each evaluation forms Σ_g w(α_g) B_g,
// G dense axpys, instead of scattering Σ_c nnz(c)² products. In a balanced design (every subject
// rates as many items) G = 1. Used where it is cheaper and its memory (G dense blocks) modest.
#include <algorithm>
#include <map>

#include "model/model_impl.h"

namespace lmm {

using detail::BlockDiag;
using detail::Mat;
using detail::SpMat;

void detail::ModelState::setup_grouped_downdates() {
  grouped.assign(static_cast<std::size_t>(K), {});
  if (K < 2 || q[0] != 1 || residual) return;
  const auto& A00 = std::get<BlockDiag>(A[0][0]);
  std::map<double, int> group_of;
  std::vector<int> group(static_cast<std::size_t>(nlev[0]));
  for (Eigen::Index c = 0; c < nlev[0]; ++c) {
    auto it = group_of.emplace(A00.data(0, c), static_cast<int>(group_of.size())).first;
    group[static_cast<std::size_t>(c)] = it->second;
  }
  const auto G = static_cast<double>(group_of.size());
  constexpr double kMaxDoubles = 5e7;  // 400 MB of precomputed blocks at most
  for (int i = 1; i < K; ++i) {
    if (!std::holds_alternative<Mat>(L[i][i]) || !std::holds_alternative<SpMat>(L[i][0])) continue;
    const auto& S = std::get<SpMat>(A[i][0]);
    const auto m = static_cast<double>(S.rows());
    double scatter = 0;
    for (Eigen::Index c = 0; c < S.outerSize(); ++c) {
      const double nz = static_cast<double>(S.outerIndexPtr()[c + 1] - S.outerIndexPtr()[c]);
      scatter += 0.5 * nz * nz;
    }
    if (G * m * m > std::min(scatter, kMaxDoubles)) continue;
    GroupedDowndate g;
    g.alpha.resize(group_of.size());
    for (const auto& [a, k] : group_of) g.alpha[static_cast<std::size_t>(k)] = a;
    g.B.assign(group_of.size(), Mat::Zero(S.rows(), S.rows()));
    SpMat compressed;
    const SpMat* s = &S;
    if (!S.isCompressed()) {
      compressed = S;
      compressed.makeCompressed();
      s = &compressed;
    }
    // B(a, b) += S(a, c) S(b, c) on the lower triangle (rows ascending within a column), down each
    // column of B, then the upper triangle as its mirror: the same sums (S(a, c) S(b, c) and
    // S(b, c) S(a, c) are one product), half the scattered updates, and none walking B's rows.
    const int* outer = s->outerIndexPtr();
    const int* inner = s->innerIndexPtr();
    const double* val = s->valuePtr();
    for (Eigen::Index c = 0; c < s->outerSize(); ++c) {
      Mat& B = g.B[static_cast<std::size_t>(group[static_cast<std::size_t>(c)])];
      for (int kb = outer[c]; kb < outer[c + 1]; ++kb) {
        double* col = B.data() + static_cast<Eigen::Index>(inner[kb]) * B.rows();
        const double vb = val[kb];
        for (int ka = kb; ka < outer[c + 1]; ++ka) col[inner[ka]] += val[ka] * vb;
      }
    }
    for (Mat& B : g.B)
      for (Eigen::Index j = 1; j < B.cols(); ++j)
        for (Eigen::Index i = 0; i < j; ++i) B(i, j) = B(j, i);
    grouped[static_cast<std::size_t>(i)] = std::move(g);
  }
}

bool detail::ModelState::grouped_downdate(int i) {
  if (i >= static_cast<int>(grouped.size())) return false;
  const GroupedDowndate& g = grouped[static_cast<std::size_t>(i)];
  if (g.B.empty()) return false;
  const double l2 = lambda[0](0, 0) * lambda[0](0, 0);
  Mat& T = std::get<Mat>(L[i][i]);
  if (q[i] == 1) {
    // T -= λ_i² Σ_g w_g B_g, on the lower triangle (all the Cholesky reads).
    const double li2 = lambda[i](0, 0) * lambda[i](0, 0);
    for (std::size_t k = 0; k < g.B.size(); ++k) {
      const double w = li2 * l2 / (l2 * g.alpha[k] + 1);
      T.triangularView<Eigen::Lower>() -= w * g.B[k];
    }
    return true;
  }
  Mat D = Mat::Zero(T.rows(), T.cols());
  for (std::size_t k = 0; k < g.B.size(); ++k) D += (l2 / (l2 * g.alpha[k] + 1)) * g.B[k];
  detail::right_mult_lambda(D, lambda[i]);
  detail::left_mult_lambda_t(D, lambda[i]);
  T -= D;
  return true;
}

}  // namespace lmm
