#include "json_output.h"

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
  j["messages"] = r.messages;
  return j;
}

std::string dump(const nlohmann::json& j) { return j.dump(2); }

}  // namespace lmm::cli
