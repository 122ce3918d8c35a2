#include "glmm_command.h"

#include <nlohmann/json.hpp>

#include <iostream>

#include "frame_options.h"
#include "json_glmm.h"
#include "json_inference.h"
#include "lmm/error.h"
#include "lmm/glmm.h"
#include "lmm/inference.h"
#include "lmm/table_io.h"
#include "lmm/version.h"
#include "model_file.h"

namespace lmm::cli {

namespace {

using nlohmann::json;

json cell(const Column& c, std::size_t i) {
  if (c.missing(i)) return nullptr;
  if (c.is_numeric()) return c.numbers[i];
  return c.levels[static_cast<std::size_t>(c.codes[i])];
}

// lme4's predict(m, newdata, re.form = NA) and predict(m, newdata, allow.new.levels = TRUE), per row.
json predictions_json(const GlmmFitted& f, const std::string& path) {
  const DataFrame nd = read_table(path);
  const std::vector<double> fixed = glmm_predict_link(f, nd, false), full = glmm_predict_link(f, nd, true);
  if (fixed.size() != nd.nrows || full.size() != nd.nrows)
    throw Error("--newdata " + path + ": every row needs the predictors and grouping factors (no missing values)");
  json a = json::array();
  for (std::size_t i = 0; i < nd.nrows; ++i) {
    json row = json::object(), fresh = json::array();
    for (const Column& c : nd.columns) row[c.name] = cell(c, i);
    for (const ReTermData& t : glmm_model_frame(f).re) {
      const Column* c = nd.find(t.group);
      if (!c || c->missing(i)) continue;
      const std::string v = c->is_numeric() ? format_cell(*c, i) : cell(*c, i).get<std::string>();
      if (std::find(t.levels.begin(), t.levels.end(), v) == t.levels.end() && !fresh.contains(t.group))
        fresh.push_back(t.group);
    }
    a.push_back({{"row", row}, {"new_levels", fresh}, {"re_form_na", fixed[i]}, {"allow_new_levels", full[i]}});
  }
  return a;
}

}  // namespace

void add_glmm_family_options(CLI::App* cmd, GlmmArgs& args) {
  cmd->add_option("--family", args.family, "fit a generalized linear mixed model: binomial or poisson (as glmer)");
  cmd->add_option("--link", args.link, "link function: logit (binomial default), probit, cloglog; log (poisson)");
  cmd->add_option("--nagq", args.nagq, "GLMM: adaptive Gauss-Hermite nodes (1: Laplace; more needs one (1 | g) term)");
}

void add_glmm_options(CLI::App* cmd, GlmmArgs& args) {
  add_glmm_family_options(cmd, args);
  cmd->add_flag("--fast", args.fast, "GLMM: beta inside PIRLS only (glmer's nAGQ = 0): faster, approximate");
  cmd->add_option("--newdata", args.newdata, "GLMM with --json: CSV of rows to predict on the link scale");
}

GlmmOptions glmm_options(const GlmmArgs& args, const ModelFrameOptions& frame) {
  GlmmOptions o;
  try {
    o.family = parse_family(args.family);
    if (!args.link.empty()) o.link = parse_link(args.link);
  } catch (const Error&) {
    throw Error("--family must be binomial or poisson and --link logit, probit, cloglog or log (got '" + args.family +
                "'" + (args.link.empty() ? "" : ", '" + args.link + "'") + ")");
  }
  o.nagq = args.nagq;
  o.fast = args.fast;
  o.frame = frame;
  return o;
}

void refuse_for_glmm(const std::vector<std::pair<const char*, bool>>& flags) {
  for (const auto& [flag, set] : flags)
    if (set) throw Error(std::string(flag) + " is not available with --family (generalized linear mixed models)");
}

ModelComparison compare_glmm_models(const GlmmArgs& args, const DataFrame& data, const std::vector<std::string>& formulas,
                                    const ModelFrameOptions& frame) {
  const GlmmOptions o = glmm_options(args, frame);
  return with_frame_flags([&] { return compare_glmms(data, formulas, o); });
}

int run_glmm_fit(const GlmmArgs& args, const DataFrame& data, const std::string& formula,
                 const ModelFrameOptions& frame, bool json_out, const std::string& data_name) {
  const GlmmOptions o = glmm_options(args, frame);
  GlmmFitted f = with_frame_flags([&] { return fit_glmm(data, formula, o); });
  if (args.profile) {
    if (args.fast) throw Error("--profile needs the full fit: drop --fast");
    f.result.confint_profile = glmm_profile_intervals(f);
  }
  if (args.boot > 0) {
    BootstrapOptions bo;
    bo.replicates = args.boot;
    bo.seed = args.seed;
    bo.threads = args.threads;
    try {
      f.result.bootstrap = glmm_bootstrap(f, bo);
    } catch (const Error& e) {
      throw Error(std::string("--boot: ") + e.what());
    }
  }
  if (!args.save.empty()) {
    SavedModel m = glmm_snapshot(f);
    m.lmm_version = LMM_VERSION;
    m.data_source = data_name;
    m.data_hash = data_hash_of_file(data_name);
    save_model(m, args.save);
  }
  if (json_out) {
    print_glmm_json(std::cout, f, [&](SortedObject& j) {
      if (!args.newdata.empty()) j.add("predict_link_newdata", predictions_json(f, args.newdata));
      if (!f.result.confint_profile.empty())
        j.add("confint_profile", [&f](JsonWriter& w) { write_intervals(w, f.result.confint_profile); });
      if (f.result.bootstrap.replicates > 0) {
        j.add("confint_boot", [&f](JsonWriter& w) { write_intervals(w, f.result.bootstrap.intervals); });
        j.add("bootstrap", [&f](JsonWriter& w) { write_bootstrap(w, f.result.bootstrap); });
      }
    });
  } else {
    std::cout << format_glmm_summary(f.result, data_name) << format_glmm_intervals(f.result)
              << format_glmm_bootstrap(f.result);
  }
  return 0;
}

}  // namespace lmm::cli
