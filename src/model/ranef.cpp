#include "lmm/ranef.h"
#include "lmm/statistics.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

namespace lmm {

namespace {

void for_each_random_effect(const LinearMixedModel& model, const std::function<void(const RandomEffectLevel&)>& visit) {
  const ModelFrame& f = model.frame();
  const auto modes = model.ranef();
  const auto condvar = model.ranef_condvar();
  // Terms grouped by grouping factor, in order of first appearance.
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::size_t>> terms_of;
  for (std::size_t j = 0; j < f.re.size(); ++j) {
    if (!terms_of.count(f.re[j].group)) groups.push_back(f.re[j].group);
    terms_of[f.re[j].group].push_back(j);
  }
  RandomEffectLevel row;
  for (const std::string& g : groups) {
    const auto& js = terms_of[g];
    const ReTermData& first = f.re[js.front()];
    for (std::size_t b = 0; b < first.nlevels(); ++b) {
      row.group = g;
      row.level = first.levels[b];
      row.terms.clear(), row.mode.clear(), row.condsd.clear();
      for (std::size_t j : js) {
        const ReTermData& t = f.re[j];
        const auto q = static_cast<std::size_t>(t.q());
        // Terms on one factor share its levels (the same factor gives the same level order).
        for (std::size_t a = 0; a < q; ++a) {
          row.terms.push_back(t.names[a]);
          row.mode.push_back(modes[j][b * q + a]);
          row.condsd.push_back(std::sqrt(std::max(0.0, condvar[j][b * q * q + a * q + a])));
        }
      }
      visit(row);
    }
  }
}

}  // namespace

std::vector<RandomEffectLevel> random_effects(const LinearMixedModel& model) {
  std::vector<RandomEffectLevel> out;
  for_each_random_effect(model, [&](const RandomEffectLevel& r) { out.push_back(r); });
  return out;
}

namespace {

// One level's coef(): β where the level has no random effect, β + b where it has.
void level_coefficients(const ModelFrame& f, const std::vector<double>& beta, const RandomEffectLevel& r,
                        LevelCoefficients& c) {
  c.terms.clear(), c.values.clear();
  c.group = r.group;
  c.level = r.level;
  for (const std::string& t : r.terms)
    if (std::find(f.fixed_names.begin(), f.fixed_names.end(), t) == f.fixed_names.end()) {
      c.terms.push_back(t);
      c.values.push_back(0.0);
    }
  for (std::size_t i = 0; i < f.p(); ++i) {
    c.terms.push_back(f.fixed_names[i]);
    c.values.push_back(beta[i]);
  }
  for (std::size_t a = 0; a < r.terms.size(); ++a) {
    const auto it = std::find(c.terms.begin(), c.terms.end(), r.terms[a]);
    c.values[static_cast<std::size_t>(it - c.terms.begin())] += r.mode[a];
  }
}

}  // namespace

void for_each_level(const LinearMixedModel& model,
                    const std::function<void(const RandomEffectLevel&, const LevelCoefficients&)>& visit) {
  const auto beta = model.beta();
  LevelCoefficients c;
  for_each_random_effect(model, [&](const RandomEffectLevel& r) {
    level_coefficients(model.frame(), beta, r, c);
    visit(r, c);
  });
}

std::vector<LevelCoefficients> coefficients(const LinearMixedModel& model) {
  return coefficients(model, random_effects(model));
}

std::vector<LevelCoefficients> coefficients(const LinearMixedModel& model,
                                            const std::vector<RandomEffectLevel>& ranef) {
  const auto beta = model.beta();
  std::vector<LevelCoefficients> out(ranef.size());
  for (std::size_t i = 0; i < ranef.size(); ++i) level_coefficients(model.frame(), beta, ranef[i], out[i]);
  return out;
}

}  // namespace lmm
