// The residual structure of a saved model at new rows (simulate_from_saved): the rows' groups,
// times, visits and SD levels coded against the saved levels, and per group the Cholesky factor of
// D R D at the saved estimates, for drawing correlated residuals.
#include <fmt/format.h>

#include <Eigen/Dense>
#include <cmath>
#include <set>
#include <unordered_map>

#include "lmm/error.h"
#include "lmm/table_io.h"
#include "model/residual.h"

namespace lmm::detail {

namespace {

[[noreturn]] void bad_cell(const std::string& column, std::size_t row, const std::string& what) {
  throw Error(fmt::format("column '{}', row {}: {}", column, row + 1, what));
}

// The cell's label among the saved `levels`.
std::int32_t saved_level(const Column& c, const std::string& name, std::size_t row,
                         const std::vector<std::string>& levels) {
  if (c.missing(row)) bad_cell(name, row, "is missing");
  const std::string label = format_cell(c, row);
  for (std::size_t l = 0; l < levels.size(); ++l)
    if (levels[l] == label) return static_cast<std::int32_t>(l);
  bad_cell(name, row, "'" + label + "' is not one of the levels the model was fitted to");
}

// Groups, then ar1/car1 times or us visits, each distinct within its group.
void code_structure(const ResidualOptions& o, const DataFrame& data,
                    const std::vector<std::size_t>& rows, ResidualData& r) {
  const Column& g = data.at(o.group);
  std::unordered_map<std::string, std::int32_t> index;
  for (std::size_t row : rows) {
    if (g.missing(row)) bad_cell(o.group, row, "is missing");
    const auto [it, fresh] =
        index.emplace(format_cell(g, row), static_cast<std::int32_t>(r.group_levels.size()));
    if (fresh) r.group_levels.push_back(it->first);
    r.group.push_back(it->second);
  }
  if (o.structure == "cs") return;
  const Column& t = data.at(o.time);
  std::set<std::pair<std::int32_t, double>> seen;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    double key = 0;
    if (o.structure == "us") {
      r.visit.push_back(saved_level(t, o.time, rows[i], r.visit_levels));
      key = r.visit.back();
    } else {
      if (!t.is_numeric() || t.missing(rows[i]) || !std::isfinite(t.numbers[rows[i]]))
        bad_cell(o.time, rows[i], "is not a finite number (the structure's time)");
      key = t.numbers[rows[i]];
      if (o.structure == "ar1" && key != std::floor(key))
        bad_cell(o.time, rows[i],
                 "is not a whole number (ar1's lag is a difference of integer times)");
      r.time.push_back(key);
    }
    if (!seen.emplace(r.group[i], key).second)
      bad_cell(o.time, rows[i], "repeats a time within its " + o.group);
  }
}

}  // namespace

std::vector<SimulationDesign::ResidualBlock> residual_blocks(const ModelFrame& f,
                                                             const ResidualCovariance& rc,
                                                             const double* eta) {
  const ResidualGroups g = residual_groups(f, rc, eta);
  std::vector<SimulationDesign::ResidualBlock> out(g.rows.size());
  for (std::size_t k = 0; k < g.rows.size(); ++k) {
    const Mat L = g.omega[k].llt().matrixL();
    out[k].rows = g.rows[k];
    out[k].chol.assign(L.data(), L.data() + L.size());
  }
  return out;
}

std::vector<SimulationDesign::ResidualBlock> saved_residual_blocks(
    const ResidualData& saved, const DataFrame& data, const std::vector<std::size_t>& rows) {
  ModelFrame f;
  f.y.assign(rows.size(), 0.0);
  f.residual.options = saved.options;
  f.residual.visit_levels = saved.visit_levels;
  f.residual.sd_levels = saved.sd_levels;
  if (!saved.options.structure.empty()) code_structure(saved.options, data, rows, f.residual);
  if (!saved.options.sd_by.empty()) {
    const Column& s = data.at(saved.options.sd_by);
    for (std::size_t row : rows)
      f.residual.sd_by.push_back(saved_level(s, saved.options.sd_by, row, saved.sd_levels));
  }
  const ResidualCovariance rc(f);
  const std::vector<double> eta = rc.start();  // the saved estimates (ResidualOptions::value)
  return residual_blocks(f, rc, eta.data());
}

std::vector<double> saved_sd_ratios(const ResidualData& saved, const DataFrame& data,
                                    const std::vector<std::size_t>& rows) {
  std::vector<double> out(rows.size(), 1.0);
  const std::string& by = saved.options.sd_by;
  if (by.empty()) return out;
  const std::size_t nl = saved.sd_levels.size();
  const auto& value = saved.options.value;
  if (nl < 1 || value.size() < nl - 1) throw Error("the saved model's residual SD ratios are incomplete");
  const Column& c = data.at(by);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto l = static_cast<std::size_t>(saved_level(c, by, rows[i], saved.sd_levels));
    if (l > 0) out[i] = value[value.size() - (nl - 1) + (l - 1)];
  }
  return out;
}

}  // namespace lmm::detail
