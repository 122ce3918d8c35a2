// Likelihood-ratio tests between nested models (lme4 1.1-31 anova.merMod in R/lmer.R: models are
// refitted by ML, ordered by npar, χ² = 2·max(0, Δℓ) between consecutive rows with Δnpar df).
#include <boost/math/distributions/chi_squared.hpp>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>
#include <set>

#include "lmm/compare.h"
#include "lmm/error.h"
#include "lmm/formula.h"
#include "lmm/table_io.h"

namespace lmm {

namespace {

std::string first_missing(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::set<std::string> sb(b.begin(), b.end());
  for (const auto& x : a)
    if (!sb.count(x)) return x;
  return "";
}

// The number of variances among a model's parameters (one per random-effects column).
int variances(const ModelFrame& f) {
  int n = 0;
  for (const auto& t : f.re) n += t.q();
  return n;
}

// What the chi-square test of two models with the same fixed effects tests: added variances (on
// their boundary under the smaller model) or added correlations only (inside (-1, 1)).
std::string random_part_note(std::size_t r, const ModelFrame& smaller, const ModelFrame& larger, int df) {
  if (variances(larger) == variances(smaller))
    return fmt::format(
        "models {} and {} differ only in correlations of random effects: the smaller model fixes {} at 0, inside "
        "(-1, 1) and not on a boundary, so the chi-square test with df {} applies as usual",
        r, r + 1, df == 1 ? "a correlation" : "correlations", df);
  return fmt::format(
      "models {} and {} differ only in their random effects: under the smaller model a variance sits on its "
      "boundary (0), so the chi-square p-value is conservative (for one added variance, about twice the exact "
      "one; Self & Liang 1987, Stram & Lee 1994)",
      r, r + 1);
}

// lme4 refuses models fitted to different data; here: the same rows after dropping missing values.
void check_same_rows(const std::vector<Fitted>& fits) {
  const auto& rows0 = fits[0].model.frame().rows;
  for (std::size_t i = 1; i < fits.size(); ++i) {
    const auto& rows = fits[i].model.frame().rows;
    if (rows != rows0)
      throw Error(fmt::format(
          "model {} uses {} rows and model 1 uses {}: a likelihood-ratio test needs every model fitted to the same "
          "rows; set CompareOptions::complete_cases to fit every model to the rows complete for all models' "
          "variables, or remove the rows with a missing value in any model's variables from the data first",
          i + 1, rows.size(), rows0.size()));
  }
}

// REML criteria are comparable only between models with the same fixed effects.
void check_same_fixed_effects(const std::vector<Fitted>& fits) {
  for (std::size_t i = 1; i < fits.size(); ++i) {
    auto a = fits[0].model.frame().fixed_names, b = fits[i].model.frame().fixed_names;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (a == b) continue;
    const std::string extra = first_missing(fits[i].model.frame().fixed_names, fits[0].model.frame().fixed_names);
    const std::string lacks = first_missing(fits[0].model.frame().fixed_names, fits[i].model.frame().fixed_names);
    throw Error(fmt::format(
        "CompareOptions::reml compares REML criteria, which is valid only for models with the same fixed effects, "
        "and model {} {} '{}' that model 1 {}; set CompareOptions::reml to false to compare the models fitted by ML",
        i + 1, extra.empty() ? "lacks" : "has", extra.empty() ? lacks : extra, extra.empty() ? "has" : "lacks"));
  }
}

bool same_random_effects(const ModelFrame& a, const ModelFrame& b) {
  if (a.re.size() != b.re.size()) return false;
  for (std::size_t k = 0; k < a.re.size(); ++k)
    if (a.re[k].group != b.re[k].group || a.re[k].names != b.re[k].names) return false;
  return true;
}

std::string residual_label(const ResidualOptions& r) {
  std::string s = "independent";
  if (!r.structure.empty()) s = fmt::format("{}({} | {})", r.structure, r.time.empty() ? "1" : r.time, r.group);
  if (!r.sd_by.empty()) s += ", SD by " + r.sd_by;
  return s;
}

// Two models with the same fixed and random effects and different residual structures: the
// smaller one's structure is the larger's at φ = 0, ρ = 0 or SD ratios 1, inside the parameter
// space except car1's φ (in (0, 1)).
std::string residual_part_note(std::size_t r, const ModelFrame& smaller, const ModelFrame& larger, int df) {
  const ResidualOptions &s = smaller.residual.options, &l = larger.residual.options;
  const bool boundary = l.structure == "car1" && s.structure != "car1";
  return fmt::format(
      "models {} and {} differ only in their residual structure ({} against {}): {}", r, r + 1, residual_label(s),
      residual_label(l),
      boundary ? "car1's φ = 0 sits on the boundary of (0, 1), so the chi-square p-value is conservative"
               : fmt::format("the smaller structure is the larger at an inner point (φ or ρ = 0, SD ratios 1), so the "
                             "chi-square test with df {} applies as usual (if the smaller is a special case of the "
                             "larger)",
                             df));
}

// The likelihood-ratio test of table rows r - 1 and r (models fits[order[.]]), with notes on nesting.
LikelihoodRatioTest lr_test(ModelComparison& c, const std::vector<Fitted>& fits, const std::vector<std::size_t>& order,
                            std::size_t r) {
  LikelihoodRatioTest t;
  t.smaller = r - 1;
  t.larger = r;
  t.chisq = 2 * std::max(0.0, c.loglik[r] - c.loglik[r - 1]);
  t.df = c.npar[r] - c.npar[r - 1];
  if (t.df > 0) {
    t.p = boost::math::cdf(boost::math::complement(boost::math::chi_squared(t.df), t.chisq));
  } else {
    c.messages.push_back(fmt::format("models {} and {} have the same number of parameters: no test (compare their "
                                     "AIC and BIC instead)",
                                     r, r + 1));
  }
  const auto& fs = fits[order[r - 1]].model.frame().fixed_names;
  const auto& fl = fits[order[r]].model.frame().fixed_names;
  const std::string extra = first_missing(fs, fl);
  if (!extra.empty()) {
    c.messages.push_back(fmt::format(
        "models {} and {} may not be nested (model {} has the fixed effect '{}' that model {} lacks): the "
        "chi-square test assumes the smaller model is a special case of the larger",
        r, r + 1, r, extra, r + 1));
  } else if (fs.size() == fl.size() && t.df > 0) {
    const ModelFrame &a = fits[order[r - 1]].model.frame(), &b = fits[order[r]].model.frame();
    const bool residual_differs = residual_label(a.residual.options) != residual_label(b.residual.options);
    if (!residual_differs)
      c.messages.push_back(random_part_note(r, a, b, t.df));
    else if (same_random_effects(a, b))
      c.messages.push_back(residual_part_note(r, a, b, t.df));
  }
  return t;
}

/// The rows with a value in every variable of every formula, and the data cut to them.
DataFrame complete_cases(const DataFrame& data, const std::vector<std::string>& formulas,
                         const ModelFrameOptions& frame, std::size_t& dropped) {
  std::set<std::string> vars;
  for (const std::string* v : {&frame.weights, &frame.offset})
    if (!v->empty()) vars.insert(*v);
  for (const std::string& f : formulas) {
    const Formula fm = parse_formula(f);
    auto add = [&](const std::vector<std::string>& v) { vars.insert(v.begin(), v.end()); };
    add(fm.response.variables());
    for (const Expr& e : fm.offsets) add(e.variables());
    for (const Term& t : fm.fixed)
      for (const Expr& e : t.factors) add(e.variables());
    for (const RandomTerm& r : fm.random) {
      add(r.grouping);
      for (const Term& t : r.terms)
        for (const Expr& e : t.factors) add(e.variables());
    }
  }
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < data.nrows; ++r) {
    bool ok = true;
    for (const std::string& v : vars)
      if (const Column* c = data.find(v); c && c->missing(r)) ok = false;
    if (ok) rows.push_back(r);
  }
  dropped = data.nrows - rows.size();
  return select_rows(data, rows);
}

// The options with the reference levels of the variables `formula` uses.
ModelFrameOptions frame_options_for(const ModelFrameOptions& all, const std::string& formula,
                                    std::set<std::string>& used) {
  ModelFrameOptions o = all;
  o.reference_levels.clear();
  const Formula f = parse_formula(formula);
  std::set<std::string> vars;
  auto add = [&](const std::vector<Term>& terms) {
    for (const Term& t : terms)
      for (const Expr& e : t.factors)
        for (const std::string& v : e.variables()) vars.insert(v);
  };
  add(f.fixed);
  for (const RandomTerm& r : f.random) add(r.terms);
  for (const auto& [var, level] : all.reference_levels)
    if (vars.count(var)) {
      o.reference_levels.emplace(var, level);
      used.insert(var);
    }
  return o;
}

}  // namespace

