// Power of new studies drawn from a fitted model (simr's powerSim on extend()ed data): the design's
// persons repeated in turn up to the sample size, the fitted variance components, β with the tested
// coefficient set to the chosen effect.
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <optional>

#include "lmm/error.h"
#include "lmm/model_frame.h"
#include "lmm/reshape.h"
#include "lmm/table_io.h"
#include "power/power_internal.h"

namespace lmm {

namespace {

// The column holding the persons: the single grouping variable of the largest grouping factor.
std::string person_column(const SavedModel& m) {
  const std::string& group = m.frame.re.front().group;
  for (const RandomTerm& rt : m.frame.formula.random)
    if (rt.group_label() == group && rt.grouping.size() == 1) return rt.grouping[0];
  throw Error("power_from_model: the largest grouping factor '" + group +
              "' is an interaction; its persons cannot be repeated (use a single id column)");
}

// Per row of `d`: the index of its person by first appearance (-1 where the id is missing).
std::vector<long> person_index(const Column& id, std::size_t& persons) {
  std::map<std::string, long> seen;
  std::vector<long> out(id.size(), -1);
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (id.missing(i)) continue;
    const std::string key = !id.is_numeric() ? id.levels[static_cast<std::size_t>(id.codes[i])]
                            : id.has_text()  ? id.text_levels[static_cast<std::size_t>(id.text_codes[i])]
                                             : fmt::format("{}", id.numbers[i]);
    out[i] = seen.emplace(key, static_cast<long>(seen.size())).first->second;
  }
  persons = seen.size();
  return out;
}

// Column `c` at rows `rows` (in that order).
Column take_rows(const Column& c, const std::vector<std::size_t>& rows) {
  Column out = c;
  if (c.is_numeric()) {
    out.numbers.clear();
    for (std::size_t r : rows) out.numbers.push_back(c.numbers[r]);
    out.text_codes.clear();
    if (c.has_text())
      for (std::size_t r : rows) out.text_codes.push_back(c.text_codes[r]);
  } else {
    out.codes.clear();
    for (std::size_t r : rows) out.codes.push_back(c.codes[r]);
  }
  return out;
}

// `persons` persons: person k has the rows of the design's person k mod G, with id "S<k+1>".
DataFrame extend_persons(const DataFrame& d, const std::string& id, std::size_t persons) {
  std::size_t G = 0;
  const std::vector<long> who = person_index(d.at(id), G);
  if (G == 0) throw Error("power_from_model: the design has no persons (column '" + id + "' is empty)");
  std::vector<std::vector<std::size_t>> rows_of(G);
  for (std::size_t i = 0; i < who.size(); ++i)
    if (who[i] >= 0) rows_of[static_cast<std::size_t>(who[i])].push_back(i);
  std::vector<std::size_t> rows;
  std::vector<std::optional<std::string>> labels;
  const int width = static_cast<int>(std::to_string(persons).size());
  for (std::size_t k = 0; k < persons; ++k)
    for (std::size_t r : rows_of[k % G]) {
      rows.push_back(r);
      labels.emplace_back(fmt::format("S{:0{}}", k + 1, width));
    }
  DataFrame out;
  out.nrows = rows.size();
  out.source = d.source;
  for (const Column& c : d.columns)
    out.columns.push_back(c.name == id ? categorical_column(id, labels) : take_rows(c, rows));
  return out;
}

// The fit's coding choices that are not in the formula: reference levels, contrasts, weights, offset.
ModelFrameOptions frame_options_of(const ModelFrame& f, const DataFrame& d) {
  ModelFrameOptions o;
  o.weights = f.weights_column;
  o.offset = f.offset_column;
  bool contrasts_set = false;
  for (const FactorCoding& fc : f.factors) {
    if (!d.find(fc.expr) || fc.ordered || fc.levels.empty()) continue;
    o.reference_levels[fc.expr] = fc.levels.front();
    if (!contrasts_set) o.unordered_contrasts = fc.contrasts;
    contrasts_set = true;
  }
  return o;
}

// β, λ per term of `frame` (matched by grouping factor), σ; the tested coefficient set to `effect`.
SimulationParameters truth_of(const SavedModel& m, const ModelFrame& frame) {
  SimulationParameters t{m.beta, {}, m.sigma};
  for (const ReTermData& term : frame.re) {
    std::size_t j = 0;
    while (j < m.frame.re.size() && (m.frame.re[j].group != term.group || m.frame.re[j].names != term.names)) ++j;
    if (j == m.frame.re.size()) throw Error("power_from_model: the design's term for '" + term.group + "' differs from the model's");
    t.lambda.push_back(m.lambda[j]);
  }
  return t;
}

power_detail::SizeProblem model_problem(const SavedModel& m, const DataFrame& design, const PowerOptions& opt,
                                        std::size_t persons) {
  DataFrame data = extend_persons(design, person_column(m), persons);
  std::vector<Centering> centering = m.centering;
  apply_centering(data, centering);
  power_detail::SizeProblem pb;
  pb.persons = persons;
  pb.frame = build_model_frame(data, m.frame.formula, frame_options_of(m.frame, data));
  if (pb.frame.fixed_names != m.frame.fixed_names)
    throw Error("power_from_model: the design codes to other fixed-effect columns than the model's (" +
                fmt::format("{}", fmt::join(pb.frame.fixed_names, ", ")) + " against " +
                fmt::format("{}", fmt::join(m.frame.fixed_names, ", ")) + ")");
  pb.truth = truth_of(m, pb.frame);
  power_detail::complete_problem(pb, opt.test, "");
  if (!std::isnan(opt.effect)) {
    if (pb.test.kind != power_detail::TestSpec::Kind::Coefficient)
      throw Error("PowerOptions::effect sets one coefficient; '" + pb.test.label + "' is not tested by one");
    pb.truth.beta[pb.test.column] = pb.effect = opt.effect;
  }
  return pb;
}

// The design with the response's variables present (1 where absent: the response is simulated).
DataFrame with_response(const SavedModel& m, const DataFrame& design) {
  DataFrame d = design;
  for (const std::string& v : m.frame.formula.response.variables())
    if (!d.find(v)) d.columns.push_back(numeric_column(v, std::vector<double>(d.nrows, 1.0)));
  return d;
}

}  // namespace

PowerResult power_from_model(const SavedModel& model, const DataFrame& design, const PowerOptions& options) {
  if (!model.family.empty())
    throw Error("power_from_model: the model is a GLMM (" + model.family + " family); only linear mixed models are simulated");
  if (model.frame.residual.any())
    throw Error("power_from_model: models with a residual structure are not simulated yet");
  if (model.frame.re.empty()) throw Error("power_from_model: the model has no random-effects term");
  if (const std::string bad = check_power_options(options); !bad.empty()) throw Error(bad);
  const DataFrame d = with_response(model, design);
  PowerResult res = power_detail::run_power(
      [&](std::size_t n) { return model_problem(model, d, options, n); }, options);
  res.notes.push_back(fmt::format("persons: the design's persons repeated in turn (column '{}')", person_column(model)));
  return res;
}

}  // namespace lmm
