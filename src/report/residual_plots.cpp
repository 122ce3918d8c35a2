// The report's plots of a residual structure: nlme's ACF of the normalized residuals, and the
// fitted residual covariance of one group (report_data.h).
#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <fmt/format.h>

#include "lmm/error.h"
#include "lmm/report_data.h"
#include "lmm/residuals.h"
#include "model/model_access.h"
#include "model/residual.h"
#include "report/plot_detail.h"

namespace lmm::report {

namespace {

// The groups of the ACF, each in its order: the structure's groups, else the levels of the first
// random-effects term in row order (nlme's lme splits its residuals by the grouping factor).
std::vector<std::vector<std::uint32_t>> acf_groups(const LinearMixedModel& model, std::string& group) {
  const ModelFrame& f = model.frame();
  const auto& m = lmm::detail::model_state(model);
  if (m.residual && !f.residual.options.structure.empty()) {
    group = f.residual.options.group;
    return lmm::detail::residual_groups(f, *m.residual, m.residual_eta.data()).rows;
  }
  if (f.re.empty())
    throw Error("normalized_residual_acf: the model has neither a residual structure nor a random-effects term to group "
                "its residuals by");
  const ReTermData& t = f.re.front();
  group = t.group;
  std::vector<std::vector<std::uint32_t>> g(t.levels.size());
  for (std::uint32_t i = 0; i < f.n(); ++i) g[static_cast<std::size_t>(t.refs[i])].push_back(i);
  return g;
}

// The rows' labels in the matrix: time values, visit levels, or positions for cs.
std::vector<std::string> time_labels(const ResidualData& r, const std::vector<std::uint32_t>& rows) {
  std::vector<std::string> out;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const std::uint32_t i = rows[k];
    if (r.options.structure == "us")
      out.push_back(r.visit_levels[static_cast<std::size_t>(r.visit[i])]);
    else if (r.options.structure == "cs")
      out.push_back(std::to_string(k + 1));
    else
      out.push_back(fmt::format("{}", r.time[i]));
  }
  return out;
}

void add_matrix(const LinearMixedModel& model, ResidualStructurePlot& out) {
  const ModelFrame& f = model.frame();
  const auto& m = lmm::detail::model_state(model);
  const ResidualData& r = f.residual;
  const lmm::detail::ResidualGroups g = lmm::detail::residual_groups(f, *m.residual, m.residual_eta.data());
  std::size_t best = 0;
  for (std::size_t k = 1; k < g.rows.size(); ++k)
    if (g.rows[k].size() > g.rows[best].size()) best = k;
  const auto& rows = g.rows[best];
  out.matrix_group = r.options.group;
  out.matrix_level = r.group_levels[static_cast<std::size_t>(r.group[rows.front()])];
  out.time_name = r.options.structure == "cs" ? "row" : r.options.time;
  out.times = time_labels(r, rows);
  const lmm::detail::Mat& om = g.omega[best];
  const double s2 = model.sigma() * model.sigma();
  const auto nt = om.rows();
  for (Eigen::Index a = 0; a < nt; ++a)
    for (Eigen::Index b = 0; b < nt; ++b) {
      out.covariance.push_back(s2 * om(a, b));
      out.correlation.push_back(om(a, b) / std::sqrt(om(a, a) * om(b, b)));
    }
}

}  // namespace

ResidualAcf normalized_residual_acf(const LinearMixedModel& model) {
  ResidualAcf out;
  const auto groups = acf_groups(model, out.group);
  const std::vector<double> z = normalized_residuals(model);
  std::size_t longest = 0;
  for (const auto& g : groups) longest = std::max(longest, g.size());
  if (longest == 0) throw Error("normalized_residual_acf: the model has no rows");
  const std::size_t maxl = longest - 1;
  const auto max_lag = std::min(maxl, static_cast<std::size_t>(10 * std::log10(static_cast<double>(maxl + 1))));
  std::vector<double> sum(max_lag + 1, 0.0);
  out.n_used.assign(max_lag + 1, 0);
  for (const auto& g : groups)
    for (std::size_t k = 0; k <= max_lag && k < g.size(); ++k) {
      for (std::size_t i = 0; i + k < g.size(); ++i) sum[k] += z[g[i]] * z[g[i + k]];
      out.n_used[k] += g.size() - k;
    }
  const double q = boost::math::quantile(boost::math::normal(), 0.975);
  const double c0 = sum[0] / static_cast<double>(out.n_used[0]);
  for (std::size_t k = 0; k <= max_lag; ++k) {
    const auto n = static_cast<double>(out.n_used[k]);
    out.lag.push_back(static_cast<int>(k));
    out.acf.push_back(sum[k] / n / c0);
    out.bound.push_back(q / std::sqrt(n));
  }
  return out;
}

ResidualStructurePlot detail::residual_structure_plot(const LinearMixedModel& model) {
  ResidualStructurePlot out;
  const ModelFrame& f = model.frame();
  if (!f.residual.any()) return out;
  out.available = true;
  out.structure = f.residual.options.structure;
  out.sd_by = f.residual.options.sd_by;
  if (!out.structure.empty() || !f.re.empty()) {
    out.acf = normalized_residual_acf(model);
    out.has_acf = out.acf.lag.size() > 1;
    if (!out.has_acf) out.acf_reason = "every group has a single row";
  } else {
    out.acf_reason = "the residuals have no grouping (no correlation structure and no random-effects term)";
  }
  if (!out.structure.empty()) add_matrix(model, out);
  return out;
}

}  // namespace lmm::report
