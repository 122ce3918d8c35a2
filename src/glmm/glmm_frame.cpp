// From a table and a formula to a GLMM's rows: the model frame of the linear predictor and the
// response as the family needs it. A binomial response is 0/1 numbers, a two-level factor (the
// second level is success, as R's glm), or cbind(successes, failures) (y the proportion, the
// prior weight the number of trials), or a proportion with prior weights (the trials); a Poisson
// response is non-negative integer counts, optionally with prior weights.
#include "glmm/glmm_frame.h"

#include <fmt/format.h>

#include <cmath>

#include "lmm/error.h"

namespace lmm::glmm_detail {

namespace {

bool is_cbind(const Expr& e) { return e.kind == Expr::Kind::Call && e.name == "cbind" && e.args.size() == 2; }

std::string row_name(const ModelFrame& f, std::size_t i) { return fmt::format("row {}", f.rows[i] + 1); }

// A two-level categorical response becomes 0/1 (its second level 1) in a copy of the table.
DataFrame factor_response_as_numbers(const DataFrame& data, const Formula& formula) {
  DataFrame d = data;
  if (formula.response.kind != Expr::Kind::Variable) return d;
  for (Column& c : d.columns) {
    if (c.name != formula.response.name || c.is_numeric()) continue;
    if (c.levels.size() != 2)
      throw Error(fmt::format("the response '{}' has {} levels; a binomial response needs two (the second, '{}', "
                              "is success), 0/1 values or cbind(successes, failures)",
                              c.name, c.levels.size(), c.levels.size() > 1 ? c.levels[1] : c.levels.front()));
    c.numbers.resize(c.codes.size());
    for (std::size_t i = 0; i < c.codes.size(); ++i)
      c.numbers[i] = c.codes[i] < 0 ? std::nan("") : static_cast<double>(c.codes[i]);
    c.type = Column::Type::Numeric;
    c.codes.clear();
    c.levels.clear();
  }
  return d;
}

void check_counts(const ModelFrame& f, const std::vector<double>& v, const std::string& what, const std::string& family) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0 || v[i] != std::floor(v[i]))
      throw Error(fmt::format("{} has {} at {}: the {} family needs non-negative whole numbers", what, v[i],
                              row_name(f, i), family));
}

// cbind(s, f): the frame is built with s + f as its response (so rows missing either are
// dropped), then s is evaluated for the same rows.
void cbind_response(const DataFrame& data, const Formula& formula, GlmmRows& r, const ModelFrameOptions& opt) {
  Formula total = formula;
  Expr sum;
  sum.kind = Expr::Kind::Binary;
  sum.name = "+";
  sum.args = formula.response.args;
  total.response = sum;
  r.frame = build_model_frame(data, total, opt);
  ModelFrame succ_frame = r.frame;
  succ_frame.formula.response = formula.response.args[0];
  const ModelFrame s = model_frame_for_new_data(succ_frame, data, {.random_effects = false, .response = true});
  const std::vector<double> trials = r.frame.y;
  check_counts(r.frame, trials, "the number of trials in '" + formula.response.label() + "'", "binomial");
  r.y.assign(trials.size(), 0.0);
  r.pw = trials;
  for (std::size_t i = 0, k = 0; i < trials.size(); ++i) {
    while (k < s.rows.size() && s.rows[k] < r.frame.rows[i]) ++k;
    const double succ = s.y.at(k);
    if (succ < 0 || succ != std::floor(succ) || succ > trials[i])
      throw Error(fmt::format("the successes '{}' have {} at {}: cbind(successes, failures) needs non-negative whole "
                              "numbers of successes and failures",
                              formula.response.args[0].label(), succ, row_name(r.frame, i)));
    r.y[i] = trials[i] > 0 ? succ / trials[i] : 0.0;
  }
  r.frame.y = r.y;
  r.frame.formula = formula;
  r.frame.response = formula.response.label();
}

void check_response(const GlmmRows& r, GlmmFamily family) {
  const ModelFrame& f = r.frame;
  if (family == GlmmFamily::Poisson) check_counts(f, r.y, "the response '" + f.response + "'", "poisson");
  if (family == GlmmFamily::Binomial && f.weights.empty())
    for (std::size_t i = 0; i < r.y.size(); ++i)
      if (r.pw[i] == 1 && r.y[i] != 0 && r.y[i] != 1)
        throw Error(fmt::format("the response '{}' has {} at {}: the binomial family needs 0/1 values, a two-level "
                                "factor or cbind(successes, failures)",
                                f.response, r.y[i], row_name(f, i)));
  double lo = 0, hi = 0, total = 0;
  bool first = true;
  for (std::size_t i = 0; i < r.y.size(); ++i) {
    if (r.pw[i] <= 0) continue;
    lo = first ? r.y[i] : std::min(lo, r.y[i]);
    hi = first ? r.y[i] : std::max(hi, r.y[i]);
    total += r.pw[i];
    first = false;
  }
  if (first || (lo == hi && (family == GlmmFamily::Poisson ? lo == 0 : (lo == 0 || lo == 1))))
    throw Error(fmt::format("the response '{}' is {} in all {} rows used: there is no variation to model", f.response,
                            lo, r.y.size()));
}

}  // namespace

// Prior weights (glm's weights =): binomial, a proportion of w trials (w and w·y whole numbers);
// poisson, w multiplies the row's log-likelihood.
void prior_weights(GlmmRows& r, GlmmFamily family) {
  const ModelFrame& f = r.frame;
  r.pw = f.weights;
  if (family != GlmmFamily::Binomial) return;
  for (std::size_t i = 0; i < r.y.size(); ++i) {
    const double w = r.pw[i], k = w * r.y[i];
    if (!(r.y[i] >= 0 && r.y[i] <= 1))
      throw Error(fmt::format("the response '{}' has {} at {}: with prior weights (the trials) a binomial response is "
                              "the proportion of successes, from 0 to 1",
                              f.response, r.y[i], row_name(f, i)));
    if (w != std::floor(w) || std::abs(k - std::round(k)) > 1e-7 * w)
      throw Error(fmt::format("the response '{}' is {} with weight {} at {}: binomial prior weights are numbers of "
                              "trials, so the weight and weight x response (the successes) must be whole numbers",
                              f.response, r.y[i], w, row_name(f, i)));
  }
}

GlmmRows glmm_rows(const DataFrame& data, const Formula& formula, const GlmmOptions& options) {
  if (!options.frame.weights.empty() && is_cbind(formula.response))
    throw Error("ModelFrameOptions::weights: cbind(successes, failures) gives the binomial trials already; use "
                "weights with a proportion response instead");
  GlmmRows r;
  ModelFrameOptions frame_options = options.frame;
  frame_options.check_nobs_vs_nlev = false;  // as glmer: (1 | obs) is allowed
  if (is_cbind(formula.response)) {
    if (options.family != GlmmFamily::Binomial)
      throw Error("cbind(successes, failures) is a binomial response; the poisson family needs counts");
    cbind_response(data, formula, r, frame_options);
  } else {
    const DataFrame d = options.family == GlmmFamily::Binomial ? factor_response_as_numbers(data, formula) : data;
    r.frame = build_model_frame(d, formula, frame_options);
    r.y = r.frame.y;
    r.pw.assign(r.y.size(), 1.0);
    if (!r.frame.weights.empty()) prior_weights(r, options.family);
  }
  check_response(r, options.family);
  return r;
}

}  // namespace lmm::glmm_detail
