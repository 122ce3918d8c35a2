#include "lmm/residuals.h"

#include <cmath>
#include <fmt/format.h>
#include <ostream>
#include <limits>
#include <vector>

#include "lmm/atomic_file.h"

namespace lmm {

namespace {

// RFC 4180 quoting, only where needed.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.17g}", v) : "NA"; }

}  // namespace

void write_residuals(const std::string& path, const LinearMixedModel& model, std::size_t data_rows) {
  const ModelFrame& f = model.frame();
  const auto fitted = model.fitted();
  const auto resid = model.residuals();
  const double sigma = model.sigma();

  // Each grouping factor once (a factor in several terms, as with ||, has the same levels in each).
  std::vector<const ReTermData*> groups;
  for (const auto& t : f.re) {
    bool seen = false;
    for (const auto* g : groups) seen = seen || g->group == t.group;
    if (!seen) groups.push_back(&t);
  }
  std::vector<std::size_t> used(data_rows, std::numeric_limits<std::size_t>::max());
  for (std::size_t i = 0; i < f.rows.size(); ++i)
    if (f.rows[i] < data_rows) used[f.rows[i]] = i;

  write_file_atomically(path, [&](std::ostream& out) {
    std::string line = "row";
    for (const auto* g : groups) {
      line += ',';
      line += csv_field(g->group);
    }
    line += ",fitted,residual,scaled_residual\n";
    out << line;
    for (std::size_t r = 0; r < data_rows; ++r) {
      line = std::to_string(r + 1);
      const std::size_t i = used[r];
      const bool ok = i != std::numeric_limits<std::size_t>::max();
      for (const auto* g : groups) {
        line += ',';
        line += ok ? csv_field(g->levels[static_cast<std::size_t>(g->refs[i])]) : std::string("NA");
      }
      if (ok) {
        line += fmt::format(",{},{},{}\n", number(fitted[i]), number(resid[i]), number(resid[i] / sigma));
      } else {
        line += ",NA,NA,NA\n";
      }
      out << line;
    }
  });
}

}  // namespace lmm
