#include "lmm/predict.h"

#include <fmt/format.h>

#include <algorithm>
#include <Eigen/Eigenvalues>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <string_view>
#include <vector>
#include <map>
#include <unordered_map>

#include "lmm/error.h"
#include "lmm/table_io.h"
#include "lmm/version.h"
#include "glmm/glmm_simulate.h"
#include "model/condvar.h"
#include "model/model_access.h"
#include "model/residual.h"

namespace lmm {

using detail::Mat;

namespace {

// "" if the k x k column-major block is a covariance matrix: symmetric to 1e-8 of its scale and no
// eigenvalue below -1e-8 of the largest in magnitude (rounding in the fit's own computations).
std::string covariance_problem(const double* a, Eigen::Index k) {
  const Eigen::Map<const Mat> M(a, k, k);
  const double scale = M.cwiseAbs().maxCoeff();
  if (!((M - M.transpose()).cwiseAbs().maxCoeff() <= 1e-8 * scale)) return "is not symmetric";
  if (k == 1) return M(0, 0) >= 0 ? "" : fmt::format("is negative ({:.3g})", M(0, 0));
  Eigen::SelfAdjointEigenSolver<Mat> es(M, Eigen::EigenvaluesOnly);
  const double lo = es.eigenvalues().minCoeff();
  const double hi = es.eigenvalues().cwiseAbs().maxCoeff();
  return lo >= -1e-8 * hi ? "" : fmt::format("has a negative eigenvalue ({:.3g})", lo);
}

}  // namespace

std::string check_estimates(const SavedModel& m) {
  const auto p = static_cast<Eigen::Index>(m.beta.size());
  if (m.vcov.size() != static_cast<std::size_t>(p * p)) return "vcov does not have p x p entries";
  if (p > 0)
    if (auto w = covariance_problem(m.vcov.data(), p); !w.empty()) return "vcov " + w;
  if (m.lambda.size() != m.frame.re.size() || m.re.size() != m.frame.re.size())
    return "random does not have one entry per term";
  std::size_t k = 0;
  for (std::size_t j = 0; j < m.frame.re.size(); ++j) {
    const ReTermData& t = m.frame.re[j];
    const auto q = static_cast<Eigen::Index>(t.q());
    const std::string where = "random[" + t.group + "].";
    if (m.lambda[j].size() != static_cast<std::size_t>(q * q)) return where + "lambda does not have q x q entries";
    const Eigen::Map<const Mat> lambda(m.lambda[j].data(), q, q);
    for (Eigen::Index c = 0; c < q; ++c) {
      if (!(lambda(c, c) >= 0)) return where + "lambda has a negative diagonal element";
      for (Eigen::Index r = 0; r < c; ++r)
        if (lambda(r, c) != 0) return where + "lambda is not lower triangular";
      for (Eigen::Index r = c; r < q; ++r, ++k) {
        if (k >= m.theta.size()) return "theta has fewer values than the terms' lambda";
        if (!(std::abs(m.theta[k] - lambda(r, c)) <= 1e-12 * (1 + std::abs(lambda(r, c)))))
          return fmt::format("theta[{}] ({:.17g}) is not {}lambda's entry ({:.17g})", k, m.theta[k], where, lambda(r, c));
      }
    }
    const auto& e = m.re[j];
    const std::size_t L = t.levels.size(), qq = static_cast<std::size_t>(q * q);
    if (e.condvar.size() != L * qq || e.pe_cov.size() != L * qq) return where + "condvar or pe_cov has the wrong size";
    for (std::size_t l = 0; l < L; ++l) {
      if (auto w = covariance_problem(&e.condvar[l * qq], q); !w.empty())
        return fmt::format("{}condvar of level '{}' {}", where, t.levels[l], w);
      if (auto w = covariance_problem(&e.pe_cov[l * qq], q); !w.empty())
        return fmt::format("{}pe_cov of level '{}' {}", where, t.levels[l], w);
    }
  }
  if (k != m.theta.size()) return "theta has more values than the terms' lambda";
  return "";
}

ModelFrame frame_coding(const ModelFrame& f) {
  ModelFrame c;
  c.formula = f.formula;
  c.response = f.response;
  c.fixed_names = f.fixed_names;
  c.aliased = f.aliased;
  c.factors = f.factors;
  c.offset_column = f.offset_column;
  c.weights_column = f.weights_column;
  c.transforms = f.transforms;
  for (const ReTermData& t : f.re) {
    ReTermData e;
    e.group = t.group;
    e.levels = t.levels;
    e.names = t.names;
    c.re.push_back(std::move(e));
  }
  c.residual.options = f.residual.options;  // the structure and its levels, without the rows
  c.residual.visit_levels = f.residual.visit_levels;
  c.residual.sd_levels = f.residual.sd_levels;
  return c;
}

namespace {

// The structure's estimates as ResidualOptions::value (natural units), held fixed there.
void record_residual(const LinearMixedModel& model, ResidualOptions& o) {
  if (!o.any()) return;
  const ResidualEstimates e = model.residual_estimates();
  o.value.clear();
  if (o.structure == "ar1" || o.structure == "car1") o.value.push_back(e.phi);
  if (o.structure == "cs") o.value.push_back(e.rho);
  if (o.structure == "us") o.value = e.cor;
  for (std::size_t l = 1; l < e.sd_ratios.size(); ++l) o.value.push_back(e.sd_ratios[l]);
  o.fixed = true;
}

}  // namespace

SavedModel snapshot(const LinearMixedModel& model) {
  const auto& m = detail::model_state(model);
  const ModelFrame& f = model.frame();
  SavedModel s;
  s.lmm_version = LMM_VERSION;
  s.nobs = f.n();
  s.method = model.method();
  s.frame = frame_coding(f);
  s.beta = model.beta();
  s.vcov = model.vcov();
  s.theta = model.theta();
  s.theta.resize(model.ntheta_random());  // the structure's parameters: s.frame.residual
  record_residual(model, s.frame.residual.options);
  s.lambda = model.lambda();
  s.sigma = model.sigma();

  // Joint covariance of the prediction errors (Henderson 1975): with Σ = (L L')⁻¹ for u, W =
  // L⁻ᵀL_X' and V_u = (R_X R_X')⁻¹, Cov(û - u) = Σ + W V_u W', Cov(û - u, β̂ - β) = -W V_u (times
  // σ²); b = Λu.
  const double s2 = s.sigma * s.sigma;
  const auto modes = model.ranef();
  const std::vector<Mat> G = detail::re_inverse_diagonal_blocks(m);
  const std::vector<Mat> W = detail::re_fixed_cross(m);
  const Mat Vu = m.vcov_unscaled();
  const auto p = static_cast<Eigen::Index>(f.p());
  for (int j = 0; j < m.K; ++j) {
    const int q = m.q[j];
    const Mat& lam = m.lambda[j];
    SavedModel::TermEstimates te;
    te.b = modes[static_cast<std::size_t>(j)];
    const auto L = static_cast<std::size_t>(m.nlev[j]);
    te.condvar.resize(L * q * q);
    te.pe_cov.resize(L * q * q);
    te.pe_cross.resize(L * q * static_cast<std::size_t>(p));
    for (std::size_t b = 0; b < L; ++b) {
      const auto bi = static_cast<Eigen::Index>(b);
      const Mat Gb = G[j].middleCols(bi * q, q);
      const Mat Wb = W[j].middleRows(bi * q, q);
      const Mat cv = s2 * (lam * Gb * lam.transpose());
      const Mat pc = s2 * (lam * (Gb + Wb * Vu * Wb.transpose()) * lam.transpose());
      const Mat px = -s2 * (lam * (Wb * Vu));
      std::copy(cv.data(), cv.data() + cv.size(),
                te.condvar.begin() + static_cast<std::ptrdiff_t>(b * q * q));
      std::copy(pc.data(), pc.data() + pc.size(),
                te.pe_cov.begin() + static_cast<std::ptrdiff_t>(b * q * q));
      std::copy(
          px.data(), px.data() + px.size(),
          te.pe_cross.begin() + static_cast<std::ptrdiff_t>(b * q * static_cast<std::size_t>(p)));
    }
    s.re.push_back(std::move(te));
  }
  return s;
}

namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;

std::uint64_t fnv1a64(std::uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string data_hash(std::string_view bytes) { return fmt::format("fnv1a64:{:016x}", fnv1a64(kFnvOffset, bytes)); }

std::string data_hash_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> block(std::size_t{1} << 20);
  std::uint64_t h = kFnvOffset;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    h = fnv1a64(h, std::string_view(block.data(), static_cast<std::size_t>(in.gcount())));
  }
  return fmt::format("fnv1a64:{:016x}", h);
}

