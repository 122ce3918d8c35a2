// lme4's print of anova(m0, m1) as text.
#include <cmath>
#include <fmt/format.h>

#include "lmm/compare.h"
#include "report/text_format.h"

namespace lmm {

std::string format_comparison(const ModelComparison& c) {
  std::string out = fmt::format("Likelihood-ratio tests ({})\nModels:\n",
                                c.method == Method::ML ? "models fitted by ML" : "REML criteria");
  for (std::size_t i = 0; i < c.formulas.size(); ++i) out += fmt::format("m{}: {}\n", i + 1, c.formulas[i]);
  std::vector<std::vector<std::string>> rows{
      {"", "npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)", ""}};
  for (std::size_t i = 0; i < c.formulas.size(); ++i) {
    std::vector<std::string> r{fmt::format("m{}", i + 1), fmt::format("{}", c.npar[i]), fmt::format("{:.1f}", c.aic[i]),
                               fmt::format("{:.1f}", c.bic[i]), fmt::format("{:.2f}", c.loglik[i]),
                               fmt::format("{:.1f}", c.deviance[i])};
    if (i == 0) {
      r.insert(r.end(), {"", "", "", ""});
    } else {
      const auto& t = c.tests[i - 1];
      r.insert(r.end(), {fmt::format("{:.3f}", t.chisq), fmt::format("{}", t.df), detail::r_pvalue(t.p, ""), detail::signif_stars(t.p)});
    }
    rows.push_back(r);
  }
  std::vector<std::size_t> w(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t k = 0; k < r.size(); ++k) w[k] = std::max(w[k], r[k].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t k = 0; k < r.size(); ++k) {
      if (k) line += ' ';
      line += k == 0 || k + 1 == r.size() ? fmt::format("{:<{}}", r[k], w[k]) : fmt::format("{:>{}}", r[k], w[k]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  }
  out += "---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1\n";
  for (const auto& m : c.messages) out += "\nNote: " + m;
  if (!c.messages.empty()) out += '\n';
  return out;
}

}  // namespace lmm
