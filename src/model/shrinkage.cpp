#include "lmm/shrinkage.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "lmm/error.h"

namespace lmm {

ShrinkageTable shrinkage(const LinearMixedModel& model) {
  const ModelFrame& f = model.frame();
  for (const ReTermData& t : f.re)
    if (t.group != f.re.front().group)
      throw Error(
          "shrinkage compares each level's own fit with its mixed-model estimate for one grouping "
          "factor; "
          "this model has random effects for " +
          f.re.front().group + " and " + t.group);
  ShrinkageTable out;
  out.group = f.re.front().group;
  std::vector<std::size_t> offset;  // where each term's columns start among the combined columns
  for (const ReTermData& t : f.re) {
    offset.push_back(out.terms.size());
    out.terms.insert(out.terms.end(), t.names.begin(), t.names.end());
  }
  const auto Q = static_cast<Eigen::Index>(out.terms.size());
  const std::size_t n = f.n(), p = f.p();
  const std::size_t L = f.re.front().nlevels();
  const auto beta = model.beta();
  const auto fitted = model.fitted();
  const auto modes = model.ranef();
  std::vector<double> xb(n, 0.0);
  for (std::size_t c = 0; c < p; ++c)
    for (std::size_t i = 0; i < n; ++i) xb[i] += f.X[c * n + i] * beta[c];
  // The random effects' SDs, for the distance.
  std::vector<double> sd;
  {
    const auto lam = model.lambda();
    const double s = model.sigma();
    for (std::size_t j = 0; j < f.re.size(); ++j) {
      const int q = f.re[j].q();
      Eigen::Map<const Eigen::MatrixXd> l(lam[j].data(), q, q);
      const Eigen::MatrixXd S = s * s * l * l.transpose();
      for (int a = 0; a < q; ++a) sd.push_back(std::sqrt(S(a, a)));
    }
  }
  std::vector<std::vector<std::size_t>> rows_of(L);
  for (std::size_t i = 0; i < n; ++i)
    rows_of[static_cast<std::size_t>(f.re.front().refs[i])].push_back(i);
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t l = 0; l < L; ++l) {
    ShrinkageRow row;
    row.level = f.re.front().levels[l];
    const auto& rows = rows_of[l];
    row.n = rows.size();
    const auto ni = static_cast<Eigen::Index>(rows.size());
    Eigen::MatrixXd Z(ni, Q);
    Eigen::VectorXd y(ni), fv(ni), pv(ni);
    for (Eigen::Index r = 0; r < ni; ++r) {
      const std::size_t i = rows[static_cast<std::size_t>(r)];
      for (std::size_t j = 0; j < f.re.size(); ++j) {
        const int q = f.re[j].q();
        for (int a = 0; a < q; ++a)
          Z(r, static_cast<Eigen::Index>(offset[j]) + a) =
              f.re[j].z[i * static_cast<std::size_t>(q) + static_cast<std::size_t>(a)];
      }
      y[r] = f.y[i];
      fv[r] = fitted[i];
      pv[r] = xb[i];
    }
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(Z);
    qr.setThreshold(1e-10);
    row.own_fit = ni >= Q && qr.rank() == Q;
    row.ols.assign(static_cast<std::size_t>(Q), nan);
    row.blup.assign(static_cast<std::size_t>(Q), nan);
    row.population.assign(static_cast<std::size_t>(Q), nan);
    if (row.own_fit) {
      const Eigen::VectorXd o = qr.solve(y), b = qr.solve(fv), pp = qr.solve(pv);
      for (Eigen::Index a = 0; a < Q; ++a) {
        row.ols[static_cast<std::size_t>(a)] = o[a];
        row.blup[static_cast<std::size_t>(a)] = b[a];
        row.population[static_cast<std::size_t>(a)] = pp[a];
      }
      row.projected = true;
    } else {
      out.too_few.push_back(row.level);
      for (std::size_t j = 0; j < f.re.size(); ++j) {
        const int q = f.re[j].q();
        for (int a = 0; a < q; ++a) {
          const std::size_t k = offset[j] + static_cast<std::size_t>(a);
          const auto it = std::find(f.fixed_names.begin(), f.fixed_names.end(), out.terms[k]);
          const double fixed = it == f.fixed_names.end()
                                   ? 0.0
                                   : beta[static_cast<std::size_t>(it - f.fixed_names.begin())];
          row.population[k] = fixed;
          row.blup[k] =
              fixed + modes[j][l * static_cast<std::size_t>(q) + static_cast<std::size_t>(a)];
        }
      }
    }
    row.moved.assign(static_cast<std::size_t>(Q), nan);
    row.fraction.assign(static_cast<std::size_t>(Q), nan);
    row.distance = row.own_fit ? 0.0 : nan;
    if (row.own_fit)
      for (std::size_t a = 0; a < static_cast<std::size_t>(Q); ++a) {
        row.moved[a] = row.blup[a] - row.ols[a];
        const double gap = row.ols[a] - row.population[a];
        if (gap != 0) row.fraction[a] = (row.ols[a] - row.blup[a]) / gap;
        if (sd[a] > 0) row.distance += (row.moved[a] / sd[a]) * (row.moved[a] / sd[a]);
      }
    if (row.own_fit) row.distance = std::sqrt(row.distance);
    out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace lmm