namespace {

std::string list_some(const std::vector<std::string>& v, std::size_t max = 5) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max) s += fmt::format(", ... ({} more)", v.size() - max);
  return s;
}

// The labels of a term's grouping factor in `data`, per kept row (empty for a missing value).
std::vector<std::string> grouping_labels(const ModelFrame& frame, const ReTermData& term,
                                         const DataFrame& data,
                                         const std::vector<std::size_t>& rows) {
  const RandomTerm* rt = nullptr;
  for (const RandomTerm& t : frame.formula.random)
    if (t.group_label() == term.group) rt = &t;
  if (!rt) throw std::logic_error("no random term for group " + term.group);
  std::vector<std::string> out(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::string lab;
    for (std::size_t m = 0; m < rt->grouping.size(); ++m) {
      const Column& c = data.at(rt->grouping[m]);
      if (c.missing(rows[i])) {
        lab.clear();
        break;
      }
      if (m) lab += ":";
      lab += format_cell(c, rows[i]);
    }
    out[i] = lab;
  }
  return out;
}

// What the prediction of a row needs beyond the row itself.
struct PredictionContext {
  const SavedModel& model;
  const ModelFrame& nf;  // the new data's model frame
  bool conditional, interval, prediction;
  std::vector<Mat> Sigma;  // per term: σ²λλ', the population covariance of its random effects
  std::vector<double> sd_ratio;  // per new row: its residual SD ratio δ (ModelFrameOptions::residual's sd_by)
};

