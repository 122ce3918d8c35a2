#include "power_output.h"

#include "json_writer.h"
#include "report_json.h"
#include "web_assets.h"

namespace lmm::cli {

namespace {

void write_point(JsonWriter& w, const PowerPoint& p) {
  w.begin_object();
  w.key("failed").value(p.failed);
  w.key("lower").value(p.lower);
  w.key("mc_se").value(p.mc_se);
  w.key("mean_df").value(p.mean_df);
  w.key("mean_estimate").value(p.mean_estimate);
  w.key("nonconverged_share").value(p.nonconverged_share);
  w.key("nsim").value(p.nsim);
  w.key("persons").value(p.persons);
  w.key("power").value(p.power);
  w.key("rejections").value(p.rejections);
  w.key("seconds").value(p.seconds);
  w.key("singular_share").value(p.singular_share);
  w.key("upper").value(p.upper);
  w.end_object();
}

}  // namespace

std::string power_json(const PowerResult& r, double target, int indent) {
  JsonWriter w(indent);
  w.begin_object();
  w.key("alpha").value(r.alpha);
  w.key("curve").begin_array();
  for (const PowerPoint& p : r.curve) write_point(w, p);
  w.end_array();
  w.key("effect").value(r.effect);
  w.key("formula").value(r.formula);
  w.key("level").value(r.level);
  w.key("notes").value(r.notes);
  w.key("nsim").value(r.nsim);
  w.key("seed").value(r.seed);
  w.key("target").value(target);
  w.key("test").value(r.test);
  w.key("test_method").value(r.test_method);
  w.key("threads").value(r.threads);
  w.end_object();
  return w.str();
}

std::string power_html(const PowerResult& r, double target) {
  return embed_in_page(web::power_html(), "/*LMM_POWER_DATA*/null", power_json(r, target, -1));
}

}  // namespace lmm::cli