ModelComparison compare_models(const DataFrame& data, const std::vector<std::string>& formulas,
                               const CompareOptions& options) {
  if (formulas.size() < 2)
    throw Error(fmt::format("compare_models needs at least two model formulas (got {})", formulas.size()));
  if (!options.residual.empty() && options.residual.size() != formulas.size())
    throw Error(fmt::format("CompareOptions::residual has {} structures for {} models (give one per model)",
                            options.residual.size(), formulas.size()));
  ModelComparison c;
  c.method = options.reml ? Method::REML : Method::ML;
  c.refit_ml = !options.reml;
  FitOptions fo;
  fo.method = c.method;
  fo.ddf = DdfMethod::None;  // the likelihood-ratio test needs no df: skip Satterthwaite's derivatives
  std::vector<Fitted> fits;
  std::set<std::string> refs_used;
  std::size_t dropped = 0;
  const DataFrame complete =
      options.complete_cases ? complete_cases(data, formulas, options.frame, dropped) : DataFrame();
  for (std::size_t i = 0; i < formulas.size(); ++i) {
    try {
      fo.frame = frame_options_for(options.frame, formulas[i], refs_used);
      if (!options.residual.empty()) fo.frame.residual = options.residual[i];
      fits.push_back(fit(options.complete_cases ? complete : data, formulas[i], fo));
    } catch (const Error& e) {
      throw Error(fmt::format("model {} ({}): {}", i + 1, formulas[i], e.what()));
    }
  }
  for (const auto& [var, level] : options.frame.reference_levels)
    if (!refs_used.count(var))
      throw Error("ModelFrameOptions::reference_levels: '" + var + "' is not a variable of any of the models");
  check_same_rows(fits);
  if (options.complete_cases)
    c.messages.push_back(fmt::format(
        "complete cases: every model was fitted to the {} rows with no missing value in any model's variables ({} "
        "row{} of {} dropped)",
        complete.nrows, dropped, dropped == 1 ? "" : "s", data.nrows));
  if (options.reml) check_same_fixed_effects(fits);

  std::vector<std::size_t> order(fits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return fits[a].result.npar < fits[b].result.npar; });
  const double n = static_cast<double>(fits[0].model.frame().rows.size());
  for (std::size_t r = 0; r < order.size(); ++r) {
    const auto& f = fits[order[r]].result;
    c.formulas.push_back(options.residual.empty()
                             ? formulas[order[r]]
                             : formulas[order[r]] + " (residuals: " + residual_label(options.residual[order[r]]) + ")");
    c.input_index.push_back(order[r]);
    c.npar.push_back(f.npar);
    c.loglik.push_back(f.loglik);
    c.deviance.push_back(-2 * f.loglik);
    c.aic.push_back(-2 * f.loglik + 2 * f.npar);
    c.bic.push_back(-2 * f.loglik + std::log(n) * f.npar);
  }
  if (c.refit_ml)
    c.messages.push_back(
        "models fitted by maximum likelihood for the comparison, as lme4's anova() refits REML fits: REML criteria "
        "of models with different fixed effects are not comparable");
  if (!std::is_sorted(order.begin(), order.end()))
    c.messages.push_back("models are listed by their number of parameters, as lme4's anova() lists them");
  for (std::size_t r = 1; r < order.size(); ++r) c.tests.push_back(lr_test(c, fits, order, r));
  for (std::size_t r = 0; r < order.size(); ++r) {
    const auto& f = fits[order[r]].result;
    if (f.singular) c.messages.push_back(fmt::format("model {} is a boundary (singular) fit", r + 1));
    if (!f.optimizer.converged || f.convergence.code < 0)
      c.messages.push_back(fmt::format("model {} failed the convergence check ({}); run `lmm fit` on it for details",
                                       r + 1, f.convergence.status));
  }
  for (auto r : order) c.fits.push_back(std::move(fits[r].result));
  return c;
}

}  // namespace lmm