// Row i of the new data: the prediction and its variance (0 without an interval).
std::pair<double, double> predict_row(const PredictionContext& ctx, std::size_t i, Eigen::VectorXd& x) {
  const SavedModel& model = ctx.model;
  const ModelFrame& nf = ctx.nf;
  const std::size_t nk = nf.rows.size();
  const auto p = static_cast<Eigen::Index>(model.beta.size());
  const Eigen::Map<const Mat> V(model.vcov.data(), p, p);
  const Eigen::Map<const Eigen::VectorXd> beta(model.beta.data(), p);
  for (Eigen::Index c = 0; c < p; ++c) x[c] = nf.X[static_cast<std::size_t>(c) * nk + i];
  double fit = x.dot(beta) + (nf.offset.empty() ? 0.0 : nf.offset[i]);
  double var = ctx.interval ? x.dot(V * x) : 0.0;
  for (std::size_t j = 0; j < nf.re.size(); ++j) {
    const ReTermData& t = nf.re[j];
    const int q = t.q();
    const Eigen::Map<const Eigen::VectorXd> z(&t.z[i * static_cast<std::size_t>(q)], q);
    const std::int32_t l = t.refs[i];
    if (ctx.conditional && l >= 0) {
      const auto lq = static_cast<std::size_t>(l) * static_cast<std::size_t>(q);
      fit += z.dot(Eigen::Map<const Eigen::VectorXd>(&model.re[j].b[lq], q));
      if (ctx.interval) {
        const Eigen::Map<const Mat> C(&model.re[j].pe_cov[lq * static_cast<std::size_t>(q)], q, q);
        const Eigen::Map<const Mat> X(&model.re[j].pe_cross[lq * static_cast<std::size_t>(p)], q, p);
        var += z.dot(C * z) + 2 * z.dot(X * x);
      }
    } else if (ctx.interval && (ctx.conditional || ctx.prediction)) {
      // The person's effect is unknown: its population distribution.
      var += z.dot(ctx.Sigma[j] * z);
    }
  }
  if (ctx.prediction) var += std::pow(model.sigma * ctx.sd_ratio[i], 2);
  return {fit, var};
}

