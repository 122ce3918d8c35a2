// Power of the growth design of lmm/simulate.h: y ~ time * group + (time | id), REML.
#include <cmath>

#include "lmm/error.h"
#include "lmm/formula.h"
#include "lmm/model_frame.h"
#include "power/power_internal.h"

namespace lmm {

namespace {

constexpr const char* kGrowthFormula = "y ~ time * group + (time | id)";

// The complete design of `persons` persons, its true parameters and the test.
power_detail::SizeProblem growth_problem(const GrowthDesign& d, const Formula& formula,
                                         const std::string& test, std::size_t persons) {
  GrowthDesign g = d;
  g.persons = persons;
  g.dropout = 0;  // the complete design; dropout is drawn per simulation
  power_detail::SizeProblem pb;
  pb.persons = persons;
  pb.frame = build_model_frame(simulate_growth(g), formula);
  const std::vector<std::pair<const char*, double>> beta{
      {"(Intercept)", d.intercept}, {"time", d.slope}, {"grouptreatment", 0.0},
      {"time:grouptreatment", d.group_effect}};
  if (pb.frame.fixed_names.size() != beta.size()) throw Error("the growth design's model frame has unexpected columns");
  for (std::size_t c = 0; c < beta.size(); ++c) {
    if (pb.frame.fixed_names[c] != beta[c].first) throw Error("the growth design's model frame has unexpected columns");
    pb.truth.beta.push_back(beta[c].second);
  }
  // λ = chol(Σ)/σ, column-major: [sd0, 0; cor·sd1, sd1·√(1 - cor²)] / σ.
  const double s = d.sigma;
  pb.truth.lambda = {{d.sd_intercept / s, d.cor * d.sd_slope / s, 0.0,
                      d.sd_slope * std::sqrt(std::max(0.0, 1 - d.cor * d.cor)) / s}};
  pb.truth.sigma = s;
  pb.dropout = d.dropout;
  const std::size_t T = d.waves.size();
  pb.wave.resize(pb.frame.n());
  for (std::size_t i = 0; i < pb.frame.n(); ++i) pb.wave[i] = static_cast<int>(pb.frame.rows[i] % T);
  power_detail::complete_problem(pb, test, "time:group");
  return pb;
}

}  // namespace

PowerResult power_growth(const GrowthDesign& design, const PowerOptions& options) {
  if (const std::string bad = check_power_options(options); !bad.empty()) throw Error(bad);
  GrowthDesign d = design;
  d.persons = options.persons.front();
  if (auto p = check_growth_design(d)) throw Error("GrowthDesign::" + p->field + " " + p->rule);
  // One time cannot identify a slope; "6" is most likely meant as six waves.
  if (d.waves.size() < 2)
    throw Error("GrowthDesign::waves must hold at least 2 measurement times for a growth model (the times "
                "themselves: 0, 1, 2, 3, 4, 5 for six waves)");
  if (!std::isnan(options.effect))
    throw Error("PowerOptions::effect is for power_from_model; a growth design's effect is GrowthDesign::group_effect");
  const Formula formula = parse_formula(kGrowthFormula);
  PowerResult res = power_detail::run_power(
      [&](std::size_t n) { return growth_problem(design, formula, options.test, n); }, options);
  if (design.dropout > 0)
    res.notes.push_back("dropout is drawn per simulated study (monotone, completely at random)");
  return res;
}

}  // namespace lmm
