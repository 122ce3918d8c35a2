// ICC and R² (Nakagawa & Schielzeth 2013; Nakagawa, Johnson & Schielzeth 2017) and the names of
// the variance parameters as lme4 writes them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fmt/format.h>
#include <map>

#include "inference/internal.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "model/model_access.h"

namespace lmm {

namespace {

// With a residual structure: the mean over the rows of their residual variance σ²δ², δ the SD
// ratio of the row's level of ResidualOptions::sd_by (R has a unit diagonal).
double mean_residual_variance(const LinearMixedModel& model) {
  const auto& f = model.frame();
  const double s2 = model.sigma() * model.sigma();
  const ResidualEstimates e = model.residual_estimates();
  if (f.residual.sd_by.empty() || e.sd_ratios.empty()) return s2;
  double sum = 0;
  for (std::int32_t l : f.residual.sd_by) {
    const double d = e.sd_ratios[static_cast<std::size_t>(l)];
    sum += d * d;
  }
  return s2 * sum / static_cast<double>(f.n());
}

// What the figures mean with a residual structure; ICC and R² conditional are undefined (NaN)
// without random effects.
void structure_partition(const LinearMixedModel& model, VariancePartition& v) {
  const auto& f = model.frame();
  std::string what = "the residual variance is the mean of the rows' residual variances";
  what += f.residual.sd_by.empty() ? " (σ²)" : " (σ² times the squared SD ratio of each row's level)";
  if (!f.residual.options.structure.empty())
    what += "; the correlation of a group's residuals counts as residual, not between-group, variance";
  if (f.re.empty()) {
    v.icc_adjusted = v.icc_unadjusted = v.r2_conditional = VariancePartition::nan;
    what = "no random effects: ICC and R² conditional are undefined; R² marginal is the fixed effects' share, " + what;
  }
  v.note = v.note.empty() ? what : what + "; " + v.note;
}

}  // namespace

VariancePartition variance_partition(const LinearMixedModel& model) {
  const auto& m = detail::model_state(model);
  const auto& f = model.frame();
  const std::size_t n = f.n(), p = f.p();
  VariancePartition v;
  if (n < 2) return v;

  // var(Xβ̂) with R's n - 1 denominator (insight:::.compute_variance_fixed).
  const auto beta = model.beta();
  std::vector<double> eta(n, 0.0);
  for (std::size_t c = 0; c < p; ++c)
    for (std::size_t i = 0; i < n; ++i) eta[i] += f.X[c * n + i] * beta[c];
  double mean = 0;
  for (double e : eta) mean += e;
  mean /= static_cast<double>(n);
  double ss = 0;
  for (double e : eta) ss += (e - mean) * (e - mean);
  v.var_fixed = ss / static_cast<double>(n - 1);

  // Random-effect variance: the mean over observations of z_i'Σ z_i (Johnson 2014), which equals
  // the sum of the intercept variances when there are no slopes. performance 0.10.2 (insight 0.19,
  // .compute_variance_random) computes sum(diag(Z Σ Z'))/n but (a) takes Z's columns from the
  // fixed-effects model matrix, so a random slope on a variable that is not a fixed effect is left
  // out, and (b) looks the covariance matrices up by grouping-factor name, so of several terms on
  // one factor (as `(x || g)` makes) only the first counts. We report performance's figure, so that
  // the numbers agree with it, and the all-terms figure beside it (var_random_all_terms).
  const double s2 = model.sigma() * model.sigma();
  double vr = 0, vr_all = 0;
  std::vector<std::string> groups_seen;
  for (int j = 0; j < m.K; ++j) {
    const auto& t = f.re[j];
    const int q = t.q();
    const detail::Mat S = s2 * m.lambda[j] * m.lambda[j].transpose();
    const bool first_of_group =
        std::find(groups_seen.begin(), groups_seen.end(), t.group) == groups_seen.end();
    groups_seen.push_back(t.group);
    std::vector<bool> in_x(q);
    for (int a = 0; a < q; ++a)
      in_x[a] = t.names[a] == "(Intercept)" ||
                std::find(f.fixed_names.begin(), f.fixed_names.end(), t.names[a]) != f.fixed_names.end();
    double acc = 0, acc_all = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double* z = &t.z[i * q];
      for (int a = 0; a < q; ++a)
        for (int b = 0; b < q; ++b) {
          const double v = z[a] * S(a, b) * z[b];
          acc_all += v;
          if (in_x[a] && in_x[b]) acc += v;
        }
    }
    if (first_of_group) vr += acc / static_cast<double>(n);
    vr_all += acc_all / static_cast<double>(n);
  }
  v.var_random = vr;
  v.var_random_all_terms = vr_all;
  v.var_residual = f.residual.any() ? mean_residual_variance(model) : s2;
  const double total = v.var_fixed + v.var_random + v.var_residual;
  v.icc_adjusted = v.var_random / (v.var_random + v.var_residual);
  v.icc_unadjusted = v.var_random / total;
  v.r2_marginal = v.var_fixed / total;
  v.r2_conditional = (v.var_fixed + v.var_random) / total;
  if (std::abs(vr_all - vr) > 1e-9 * std::max(vr_all, s2)) {
    const double total_all = v.var_fixed + vr_all + s2;
    v.note = fmt::format(
        "as performance::icc and r2_nakagawa, the random-effect variance counts only the first term of each "
        "grouping factor and only random slopes that are also fixed effects; counting every random-effect term "
        "(Johnson 2014), ICC adjusted would be {:.3f} and R² conditional {:.3f}",
        vr_all / (vr_all + s2), (v.var_fixed + vr_all) / total_all);
  }