// Notes on the levels the fit did not see and rows with a missing grouping value.
void add_new_level_notes(const SavedModel& model, const ModelFrame& nf, const DataFrame& data, Predictions& out) {
  const std::size_t nk = nf.rows.size();
  std::vector<std::string> done;
  for (const ReTermData& t : nf.re) {
    if (std::find(done.begin(), done.end(), t.group) != done.end()) continue;
    done.push_back(t.group);
    if (std::none_of(t.refs.begin(), t.refs.end(), [](std::int32_t r) { return r < 0; })) continue;
    const auto labels = grouping_labels(model.frame, t, data, nf.rows);
    std::vector<std::string> fresh;
    std::size_t missing = 0, rows_new = 0;
    for (std::size_t i = 0; i < nk; ++i) {
      if (t.refs[i] >= 0) continue;
      if (labels[i].empty()) {
        ++missing;
        continue;
      }
      ++rows_new;
      if (std::find(fresh.begin(), fresh.end(), labels[i]) == fresh.end()) fresh.push_back(labels[i]);
    }
    if (!fresh.empty())
      out.notes.push_back(fmt::format(
          "{} level{} of {} not in the fitted data ({}): {} row{} {} the population-level "
          "prediction for that term (as lme4's allow.new.levels = TRUE)",
          fresh.size(), fresh.size() == 1 ? "" : "s", t.group, list_some(fresh), rows_new,
          rows_new == 1 ? "" : "s", rows_new == 1 ? "gets" : "get"));
    if (missing > 0)
      out.notes.push_back(fmt::format(
          "{} row{} with a missing {} {} the population-level prediction for that term", missing,
          missing == 1 ? "" : "s", t.group, missing == 1 ? "gets" : "get"));
  }
}

}  // namespace

Predictions predict(const SavedModel& model, const DataFrame& input,
                    const PredictOptions& options) {
  if (!(options.level > 0 && options.level < 1))
    throw Error(fmt::format("the interval level must be between 0 and 1 (got {})", options.level));
  DataFrame data = input;
  std::vector<Centering> centering = model.centering;
  apply_centering(data, centering);
  const bool conditional = options.re_form == ReForm::Conditional;
  NewDataOptions nd;
  nd.random_effects = conditional;
  const ModelFrame nf = model_frame_for_new_data(model.frame, data, nd);

  const std::size_t nk = nf.rows.size();
  const auto p = static_cast<Eigen::Index>(model.beta.size());
  const bool interval = options.interval != IntervalKind::None;
  PredictionContext ctx{model, nf, conditional, interval, options.interval == IntervalKind::Prediction, {}, {}};
  // A new row's residual variance is σ²δ² of its level of the SD column (1 without one).
  ctx.sd_ratio = ctx.prediction ? detail::saved_sd_ratios(model.frame.residual, data, nf.rows)
                                : std::vector<double>(nk, 1.0);
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  Predictions out;
  out.fit.assign(data.nrows, nan);
  if (interval) {
    out.se.assign(data.nrows, nan);
    out.lower.assign(data.nrows, nan);
    out.upper.assign(data.nrows, nan);
  }
  const double s2 = model.sigma * model.sigma;
  for (std::size_t j = 0; j < nf.re.size(); ++j) {
    const int q = nf.re[j].q();
    const Eigen::Map<const Mat> lam(model.lambda[j].data(), q, q);
    ctx.Sigma.push_back(s2 * lam * lam.transpose());
  }
  const double zq =
      interval ? boost::math::quantile(boost::math::normal(), 0.5 + options.level / 2) : 0.0;
  Eigen::VectorXd x(p);
  for (std::size_t i = 0; i < nk; ++i) {
    const auto [fit, var] = predict_row(ctx, i, x);
    const std::size_t row = nf.rows[i];
    // Every input is finite (the new data are checked, a saved model's numbers too), so only an
    // overflow gets here: say so rather than print inf or NaN.
    if (!std::isfinite(fit) || !std::isfinite(var))
      throw Error(fmt::format(
          "the prediction for row {} overflows (fit {}, variance {}): the model's estimates or "
          "the row's values are too large to compute with",
          row + 1, fit, var));
    out.fit[row] = fit;
    if (interval) {
      const double se = std::sqrt(std::max(0.0, var));
      out.se[row] = se;
      out.lower[row] = fit - zq * se;
      out.upper[row] = fit + zq * se;
    }
  }
  if (conditional) add_new_level_notes(model, nf, data, out);
  if (nk < data.nrows) {
    const std::size_t left = data.nrows - nk;
    out.notes.push_back(fmt::format("{} row{} with a missing predictor {} no prediction (NA)", left,
                                    left == 1 ? "" : "s", left == 1 ? "has" : "have"));
  }
  return out;
}

