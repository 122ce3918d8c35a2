// nlme's normalized residuals (resid(m, type = "normalized")) for a model with a residual
// structure: per group of the structure, the conditional residuals r = y - Xβ̂ - Zb̂ in the
// structure's order (time, visit, or row order for cs), divided by σ and premultiplied by the
// inverse of the lower Cholesky factor of D R D, so that they are uncorrelated with unit variance
// under the model. D R D comes from its inverse, the structure's coefficients on its pairs of rows
// (src/model/residual.h).
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "lmm/residuals.h"
#include "model/model_access.h"
#include "model/residual.h"

namespace lmm {

namespace detail {

namespace {

std::vector<std::vector<std::uint32_t>> structure_groups(const ModelFrame& f) {
  const ResidualData& r = f.residual;
  const std::size_t n = f.n();
  if (r.options.structure.empty()) {
    std::vector<std::vector<std::uint32_t>> g(n);
    for (std::uint32_t i = 0; i < n; ++i) g[i] = {i};
    return g;
  }
  std::vector<std::vector<std::uint32_t>> g(r.group_levels.size());
  for (std::uint32_t i = 0; i < n; ++i) g[static_cast<std::size_t>(r.group[i])].push_back(i);
  const bool by_time = r.options.structure == "ar1" || r.options.structure == "car1";
  const bool by_visit = r.options.structure == "us";
  for (auto& rows : g)
    std::stable_sort(rows.begin(), rows.end(), [&](std::uint32_t a, std::uint32_t b) {
      if (by_time) return r.time[a] < r.time[b];
      if (by_visit) return r.visit[a] < r.visit[b];
      return a < b;
    });
  return g;
}

}  // namespace

ResidualGroups residual_groups(const ModelFrame& f, const ResidualCovariance& rc, const double* eta) {
  ResidualGroups out;
  out.rows = structure_groups(f);
  std::vector<std::uint32_t> group_of(f.n()), local(f.n());
  for (std::size_t g = 0; g < out.rows.size(); ++g)
    for (std::size_t k = 0; k < out.rows[g].size(); ++k) {
      group_of[out.rows[g][k]] = static_cast<std::uint32_t>(g);
      local[out.rows[g][k]] = static_cast<std::uint32_t>(k);
    }
  std::vector<std::vector<ResidualPair>> pairs(out.rows.size());
  for (const ResidualPair& p : rc.pairs()) pairs[group_of[p.a]].push_back(p);
  const std::vector<double> c = rc.coefficients(eta);
  for (std::size_t g = 0; g < out.rows.size(); ++g) {
    const auto n = static_cast<Eigen::Index>(out.rows[g].size());
    Mat Pi = Mat::Zero(n, n);
    for (const ResidualPair& p : pairs[g]) {
      Pi(local[p.a], local[p.b]) += c[p.key];
      if (p.a != p.b) Pi(local[p.b], local[p.a]) += c[p.key];
    }
    out.omega.push_back(Pi.llt().solve(Mat::Identity(n, n)));
  }
  return out;
}

}  // namespace detail

std::vector<double> normalized_residuals(const LinearMixedModel& model) {
  const auto& m = detail::model_state(model);
  const ModelFrame& f = model.frame();
  std::vector<double> res = model.residuals();
  const double sigma = model.sigma();
  if (!f.weights.empty())
    for (std::size_t i = 0; i < res.size(); ++i) res[i] *= std::sqrt(f.weights[i]);
  if (!m.residual) {
    for (double& x : res) x /= sigma;
    return res;
  }
  const detail::ResidualGroups groups = detail::residual_groups(f, *m.residual, m.residual_eta.data());
  std::vector<double> out(res.size());
  for (std::size_t g = 0; g < groups.rows.size(); ++g) {
    const auto& rows = groups.rows[g];
    const auto n = static_cast<Eigen::Index>(rows.size());
    if (n == 0) continue;
    Eigen::VectorXd r(n);
    for (Eigen::Index k = 0; k < n; ++k) r(k) = res[rows[static_cast<std::size_t>(k)]] / sigma;
    const Eigen::VectorXd z = groups.omega[g].llt().matrixL().solve(r);
    for (Eigen::Index k = 0; k < n; ++k) out[rows[static_cast<std::size_t>(k)]] = z(k);
  }
  return out;
}

}  // namespace lmm