  if (f.residual.any()) structure_partition(model, v);
  bool singular = false;
  for (bool b : model.singular_positions()) singular = singular || b;
  if (singular)
    v.note = (v.note.empty() ? "" : v.note + "; ") +
        "singular fit: a variance or correlation is at its boundary, so the random-effect variance behind ICC "
        "and R² conditional is itself on the boundary; read them as rough (performance reports NA here)";
  return v;
}

std::vector<std::string> variance_parameter_names(const LinearMixedModel& model) {
  const auto& f = model.frame();
  std::vector<std::string> out;
  for (const auto& t : f.re) {
    const int q = t.q();
    // θ's order: column-wise lower triangle; diagonal → sd, below → cor of (row, column).
    for (int c = 0; c < q; ++c)
      for (int r = c; r < q; ++r)
        out.push_back(r == c ? fmt::format("sd_{}|{}", t.names[r], t.group)
                             : fmt::format("cor_{}.{}|{}", t.names[r], t.names[c], t.group));
  }
  out.emplace_back("sigma");
  return out;
}

std::vector<double> variance_parameters(const LinearMixedModel& model) {
  const auto& m = detail::model_state(model);
  const double sigma = model.sigma();
  std::vector<double> out;
  for (int j = 0; j < m.K; ++j) {
    const detail::Mat S = m.lambda[j] * m.lambda[j].transpose() * (sigma * sigma);
    for (int c = 0; c < m.q[j]; ++c)
      for (int r = c; r < m.q[j]; ++r) {
        if (r == c) {
          out.push_back(std::sqrt(S(r, r)));
        } else {
          const double d = std::sqrt(S(r, r) * S(c, c));
          out.push_back(d > 0 ? S(r, c) / d : 0.0);
        }
      }
  }
  out.push_back(sigma);
  return out;
}

std::vector<std::string> theta_names(const LinearMixedModel& model) {
  // lme4's tnames(): group, then the row term, then the column term when off the diagonal; a
  // grouping factor that appears in several terms keeps its plain name in each.
  std::vector<std::string> out;
  for (const auto& t : model.frame().re) {
    const int q = t.q();
    for (int c = 0; c < q; ++c)
      for (int r = c; r < q; ++r)
        out.push_back(r == c ? fmt::format("{}.{}", t.group, t.names[r])
                             : fmt::format("{}.{}.{}", t.group, t.names[r], t.names[c]));
  }
  return out;
}

}  // namespace lmm