DataFrame simulate_from_saved(const SavedModel& model, const DataFrame& input, std::size_t nsim,
                              Rng& rng) {
  DataFrame data = input;
  std::vector<Centering> centering = model.centering;
  apply_centering(data, centering);
  NewDataOptions nd;
  nd.random_effects = false;  // the levels are the data's own: coded below
  const ModelFrame nf = model_frame_for_new_data(model.frame, data, nd);
  const std::size_t nk = nf.rows.size();
  SimulationDesign d;
  d.n = nk;
  d.X = nf.X;
  d.offset = nf.offset;
  for (const ReTermData& t : nf.re) {
    for (const RandomTerm& rt : model.frame.formula.random)
      if (rt.group_label() == t.group)
        for (const std::string& g : rt.grouping)
          data.at(g);  // a clear error when a grouping column is absent
    ReTermData s = t;
    const auto labels = grouping_labels(model.frame, t, data, nf.rows);
    std::unordered_map<std::string, std::int32_t> index;
    s.levels.clear();
    for (std::size_t i = 0; i < nk; ++i) {
      if (labels[i].empty()) {
        s.refs[i] = -1;  // a missing grouping value: no random effect for this term
        continue;
      }
      const auto [it, fresh] = index.emplace(labels[i], static_cast<std::int32_t>(s.levels.size()));
      if (fresh) s.levels.push_back(labels[i]);
      s.refs[i] = it->second;
    }
    d.re.push_back(std::move(s));
  }
  if (model.frame.residual.any()) d.residual_blocks = detail::saved_residual_blocks(model.frame.residual, data, nf.rows);
  SimulationParameters par;
  par.beta = model.beta;
  par.lambda = model.lambda;
  par.sigma = model.sigma;
  par.residuals = model.family.empty();
  auto sims = simulate_responses(d, par, nsim, rng);
  if (!model.family.empty()) glmm_detail::draw_glmm_responses(model, data, nf, sims, rng);
  DataFrame out = input;
  for (std::size_t k = 0; k < nsim; ++k) {
    std::vector<double> col(input.nrows, std::numeric_limits<double>::quiet_NaN());
    for (std::size_t i = 0; i < nk; ++i) {
      // Finite inputs: a non-finite draw is an overflow.
      if (!std::isfinite(sims[k][i]))
        throw Error(fmt::format(
            "the simulated response for row {} overflows ({}): the model's estimates or the "
            "row's values are too large to compute with",
            nf.rows[i] + 1, sims[k][i]));
      col[nf.rows[i]] = sims[k][i];
    }
    std::string name = "sim_" + std::to_string(k + 1);
    if (out.find(name))
      throw Error("the data already have a column '" + name + "'; rename it before simulating");
    out.columns.push_back(numeric_column(std::move(name), std::move(col)));
  }
  return out;
}

}  // namespace lmm
