// `lmm explore`: a local web app. The server answers only from memory: its one page (compiled into
// lmm) and a JSON API whose work is the engine's. No request path or field reaches the file system.
// The HTTP server itself is a module lmm opens for this command alone (cli/explore_server.h).
#include <dlfcn.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "commands.h"
#include "explore_server.h"
#include "json_inference.h"
#include "json_output.h"
#include "json_writer.h"
#include "lmm/compare.h"
#include "lmm/error.h"
#include "lmm/explore.h"
#include "lmm/fit.h"
#include "report_json.h"
#include "web_assets.h"

namespace lmm::cli {

namespace {

using nlohmann::json;

constexpr const char* kExploreHelp = R"(Start a local web app on 127.0.0.1 (this machine only) and print its address:
  sliders for the average intercept and slope, the SDs of the random intercept and slope, their
  correlation, the residual SD, the number of persons and waves; simulated trajectories, the ICC
  and the variance over time follow the sliders; "fit" fits the model to the simulated data and
  shows the estimates beside the true values, the shrinkage plot and the likelihood-ratio test of
  random intercepts against random intercepts and slopes; "your data" opens a CSV from your
  computer (uploaded through the page) with a formula and shows the report's plots.
Stop it with Ctrl-C.)";

constexpr std::size_t kMaxUpload = 64u << 20;  // a CSV sent by the page

struct ExploreArgs {
  int port = 8765;
};

double number_field(const json& j, const char* key, double fallback) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number()) throw Error(std::string("'") + key + "' must be a number");
  return v.get<double>();
}

explore::GrowthParams growth_params(const json& j) {
  if (!j.is_object()) throw Error("the request must be a JSON object");
  explore::GrowthParams g;
  g.intercept = number_field(j, "intercept", g.intercept);
  g.slope = number_field(j, "slope", g.slope);
  g.sd_intercept = number_field(j, "sd_intercept", g.sd_intercept);
  g.sd_slope = number_field(j, "sd_slope", g.sd_slope);
  g.cor = number_field(j, "cor", g.cor);
  g.sigma = number_field(j, "sigma", g.sigma);
  const double persons = number_field(j, "persons", static_cast<double>(g.persons));
  const double waves = number_field(j, "waves", static_cast<double>(g.times.size()));
  const double seed = number_field(j, "seed", static_cast<double>(g.seed));
  if (!(persons >= 2 && persons <= 5000) || persons != std::floor(persons))
    throw Error("'persons' must be a whole number between 2 and 5000");
  if (!(waves >= 2 && waves <= 20) || waves != std::floor(waves))
    throw Error("'waves' must be a whole number between 2 and 20");
  if (!(seed >= 0 && seed <= 9007199254740992.0) || seed != std::floor(seed))
    throw Error("'seed' must be a whole number >= 0");
  g.persons = static_cast<std::size_t>(persons);
  g.times.clear();
  for (int k = 0; k < static_cast<int>(waves); ++k) g.times.push_back(k);
  g.seed = static_cast<std::uint64_t>(seed);
  explore::validate(g);
  return g;
}

json numbers(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(std::isfinite(x) ? json(x) : json(nullptr));
  return a;
}

