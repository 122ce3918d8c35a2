// The GLMM report's plot data: fitted means over time with observed means, binned residuals
// (binomial) or Pearson residuals (Poisson), and caterpillars of the conditional modes.
#include "lmm/glmm_report.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <map>

#include "glmm/family.h"
#include "glmm/glmm_impl.h"
#include "report/plot_detail.h"

namespace lmm::report {

namespace {

std::size_t arm_nclass(std::size_t n) {
  if (n >= 100) return static_cast<std::size_t>(std::floor(std::sqrt(static_cast<double>(n))));
  if (n > 10) return 10;
  return n / 2;
}

// arm's cut points: -inf, the midpoints, +inf (duplicates removed).
std::vector<double> arm_breaks(const std::vector<double>& x, std::size_t nclass) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> xs(x);
  std::sort(xs.begin(), xs.end());
  const std::size_t n = xs.size();
  std::vector<double> breaks{-inf};
  bool zero = false;
  for (std::size_t k = 1; k < nclass; ++k) zero = zero || n * k / nclass == 0;
  for (std::size_t k = 1; k < nclass && !zero; ++k) {
    const std::size_t at = n * k / nclass;  // R's 1-based index: x.sort[at] and x.sort[at + 1]
    double lo = xs[at - 1];
    const double hi = xs[at];
    if (lo == hi) {
      const auto below = std::lower_bound(xs.begin(), xs.end(), lo);
      lo = below == xs.begin() ? -inf : *(below - 1);
    }
    const double b = (lo + hi) / 2;
    if (std::find(breaks.begin(), breaks.end(), b) == breaks.end()) breaks.push_back(b);
  }
  breaks.push_back(inf);
  return breaks;
}

}  // namespace

