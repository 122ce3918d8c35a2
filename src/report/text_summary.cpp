// lme4's summary() layout as plain text.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "lmm/fit.h"
#include "lmm/inference.h"
#include "lmm/summary_text.h"
#include "report/text_format.h"

namespace lmm {

namespace {

using Row = std::vector<std::string>;

// Columns padded to their widest cell; the first `left` columns left-aligned.
std::string table(const std::vector<Row>& rows, std::size_t left, const std::string& indent = "") {
  std::vector<std::size_t> w;
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) {
      if (w.size() <= c) w.push_back(0);
      w[c] = std::max(w[c], r[c].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < r.size(); ++c) {
      if (c) line += ' ';
      line += c < left ? fmt::format("{:<{}}", r[c], w[c]) : fmt::format("{:>{}}", r[c], w[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  }
  return out;
}

// R's abbreviate() of one name (the C routine stripchars, for names without spaces): lower-case
// vowels dropped from the right, then lower-case letters, then any character but the first, until
// at most `minlength` characters remain.
std::string abbreviate_one(std::string s, std::size_t minlength) {
  auto lower_vowel = [](char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; };
  auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  if (s.size() <= minlength) return s;
  // Vowels at the end, then any vowel, lower-case letters at the end, then any lower-case letter,
  // then anything (never the first character).
  for (int pass = 0; pass < 5; ++pass) {
    for (std::size_t i = s.size() - 1; i > 0 && s.size() > minlength; --i) {
      if (i >= s.size()) continue;
      const bool last = i + 1 == s.size();
      const char c = s[i];
      const bool drop = pass == 0   ? lower_vowel(c) && last
                        : pass == 1 ? lower_vowel(c)
                        : pass == 2 ? lower(c) && last
                        : pass == 3 ? lower(c)
                                    : true;
      if (drop) s.erase(i, 1);
    }
    if (s.size() <= minlength) break;
  }
  return s;
}

// R's abbreviate(names, minlength): names that would coincide are abbreviated again with a larger
// minlength until all differ.
std::vector<std::string> abbreviate(const std::vector<std::string>& names, std::size_t minlength) {
  std::vector<std::string> out(names.size());
  std::vector<bool> redo(names.size(), true);
  for (std::size_t len = minlength;; ++len) {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (redo[i]) out[i] = abbreviate_one(names[i], len);
    bool any = false;
    std::vector<bool> dup(names.size(), false);
    for (std::size_t i = 0; i < names.size(); ++i)
      for (std::size_t j = i + 1; j < names.size(); ++j)
        if (out[i] == out[j] && names[i] != names[j]) dup[i] = dup[j] = any = true;
    if (!any) return out;
    redo = dup;
  }
}

// lme4's "Correlation of Fixed Effects" (rows abbreviated to 11 characters, columns to 6), or its
// note when there are more than 12 fixed effects.
std::string fixed_correlations(const FitResult& r) {
  const std::size_t p = r.fixed.size();
  if (p <= 1) return "";
  if (p > 12)
    return fmt::format("\nCorrelation matrix not shown by default, as p = {} > 12.\n"
                       "The JSON output (--json) has the covariance matrix of the fixed effects (vcov).\n",
                       p);
  std::vector<std::string> terms;
  for (const auto& f : r.fixed) terms.push_back(f.term);
  const auto row_names = abbreviate(terms, 11), col_names = abbreviate(terms, 6);
  std::vector<Row> rows;
  Row head{""};
  for (std::size_t j = 0; j + 1 < p; ++j) head.push_back(col_names[j]);
  rows.push_back(head);
  for (std::size_t i = 1; i < p; ++i) {
    Row row{row_names[i]};
    for (std::size_t j = 0; j + 1 < p; ++j) {
      if (j < i) {
        const double c = r.vcov[j * p + i] / std::sqrt(r.vcov[i * p + i] * r.vcov[j * p + j]);
        row.push_back(detail::r_fixed(c, 3));
      } else {
        row.push_back("");
      }
    }
    rows.push_back(row);
  }
  return "\nCorrelation of Fixed Effects:\n" + table(rows, 1);
}

// lmerTest's fixed-effects table, with significance stars and their legend when there are p-values.
std::string fixed_effects_table(const FitResult& r) {
  std::string out;
  const bool have_df = std::any_of(r.fixed.begin(), r.fixed.end(), [](const FixedEffect& f) { return !std::isnan(f.df); });
  Row head{"", "Estimate", "Std. Error"};
  if (have_df) head.push_back("df");
  head.push_back("t value");
  if (have_df) head.insert(head.end(), {"Pr(>|t|)", "   "});
  std::vector<Row> rows{head};
  for (const auto& f : r.fixed) {
    Row row{f.term, detail::r_number(f.estimate, 5), detail::r_number(f.std_error, 4)};
    if (have_df) row.push_back(detail::r_number(f.df, 4));
    row.push_back(detail::r_fixed(f.t, 3));
    if (have_df) row.push_back(f.p < 2e-16 ? "<2e-16" : fmt::format("{:.3g}", f.p));
    if (have_df) row.push_back(fmt::format("{:<3}", detail::signif_stars(f.p)));  // left-aligned, as R
    rows.push_back(row);
  }
  out += table(rows, 1);
  if (have_df) out += "---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1\n";
  return out;
}

}  // namespace

namespace {

// "  (95% CI 0.43 to 0.79)\n" for a residual parameter with a Wald interval, else "\n".
std::string ci(const FitResult& r, const std::string& parameter) {
  for (const auto& iv : r.confint_residual)
    if (iv.parameter == parameter && std::isfinite(iv.lower) && std::isfinite(iv.upper))
      return fmt::format("  (95% CI {:.4f} to {:.4f})\n", iv.lower, iv.upper);
  return "\n";
}

// nlme's lines for the residual structure: "Correlation Structure: AR(1)\n  Phi: 0.500" and
// "Variance function: different SDs per level of Sex" with the ratios and SDs.
std::string residual_structure_text(const FitResult& r) {
  const ResidualEstimates& e = r.residual_structure;
  std::string out;
  if (!e.structure.empty()) {
    out += "Correlation structure: " + residual_structure_label(e.structure) + "\n";
    if (e.structure == "ar1" || e.structure == "car1") out += fmt::format("  Phi: {:.4f}", e.phi) + ci(r, "phi");
    if (e.structure == "cs") out += fmt::format("  Rho: {:.4f}", e.rho) + ci(r, "rho");
    if (e.structure == "us") {
      std::vector<Row> rows{{""}};
      const std::size_t nv = e.visit_levels.size();
      for (std::size_t b = 0; b + 1 < nv; ++b) rows[0].push_back(e.visit_levels[b]);
      for (std::size_t a = 1; a < nv; ++a) {
        Row row{e.visit_levels[a]};
        for (std::size_t b = 0; b < a; ++b) {
          // pairs (b, a) are listed row-wise from the first level: index of (b, a)
          const std::size_t k = b * nv - b * (b + 1) / 2 + (a - b - 1);
          row.push_back(detail::r_fixed(e.cor[k], 3));
        }
        for (std::size_t b = a; b + 1 < nv; ++b) row.push_back("");
        rows.push_back(row);
      }
      out += "  Correlations:\n" + table(rows, 4, " ");
    }
  }
  if (!e.sd_by.empty()) {
    out += "Variance function: different SDs per level of " + e.sd_by + "\n";
    std::vector<Row> rows{{""}, {"  SD ratio"}, {"  SD"}};
    for (std::size_t l = 0; l < e.sd_levels.size(); ++l) {
      rows[0].push_back(e.sd_levels[l]);
      rows[1].push_back(detail::r_fixed(e.sd_ratios[l], 4));
      rows[2].push_back(detail::r_number(r.sigma * e.sd_ratios[l]));
    }
    out += table(rows, 0, " ");
  }
  return out;
}

}  // namespace

std::string format_summary(const FitResult& r) { return format_summary(r, SummaryContext{}); }

std::string format_summary(const FitResult& r, const SummaryContext& context) {
  std::string out;
  const bool reml = r.method == Method::REML;
  out += fmt::format("Linear mixed model fit by {}{}\n", reml ? "REML" : "maximum likelihood",
                     r.ddf == DdfMethod::Satterthwaite  ? ". t-tests use Satterthwaite's method"
                     : r.ddf == DdfMethod::KenwardRoger ? ". t-tests use Kenward-Roger's method (adjusted SEs)"
                                                        : "");
  out += fmt::format("Formula: {}\n", r.formula);
  if (!context.data_name.empty()) out += fmt::format("   Data: {}\n", context.data_name);
  for (const auto& c : context.centering) out += "Centered: " + c + "\n";
  out += '\n';
  if (reml) {
    out += "REML criterion at convergence: " + detail::r_fixed(r.objective, 1) + "\n\n";
  } else {
    out += table({{"AIC", "BIC", "logLik", "deviance", "df.resid"},
                  {detail::r_fixed(r.aic, 1), detail::r_fixed(r.bic, 1), detail::r_fixed(r.loglik, 1),
                   detail::r_fixed(r.objective, 1), fmt::format("{}", static_cast<long long>(r.nobs) - r.npar)}},
                 0, " ");
    out += '\n';
  }
  out += "Scaled residuals:\n";
  {
    Row vals;
    for (double v : r.scaled_residuals) vals.push_back(detail::r_fixed(v, 4));
    out += table({{"Min", "1Q", "Median", "3Q", "Max"}, vals}, 0);
  }
  out += "\nRandom effects:\n";
  {
    std::vector<Row> rows{{"Groups", "Name", "Variance", "Std.Dev.", "Corr"}};
    // One row per variance; correlations of a group go beside the second and later terms.
    std::string last_group;
    std::vector<std::string> names;
    for (const auto& vc : r.random) {
      if (vc.is_correlation()) continue;
      const bool first = vc.group != last_group;
      if (first) names.clear();
      Row row{first ? vc.group : "", vc.term1, detail::r_number(vc.variance), detail::r_number(vc.sd), ""};
      std::string corr;
      for (const auto& c : r.random)
        if (c.is_correlation() && c.group == vc.group && c.term2 == vc.term1)
        {
          if (!corr.empty()) corr += ' ';
          corr += detail::r_fixed(c.cor, 2, 5);
        }
      row[4] = corr;
      rows.push_back(row);
      names.push_back(vc.term1);
      last_group = vc.group;
    }
    out += table(rows, 2, " ");
  }
  out += residual_structure_text(r);
  out += fmt::format("Number of obs: {}, groups:  ", r.nobs);
  for (std::size_t i = 0; i < r.ngroups.size(); ++i)
    out += fmt::format("{}{}, {}", i ? "; " : "", r.ngroups[i].group, r.ngroups[i].levels);
  out += "\n\nFixed effects:\n" + fixed_effects_table(r);
  out += fixed_correlations(r);
  for (const auto& m : r.messages) out += "\n" + m;
  if (!r.messages.empty()) out += '\n';
  if (r.singular) {
    out += "\nboundary (singular) fit:\n";
    if (!r.singular_advice.empty()) {
      for (const auto& s : r.singular_advice) out += "  " + s + "\n";
    } else {
      for (const auto& s : r.singular_reasons) out += "  " + s + "\n";
      out += "  The model is more complex than the data support. Consider removing that term, or\n"
             "  using (x || g) for uncorrelated random effects; see `lmm fit --help`.\n";
    }
  }
  out += format_inference(r);
  return out;
}

std::string describe_centering(const Centering& ce) {
  switch (ce.kind) {
    case Centering::Kind::GrandMean:
      return fmt::format("{0}: minus its mean {1:.6g} ({0} = 0 is the mean)", ce.variable, ce.value);
    case Centering::Kind::AtValue:
      return fmt::format("{0}: minus {1:.6g}, the value given ({0} = 0 is {0} = {1:.6g})", ce.variable, ce.value);
    case Centering::Kind::PersonMean:
      return fmt::format("{0} by {1}: {0}_between = the {1}'s mean of {0} ({2} {1} levels), {0}_within = {0} - "
                         "{0}_between",
                         ce.variable, ce.group, ce.person_means.size());
  }
  return "";
}

}  // namespace lmm
