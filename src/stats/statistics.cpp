// Sufficient statistics: the schema (how rows are coded), accumulation of the cross-product blocks
// chunk by chunk, merging and the binary form (lmm/statistics.h). The blocks have the layouts the
// in-memory model builds (src/model/cross_products.cpp), so that fitting hands them over as they are.
#include <Eigen/Dense>
#include <algorithm>
#include <bit>
#include <cstring>
#include <fmt/format.h>

#include "lmm/error.h"
#include "lmm/predict.h"
#include "model/model_impl.h"
#include "stats/statistics_impl.h"

namespace lmm {

namespace {

using detail::Fnv;

std::uint64_t schema_fingerprint(const StatisticsSchema& s) {
  Fnv h;
  const ModelFrame& c = s.coding;
  h.text(c.formula.text);
  h.text(c.response);
  h.text(c.offset_column);
  h.texts(c.fixed_names);
  h.texts(c.aliased);
  for (const FactorCoding& f : c.factors) {
    h.text(f.expr);
    h.texts(f.levels);
    h.u64(static_cast<std::uint64_t>(f.contrasts) * 2 + (f.ordered ? 1 : 0));
  }
  for (const TransformCoding& t : c.transforms) {
    h.text(t.expr);
    h.num(t.center);
    h.num(t.scale);
    for (double a : t.alpha) h.num(a);
    for (double a : t.norm2) h.num(a);
  }
  for (const ReTermData& t : c.re) {
    h.text(t.group);
    h.texts(t.names);
    h.texts(t.levels);
  }
  for (double b : s.shift) h.num(b);
  return h.value;
}

// The frame's coding without its rows, and the ColumnCoding that the ANOVA reads.
ModelFrame coding_of(const ModelFrame& f) {
  ModelFrame c = frame_coding(f);
  c.columns = f.columns;
  return c;
}

}  // namespace

std::shared_ptr<const StatisticsSchema> make_schema(const DataFrame& sample, const std::string& formula,
                                                    const ModelFrameOptions& options, const std::vector<double>& shift) {
  if (!options.weights.empty())
    throw Error("ModelFrameOptions::weights is not supported with SufficientStatistics yet");
  if (options.residual.any())
    throw Error("ModelFrameOptions::residual is not supported with SufficientStatistics yet");
  ModelFrameOptions o = options;
  o.check_nobs_vs_nlev = false;  // a sample may hold one row per level; fit() checks the totals
  const ModelFrame f = build_model_frame(sample, parse_formula(formula), o);
  auto s = std::make_shared<StatisticsSchema>();
  if (shift.empty()) {
    std::vector<double> y = f.y;
    for (std::size_t i = 0; i < f.offset.size(); ++i) y[i] -= f.offset[i];
    Eigen::VectorXd beta0;
    detail::response_shift(f, y, beta0);
    s->shift.assign(beta0.data(), beta0.data() + beta0.size());
  } else if (shift.size() != f.p()) {
    throw Error(fmt::format("the response shift has {} values; the model has {} fixed-effect columns", shift.size(), f.p()));
  } else {
    s->shift = shift;
  }
  s->coding = coding_of(f);
  s->fingerprint = schema_fingerprint(*s);
  return s;
}

SufficientStatistics::Impl::Impl(std::shared_ptr<const StatisticsSchema> sc) : schema(std::move(sc)) {
  if (!schema) throw Error("SufficientStatistics needs a schema (make_schema)");
  const ModelFrame& c = schema->coding;
  p = c.p();
  const std::size_t m = p + 1;
  akk.assign(m * m, 0.0);
  sumx.assign(p, 0.0);
  for (const ReTermData& t : c.re) {
    Term term;
    term.q = static_cast<std::size_t>(t.q());
    term.nlev = t.nlevels();
    term.diag.assign(term.q * term.q * term.nlev, 0.0);
    term.xz.assign(m * term.q * term.nlev, 0.0);
    terms.push_back(std::move(term));
  }
  for (std::size_t i = 0; i < terms.size(); ++i)
    for (std::size_t k = 0; k < i; ++k) cross.push_back({i, k, {}, {}, {}});
}

double* SufficientStatistics::Impl::Cross::at(std::uint64_t key, std::size_t width) {
  const auto [it, fresh] = index.emplace(key, values.size());
  if (fresh) {
    keys.push_back(key);
    values.resize(values.size() + width, 0.0);
  }
  return values.data() + it->second;
}

// Row i of the coded chunk `f` into the blocks; xy is scratch of p + 1 values.
void SufficientStatistics::Impl::add_row(const ModelFrame& f, std::size_t i, std::vector<double>& xy) {
  const std::size_t n = f.n(), m = p + 1;
  double y = f.y[i] - (f.offset.empty() ? 0.0 : f.offset[i]);
  for (std::size_t c = 0; c < p; ++c) {
    xy[c] = f.X[c * n + i];
    y -= xy[c] * schema->shift[c];
    sumx[c] += xy[c];
  }
  xy[p] = y;
  for (std::size_t c = 0; c < m; ++c)
    for (std::size_t r = c; r < m; ++r) akk[c * m + r] += xy[r] * xy[c];
  for (std::size_t k = 0; k < terms.size(); ++k) {
    Term& t = terms[k];
    const auto b = static_cast<std::size_t>(f.re[k].refs[i]);
    const double* z = &f.re[k].z[i * t.q];
    double* d = &t.diag[b * t.q * t.q];
    double* xz = &t.xz[b * m * t.q];
    for (std::size_t c = 0; c < t.q; ++c) {
      for (std::size_t r = 0; r < t.q; ++r) d[c * t.q + r] += z[r] * z[c];
      for (std::size_t r = 0; r < m; ++r) xz[c * m + r] += xy[r] * z[c];
    }
  }
  for (Cross& x : cross) {
    const std::size_t qi = terms[x.i].q, qk = terms[x.k].q;
    const auto li = static_cast<std::uint32_t>(f.re[x.i].refs[i]);
    const auto lk = static_cast<std::uint32_t>(f.re[x.k].refs[i]);
    double* v = x.at((static_cast<std::uint64_t>(li) << 32) | lk, qi * qk);
    const double* zi = &f.re[x.i].z[i * qi];
    const double* zk = &f.re[x.k].z[i * qk];
    for (std::size_t c = 0; c < qk; ++c)
      for (std::size_t a = 0; a < qi; ++a) v[c * qi + a] += zi[a] * zk[c];
  }
}

// A row whose grouping value is missing is dropped, as the in-memory frame drops it; a level the
// schema does not have is an error (its sample missed it).
bool SufficientStatistics::Impl::usable(const ModelFrame& f, const DataFrame& chunk, std::size_t i) const {
  const Formula& fm = schema->coding.formula;
  for (const ReTermData& t : f.re) {
    if (t.refs[i] >= 0) continue;
    for (const RandomTerm& rt : fm.random) {
      if (rt.group_label() != t.group) continue;
      for (const std::string& g : rt.grouping)
        if (chunk.at(g).missing(f.rows[i])) return false;
    }
    throw Error(fmt::format("{}: row {} has a level of '{}' that the statistics' schema does not have; make the "
                            "schema from a sample holding every level",
                            chunk.source.empty() ? "the data" : chunk.source, f.rows[i] + 1, t.group));
  }
  return true;
}

SufficientStatistics::SufficientStatistics(std::shared_ptr<const StatisticsSchema> schema)
    : impl_(std::make_unique<Impl>(std::move(schema))) {}
SufficientStatistics::~SufficientStatistics() = default;
SufficientStatistics::SufficientStatistics(SufficientStatistics&&) noexcept = default;
SufficientStatistics& SufficientStatistics::operator=(SufficientStatistics&&) noexcept = default;
SufficientStatistics::SufficientStatistics(const SufficientStatistics& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
SufficientStatistics& SufficientStatistics::operator=(const SufficientStatistics& o) {
  impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}

const StatisticsSchema& SufficientStatistics::schema() const { return *impl_->schema; }
std::size_t SufficientStatistics::nobs() const { return impl_->nobs; }
std::size_t SufficientStatistics::n_dropped() const { return impl_->n_dropped; }

void SufficientStatistics::accumulate(const DataFrame& chunk) {
  if (chunk.nrows == 0) return;
  NewDataOptions o;
  o.response = true;
  if (!impl_->index) impl_->index = std::make_shared<const detail::LevelIndex>(impl_->schema->coding);
  const ModelFrame f = detail::model_frame_for_new_data(impl_->schema->coding, chunk, o, *impl_->index);
  std::vector<double> xy(impl_->p + 1);
  std::size_t used = 0;
  for (std::size_t i = 0; i < f.rows.size(); ++i) {
    if (!impl_->usable(f, chunk, i)) continue;
    impl_->add_row(f, i, xy);
    ++used;
  }
  impl_->nobs += used;
  impl_->n_dropped += chunk.nrows - used;
}

void SufficientStatistics::merge(const SufficientStatistics& other) {
  Impl& a = *impl_;
  const Impl& b = *other.impl_;
  if (a.schema->fingerprint != b.schema->fingerprint)
    throw Error("cannot merge statistics accumulated under different schemas (formula, levels or response shift differ)");
  auto add = [](std::vector<double>& x, const std::vector<double>& y) {
    for (std::size_t e = 0; e < x.size(); ++e) x[e] += y[e];
  };
  a.nobs += b.nobs;
  a.n_dropped += b.n_dropped;
  add(a.akk, b.akk);
  add(a.sumx, b.sumx);
  for (std::size_t k = 0; k < a.terms.size(); ++k) {
    add(a.terms[k].diag, b.terms[k].diag);
    add(a.terms[k].xz, b.terms[k].xz);
  }
  for (std::size_t x = 0; x < a.cross.size(); ++x) {
    const auto& bx = b.cross[x];
    const std::size_t w = a.terms[bx.i].q * a.terms[bx.k].q;
    for (std::size_t e = 0; e < bx.keys.size(); ++e) {
      double* v = a.cross[x].at(bx.keys[e], w);
      const double* u = bx.values.data() + bx.index.at(bx.keys[e]);
      for (std::size_t j = 0; j < w; ++j) v[j] += u[j];
    }
  }
}

}  // namespace lmm
