#include "lmm/residuals.h"

#include <cmath>
#include <fmt/format.h>
#include <ostream>
#include <limits>
#include <vector>

#include "formula/rformat.h"
#include "io/csv_field.h"
#include "lmm/atomic_file.h"

namespace lmm {

namespace {

using detail::csv_field;

std::string number(double v) { return detail::csv_number(v); }

// The grouping level of a data row the model did not use, as the model frame labels levels: the
// column's text, R's text of a number, "a:b" for an interaction; NA when a value is missing.
std::string dropped_level(const ReTermData& g, const Formula& formula, const DataFrame* data, std::size_t r) {
  if (!data) return "NA";
  for (const RandomTerm& t : formula.random) {
    if (t.group_label() != g.group) continue;
    std::string lab;
    for (std::size_t m = 0; m < t.grouping.size(); ++m) {
      const Column* c = data->find(t.grouping[m]);
      if (!c || r >= c->size() || c->missing(r)) return "NA";
      if (m) lab += ':';
      lab += c->has_text()     ? c->text_levels[static_cast<std::size_t>(c->text_codes[r])]
             : c->is_numeric() ? detail::format_r_number(c->numbers[r])
                               : c->levels[static_cast<std::size_t>(c->codes[r])];
    }
    return csv_field(lab);
  }
  return "NA";
}

}  // namespace

void write_residuals(const std::string& path, const LinearMixedModel& model, std::size_t data_rows,
                     const DataFrame* data) {
  const ModelFrame& f = model.frame();
  const auto fitted = model.fitted();
  const auto resid = model.residuals();
  const double sigma = model.sigma();
  const bool structure = f.residual.any();
  const std::vector<double> normalized = structure ? normalized_residuals(model) : std::vector<double>();

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
    line += structure ? ",fitted,residual,scaled_residual,normalized_residual\n" : ",fitted,residual,scaled_residual\n";
    out << line;
    for (std::size_t r = 0; r < data_rows; ++r) {
      line = std::to_string(r + 1);
      const std::size_t i = used[r];
      const bool ok = i != std::numeric_limits<std::size_t>::max();
      for (const auto* g : groups) {
        line += ',';
        line += ok ? csv_field(g->levels[static_cast<std::size_t>(g->refs[i])]) : dropped_level(*g, f.formula, data, r);
      }
      if (ok) {
        line += fmt::format(",{},{},{}", number(fitted[i]), number(resid[i]), number(resid[i] / sigma));
        if (structure) {
          line += ',';
          line += number(normalized[i]);
        }
        line += '\n';
      } else {
        line += structure ? ",NA,NA,NA,NA\n" : ",NA,NA,NA\n";
      }
      out << line;
    }
  });
}

}  // namespace lmm
