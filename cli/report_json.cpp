#include "report_json.h"

#include <stdexcept>

#include "json_glmm.h"
#include "json_output.h"
#include "lmm/version.h"
#include "web_assets.h"

namespace lmm::cli {

namespace {

void write_qq(JsonWriter& w, const report::QQ& qq) {
  SortedObject()
      .add("theoretical", [&](JsonWriter& w) { w.value(qq.theoretical); })
      .add("sample", [&](JsonWriter& w) { w.value(qq.sample); })
      .add("line_intercept", qq.line_intercept)
      .add("line_slope", qq.line_slope)
      .add("line_x", std::vector<double>{qq.line_x[0], qq.line_x[1]})
      .add("line_y", std::vector<double>{qq.line_y[0], qq.line_y[1]})
      .write(w);
}

void write_trajectories(JsonWriter& w, const report::Trajectories& tr) {
  SortedObject()
      .add("x_name", tr.x_name)
      .add("y_name", tr.y_name)
      .add("group", tr.group)
      .add("persons", [&](JsonWriter& w) { w.value(tr.persons); })
      .add("person_nobs", [&](JsonWriter& w) { w.value(tr.person_nobs); })
      .add("person", [&](JsonWriter& w) { w.value(tr.person); })
      .add("x", [&](JsonWriter& w) { w.value(tr.x); })
      .add("y", [&](JsonWriter& w) { w.value(tr.y); })
      .add("fitted", [&](JsonWriter& w) { w.value(tr.fitted); })
      .add("population", [&](JsonWriter& w) { w.value(tr.population); })
      .add("stratum", [&](JsonWriter& w) { w.value(tr.stratum); })
      .add("population_curves",
           [&](JsonWriter& w) {
             w.begin_array();
             for (const auto& c : tr.population_curves)
               SortedObject().add("stratum", c.stratum).add("x", c.x).add("y", c.y).write(w);
             w.end_array();
           })
      .add("group_lines",
           [&](JsonWriter& w) {
             w.begin_array();
             for (const auto& l : tr.group_lines)
               SortedObject().add("person", l.person).add("x", l.x).add("y", l.y).write(w);
             w.end_array();
           })
      .write(w);
}

void write_group_means(JsonWriter& w, const report::GroupMeans& gm) {
  SortedObject()
      .add("group", gm.group)
      .add("y_name", gm.y_name)
      .add("levels", [&](JsonWriter& w) { w.value(gm.levels); })
      .add("nobs", [&](JsonWriter& w) { w.value(gm.nobs); })
      .add("observed", [&](JsonWriter& w) { w.value(gm.observed); })
      .add("fitted", [&](JsonWriter& w) { w.value(gm.fitted); })
      .add("population", [&](JsonWriter& w) { w.value(gm.population); })
      .add("point_level", [&](JsonWriter& w) { w.value(gm.point_level); })
      .add("point_y", [&](JsonWriter& w) { w.value(gm.point_y); })
      .write(w);
}

void write_variance_curve(JsonWriter& w, const report::VarianceCurve& vc) {
  SortedObject()
      .add("available", vc.available)
      .add("reason", vc.reason)
      .add("x_name", vc.x_name)
      .add("t", vc.t)
      .add("between", vc.between)
      .add("total", vc.total)
      .add("icc", vc.icc)
      .write(w);
}

void write_random_effects(JsonWriter& w, const std::vector<report::RandomEffect>& effects) {
  w.begin_array();
  for (const auto& e : effects)
    SortedObject()
        .add("group", e.group)
        .add("term", e.term)
        .add("levels", [&](JsonWriter& w) { w.value(e.levels); })
        .add("value", [&](JsonWriter& w) { w.value(e.value); })
        .add("condsd", [&](JsonWriter& w) { w.value(e.condsd); })
        .add("lower", [&](JsonWriter& w) { w.value(e.lower); })
        .add("upper", [&](JsonWriter& w) { w.value(e.upper); })
        .add("qq", [&](JsonWriter& w) { write_qq(w, e.qq); })
        .write(w);
  w.end_array();
}

void write_residual_structure(JsonWriter& w, const report::ResidualStructurePlot& r) {
  SortedObject()
      .add("available", r.available)
      .add("structure", r.structure)
      .add("sd_by", r.sd_by)
      .add("has_acf", r.has_acf)
      .add("acf_reason", r.acf_reason)
      .add("acf",
           [&](JsonWriter& w) {
             SortedObject()
                 .add("group", r.acf.group)
                 .add("lag", [&](JsonWriter& w) { w.value(r.acf.lag); })
                 .add("acf", [&](JsonWriter& w) { w.value(r.acf.acf); })
                 .add("bound", [&](JsonWriter& w) { w.value(r.acf.bound); })
                 .add("n_used", [&](JsonWriter& w) { w.value(r.acf.n_used); })
                 .write(w);
           })
      .add("matrix_group", r.matrix_group)
      .add("matrix_level", r.matrix_level)
      .add("time_name", r.time_name)
      .add("times", [&](JsonWriter& w) { w.value(r.times); })
      .add("covariance", [&](JsonWriter& w) { w.value(r.covariance); })
      .add("correlation", [&](JsonWriter& w) { w.value(r.correlation); })
      .write(w);
}

void write_design(JsonWriter& w, const report::Design& d) {
  SortedObject().add("kind", d.kind).add("reason", d.reason).add("group", d.group).add("x_name", d.x_name).write(w);
}

void write_notes(JsonWriter& w, const std::vector<report::Note>& notes) {
  w.begin_array();
  for (const auto& n : notes) write_json(w, n);
  w.end_array();
}

void write_binned(JsonWriter& w, const report::BinnedResiduals& b) {
  SortedObject()
      .add("x_mean", [&](JsonWriter& w) { w.value(b.x_mean); })
      .add("y_mean", [&](JsonWriter& w) { w.value(b.y_mean); })
      .add("x_lo", [&](JsonWriter& w) { w.value(b.x_lo); })
      .add("x_hi", [&](JsonWriter& w) { w.value(b.x_hi); })
      .add("two_se", [&](JsonWriter& w) { w.value(b.two_se); })
      .add("n", [&](JsonWriter& w) { w.value(b.n); })
      .write(w);
}

void write_glmm_plots(JsonWriter& w, const report::GlmmPlotData& pd) {
  SortedObject()
      .add("design", [&](JsonWriter& w) { write_design(w, pd.design); })
      .add("scale", pd.scale)
      .add("curves", [&](JsonWriter& w) { write_trajectories(w, pd.curves); })
      .add("observed",
           [&](JsonWriter& w) {
             w.begin_array();
             for (const auto& o : pd.observed)
               SortedObject().add("stratum", o.stratum).add("x", o.x).add("mean", o.mean)
                   .add("n", [&](JsonWriter& w) { w.value(o.n); }).write(w);
             w.end_array();
           })
      .add("binned", [&](JsonWriter& w) { write_binned(w, pd.binned); })
      .add("pearson",
           [&](JsonWriter& w) {
             SortedObject().add("fitted", pd.pearson_fitted).add("residual", pd.pearson_residual).write(w);
           })
      .add("random_effects", [&](JsonWriter& w) { write_random_effects(w, pd.random_effects); })
      .add("notes", [&](JsonWriter& w) { write_notes(w, pd.notes); })
      .write(w);
}

}  // namespace

void write_json(JsonWriter& w, const report::Note& n) {
  SortedObject().add("kind", n.kind).add("message", n.message).add("explanation", n.explanation).write(w);
}

void write_json(JsonWriter& w, const report::Shrinkage& sh) {
  const ShrinkageTable& t = sh.table;
  SortedObject()
      .add("available", t.available())
      .add("reason", t.reason)
      .add("group", t.group)
      .add("coef_names", t.terms)
      .add("without_ols", [&](JsonWriter& w) { w.value(t.too_few); })
      .add("levels",
           [&](JsonWriter& w) {
             w.begin_array();
             for (std::size_t k = 0; k < t.rows.size(); ++k) {
               const ShrinkageRow& l = t.rows[k];
               if (!l.own_fit) continue;
               SortedObject()
                   .add("level", l.level)
                   .add("stratum", k < sh.strata.size() ? sh.strata[k] : std::string())
                   .add("nobs", l.n)
                   .add("ols", l.ols)
                   .add("blup", l.blup)
                   .add("population", l.population)
                   .write(w);
             }
             w.end_array();
           })
      .write(w);
}

void write_json(JsonWriter& w, const report::PlotData& pd) {
  SortedObject()
      .add("design", [&](JsonWriter& w) { write_design(w, pd.design); })
      .add("trajectories", [&](JsonWriter& w) { write_trajectories(w, pd.trajectories); })
      .add("group_means", [&](JsonWriter& w) { write_group_means(w, pd.group_means); })
      .add("shrinkage", [&](JsonWriter& w) { write_json(w, pd.shrinkage); })
      .add("variance_curve", [&](JsonWriter& w) { write_variance_curve(w, pd.variance_curve); })
      .add("random_effects", [&](JsonWriter& w) { write_random_effects(w, pd.random_effects); })
      .add("diagnostics",
           [&](JsonWriter& w) {
             SortedObject()
                 .add("fitted", [&](JsonWriter& w) { w.value(pd.diag_fitted); })
                 .add("residual", [&](JsonWriter& w) { w.value(pd.diag_residual); })
                 .write(w);
           })
      .add("residual_qq", [&](JsonWriter& w) { write_qq(w, pd.residual_qq); })
      .add("residual_structure", [&](JsonWriter& w) { write_residual_structure(w, pd.residual_structure); })
      .add("notes", [&](JsonWriter& w) { write_notes(w, pd.notes); })
      .write(w);
}

std::string report_document(const std::string& source, const Fitted& fitted, const DataFrame& data,
                            const report::PlotOptions& options) {
  const report::PlotData plots = report::plot_data(fitted.model, fitted.result, data, options);
  JsonWriter w(-1);
  SortedObject()
      .add("lmm_version", LMM_VERSION)
      .add("source", source)
      .add("fit", [&](JsonWriter& w) { write_json(w, fitted.result); })
      .add("plots", [&](JsonWriter& w) { write_json(w, plots); })
      .write(w);
  return w.str();
}

std::string glmm_report_document(const std::string& source, const GlmmFitted& fitted, const DataFrame& data,
                                 const report::PlotOptions& options) {
  const report::GlmmPlotData plots = report::glmm_plot_data(fitted, data, options);
  JsonWriter w(-1);
  SortedObject()
      .add("lmm_version", LMM_VERSION)
      .add("source", source)
      .add("fit", [&](JsonWriter& w) { write_glmm_json(w, fitted); })
      .add("plots", [&](JsonWriter& w) { write_glmm_plots(w, plots); })
      .write(w);
  return w.str();
}

std::string json_for_script(std::string_view text) {
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

std::string embed_in_page(std::string_view page, std::string_view marker, std::string_view document) {
  const std::size_t at = page.find(marker);
  if (at == std::string_view::npos) throw std::logic_error("the page template has no data marker " + std::string(marker));
  std::string html;
  const std::string data = json_for_script(document);
  html.reserve(page.size() + data.size());
  html.append(page.substr(0, at)).append(data).append(page.substr(at + marker.size()));
  return html;
}

std::string render_report_html(std::string_view document) {
  return embed_in_page(web::report_html(), "/*LMM_REPORT_DATA*/null", document);
}

}  // namespace lmm::cli
