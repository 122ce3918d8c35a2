// libFuzzer target for the saved-model loader (`lmm fit ... --save model.json`, read by `lmm
// predict --model` and `lmm simulate --model`): the bytes are parsed as JSON (a parse error is
// fine), handed to model_from_json, and a model that loads is used as predict and simulate use it,
// on a small new data frame built from the model's own variables and levels: conditional and
// population-level predictions with intervals, and one simulated response. Each step must either
// give a result or throw lmm::Error with a one-line message; anything else (a crash, a sanitizer
// report, another exception, a NaN or an infinity in a row that has every predictor) is a finding.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/predict.h"
#include "lmm/table_io.h"
#include "model_file.h"

namespace {

[[noreturn]] void violated(const std::string& what) {
  std::fprintf(stderr, "fuzz_model: invariant violated: %s\n", what.c_str());
  std::abort();
}

void check_message(const lmm::Error& e) {
  const std::string_view msg = e.what();
  if (msg.empty() || msg.find('\n') != std::string_view::npos)
    violated("error message empty or not one line: " + std::string(msg));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

constexpr std::size_t kRows = 4;

// New rows from the model's own variables: a factor's or grouping factor's variable is a
// categorical column cycling through the fitted levels (the last row of a grouping factor gets a
// level the fit did not see); any other variable is numeric (1, 1.5, 2, 2.5).
lmm::DataFrame new_rows(const lmm::SavedModel& m) {
  const lmm::Formula& f = m.frame.formula;
  std::map<std::string, std::vector<std::string>> labels;  // categorical: the value per row
  std::set<std::string> numeric;
  auto var_levels = [&](const std::string& v, const std::vector<std::string>& levels) {
    if (levels.empty() || labels.count(v)) return;
    std::vector<std::string> col(kRows);
    for (std::size_t i = 0; i < kRows; ++i) col[i] = levels[i % levels.size()];
    labels[v] = col;
  };
  for (const lmm::FactorCoding& c : m.frame.factors) {
    // "g" or "factor(g)": the variable itself holds the labels.
    std::string v = c.expr;
    if (v.rfind("factor(", 0) == 0 && v.back() == ')') v = v.substr(7, v.size() - 8);
    var_levels(v, c.levels);
  }
  for (std::size_t k = 0; k < f.random.size(); ++k) {
    const lmm::RandomTerm& t = f.random[k];
    for (const lmm::ReTermData& r : m.frame.re) {
      if (r.group != t.group_label() || r.levels.empty()) continue;
      for (std::size_t g = 0; g < t.grouping.size(); ++g) {
        std::vector<std::string> parts;
        for (const std::string& l : r.levels) {
          const auto p = split(l, ':');
          parts.push_back(p.size() == t.grouping.size() ? p[g] : l);
        }
        if (!labels.count(t.grouping[g])) {
          var_levels(t.grouping[g], parts);
          labels[t.grouping[g]].back() = "unseen-level";
        }
      }
    }
    for (const std::string& g : t.grouping) var_levels(g, {"a", "b"});
  }
  auto add_vars = [&](const std::vector<std::string>& vars) {
    for (const std::string& v : vars)
      if (!labels.count(v)) numeric.insert(v);
  };
  for (const lmm::Term& t : f.fixed)
    for (const lmm::Expr& e : t.factors) add_vars(e.variables());
  for (const lmm::RandomTerm& r : f.random)
    for (const lmm::Term& t : r.terms)
      for (const lmm::Expr& e : t.factors) add_vars(e.variables());
  for (const lmm::Centering& c : m.centering) {
    add_vars({c.variable});
    if (c.kind == lmm::Centering::Kind::PersonMean) {
      numeric.erase(c.variable + "_between");
      numeric.erase(c.variable + "_within");
      if (!labels.count(c.group)) {
        std::vector<std::string> keys;
        for (const auto& [k, v] : c.person_means) keys.push_back(k);
        var_levels(c.group, keys.empty() ? std::vector<std::string>{"a"} : keys);
      }
    }
  }
  lmm::DataFrame d;
  d.nrows = kRows;
  d.source = "new.csv";
  for (const auto& [name, col] : labels) {
    if (numeric.count(name)) continue;
    std::vector<std::optional<std::string>> vals(col.begin(), col.end());
    d.columns.push_back(lmm::categorical_column(name, vals));
  }
  for (const std::string& name : numeric) {
    std::vector<double> vals(kRows);
    for (std::size_t i = 0; i < kRows; ++i) vals[i] = 1 + 0.5 * static_cast<double>(i);
    d.columns.push_back(lmm::numeric_column(name, vals));
  }
  return d;
}

void check_predictions(const lmm::Predictions& p, const lmm::PredictOptions& o) {
  if (p.fit.size() != kRows) violated("predict: not one value per row");
  const bool interval = o.interval != lmm::IntervalKind::None;
  if (interval && (p.se.size() != kRows || p.lower.size() != kRows || p.upper.size() != kRows))
    violated("predict: interval columns not one value per row");
  // Every row has every predictor, so every value must be a number.
  for (std::size_t i = 0; i < kRows; ++i) {
    if (!std::isfinite(p.fit[i])) violated("predict: non-finite fit");
    if (!interval) continue;
    if (!std::isfinite(p.se[i]) || p.se[i] < 0) violated("predict: se not finite and >= 0");
    if (!(p.lower[i] <= p.fit[i] && p.fit[i] <= p.upper[i])) violated("predict: fit outside its interval");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  lmm::SavedModel m;
  try {
    m = lmm::cli::model_from_json(j, "fuzz.json");
  } catch (const lmm::Error& e) {
    check_message(e);
    return 0;
  }
  // What `lmm fit --save` writes must read back as the same model.
  try {
    const lmm::SavedModel again = lmm::cli::model_from_json(lmm::cli::model_to_json(m), "again.json");
    if (again.beta != m.beta || again.theta != m.theta || again.frame.fixed_names != m.frame.fixed_names)
      violated("a loaded model does not survive saving and loading again");
  } catch (const lmm::Error& e) {
    violated(std::string("a loaded model saved again does not load: ") + e.what());
  }
  const lmm::DataFrame rows = new_rows(m);
  using lmm::IntervalKind;
  using lmm::ReForm;
  const std::pair<ReForm, IntervalKind> modes[] = {{ReForm::Conditional, IntervalKind::Confidence},
                                                   {ReForm::Conditional, IntervalKind::Prediction},
                                                   {ReForm::Population, IntervalKind::Confidence},
                                                   {ReForm::Population, IntervalKind::Prediction}};
  for (const auto& [re_form, interval] : modes) {
    lmm::PredictOptions o;
    o.re_form = re_form;
    o.interval = interval;
    try {
      check_predictions(lmm::predict(m, rows, o), o);
    } catch (const lmm::Error& e) {
      check_message(e);
    }
  }
  try {
    lmm::Rng rng(7);
    const lmm::DataFrame sim = lmm::simulate_from_saved(m, rows, 1, rng);
    const lmm::Column* s = sim.find("sim_1");
    if (!s || !s->is_numeric() || s->numbers.size() != kRows) violated("simulate: no sim_1 column");
    for (double v : s->numbers)
      if (!std::isfinite(v)) violated("simulate: non-finite response");
  } catch (const lmm::Error& e) {
    check_message(e);
  }
  return 0;
}
