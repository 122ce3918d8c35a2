// Shrinkage: each level's own least-squares fit beside the model's coefficients for it (the partial
// pooling of Gelman & Hill 2007, ch. 12). The BLUP-based coefficients are the least-squares
// summary of the level's conditional fitted values Xβ + Zb on its z columns (Bates et al. 2015,
// eq. 7); used by `lmm shrinkage`, the report and the explorer.
#include "lmm/shrinkage.h"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

namespace lmm {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Why the model has no shrinkage table, or "".
std::string table_problem(const ModelFrame& f) {
  if (f.re.empty()) return "the model has no random effects";
  for (const ReTermData& t : f.re)
    if (t.group != f.re.front().group)
      return fmt::format(
          "shrinkage compares each level's own fit with its mixed-model estimate for one grouping "
          "factor; this model has random effects for {} and {}",
          f.re.front().group, t.group);
  std::vector<std::string> names;
  for (const ReTermData& t : f.re)
    for (const auto& name : t.names) {
      if (std::find(names.begin(), names.end(), name) != names.end())
        return fmt::format("the column '{}' appears in two random-effects terms for {}", name,
                           f.re.front().group);
      names.push_back(name);
    }
  return "";
}

// The random effects' SDs, column by column over the terms (for the distance).
std::vector<double> re_sds(const LinearMixedModel& model) {
  const ModelFrame& f = model.frame();
  const auto lam = model.lambda();
  const double s = model.sigma();
  std::vector<double> sd;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const int q = f.re[j].q();
    Eigen::Map<const Eigen::MatrixXd> l(lam[j].data(), q, q);
    const Eigen::MatrixXd S = s * s * l * l.transpose();
    for (int a = 0; a < q; ++a) sd.push_back(std::sqrt(S(a, a)));
  }
  return sd;
}

// What every level needs: the model's fitted values, Xβ, β, the modes and the SDs.
struct Inputs {
  const ModelFrame& f;
  std::vector<double> fitted, xb, beta, sd;
  std::vector<std::vector<double>> modes;
  std::vector<std::size_t> offset;  // where each term's columns start among the combined columns
  Eigen::Index Q = 0;
};

// Without an own fit: coef() (β of the same name, plus b), for reference.
void coef_fallback(const Inputs& in, std::size_t l, ShrinkageRow& row, const ShrinkageTable& t) {
  const ModelFrame& f = in.f;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const auto q = static_cast<std::size_t>(f.re[j].q());
    for (std::size_t a = 0; a < q; ++a) {
      const std::size_t k = in.offset[j] + a;
      const auto it = std::find(f.fixed_names.begin(), f.fixed_names.end(), t.terms[k]);
      const double fixed =
          it == f.fixed_names.end() ? 0.0 : in.beta[static_cast<std::size_t>(it - f.fixed_names.begin())];
      row.population[k] = fixed;
      row.blup[k] = fixed + in.modes[j][l * q + a];
    }
  }
}

ShrinkageRow level_row(const Inputs& in, std::size_t l, const std::vector<std::size_t>& rows,
                       const ShrinkageTable& t) {
  const ModelFrame& f = in.f;
  const Eigen::Index Q = in.Q;
  ShrinkageRow row;
  row.level = f.re.front().levels[l];
  row.n = rows.size();
  const auto ni = static_cast<Eigen::Index>(rows.size());
  Eigen::MatrixXd Z(ni, Q);
  Eigen::VectorXd y(ni), fv(ni), pv(ni);
  for (Eigen::Index r = 0; r < ni; ++r) {
    const std::size_t i = rows[static_cast<std::size_t>(r)];
    for (std::size_t j = 0; j < f.re.size(); ++j) {
      const auto q = static_cast<std::size_t>(f.re[j].q());
      for (std::size_t a = 0; a < q; ++a)
        Z(r, static_cast<Eigen::Index>(in.offset[j] + a)) = f.re[j].z[i * q + a];
    }
    y[r] = f.y[i];
    fv[r] = in.fitted[i];
    pv[r] = in.xb[i];
  }
  const auto nq = static_cast<std::size_t>(Q);
  row.ols.assign(nq, kNaN);
  row.blup.assign(nq, kNaN);
  row.population.assign(nq, kNaN);
  row.moved.assign(nq, kNaN);
  row.fraction.assign(nq, kNaN);
  row.distance = kNaN;
  Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(Z);
  qr.setThreshold(1e-10);
  if (ni < Q)
    row.reason = fmt::format("{} observation{} for {} columns", ni, ni == 1 ? "" : "s", Q);
  else if (qr.rank() < Q)
    row.reason = "its random-effects columns are collinear within the level";
  if (!row.reason.empty()) {
    coef_fallback(in, l, row, t);
    return row;
  }
  row.own_fit = row.projected = true;
  const Eigen::VectorXd o = qr.solve(y), b = qr.solve(fv), pp = qr.solve(pv);
  row.distance = 0;
  for (std::size_t a = 0; a < nq; ++a) {
    const auto e = static_cast<Eigen::Index>(a);
    row.ols[a] = o[e];
    row.blup[a] = b[e];
    row.population[a] = pp[e];
    row.moved[a] = row.blup[a] - row.ols[a];
    const double gap = row.ols[a] - row.population[a];
    if (gap != 0) row.fraction[a] = (row.ols[a] - row.blup[a]) / gap;
    if (in.sd[a] > 0) row.distance += (row.moved[a] / in.sd[a]) * (row.moved[a] / in.sd[a]);
  }
  row.distance = std::sqrt(row.distance);
  return row;
}

}  // namespace

ShrinkageTable shrinkage(const LinearMixedModel& model) {
  const ModelFrame& f = model.frame();
  ShrinkageTable out;
  out.reason = table_problem(f);
  if (!out.reason.empty()) return out;
  out.group = f.re.front().group;
  Inputs in{f, model.fitted(), std::vector<double>(f.n(), 0.0), model.beta(), re_sds(model),
            model.ranef(), {}, 0};
  for (const ReTermData& t : f.re) {
    in.offset.push_back(out.terms.size());
    out.terms.insert(out.terms.end(), t.names.begin(), t.names.end());
  }
  in.Q = static_cast<Eigen::Index>(out.terms.size());
  const std::size_t n = f.n();
  for (std::size_t c = 0; c < f.p(); ++c)
    for (std::size_t i = 0; i < n; ++i) in.xb[i] += f.X[c * n + i] * in.beta[c];
  std::vector<std::vector<std::size_t>> rows_of(f.re.front().nlevels());
  for (std::size_t i = 0; i < n; ++i)
    rows_of[static_cast<std::size_t>(f.re.front().refs[i])].push_back(i);
  for (std::size_t l = 0; l < rows_of.size(); ++l) {
    out.rows.push_back(level_row(in, l, rows_of[l], out));
    if (!out.rows.back().own_fit) out.too_few.push_back(out.rows.back().level);
  }
  return out;
}

}  // namespace lmm