BinnedResiduals binned_residuals(const std::vector<double>& x, const std::vector<double>& y, std::size_t nclass) {
  BinnedResiduals out;
  if (x.empty()) return out;
  if (nclass == 0) nclass = std::max<std::size_t>(1, arm_nclass(x.size()));
  const std::vector<double> breaks = arm_breaks(x, nclass);
  std::vector<std::size_t> order(x.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  // Bin b holds the sorted rows with breaks[b] <= x < breaks[b + 1]: a run of `order`.
  auto first_at_least = [&](double v) {
    return std::partition_point(order.begin(), order.end(), [&](std::size_t i) { return x[i] < v; });
  };
  for (std::size_t b = 0; b + 1 < breaks.size(); ++b) {
    const auto lo = first_at_least(breaks[b]), hi = first_at_least(breaks[b + 1]);
    const auto m = static_cast<std::size_t>(hi - lo);
    if (m == 0) continue;
    double sx = 0, sy = 0, ss = 0;
    for (auto it = lo; it != hi; ++it) sx += x[*it], sy += y[*it];
    const double my = sy / static_cast<double>(m);
    for (auto it = lo; it != hi; ++it) ss += (y[*it] - my) * (y[*it] - my);
    const double sd = m > 1 ? std::sqrt(ss / static_cast<double>(m - 1)) : NaN;
    out.x_mean.push_back(sx / static_cast<double>(m));
    out.y_mean.push_back(my);
    out.x_lo.push_back(x[*lo]);
    out.x_hi.push_back(x[*(hi - 1)]);
    out.n.push_back(m);
    out.two_se.push_back(2 * sd / std::sqrt(static_cast<double>(m)));
  }
  return out;
}

namespace {

// Per stratum and distinct x: the observed mean response, weighted by the trials.
void observed_means(const detail::Rows& r, const std::vector<double>& y, const std::vector<double>& pw,
                    GlmmPlotData& pd) {
  std::map<std::string, std::map<double, std::pair<double, double>>> cells;
  for (std::size_t i = 0; i < y.size(); ++i) {
    auto& c = cells[r.stratum[i]][r.x[i]];
    c.first += y[i] * pw[i];
    c.second += pw[i];
  }
  for (const auto& [s, pts] : cells) {
    GlmmPlotData::Observed o;
    o.stratum = s;
    for (const auto& [xv, sum] : pts) {
      o.x.push_back(xv);
      o.mean.push_back(sum.first / sum.second);
      o.n.push_back(static_cast<std::size_t>(std::llround(sum.second)));
    }
    pd.observed.push_back(std::move(o));
  }
}

// The persons' conditional means, the population curves and the observed means over the design's x.
void fill_curves(const GlmmModel& model, const GlmmResult& res, const DataFrame& data, const PlotOptions& options,
                 GlmmPlotData& pd) {
  const ModelFrame& f = model.frame();
  const std::size_t n = f.n();
  detail::Rows r;
  r.fitted = res.fitted;
  r.population.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double eta = f.offset.empty() ? 0.0 : f.offset[i];
    for (std::size_t c = 0; c < f.p(); ++c) eta += f.X[c * n + i] * res.beta[c];
    r.population[i] = model.family().linkinv(eta);
  }
  r.x = detail::frame_values(f, data, pd.design.x_name);
  r.stratum = detail::row_strata(f, data, pd.design.x_name);
  r.rank = detail::seeded_ranks(f.re.front().nlevels(), options.seed);
  Trajectories& tr = pd.curves;
  tr.x_name = pd.design.x_name;
  tr.y_name = f.response;
  tr.group = pd.design.group;
  detail::fill_trajectories(f, model.y(), r, options, tr, pd.notes);
  detail::longitudinal_curves(r, tr);
  observed_means(r, model.y(), model.prior_weights(), pd);
}

void fill_residuals(const GlmmModel& model, const GlmmResult& res, const PlotOptions& options, GlmmPlotData& pd) {
  const std::vector<double>& y = model.y();
  const std::vector<double>& mu = res.fitted;
  if (res.family == GlmmFamily::Binomial) {
    std::vector<double> resid(y.size());
    for (std::size_t i = 0; i < y.size(); ++i) resid[i] = y[i] - mu[i];
    pd.binned = binned_residuals(mu, resid);
    return;
  }
  const auto idx = detail::thin(y.size(), options.max_points);
  for (std::size_t i : idx) {
    pd.pearson_fitted.push_back(mu[i]);
    pd.pearson_residual.push_back((y[i] - mu[i]) / std::sqrt(model.family().variance(mu[i])));
  }
  if (idx.size() < y.size())
    pd.notes.push_back({"plot", fmt::format("Pearson residuals vs fitted: {} of {} rows are drawn", idx.size(), y.size()),
                        "Evenly spaced rows, so the page stays small."});
}

// One caterpillar per (grouping factor, term), from the fit's ranef (lme4's condVar).
void fill_random_effects(const GlmmResult& res, const PlotOptions& options, GlmmPlotData& pd) {
  std::size_t k = 0;
  while (k < res.ranef.size()) {
    std::size_t end = k;
    while (end < res.ranef.size() && res.ranef[end].group == res.ranef[k].group) ++end;
    for (std::size_t a = 0; a < res.ranef[k].terms.size(); ++a) {
      std::vector<std::string> levels;
      std::vector<double> value, sd;
      for (std::size_t l = k; l < end; ++l) {
        levels.push_back(res.ranef[l].level);
        value.push_back(res.ranef[l].mode[a]);
        sd.push_back(res.ranef[l].condsd[a]);
      }
      pd.random_effects.push_back(
          detail::caterpillar(res.ranef[k].group, res.ranef[k].terms[a], levels, value, sd, options, pd.notes));
    }
    k = end;
  }
}

}  // namespace

GlmmPlotData glmm_plot_data(const GlmmFitted& fitted, const DataFrame& data, const PlotOptions& options) {
  const GlmmModel& model = *fitted.model;
  const GlmmResult& res = fitted.result;
  GlmmPlotData pd;
  pd.scale = res.family == GlmmFamily::Binomial ? "probability" : "expected count";
  for (const std::string& m : res.messages) pd.notes.push_back({"fit", m, ""});
  pd.design = decide_design(model.frame(), data);
  if (pd.design.kind == "longitudinal")
    fill_curves(model, res, data, options, pd);
  else
    pd.notes.push_back({"plot", "Fitted " + pd.scale + " over time: not drawn",
                        "The design is not longitudinal: " + pd.design.reason + "."});
  fill_residuals(model, res, options, pd);
  fill_random_effects(res, options, pd);
  return pd;
}

}  // namespace lmm::report
