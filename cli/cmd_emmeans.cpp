// `lmm emmeans`: estimated marginal means and pairwise contrasts (R's emmeans for lmer fits).
#include <charconv>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "frame_options.h"
#include "read_options.h"
#include "json_output.h"
#include "lmm/emmeans.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/formula.h"
#include "lmm/model_frame.h"

namespace lmm::cli {

namespace {

constexpr const char* kEmmeansHelp =
    R"HELP(Estimated marginal means and pairwise contrasts, as R's emmeans reports them for lmer fits.

  lmm emmeans data.csv "y ~ time * group + (time | id)" --specs group --by time --at time=0,2,4 --pairwise
  lmm emmeans cake.csv "angle ~ recipe * factor(temp) + (1 | recipe:replicate)" --specs recipe --pairwise --adjust holm

R: emmeans(m, "group", by = "time", at = list(time = c(0, 2, 4)), lmer.df = "satterthwaite") and pairs().

The reference grid holds every level of each factor of the fixed effects, and each numeric covariate
at its mean over the rows used (at each of its values when it has at most 2; --at gives others).
A mean for the --specs levels (within each --by group) averages the grid's predictions over the
other variables with equal weights. Its SE is sqrt(L V L'); the df are Satterthwaite's for that
contrast (lmerTest) or Kenward-Roger's with the adjusted covariance (pbkrtest); the intervals use t.
--pairwise adds every difference level_i - level_j within each --by group, with p-values adjusted
by Tukey's studentized range (--adjust tukey, the default), Holm's method, or not at all.
--specs and --by take factors of the fixed effects, or numeric covariates given values with --at.)HELP";

struct EmmeansArgs {
  std::string data, formula, adjust = "tukey", ddf = "satterthwaite";
  std::vector<std::string> specs, by, at;
  bool pairwise = false, ml = false, json = false;
  double level = 0.95;
  FrameArgs frame;
  ReadArgs read;
};

// "time=0,2,4" -> {"time", {0, 2, 4}}.
std::pair<std::string, std::vector<double>> parse_at(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--at '" + text + "' is not NAME=VALUE[,VALUE...] (e.g. time=0,2,4)");
  std::pair<std::string, std::vector<double>> out{text.substr(0, eq), {}};
  std::string rest = text.substr(eq + 1);
  std::size_t start = 0;
  while (true) {
    const auto comma = rest.find(',', start);
    const std::string v = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    double x = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !std::isfinite(x))
      throw Error("--at " + out.first + ": '" + v + "' is not a finite number");
    out.second.push_back(x);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// A grid value: a number for a numeric covariate, else the level's text.
nlohmann::json grid_value(const EmmeansResult& r, std::size_t var, const std::string& text) {
  if (!r.numeric[var]) return text;
  return number(std::stod(text));
}

nlohmann::json emmeans_json(const EmmeansResult& r) {
  nlohmann::json j;
  j["ddf"] = r.ddf == DdfMethod::Satterthwaite ? "satterthwaite"
             : r.ddf == DdfMethod::KenwardRoger ? "kenward-roger" : "asymptotic";
  j["level"] = r.level;
  j["averaged_over"] = r.averaged_over;
  j["covariates_at"] = nlohmann::json::object();
  for (const auto& [name, value] : r.covariates_at) j["covariates_at"][name] = value;
  j["emmeans"] = nlohmann::json::array();
  for (const auto& m : r.means) {
    nlohmann::json e;
    for (std::size_t v = 0; v < r.variables.size(); ++v) e[r.variables[v]] = grid_value(r, v, m.values[v]);
    e["emmean"] = number(m.emmean);
    e["SE"] = number(m.se);
    e["df"] = number(m.df);
    e["lower.CL"] = number(m.lower);
    e["upper.CL"] = number(m.upper);
    j["emmeans"].push_back(e);
  }
  j["contrasts"] = nlohmann::json::array();
  for (const auto& c : r.contrasts) {
    nlohmann::json e;
    e["contrast"] = c.contrast;
    for (std::size_t v = 0; v < c.by.size(); ++v)
      e[r.variables[r.nspecs + v]] = grid_value(r, r.nspecs + v, c.by[v]);
    for (const auto& [k, x] : {std::pair{"estimate", c.estimate}, {"SE", c.se}, {"df", c.df},
                               {"t.ratio", c.t}, {"p.value", c.p}})
      e[k] = number(x);
    j["contrasts"].push_back(e);
  }
  if (!r.contrasts.empty()) j["adjust"] = p_adjust_name(r.adjust);
  return j;
}

// The library names its option fields; the CLI names its flags.
Error rephrase(const Error& e) {
  std::string m = e.what();
  for (const auto& [field, flag] : {std::pair{"EmmeansOptions::specs", "--specs"}, {"EmmeansOptions::by", "--by"},
                                    {"EmmeansOptions::at", "--at"}, {"EmmeansOptions::level", "--level"}})
    for (auto pos = m.find(field); pos != std::string::npos; pos = m.find(field))
      m.replace(pos, std::string(field).size(), flag);
  return Error(m);
}

int run(const EmmeansArgs& a) {
  EmmeansOptions o;
  o.specs = a.specs;
  o.by = a.by;
  for (const std::string& s : a.at) o.at.push_back(parse_at(s));
  o.pairwise = a.pairwise;
  o.adjust = parse_p_adjust(a.adjust);
  o.ddf = parse_ddf_method(a.ddf);
  o.level = a.level;
  FitOptions fo;
  fo.method = a.ml ? Method::ML : Method::REML;
  fo.ddf = DdfMethod::None;  // the summary's df are not printed here
  fo.frame = frame_options(a.frame);
  if (o.ddf == DdfMethod::KenwardRoger && !a.frame.weights.empty())
    throw Error("--ddf kenward-roger is not available with --weights (pbkrtest's Kenward-Roger has no prior "
                "weights either); use --ddf satterthwaite");
  if (o.ddf == DdfMethod::KenwardRoger && a.ml)
    throw Error("--ddf kenward-roger needs a REML fit (Kenward-Roger adjusts the REML covariance of the fixed "
                "effects); drop --ml, or use --ddf satterthwaite");
  const DataFrame data = read_data(a.data, a.read, true);
  // Kenward-Roger that cannot run for this model's terms is refused from its frame, before the fit.
  if (o.ddf == DdfMethod::KenwardRoger)
    with_frame_flags([&] {
      check_emmeans_ddf(build_model_frame(data, parse_formula(a.formula), fo.frame), fo.method, o.ddf);
    });
  Fitted f = with_frame_flags([&] { return fit(data, a.formula, fo); });
  EmmeansResult r;
  try {
    r = emmeans(f.model, data, o);
  } catch (const Error& e) {
    throw rephrase(e);
  }
  if (a.json)
    std::cout << emmeans_json(r).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  else
    std::cout << format_emmeans(r);
  return 0;
}

}  // namespace

void add_emmeans_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<EmmeansArgs>();
  CLI::App* cmd = app.add_subcommand("emmeans", "Estimated marginal means and pairwise contrasts");
  cmd->footer(kEmmeansHelp);
  cmd->add_option("data", a->data, "CSV or TSV file with a header row")->required();
  cmd->add_option("formula", a->formula, "model formula, e.g. \"y ~ time * group + (time | id)\"")->required();
  cmd->add_option("--specs", a->specs, "factor(s) whose means are wanted (comma-separated)")
      ->required()->delimiter(',');
  cmd->add_option("--by", a->by, "factor(s) to compute means and contrasts separately for")->delimiter(',');
  cmd->add_option("--at", a->at, "values of a numeric covariate: time=0,2,4 (repeatable)");
  cmd->add_flag("--pairwise", a->pairwise, "also every pairwise difference of the means");
  cmd->add_option("--adjust", a->adjust, "p-value adjustment of the pairwise differences")
      ->check(CLI::IsMember({"tukey", "holm", "none"}))->capture_default_str();
  cmd->add_option("--ddf", a->ddf, "satterthwaite, kenward-roger or none (asymptotic)")
      ->check(CLI::IsMember({"satterthwaite", "kenward-roger", "kr", "none"}))->capture_default_str();
  cmd->add_option("--level", a->level, "confidence level of the intervals")->capture_default_str();
  cmd->add_flag("--ml", a->ml, "fit by maximum likelihood instead of REML");
  cmd->add_flag("--json", a->json, "print the results as one JSON object");
  add_frame_options(cmd, a->frame);
  add_read_options(cmd, a->read);
  cmd->callback([a, &action] { action = [a] { return run(*a); }; });
}

}  // namespace lmm::cli
