// ResidualPass: fitted values and residuals of a model fitted from statistics, chunk by chunk.
#include <fmt/format.h>

#include <ostream>

#include "lmm/error.h"
#include "formula/level_index.h"
#include "io/csv_field.h"
#include "lmm/statistics.h"

namespace lmm {

ResidualPass::ResidualPass(const LinearMixedModel& model)
    : model_(model), beta_(model.beta()), ranef_(model.ranef()),
      index_(std::make_shared<const detail::LevelIndex>(model.frame())) {}

ResidualPass::Rows ResidualPass::operator()(const DataFrame& chunk) const {
  NewDataOptions o;
  o.response = true;
  const ModelFrame f = detail::model_frame_for_new_data(model_.frame(), chunk, o, *index_);
  Rows out;
  const std::size_t n = f.n(), p = beta_.size();
  out.refs.resize(f.re.size());
  for (std::size_t i = 0; i < n; ++i) {
    double eta = f.offset.empty() ? 0.0 : f.offset[i];
    for (std::size_t c = 0; c < p; ++c) eta += f.X[c * n + i] * beta_[c];
    bool missing = false;
    for (std::size_t k = 0; k < f.re.size() && !missing; ++k) {
      const auto& t = f.re[k];
      missing = t.refs[i] < 0;
      if (missing) break;
      const auto q = static_cast<std::size_t>(t.q());
      const double* b = &ranef_[k][static_cast<std::size_t>(t.refs[i]) * q];
      for (std::size_t a = 0; a < q; ++a) eta += t.z[i * q + a] * b[a];
    }
    if (missing) continue;  // a missing grouping value: the row was not fitted (accumulate() refuses unknown levels)
    out.rows.push_back(f.rows[i]);
    out.fitted.push_back(eta);
    out.residual.push_back(f.y[i] - eta);
    for (std::size_t k = 0; k < f.re.size(); ++k) out.refs[k].push_back(f.re[k].refs[i]);
  }
  return out;
}

namespace {

// Each grouping factor once: a factor in several terms (as || makes) has one column.
bool repeated(const ModelFrame& f, std::size_t j) {
  for (std::size_t i = 0; i < j; ++i)
    if (f.re[i].group == f.re[j].group) return true;
  return false;
}

}  // namespace

std::string ResidualPass::header() const {
  std::string head = "row";
  const ModelFrame& f = model_.frame();
  for (std::size_t j = 0; j < f.re.size(); ++j)
    if (!repeated(f, j)) head += ',' + detail::csv_field(f.re[j].group);
  return head + ",fitted,residual,scaled_residual\n";
}

void ResidualPass::write_lines(std::ostream& out, const Rows& rr, std::size_t first_row, std::size_t nrows,
                               double sigma) const {
  const ModelFrame& f = model_.frame();
  std::size_t k = 0;
  std::string line;
  for (std::size_t r = 0; r < nrows; ++r) {
    line = std::to_string(first_row + r + 1);
    const bool ok = k < rr.rows.size() && rr.rows[k] == r;
    for (std::size_t j = 0; j < f.re.size(); ++j)
      if (!repeated(f, j))
        line += ',' + (ok ? detail::csv_field(f.re[j].levels[static_cast<std::size_t>(rr.refs[j][k])]) : std::string("NA"));
    line += ok ? fmt::format(",{},{},{}\n", detail::csv_number(rr.fitted[k]), detail::csv_number(rr.residual[k]),
                             detail::csv_number(rr.residual[k] / sigma))
               : ",NA,NA,NA\n";
    out << line;
    if (ok) ++k;
  }
}

}  // namespace lmm
