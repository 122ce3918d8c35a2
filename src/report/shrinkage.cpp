// Shrinkage: each level's own least-squares fit beside the model's coefficients for it (the partial
// pooling of Gelman & Hill 2007, ch. 12). The BLUP-based coefficients are the population part
// projected onto the level's z columns plus its conditional modes b (Bates et al. 2015, eq. 7).
//
// A stand-in written for the report (issue 5) while the trajectories work (issue 4) lands
// `lmm shrinkage`; the lead may keep one of the two at merge.
#include <Eigen/Dense>
#include <fmt/format.h>

#include "lmm/report_data.h"

namespace lmm::report {

namespace {

// Least squares of v on Z, or nothing when Z has fewer rows than columns or is rank-deficient.
bool least_squares(const Eigen::MatrixXd& Z, const Eigen::VectorXd& v, std::vector<double>& out) {
  if (Z.rows() < Z.cols()) return false;
  Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(Z);
  if (qr.rank() < Z.cols()) return false;
  const Eigen::VectorXd c = qr.solve(v);
  out.assign(c.data(), c.data() + c.size());
  return true;
}

}  // namespace

Shrinkage shrinkage(const LinearMixedModel& model) {
  const ModelFrame& f = model.frame();
  Shrinkage sh;
  if (f.re.empty()) {
    sh.reason = "the model has no random effects";
    return sh;
  }
  sh.group = f.re[0].group;
  for (const auto& t : f.re)
    if (t.group != sh.group || t.levels != f.re[0].levels) {
      sh.reason = fmt::format("shrinkage is drawn for one grouping factor; this model has {} and {}", sh.group, t.group);
      return sh;
    }
  for (const auto& t : f.re)
    for (const auto& name : t.names) sh.coef_names.push_back(name);
  const int Q = static_cast<int>(sh.coef_names.size());
  for (int a = 0; a < Q; ++a)
    for (int b = 0; b < a; ++b)
      if (sh.coef_names[a] == sh.coef_names[b]) {
        sh.reason = fmt::format("the column '{}' appears in two random-effects terms for {}", sh.coef_names[a], sh.group);
        return sh;
      }
  sh.available = true;

  const std::size_t n = f.n(), p = f.p(), L = f.re[0].nlevels();
  const auto beta = model.beta();
  const auto re = model.ranef();
  std::vector<std::vector<std::size_t>> rows(L);
  for (std::size_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(f.re[0].refs[i])].push_back(i);

  for (std::size_t l = 0; l < L; ++l) {
    ShrinkageLevel lev;
    lev.level = f.re[0].levels[l];
    lev.nobs = rows[l].size();
    const auto m = static_cast<Eigen::Index>(rows[l].size());
    Eigen::MatrixXd Z(m, Q);
    Eigen::VectorXd y(m), xb(m);
    for (Eigen::Index r = 0; r < m; ++r) {
      const std::size_t i = rows[l][static_cast<std::size_t>(r)];
      int col = 0;
      for (const auto& t : f.re)
        for (int a = 0; a < t.q(); ++a) Z(r, col++) = t.z[i * static_cast<std::size_t>(t.q()) + a];
      y(r) = f.y[i];
      double s = 0;
      for (std::size_t c = 0; c < p; ++c) s += f.X[c * n + i] * beta[c];
      xb(r) = s;
    }
    lev.has_ols = least_squares(Z, y, lev.ols);
    if (lev.has_ols && least_squares(Z, xb, lev.population)) {
      lev.blup = lev.population;
      int col = 0;
      for (std::size_t j = 0; j < f.re.size(); ++j)
        for (int a = 0; a < f.re[j].q(); ++a) lev.blup[col++] += re[j][l * static_cast<std::size_t>(f.re[j].q()) + a];
    } else {
      lev.has_ols = false;
      lev.ols.clear();
      sh.without_ols.push_back(lev.level);
    }
    sh.levels.push_back(std::move(lev));
  }
  return sh;
}

}  // namespace lmm::report
