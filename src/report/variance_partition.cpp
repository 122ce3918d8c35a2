// ICC and R² for the report: the variance partition of Nakagawa, Johnson & Schielzeth (2017),
// J. R. Soc. Interface 14: 20170213, eqs. 11-13 and their ICC, as performance::icc and
// performance::r2_nakagawa compute it for a linear mixed model (insight::get_variance).
//
// A stand-in written for the report (issue 5) while the inference work (issue 3) lands its own
// ICC/R²; the lead may keep one of the two at merge.
#include <algorithm>
#include <cmath>
#include <map>

#include "lmm/report_data.h"

namespace lmm::report {

VariancePartition variance_partition(const LinearMixedModel& model, bool singular) {
  const ModelFrame& f = model.frame();
  const std::size_t n = f.n(), p = f.p();
  VariancePartition vp;
  if (n < 2) return vp;

  // var(Xβ), the variance of the fixed-effect predictions (eq. 11's σ²_f), n - 1 denominator as R's var().
  const auto beta = model.beta();
  std::vector<double> xb(n, 0.0);
  for (std::size_t c = 0; c < p; ++c)
    for (std::size_t i = 0; i < n; ++i) xb[i] += f.X[c * n + i] * beta[c];
  double mean = 0;
  for (double v : xb) mean += v;
  mean /= static_cast<double>(n);
  double ss = 0;
  for (double v : xb) ss += (v - mean) * (v - mean);
  const auto [lo, hi] = std::minmax_element(xb.begin(), xb.end());
  vp.var_fixed = *lo == *hi ? 0.0 : ss / static_cast<double>(n - 1);  // exactly 0 for a constant Xβ

  // σ²_α: for each term, the mean over rows of z_i'Σz_i with Σ = σ²λλ' (Johnson 2014's extension to
  // random slopes; for a random intercept it is τ00). As insight::get_variance (which performance
  // uses), a term without an intercept, such as the slope term of (x || g), is left out.
  const double s2 = model.sigma() * model.sigma();
  const auto lambdas = model.lambda();
  std::map<std::string, int> seen;
  vp.var_random = 0;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    const auto& t = f.re[j];
    const int q = t.q();
    const double* lam = lambdas[j].data();  // q x q, column-major, lower triangular
    std::vector<double> S(static_cast<std::size_t>(q * q), 0.0);
    for (int a = 0; a < q; ++a)
      for (int b = 0; b < q; ++b) {
        double s = 0;
        for (int k = 0; k < q; ++k) s += lam[k * q + a] * lam[k * q + b];
        S[static_cast<std::size_t>(b * q + a)] = s2 * s;
      }
    const bool has_intercept = std::find(t.names.begin(), t.names.end(), "(Intercept)") != t.names.end();
    double sum = 0;
    for (std::size_t i = 0; i < n && has_intercept; ++i) {
      const double* z = &t.z[i * static_cast<std::size_t>(q)];
      for (int a = 0; a < q; ++a)
        for (int b = 0; b < q; ++b) sum += z[a] * S[static_cast<std::size_t>(b * q + a)] * z[b];
    }
    const double v = sum / static_cast<double>(n);
    int& count = seen[t.group];
    vp.term_labels.push_back(count == 0 ? t.group : t.group + "." + std::to_string(count));
    ++count;
    vp.var_random_by_term.push_back(v);
    vp.var_random += v;
  }
  vp.var_residual = s2;

  const double total = vp.var_fixed + vp.var_random + vp.var_residual;
  vp.r2_marginal = vp.var_fixed / total;
  // performance reports NA for the ICC and the conditional R² of a singular fit: a variance on the
  // boundary makes the partition meaningless.
  if (!singular) {
    vp.r2_conditional = (vp.var_fixed + vp.var_random) / total;
    vp.icc_adjusted = vp.var_random / (vp.var_random + vp.var_residual);
    vp.icc_unadjusted = vp.var_random / total;
  }
  return vp;
}

}  // namespace lmm::report
