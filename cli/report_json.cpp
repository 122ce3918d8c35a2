#include "report_json.h"

#include <cmath>

#include "json_output.h"
#include "lmm/error.h"
#include "lmm/version.h"
#include "web_assets.h"

namespace lmm::cli {

namespace {

using nlohmann::json;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json numbers(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(number(x));
  return a;
}

json to_json(const report::QQ& qq) {
  return {{"theoretical", numbers(qq.theoretical)},
          {"sample", numbers(qq.sample)},
          {"line_intercept", number(qq.line_intercept)},
          {"line_slope", number(qq.line_slope)},
          {"line_x", {number(qq.line_x[0]), number(qq.line_x[1])}},
          {"line_y", {number(qq.line_y[0]), number(qq.line_y[1])}}};
}

}  // namespace

json to_json(const report::Note& n) {
  return {{"kind", n.kind}, {"message", n.message}, {"explanation", n.explanation}};
}

json to_json(const report::Shrinkage& sh) {
  const ShrinkageTable& t = sh.table;
  json j{{"available", t.available()}, {"reason", t.reason}, {"group", t.group}, {"coef_names", t.terms},
         {"without_ols", t.too_few}};
  json levels = json::array();
  for (std::size_t k = 0; k < t.rows.size(); ++k) {
    const ShrinkageRow& l = t.rows[k];
    if (!l.own_fit) continue;
    levels.push_back({{"level", l.level},
                      {"stratum", k < sh.strata.size() ? sh.strata[k] : std::string()},
                      {"nobs", l.n},
                      {"ols", numbers(l.ols)},
                      {"blup", numbers(l.blup)},
                      {"population", numbers(l.population)}});
  }
  j["levels"] = levels;
  return j;
}

json to_json(const report::PlotData& pd) {
  const auto& tr = pd.trajectories;
  json curves = json::array();
  for (const auto& c : tr.population_curves)
    curves.push_back({{"stratum", c.stratum}, {"x", numbers(c.x)}, {"y", numbers(c.y)}});
  json trajectories{{"x_name", tr.x_name},         {"y_name", tr.y_name},   {"group", tr.group},
                    {"persons", tr.persons},       {"person_nobs", tr.person_nobs},
                    {"person", tr.person},         {"x", numbers(tr.x)},    {"y", numbers(tr.y)},
                    {"fitted", numbers(tr.fitted)}, {"population", numbers(tr.population)},
                    {"stratum", tr.stratum},       {"population_curves", curves}};

  const auto& vc = pd.variance_curve;
  json curve{{"available", vc.available}, {"reason", vc.reason},     {"x_name", vc.x_name},
             {"t", numbers(vc.t)},        {"between", numbers(vc.between)}, {"total", numbers(vc.total)},
             {"icc", numbers(vc.icc)}};

  json effects = json::array();
  for (const auto& e : pd.random_effects)
    effects.push_back({{"group", e.group},
                       {"term", e.term},
                       {"levels", e.levels},
                       {"value", numbers(e.value)},
                       {"condsd", numbers(e.condsd)},
                       {"lower", numbers(e.lower)},
                       {"upper", numbers(e.upper)},
                       {"qq", to_json(e.qq)}});

  json notes = json::array();
  for (const auto& n : pd.notes) notes.push_back(to_json(n));

  return {{"trajectories", trajectories},
          {"shrinkage", to_json(pd.shrinkage)},
          {"variance_curve", curve},
          {"random_effects", effects},
          {"diagnostics", {{"fitted", numbers(pd.diag_fitted)}, {"residual", numbers(pd.diag_residual)}}},
          {"residual_qq", to_json(pd.residual_qq)},
          {"notes", notes}};
}

json report_document(const std::string& source, const Fitted& fitted, const DataFrame& data,
                     const report::PlotOptions& options) {
  return {{"lmm_version", LMM_VERSION},
          {"source", source},
          {"fit", to_json(fitted.result)},
          {"plots", to_json(report::plot_data(fitted.model, fitted.result, data, options))}};
}

std::string json_for_script(const json& j) {
  // Invalid UTF-8 from a user's file becomes U+FFFD rather than an exception.
  const std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + 64);
  for (char c : text) {
    // "<" occurs only inside JSON strings, where \u003c denotes the same character; without any "<"
    // the text can neither close the <script> element nor open an HTML comment inside it.
    if (c == '<')
      out += "\\u003c";
    else
      out += c;
  }
  return out;
}

std::string render_report_html(const json& document) {
  const std::string_view tpl = web::report_html();
  constexpr std::string_view marker = "/*LMM_REPORT_DATA*/null";
  const std::size_t at = tpl.find(marker);
  if (at == std::string_view::npos) throw std::logic_error("the report template has no data marker");
  std::string html;
  const std::string data = json_for_script(document);
  html.reserve(tpl.size() + data.size());
  html.append(tpl.substr(0, at)).append(data).append(tpl.substr(at + marker.size()));
  return html;
}

}  // namespace lmm::cli
