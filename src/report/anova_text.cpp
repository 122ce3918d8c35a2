// lmerTest's anova() table as text.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "lmm/inference.h"
#include "report/text_format.h"

namespace lmm {

std::string format_anova(const FitResult& r) {
  const bool have_df = r.ddf != DdfMethod::None;
  std::string out = fmt::format("Type III Analysis of Variance Table{}\n",
                                r.ddf == DdfMethod::KenwardRoger ? " with Kenward-Roger's method"
                                : have_df                        ? " with Satterthwaite's method"
                                                                 : " (no denominator df: --ddf none)");
  if (r.anova_type3.empty()) return out + "  (no fixed-effect terms to test)\n";
  // lmerTest's Sum Sq and Mean Sq (F σ² per df) are shown for Satterthwaite's unscaled F only.
  const bool ss = r.ddf != DdfMethod::KenwardRoger;
  std::vector<std::vector<std::string>> rows{{""}};
  if (ss) rows[0].insert(rows[0].end(), {"Sum Sq", "Mean Sq"});
  rows[0].push_back("NumDF");
  if (have_df) rows[0].push_back("DenDF");
  rows[0].push_back("F value");
  if (have_df) rows[0].push_back("Pr(>F)");
  const double s2 = r.sigma * r.sigma;
  for (const auto& a : r.anova_type3) {
    // lmerTest: Mean Sq = F σ², Sum Sq = NumDF x Mean Sq.
    std::vector<std::string> row{a.term};
    if (ss) row.insert(row.end(), {detail::r_number(a.F * s2 * a.num_df, 5), detail::r_number(a.F * s2, 5)});
    row.push_back(fmt::format("{}", a.num_df));
    if (have_df) row.push_back(detail::r_number(a.den_df, 5));
    row.push_back(detail::r_number(a.F, 4));
    if (have_df) row.push_back(detail::r_pvalue(a.p));
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> w;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (w.size() <= c) w.push_back(0);
      w[c] = std::max(w[c], row[c].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c) line += ' ';
      line += c == 0 ? fmt::format("{:<{}}", row[c], w[c]) : fmt::format("{:>{}}", row[c], w[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  }
  return out;
}

}  // namespace lmm
