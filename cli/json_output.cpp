#include "json_output.h"

#include <cmath>
#include <ostream>

#include "json_inference.h"
#include "lmm/statistics.h"

namespace lmm::cli {

namespace {

void write_fixed(JsonWriter& w, const std::vector<FixedEffect>& fixed) {
  w.begin_array();
  for (const auto& f : fixed) {
    SortedObject e;
    e.add("term", f.term).add("estimate", f.estimate).add("std_error", f.std_error).add("t", f.t);
    if (!std::isnan(f.df)) e.add("df", f.df).add("p", f.p);
    e.write(w);
  }
  w.end_array();
}

}  // namespace

void write_random(JsonWriter& w, const std::vector<VarianceComponent>& random) {
  w.begin_array();
  for (const auto& vc : random) {
    SortedObject e;
    e.add("group", vc.group);
    if (vc.term1.empty())
      e.add_null("term1");
    else
      e.add("term1", vc.term1);
    if (vc.is_correlation())
      e.add("term2", vc.term2).add("cor", vc.cor);
    else
      e.add("variance", vc.variance).add("sd", vc.sd);
    e.write(w);
  }
  w.end_array();
}

void write_ngroups(JsonWriter& w, const std::vector<GroupCount>& ngroups) {
  SortedObject ng;
  for (const auto& g : ngroups) ng.add(g.group, g.levels);
  ng.write(w);
}

namespace {

/// The keys of one level's object (group, level, then per term its value and, for ranef, its
/// condsd_<term>) and the order they are written in; worked out again only when the terms change,
/// so 200,000 levels cost no more than their values.
struct LevelKeys {
  explicit LevelKeys(bool with_condsd) : condsd(with_condsd) {}
  bool condsd;
  std::vector<std::string> terms, keys;
  std::vector<std::size_t> order;
  void update(const std::vector<std::string>& t) {
    if (!keys.empty() && t == terms) return;
    terms = t;
    keys = {"group", "level"};
    for (const auto& term : t) {
      keys.push_back(term);
      if (condsd) keys.push_back("condsd_" + term);
    }
    order = map_order(keys);
  }
};

// One object per level: group, level, then the level's values by slot (`value(level, slot)`);
// `each(f)` calls f on every level in order.
template <class Level, class Each, class Value>
void write_levels_of(JsonWriter& w, Each each, bool condsd, Value value) {
  LevelKeys k(condsd);
  w.begin_array();
  each([&](const Level& l) {
    k.update(l.terms);
    w.begin_object();
    for (std::size_t i : k.order) {
      w.key(k.keys[i]);
      if (i < 2)
        w.value(i == 0 ? l.group : l.level);
      else
        w.value(value(l, i - 2));
    }
    w.end_object();
  });
  w.end_array();
}

template <class Level, class Value>
void write_levels(JsonWriter& w, const std::vector<Level>& levels, bool condsd, Value value) {
  write_levels_of<Level>(w, [&](const auto& f) { for (const auto& l : levels) f(l); }, condsd, value);
}

double ranef_value(const RandomEffectLevel& re, std::size_t slot) {
  return slot % 2 == 0 ? re.mode[slot / 2] : re.condsd[slot / 2];
}

double coef_value(const LevelCoefficients& c, std::size_t slot) { return c.values[slot]; }

}  // namespace

// lme4's as.data.frame(ranef(m, condVar = TRUE)): per term its mode, then its condsd_<term>.
void write_ranef(JsonWriter& w, const std::vector<RandomEffectLevel>& ranef) {
  write_levels(w, ranef, true, ranef_value);
}

void add_level_tables_of(SortedObject& j, const LinearMixedModel& model) {
  j.add("ranef", [&model](JsonWriter& w) {
    auto each = [&](const auto& f) { for_each_level(model, [&](const auto& re, const auto&) { f(re); }); };
    write_levels_of<RandomEffectLevel>(w, each, true, ranef_value);
  });
  j.add("coef", [&model](JsonWriter& w) {
    auto each = [&](const auto& f) { for_each_level(model, [&](const auto&, const auto& c) { f(c); }); };
    write_levels_of<LevelCoefficients>(w, each, false, coef_value);
  });
}

namespace {

// coef(m): fixed + random per level.
void write_coef(JsonWriter& w, const std::vector<LevelCoefficients>& coef) { write_levels(w, coef, false, coef_value); }

void write_optimizer(JsonWriter& w, const OptimizerSummary& o) {
  SortedObject()
      .add("algorithm", o.algorithm)
      .add("evaluations", o.evaluations)
      .add("stop_reason", o.stop_reason)
      .add("converged", o.converged)
      .add("objective", o.objective)
      .write(w);
}

void write_anova(JsonWriter& w, const std::vector<AnovaRow>& anova) {
  w.begin_array();
  for (const auto& a : anova)
    SortedObject().add("term", a.term).add("num_df", a.num_df).add("den_df", a.den_df).add("F", a.F).add("p", a.p).write(w);
  w.end_array();
}

// nlme's correlation structure and varIdent, in the keys of the residual reference files.
void add_residual_structure(SortedObject& j, const FitResult& r) {
  const ResidualEstimates& e = r.residual_structure;
  if (e.structure.empty() && e.sd_by.empty()) return;
  j.add("correlation", [&](JsonWriter& w) {
    SortedObject c;
    if (!e.structure.empty()) c.add("structure", e.structure);
    if (e.structure == "ar1" || e.structure == "car1") c.add("phi", e.phi);
    if (e.structure == "cs") c.add("rho", e.rho);
    if (e.structure == "us")
      c.add("cor", [&](JsonWriter& w2) {
        w2.begin_array();
        const std::size_t nv = e.visit_levels.size();
        for (std::size_t a = 0, k = 0; a < nv; ++a)
          for (std::size_t b = a + 1; b < nv; ++b, ++k)
            SortedObject().add("visit1", e.visit_levels[a]).add("visit2", e.visit_levels[b]).add("cor", e.cor[k]).write(w2);
        w2.end_array();
      });
    c.write(w);
  });
  j.add("residual_sd_ratios", [&](JsonWriter& w) {
    SortedObject o;
    for (std::size_t l = 0; l < e.sd_levels.size(); ++l) o.add(e.sd_levels[l], e.sd_ratios[l]);
    o.write(w);
  });
  j.add("residual_sd", [&](JsonWriter& w) {
    SortedObject o;
    for (std::size_t l = 0; l < e.sd_levels.size(); ++l) o.add(e.sd_levels[l], r.sigma * e.sd_ratios[l]);
    o.write(w);
  });
}

}  // namespace

void write_json(JsonWriter& w, const FitResult& r, const std::function<void(SortedObject&)>& extra) {
  const bool reml = r.method == Method::REML;
  SortedObject j;
  j.add("formula", r.formula).add("method", reml ? "REML" : "ML").add("nobs", r.nobs).add("n_dropped", r.n_dropped);
  j.add("ngroups", [&](JsonWriter& w) { write_ngroups(w, r.ngroups); });
  j.add("fixed", [&](JsonWriter& w) { write_fixed(w, r.fixed); });
  j.add("aliased", r.aliased);
  j.add("random", [&](JsonWriter& w) { write_random(w, r.random); });
  j.add("loglik", r.loglik).add("aic", r.aic).add("bic", r.bic);
  j.add("reml_criterion", reml ? r.objective : NaN).add("deviance", reml ? NaN : r.objective);
  j.add("npar", r.npar).add("df_residual", r.df_residual).add("condition_number", r.condition_number);
  j.add("theta", r.theta).add("sigma", r.sigma).add("singular", r.singular);
  j.add("singular_reasons", r.singular_reasons).add("scaled_residuals", r.scaled_residuals);
  j.add("optimizer", [&](JsonWriter& w) { write_optimizer(w, r.optimizer); });
  if (r.ddf == DdfMethod::None)
    j.add_null("ddf");
  else
    j.add("ddf", r.ddf == DdfMethod::Satterthwaite ? "Satterthwaite" : "Kenward-Roger");
  j.add("anova_type3", [&](JsonWriter& w) { write_anova(w, r.anova_type3); });
  j.add("ranef", [&](JsonWriter& w) { write_ranef(w, r.ranef); });
  j.add("coef", [&](JsonWriter& w) { write_coef(w, r.coef); });
  j.add("messages", r.messages);
  add_inference_members(j, r);
  add_residual_structure(j, r);
  if (extra) extra(j);
  j.write(w);
}

void print_json(std::ostream& out, const FitResult& r, const std::function<void(SortedObject&)>& extra) {
  print_indented(out, [&](JsonWriter& w) { write_json(w, r, extra); });
}

}  // namespace lmm::cli
