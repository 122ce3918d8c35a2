#include "json_output.h"

#include "json_inference.h"

#include <cmath>

namespace lmm::cli {

namespace {
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

nlohmann::json to_json(const FitResult& r) {
  using nlohmann::json;
  const bool reml = r.method == Method::REML;
  json j;
  j["formula"] = r.formula;
  j["method"] = reml ? "REML" : "ML";
  j["nobs"] = r.nobs;
  j["n_dropped"] = r.n_dropped;
  json ng = json::object();
  for (const auto& g : r.ngroups) ng[g.group] = g.levels;
  j["ngroups"] = ng;
  json fixed = json::array();
  for (const auto& f : r.fixed) {
    json e{{"term", f.term}, {"estimate", number(f.estimate)}, {"std_error", number(f.std_error)}, {"t", number(f.t)}};
    if (!std::isnan(f.df)) {
      e["df"] = number(f.df);
      e["p"] = number(f.p);
    }
    fixed.push_back(e);
  }
  j["fixed"] = fixed;
  j["aliased"] = r.aliased;
  json random = json::array();
  for (const auto& vc : r.random) {
    json e{{"group", vc.group}};
    e["term1"] = vc.term1.empty() ? json(nullptr) : json(vc.term1);
    if (vc.is_correlation()) {
      e["term2"] = vc.term2;
      e["cor"] = number(vc.cor);
    } else {
      e["variance"] = number(vc.variance);
      e["sd"] = number(vc.sd);
    }
    random.push_back(e);
  }
  j["random"] = random;
  j["loglik"] = number(r.loglik);
  j["aic"] = number(r.aic);
  j["bic"] = number(r.bic);
  j["reml_criterion"] = reml ? number(r.objective) : json(nullptr);
  j["deviance"] = reml ? json(nullptr) : number(r.objective);
  j["npar"] = r.npar;
  j["df_residual"] = number(r.df_residual);
  j["condition_number"] = number(r.condition_number);
  json theta = json::array();
  for (double t : r.theta) theta.push_back(number(t));
  j["theta"] = theta;
  j["sigma"] = number(r.sigma);
  j["singular"] = r.singular;
  j["singular_reasons"] = r.singular_reasons;
  json sr = json::array();
  for (double v : r.scaled_residuals) sr.push_back(number(v));
  j["scaled_residuals"] = sr;
  j["optimizer"] = {{"algorithm", r.optimizer.algorithm},
                    {"evaluations", r.optimizer.evaluations},
                    {"stop_reason", r.optimizer.stop_reason},
                    {"converged", r.optimizer.converged},
                    {"objective", number(r.optimizer.objective)}};
  j["ddf"] = r.ddf == DdfMethod::Satterthwaite ? json("Satterthwaite")
             : r.ddf == DdfMethod::KenwardRoger ? json("Kenward-Roger")
                                                : json(nullptr);
  json anova = json::array();
  for (const auto& a : r.anova_type3)
    anova.push_back({{"term", a.term}, {"num_df", a.num_df}, {"den_df", number(a.den_df)}, {"F", number(a.F)}, {"p", number(a.p)}});
  j["anova_type3"] = anova;
  json ranef = json::array();  // lme4's as.data.frame(ranef(m, condVar = TRUE)), one object per level
  for (const auto& re : r.ranef) {
    json e{{"group", re.group}, {"level", re.level}};
    for (std::size_t a = 0; a < re.terms.size(); ++a) {
      e[re.terms[a]] = number(re.mode[a]);
      e["condsd_" + re.terms[a]] = number(re.condsd[a]);
    }
    ranef.push_back(e);
  }
  j["ranef"] = ranef;
  json coef = json::array();  // coef(m): fixed + random per level
  for (const auto& c : r.coef) {
    json e{{"group", c.group}, {"level", c.level}};
    for (std::size_t a = 0; a < c.terms.size(); ++a) e[c.terms[a]] = number(c.values[a]);
    coef.push_back(e);
  }
  j["coef"] = coef;
  j["messages"] = r.messages;
  add_inference_json(j, r);
  return j;
}

// Invalid UTF-8 (a level or column name in Latin-1, say) becomes U+FFFD rather than an exception:
// JSON strings must be UTF-8, and the user's bytes are not an internal error.
std::string dump(const nlohmann::json& j) { return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace lmm::cli
