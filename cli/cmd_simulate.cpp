#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>

#include "commands.h"
#include "lmm/error.h"
#include "lmm/simulate.h"
#include "lmm/table_io.h"
#include "model_file.h"

namespace lmm::cli {

namespace {

constexpr const char* kSimulateHelp = R"HELP(Two modes.

1. From a two-level growth model (for teaching and power planning), in long format with columns
   id, time, group, y:
     y = intercept + u0 + (slope + group-effect * treatment + u1) * time + e
     (u0, u1) ~ N(0, [sd-intercept^2, cor*sd-intercept*sd-slope; ., sd-slope^2]), e ~ N(0, sigma^2)
   Persons are allocated to arms control/treatment in equal numbers (shuffled). With --dropout P a
   person still in the study leaves before each wave after baseline with probability P,
   independently of the outcomes; later waves are written with y = NA.

     lmm simulate --persons 2000 --waves 0,1,2,3,4 --group-effect 1 --dropout 0.1 --seed 7

2. From a fitted model (as R's simulate(m)): new random effects for every level and new residuals
   at the rows of --data, with the model saved by `lmm fit ... --save model.json`:

     lmm simulate --model model.json --data design.csv --nsim 100 --seed 7

   A GLMM (fitted with --family) draws each response from its family at the simulated linear
   predictor: 0/1 (binomial), successes out of the row's trials (cbind(successes, failures); both
   columns needed in --data) or counts (poisson), with new random effects as above.

   Output: the columns of --data with sim_1 ... sim_K appended.

The same seed gives byte-identical output on every platform (xoshiro256** with lmm's own normal
transform, one stream per person). The default seed is 1.)HELP";

struct SimulateArgs {
  GrowthDesign design;
  std::string out;
  std::string model, data;
  // Signed, so that `--persons -5` is reported as -5 rather than as 2^64 - 5.
  long long persons = 200;
  long long nsim = 1;
};

}  // namespace

void add_simulate_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<SimulateArgs>();
  auto& d = args->design;
  CLI::App* cmd = app.add_subcommand(
      "simulate", "Simulate longitudinal data from a growth model or a fitted model");
  cmd->footer(kSimulateHelp);
  cmd->add_option("--persons", args->persons, "number of persons")->capture_default_str();
  cmd->add_option("--waves", d.waves,
                  "measurement times, comma-separated, e.g. 0,1,2,3,4 (any spacing)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--intercept", d.intercept, "mean at time 0 (control arm)")
      ->capture_default_str();
  cmd->add_option("--slope", d.slope, "mean change per unit of time (control arm)")
      ->capture_default_str();
  cmd->add_option("--sd-intercept", d.sd_intercept, "SD of the persons' intercepts")
      ->capture_default_str();
  cmd->add_option("--sd-slope", d.sd_slope, "SD of the persons' slopes")->capture_default_str();
  cmd->add_option("--cor", d.cor, "correlation of intercepts and slopes")->capture_default_str();
  cmd->add_option("--sigma", d.sigma, "residual SD")->capture_default_str();
  cmd->add_option("--group-effect", d.group_effect, "treatment effect on the slope")
      ->capture_default_str();
  cmd->add_option("--dropout", d.dropout, "probability of leaving before each wave after baseline")
      ->capture_default_str();
  cmd->add_option("--seed", d.seed, "random seed")->capture_default_str();
  cmd->add_option("--out", args->out, "write the CSV to this file instead of stdout");
  cmd->add_option("--model", args->model,
                  "a model saved by `lmm fit ... --save`: simulate new responses from it");
  cmd->add_option("--data", args->data, "with --model: the rows (CSV) at which to simulate");
  cmd->add_option("--nsim", args->nsim, "with --model: number of simulated response vectors")
      ->capture_default_str();
  cmd->callback([args, cmd, &action] {
    const bool from_model = !args->model.empty();
    for (const char* opt : {"--persons", "--waves", "--intercept", "--slope", "--sd-intercept",
                            "--sd-slope", "--cor", "--sigma", "--group-effect", "--dropout"})
      if (from_model && cmd->count(opt) > 0)
        throw CLI::ValidationError(std::string(opt) +
                                   " describes a growth design and cannot be used with --model");
    if (!from_model && (cmd->count("--data") > 0 || cmd->count("--nsim") > 0))
      throw CLI::ValidationError("--data and --nsim need --model");
    action = [args, from_model] {
      DataFrame out;
      if (from_model) {
        if (args->data.empty())
          throw Error(
              "simulate --model needs --data: the rows (CSV) at which to simulate new responses");
        if (args->nsim < 1 || args->nsim > 100000)
          throw Error(fmt::format("--nsim must be between 1 and 100000 (got {})", args->nsim));
        const SavedModel m = load_model(args->model);
        const DataFrame data = read_table(args->data);
        Rng rng(args->design.seed);
        out = simulate_from_saved(m, data, static_cast<std::size_t>(args->nsim), rng);
      } else {
        if (args->persons < 2)
          throw Error(fmt::format("--persons must be at least 2 (got {})", args->persons));
        GrowthDesign d = args->design;
        d.persons = static_cast<std::size_t>(args->persons);
        // The library names GrowthDesign's fields; say it with the flags.
        if (const auto p = check_growth_design(d)) {
          std::string flag = p->field;
          std::replace(flag.begin(), flag.end(), '_', '-');
          throw Error("--" + flag + " " + p->rule);
        }
        // One time is a valid (cross-sectional) design, but "--waves 6" is most often meant as
        // six waves: say what was simulated.
        if (d.waves.size() == 1 && d.waves[0] >= 2 && d.waves[0] <= 100 && d.waves[0] == std::floor(d.waves[0]))
          std::cerr << fmt::format(
              "lmm: note: --waves {0} is one measurement time ({0}) per person; for {0} waves give "
              "the times, e.g. --waves 0,1,...,{1}\n",
              d.waves[0], d.waves[0] - 1);
        out = simulate_growth(d);
      }
      write_table_output(out, args->out);
      return 0;
    };
  });
}

}  // namespace lmm::cli
