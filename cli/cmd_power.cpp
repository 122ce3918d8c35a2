// `lmm power`: power curves by simulation, for the growth design of `lmm simulate` or from a saved
// model (lmm/power.h).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <limits>
#include <memory>

#include "commands.h"
#include "json_writer.h"
#include "lmm/atomic_file.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "lmm/power.h"
#include "lmm/table_io.h"
#include "model_file.h"
#include "power_output.h"
#include "wording.h"

namespace lmm::cli {

namespace {

constexpr const char* kPowerHelp = R"HELP(Power by simulation: for each sample size, --nsim studies are simulated from the
design, each is fitted (REML, warm start from the true parameters) and the effect is tested; the
power is the share of tests with p < --alpha, with its Monte Carlo SE and Wilson interval.

1. The growth design of `lmm simulate` (same flags), fitted as y ~ time * group + (time | id);
   the default test is the group x time interaction (--group-effect is its size):

     lmm power --persons 50,100,200,400 --waves 0,1,2,3,4,5 --group-effect 0.5 --nsim 1000

2. From a model saved by `lmm fit ... --save m.json` (as simr's powerSim with extend): studies
   of N persons repeat the persons of --data (default: the data the model was fitted to) in turn,
   with new random effects and residuals from the fitted variance components:

     lmm power --model m.json --test time:group --effect 0.5 --persons 50,100,200

--test: a fixed-effect term (time:group; a factor's term gets the type III F test), a
coefficient (time:grouptreatment), or a random slope as "(time | id)" (REML likelihood-ratio
test of its variance and covariances, p from the 50:50 mixture of chi-square(q-1) and
chi-square(q); --lrt-chisq: chi-square(q) as anova(m0, m1), conservative). --ddf none tests by
z (chi-square for a term).

Simulation s at size k uses its own random stream (seed, k, s): the output is the same for any
--threads. --json prints {"curve": [{"persons", "power", "mc_se", "lower", "upper",
"singular_share", "nonconverged_share", "seconds", ...}], ...}; --out curve.html writes the
power curve as a self-contained HTML page.)HELP";

struct PowerArgs {
  GrowthDesign design;
  PowerOptions options;
  std::vector<long long> persons{50, 100, 200, 400};
  long long nsim = 1000;
  std::string ddf = "satterthwaite";
  std::string model, data, out;
  double target = 0.8;
  bool json = false, quiet = false, lrt_chisq = false;
};

constexpr std::pair<std::string_view, std::string_view> kPowerWording[] = {
    {"PowerOptions::persons", "--persons"}, {"PowerOptions::nsim", "--nsim"},
    {"PowerOptions::alpha", "--alpha"},     {"PowerOptions::threads", "--threads"},
    {"PowerOptions::test", "--test"},       {"PowerOptions::effect", "--effect"},
    {"PowerOptions::ddf KenwardRoger", "--ddf kenward-roger"}, {"DdfMethod::Satterthwaite", "--ddf satterthwaite"},
    {"power_from_model", "--model"},        {"power_from_model: ", ""},
    {"GrowthDesign::group_effect", "--group-effect"},
    {"GrowthDesign::sd_intercept", "--sd-intercept"}, {"GrowthDesign::sd_slope", "--sd-slope"},
    {"GrowthDesign::", "--"},
};

// A progress line on stderr, at most five times a second.
struct ProgressLine {
  std::chrono::steady_clock::time_point last{};
  bool shown = false;
  void update(std::size_t done, std::size_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - last < std::chrono::milliseconds(200)) return;
    last = now;
    shown = true;
    std::fprintf(stderr, "\rlmm power: %zu/%zu simulated studies", done, total);
    std::fflush(stderr);
  }
  void clear() {
    if (shown) std::fprintf(stderr, "\r%60s\r", "");
  }
};

void add_design_flags(CLI::App* cmd, GrowthDesign& d) {
  cmd->add_option("--waves", d.waves, "measurement times, comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--intercept", d.intercept, "mean at time 0 (control arm)")->capture_default_str();
  cmd->add_option("--slope", d.slope, "mean change per unit of time (control arm)")->capture_default_str();
  cmd->add_option("--sd-intercept", d.sd_intercept, "SD of the persons' intercepts")->capture_default_str();
  cmd->add_option("--sd-slope", d.sd_slope, "SD of the persons' slopes")->capture_default_str();
  cmd->add_option("--cor", d.cor, "correlation of intercepts and slopes")->capture_default_str();
  cmd->add_option("--sigma", d.sigma, "residual SD")->capture_default_str();
  cmd->add_option("--group-effect", d.group_effect, "treatment effect on the slope")->capture_default_str();
  cmd->add_option("--dropout", d.dropout, "probability of leaving before each wave after baseline")
      ->capture_default_str();
}

void add_run_flags(CLI::App* cmd, PowerArgs& a) {
  cmd->add_option("--persons", a.persons, "sample sizes, comma-separated (the curve's points)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--nsim", a.nsim, "simulated studies per sample size")->capture_default_str();
  cmd->add_option("--seed", a.options.seed, "random seed")->capture_default_str();
  cmd->add_option("--alpha", a.options.alpha, "significance level")->capture_default_str();
  cmd->add_option("--ddf", a.ddf, "df of the Wald tests: satterthwaite, kenward-roger, none")->capture_default_str();
  cmd->add_option("--test", a.options.test, "term, coefficient or \"(slope | group)\" to test (default: time:group)");
  cmd->add_flag("--lrt-chisq", a.lrt_chisq, "the random slope's LRT against chi-square(q), as anova(m0, m1), not the mixture");
  cmd->add_option("--effect", a.options.effect, "with --model: the tested coefficient's true value");
  cmd->add_option("--model", a.model, "a model saved by `lmm fit ... --save`: simulate studies from it");
  cmd->add_option("--data", a.data, "with --model: the design's rows (default: the data the model was fitted to)");
  cmd->add_option("--threads", a.options.threads, "threads (0: all cores)")->capture_default_str();
  cmd->add_option("--target", a.target, "target power, drawn as a line in --out")->capture_default_str();
  cmd->add_option("--out", a.out, "write the power curve as a self-contained HTML page");
  cmd->add_flag("--json", a.json, "print the results as one JSON object");
  cmd->add_flag("--quiet", a.quiet, "no progress line on stderr (shown on a terminal)");
}

// The options from the flags, checked with the flags' names.
void finish_options(PowerArgs& a) {
  for (long long n : a.persons)
    if (n < 2) throw Error(fmt::format("--persons must be at least 2 (got {})", n));
  if (a.nsim < 1 || a.nsim > 10'000'000) throw Error(fmt::format("--nsim must be between 1 and 10000000 (got {})", a.nsim));
  if (!(a.target > 0 && a.target < 1)) throw Error(fmt::format("--target must be between 0 and 1 (got {})", a.target));
  a.options.persons.assign(a.persons.begin(), a.persons.end());
  a.options.nsim = static_cast<int>(a.nsim);
  a.options.ddf = parse_ddf_method(a.ddf);
  a.options.lrt_mixture = !a.lrt_chisq;
  if (const std::string bad = check_power_options(a.options); !bad.empty()) throw Error(bad);
}

// The saved model's design rows: --data, or the file it was fitted to if it is still there.
DataFrame design_rows(const PowerArgs& a, const SavedModel& m) {
  if (!a.data.empty()) return read_table(a.data);
  if (!m.data_source.empty() && std::filesystem::is_regular_file(m.data_source)) return read_table(m.data_source);
  throw Error("--model needs --data: the rows whose persons the simulated studies repeat (the model's data file '" +
              m.data_source + "' is not there)");
}

int run_power_command(PowerArgs& a) {
  finish_options(a);
  ProgressLine line;
  if (!a.quiet && ::isatty(STDERR_FILENO))
    a.options.progress = [&line](std::size_t done, std::size_t total) { line.update(done, total); };
  PowerResult res;
  if (!a.model.empty()) {
    const SavedModel m = load_model(a.model);
    res = power_from_model(m, design_rows(a, m), a.options);
  } else {
    res = power_growth(a.design, a.options);
  }
  line.clear();
  if (a.json)
    std::cout << power_json(res, a.target, 2) << '\n';
  else
    std::cout << format_power(res);
  if (!a.out.empty()) write_file_atomically(a.out, power_html(res, a.target));
  return 0;
}

}  // namespace

void add_power_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<PowerArgs>();
  CLI::App* cmd = app.add_subcommand("power", "Power curves by simulation (growth design or saved model)");
  cmd->footer(kPowerHelp);
  add_design_flags(cmd, args->design);
  add_run_flags(cmd, *args);
  cmd->callback([args, cmd, &action] {
    // Checked when the action runs, so that the message is one `lmm: ` line with exit code 2.
    std::string conflict;
    const bool from_model = !args->model.empty();
    for (const char* opt : {"--waves", "--intercept", "--slope", "--sd-intercept", "--sd-slope", "--cor", "--sigma",
                            "--group-effect", "--dropout"})
      if (from_model && cmd->count(opt) > 0 && conflict.empty())
        conflict = std::string(opt) + " describes a growth design and cannot be used with --model";
    if (!from_model && (cmd->count("--data") > 0 || cmd->count("--effect") > 0))
      conflict = "--data and --effect need --model (the growth design's effect is --group-effect)";
    action = [args, conflict] {
      if (!conflict.empty()) throw Error(conflict);
      try {
        return run_power_command(*args);
      } catch (const Error& e) {
        throw Error(replace_phrases(e.what(), kPowerWording));
      }
    };
  });
}

}  // namespace lmm::cli
