// emmeans' print() of estimated marginal means and their pairwise contrasts, as text.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "lmm/emmeans.h"
#include "report/text_format.h"

namespace lmm {

namespace {

using Table = std::vector<std::vector<std::string>>;

// Decimals giving `sig` significant digits to the smallest magnitude in `v` (at most 10).
int decimals_for(const std::vector<double>& v, int sig) {
  double m = INFINITY;
  for (double x : v)
    if (std::isfinite(x) && x != 0) m = std::min(m, std::abs(x));
  if (!std::isfinite(m)) return 0;
  return std::clamp(sig - 1 - static_cast<int>(std::floor(std::log10(m))), 0, 10);
}

std::string df_text(double df) {
  if (!std::isfinite(df)) return detail::r_fixed(df, 0);
  return detail::r_fixed(df, decimals_for({df}, 3));
}

// emmeans: 4 decimals, "<.0001" when that rounds to 0.
std::string p_text(double p) { return std::isnan(p) ? "NA" : p < 5e-5 ? "<.0001" : detail::r_fixed(p, 4); }

// Columns padded to their widest cell: the first `left` left-aligned, the others right-aligned.
std::string render(const Table& t, std::size_t left) {
  std::vector<std::size_t> w;
  for (const auto& row : t)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (w.size() <= c) w.push_back(0);
      w[c] = std::max(w[c], row[c].size());
    }
  std::string out;
  for (const auto& row : t) {
    for (std::size_t c = 0; c < row.size(); ++c)
      out += c < left ? fmt::format(" {:<{}}", row[c], w[c]) : fmt::format(" {:>{}}", row[c], w[c]);
    out += '\n';
  }
  return out;
}

std::string by_heading(const EmmeansResult& r, const std::vector<std::string>& values) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < values.size(); ++i)
    parts.push_back(r.variables[r.nspecs + i] + " = " + values[i]);
  return fmt::format("{}:\n", fmt::join(parts, ", "));
}

// Tables per by group, each under its heading ("time = 0:"), separated by blank lines.
class ByTables {
 public:
  ByTables(const EmmeansResult& r, std::size_t left) : r_(r), left_(left) {}
  void add(const std::vector<std::string>& by, const std::vector<std::string>& header,
           std::vector<std::string> cells) {
    if (t_.empty() || by != group_) {
      flush();
      group_ = by;
      t_.push_back(header);
    }
    t_.push_back(std::move(cells));
  }
  std::string finish() {
    flush();
    return out_;
  }

 private:
  void flush() {
    if (t_.empty()) return;
    if (!out_.empty()) out_ += '\n';
    if (!group_.empty()) out_ += by_heading(r_, group_);
    out_ += render(t_, left_);
    t_.clear();
  }
  const EmmeansResult& r_;
  std::size_t left_;
  std::string out_;
  std::vector<std::string> group_;
  Table t_;
};

std::string means_text(const EmmeansResult& r) {
  std::vector<double> se;
  for (const auto& m : r.means) se.push_back(m.se);
  const int d = decimals_for(se, 3);
  const auto specs_end = static_cast<std::ptrdiff_t>(r.nspecs);
  std::vector<std::string> header(r.variables.begin(), r.variables.begin() + specs_end);
  for (const char* h : {"emmean", "SE", "df", "lower.CL", "upper.CL"}) header.push_back(h);
  ByTables tables(r, r.nspecs);
  for (const auto& m : r.means) {
    std::vector<std::string> row(m.values.begin(), m.values.begin() + specs_end);
    for (double v : {m.emmean, m.se}) row.push_back(detail::r_fixed(v, d));
    row.push_back(df_text(m.df));
    for (double v : {m.lower, m.upper}) row.push_back(detail::r_fixed(v, d));
    tables.add({m.values.begin() + specs_end, m.values.end()}, header, std::move(row));
  }
  return tables.finish();
}

std::string contrasts_text(const EmmeansResult& r) {
  std::vector<double> se;
  for (const auto& c : r.contrasts) se.push_back(c.se);
  const int d = decimals_for(se, 3);
  ByTables tables(r, 1);
  for (const auto& c : r.contrasts)
    tables.add(c.by, {"contrast", "estimate", "SE", "df", "t.ratio", "p.value"},
               {c.contrast, detail::r_fixed(c.estimate, d), detail::r_fixed(c.se, d), df_text(c.df), detail::r_fixed(c.t, 3),
                p_text(c.p)});
  return tables.finish();
}

std::string notes(const EmmeansResult& r) {
  std::string out;
  if (!r.averaged_over.empty())
    out += fmt::format("Results are averaged over the levels of: {}\n", fmt::join(r.averaged_over, ", "));
  for (const auto& [name, value] : r.covariates_at)
    out += fmt::format("{} is held at {}\n", name, detail::r_fixed(value, decimals_for({value}, 4)));
  out += fmt::format("Degrees-of-freedom method: {}\n",
                     r.ddf == DdfMethod::Satterthwaite  ? "satterthwaite"
                     : r.ddf == DdfMethod::KenwardRoger ? "kenward-roger"
                                                        : "asymptotic");
  return out;
}

}  // namespace

std::string format_emmeans(const EmmeansResult& r) {
  std::string out = means_text(r) + '\n' + notes(r) +
                    fmt::format("Confidence level used: {}\n", r.level);
  if (r.contrasts.empty()) return out;
  out += '\n' + contrasts_text(r) + '\n' + notes(r);
  if (r.adjust == PAdjust::Tukey && r.family > 2)
    out += fmt::format("P value adjustment: tukey method for comparing a family of {} estimates\n",
                       r.family);
  else if (r.adjust == PAdjust::Holm && r.family > 1)
    out += fmt::format("P value adjustment: holm method for {} tests\n", r.family);
  return out;
}

}  // namespace lmm
