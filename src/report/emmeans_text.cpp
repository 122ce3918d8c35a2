// emmeans' print() of estimated marginal means and their pairwise contrasts, as text.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "lmm/emmeans.h"

namespace lmm {

namespace {

using Table = std::vector<std::vector<std::string>>;

// Fixed decimals; NA and Inf as R prints them.
std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "NA";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  return fmt::format("{:.{}f}", v, decimals);
}

// Decimals giving `sig` significant digits to the smallest magnitude in `v` (at most 10).
int decimals_for(const std::vector<double>& v, int sig) {
  double m = INFINITY;
  for (double x : v)
    if (std::isfinite(x) && x != 0) m = std::min(m, std::abs(x));
  if (!std::isfinite(m)) return 0;
  return std::clamp(sig - 1 - static_cast<int>(std::floor(std::log10(m))), 0, 10);
}

std::string df_text(double df) {
  if (!std::isfinite(df)) return fixed(df, 0);
  return fixed(df, decimals_for({df}, 3));
}

// emmeans: 4 decimals, "<.0001" when that rounds to 0.
std::string p_text(double p) { return std::isnan(p) ? "NA" : p < 5e-5 ? "<.0001" : fixed(p, 4); }

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

std::string means_text(const EmmeansResult& r) {
  std::vector<double> se;
  for (const auto& m : r.means) se.push_back(m.se);
  const int d = decimals_for(se, 3);
  std::string out;
  std::vector<std::string> group;
  Table t;
  auto flush = [&] {
    if (t.empty()) return;
    if (!out.empty()) out += '\n';
    if (!group.empty()) out += by_heading(r, group);
    out += render(t, r.nspecs);
    t.clear();
  };
  for (const auto& m : r.means) {
    std::vector<std::string> by(m.values.begin() + static_cast<std::ptrdiff_t>(r.nspecs), m.values.end());
    if (by != group || t.empty()) {
      flush();
      group = by;
      t.emplace_back(r.variables.begin(), r.variables.begin() + static_cast<std::ptrdiff_t>(r.nspecs));
      for (const char* h : {"emmean", "SE", "df", "lower.CL", "upper.CL"}) t.back().push_back(h);
    }
    std::vector<std::string> row(m.values.begin(), m.values.begin() + static_cast<std::ptrdiff_t>(r.nspecs));
    for (double v : {m.emmean, m.se}) row.push_back(fixed(v, d));
    row.push_back(df_text(m.df));
    for (double v : {m.lower, m.upper}) row.push_back(fixed(v, d));
    t.push_back(std::move(row));
  }
  flush();
  return out;
}

std::string contrasts_text(const EmmeansResult& r) {
  std::vector<double> se;
  for (const auto& c : r.contrasts) se.push_back(c.se);
  const int d = decimals_for(se, 3);
  std::string out;
  std::vector<std::string> group;
  Table t;
  auto flush = [&] {
    if (t.empty()) return;
    if (!out.empty()) out += '\n';
    if (!group.empty()) out += by_heading(r, group);
    out += render(t, 1);
    t.clear();
  };
  for (const auto& c : r.contrasts) {
    if (c.by != group || t.empty()) {
      flush();
      group = c.by;
      t.push_back({"contrast", "estimate", "SE", "df", "t.ratio", "p.value"});
    }
    t.push_back({c.contrast, fixed(c.estimate, d), fixed(c.se, d), df_text(c.df), fixed(c.t, 3),
                 p_text(c.p)});
  }
  flush();
  return out;
}

std::string notes(const EmmeansResult& r) {
  std::string out;
  if (!r.averaged_over.empty())
    out += fmt::format("Results are averaged over the levels of: {}\n", fmt::join(r.averaged_over, ", "));
  for (const auto& [name, value] : r.covariates_at)
    out += fmt::format("{} is held at {}\n", name, fixed(value, decimals_for({value}, 4)));
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