// On one line; invalid UTF-8 becomes U+FFFD rather than an exception.
std::string compact(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json truth_json(const explore::GrowthParams& g) {
  const auto v = explore::growth_variance(g);
  return {{"icc_baseline", v.icc_baseline}, {"icc_mean", v.icc_mean}, {"t", numbers(v.t)},
          {"between", numbers(v.between)}, {"total", numbers(v.total)}, {"icc", numbers(v.icc)}};
}

std::string api_simulate(const json& req) {
  const auto g = growth_params(req);
  const auto s = explore::simulate_growth(g);
  std::vector<double> line;
  for (double t : g.times) line.push_back(g.intercept + g.slope * t);
  return compact({{"ids", s.ids},
          {"person", s.person},
          {"time", numbers(s.time)},
          {"y", numbers(s.y)},
          {"wave_times", numbers(g.times)},
          {"wave_mean", numbers(s.wave_mean)},
          {"population", numbers(line)},
          {"truth", truth_json(g)}});
}

// The parameter table: the truth beside the estimate (null where the model has no such parameter).
void write_comparison(JsonWriter& w, const explore::GrowthParams& g, const FitResult& r) {
  auto fixed = [&](const std::string& term) -> const FixedEffect* {
    for (const auto& f : r.fixed)
      if (f.term == term) return &f;
    return nullptr;
  };
  auto sd = [&](const std::string& term) {
    for (const auto& vc : r.random)
      if (vc.group == "id" && vc.term1 == term && !vc.is_correlation()) return vc.sd;
    return NaN;
  };
  double cor = NaN;
  for (const auto& vc : r.random)
    if (vc.group == "id" && vc.is_correlation() && std::isfinite(vc.cor)) cor = vc.cor;
  auto add = [&](const char* name, const char* key, double truth, double est, double se) {
    SortedObject().add("parameter", name).add("key", key).add("true", truth).add("estimate", est).add("std_error", se).write(w);
  };
  const FixedEffect *b0 = fixed("(Intercept)"), *b1 = fixed("time");
  w.begin_array();
  add("average intercept β0", "intercept", g.intercept, b0 ? b0->estimate : NaN, b0 ? b0->std_error : NaN);
  add("average slope β1", "slope", g.slope, b1 ? b1->estimate : NaN, b1 ? b1->std_error : NaN);
  add("SD of intercepts", "sd_intercept", g.sd_intercept, sd("(Intercept)"), NaN);
  add("SD of slopes", "sd_slope", g.sd_slope, sd("time"), NaN);
  add("correlation", "cor", g.cor, cor, NaN);
  add("residual SD σ", "sigma", g.sigma, r.sigma, NaN);
  w.end_array();
}

std::string api_fit(const json& req) {
  const auto g = growth_params(req);
  const std::string model = req.value("model", std::string("slope"));
  if (model != "slope" && model != "intercept") throw Error("'model' must be \"slope\" or \"intercept\"");
  const std::string f_slope = "y ~ time + (time | id)", f_int = "y ~ time + (1 | id)";
  const DataFrame data = explore::to_table(explore::simulate_growth(g));
  const Fitted fitted = fit(data, model == "slope" ? f_slope : f_int);
  const report::Shrinkage sh{shrinkage(fitted.model), {}};
  const ModelComparison lrt = compare_models(data, {f_int, f_slope});
  JsonWriter w(-1);
  SortedObject()
      .add("model", model)
      .add("fit", [&](JsonWriter& w) { write_json(w, fitted.result); })
      .add("comparison", [&](JsonWriter& w) { write_comparison(w, g, fitted.result); })
      .add("shrinkage", [&](JsonWriter& w) { write_json(w, sh); })
      .add("lrt", [&](JsonWriter& w) { write_comparison_json(w, lrt); })
      .write(w);
  return w.str();
}

std::string api_report(const json& req) {
  if (!req.is_object()) throw Error("the request must be a JSON object");
  if (!req.contains("csv") || !req["csv"].is_string()) throw Error("no data: choose a CSV file");
  if (!req.contains("formula") || !req["formula"].is_string()) throw Error("no formula given");
  const std::string name = req.value("name", std::string("uploaded.csv"));
  const bool ml = req.value("ml", false);
  // The file's content arrives in the request; its name only labels messages.
  const DataFrame data = parse_table(req["csv"].get_ref<const std::string&>(), 0, name);
  FitOptions opt;
  opt.method = ml ? Method::ML : Method::REML;
  const Fitted fitted = fit(data, req["formula"].get<std::string>(), opt);
  return report_document(name, fitted, data);
}

ExploreReply error_reply(int status, const std::string& message) { return {status, compact({{"error", message}})}; }

// Runs an API call: lmm::Error (bad input) answers 400 with its message, anything else 500.
ExploreReply handle(const std::string& name, const std::string& body) {
  std::string (*api)(const json&) = name == "simulate" ? api_simulate
                                    : name == "fit"    ? api_fit
                                    : name == "report" ? api_report
                                                       : nullptr;
  if (!api) return error_reply(404, "no such API: " + name);
  try {
    const json request = json::parse(body);
    return {200, api(request)};
  } catch (const json::parse_error&) {
    return error_reply(400, "the request is not valid JSON");
  } catch (const json::type_error& e) {
    return error_reply(400, std::string("a request field has the wrong type: ") + e.what());
  } catch (const Error& e) {
    return error_reply(400, e.what());
  } catch (const std::bad_alloc&) {
    return error_reply(500, "out of memory");
  } catch (const std::exception& e) {
    return error_reply(500, std::string("internal error: ") + e.what());
  }
}

void listening(int port) {
  std::cout << "lmm explore: http://127.0.0.1:" << port << "/  (Ctrl-C to stop)" << std::endl;
}

// The server module: beside lmm (the build tree), else in lmm's library directory relative to the
// program (an installed tree, wherever its prefix was moved), else where it was installed.
LmmExploreServe open_server() {
  constexpr const char* kModule = "lmm-explore-server.so";
  std::vector<std::filesystem::path> where;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    where.push_back(exe.parent_path() / kModule);
    where.push_back(exe.parent_path() / ".." / LMM_EXPLORE_MODULE_RELDIR / kModule);
  }
  where.push_back(std::filesystem::path(LMM_EXPLORE_MODULE_DIR) / kModule);
  std::string tried;
  for (const auto& path : where) {
    if (!std::filesystem::exists(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path.string();
      continue;
    }
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) throw Error(std::string("cannot open the explorer's server module: ") + dlerror());
    if (auto f = reinterpret_cast<LmmExploreServe>(dlsym(h, "lmm_explore_serve"))) return f;
    throw Error(path.string() + " is not the explorer's server module");
  }
  throw Error(std::string("the explorer's server module ") + kModule + " is not installed (looked for " + tried + ")");
}

int serve(int port) {
  const LmmExploreServe serve_module = open_server();
  const std::string_view page = web::explorer_html();
  ExploreHooks hooks;
  hooks.page = page.data();
  hooks.page_size = page.size();
  hooks.max_upload = kMaxUpload;
  hooks.api = handle;
  hooks.listening = listening;
  if (serve_module(&hooks, port) <= 0)
    throw Error("cannot listen on 127.0.0.1:" + std::to_string(port) +
                " (in use?); choose another with --port, or --port 0 for any free port");
  return 0;
}

}  // namespace

void add_explore_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<ExploreArgs>();
  CLI::App* cmd = app.add_subcommand("explore", "Explore random effects interactively in the browser (local web app)");
  cmd->footer(kExploreHelp);
  cmd->add_option("--port", args->port, "port on 127.0.0.1 (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->callback([args, &action] {
    action = [args] { return serve(args->port); };
  });
}

}  // namespace lmm::cli
