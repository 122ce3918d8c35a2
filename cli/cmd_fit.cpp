#include <iostream>
#include <memory>

#include "commands.h"
#include "json_output.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/inference.h"

namespace lmm::cli {

namespace {

constexpr const char* kFitHelp = R"(Fit a linear mixed model by REML (default) or ML.

Formula syntax (lme4's):
  y ~ x                     fixed effects; an intercept is included by default
  y ~ 0 + x  or  y ~ x - 1  no intercept
  y ~ a * b                 a + b + a:b (main effects and interaction)
  y ~ factor(d)             treat a numeric column as categorical
  y ~ I(age^2) + log(x)     arithmetic inside I(); log(), exp(), sqrt()
  (1 | g)                   random intercept per level of g
  (x | g)  = (1 + x | g)    correlated random intercept and slope
  (0 + x | g)               random slope only
  (x || g)                  uncorrelated random intercept and slope
  (1 | a/b)                 b nested in a: (1 | a) + (1 | b:a)
  (1 | a) + (1 | b)         crossed random effects
Categorical predictors use treatment contrasts; the reference is the first level in byte order.

REML or ML: REML (the default) gives unbiased variance components; use it to report a model.
ML (--ml) is for comparing models that differ in their fixed effects (likelihood-ratio tests,
AIC/BIC): REML criteria of such models are not comparable.

Singular fit: a variance estimated as 0 or a correlation of +-1 means the data do not support
that random term; lmm names it. Drop the term, or use (x || g) to drop the correlation.
Convergence: lmm reports the optimizer's stop reason and evaluations in the output
("optimizer" in --json); a fit that hit the evaluation limit is flagged.

p-values: df and Pr(>|t|) of each fixed effect use Satterthwaite's df by default (as lmerTest);
--ddf kenward-roger uses Kenward-Roger's adjusted standard errors and df (as pbkrtest; REML fits
only); --ddf none leaves df and p out (as lme4). --anova adds lmerTest's type III ANOVA table
(one F test per term, Satterthwaite's df); --json always has it as "anova_type3".)";

struct FitArgs {
  std::string data, formula;
  bool ml = false, json = false, anova = false;
  std::string ddf = "satterthwaite";
};

}  // namespace

void add_fit_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<FitArgs>();
  CLI::App* cmd = app.add_subcommand("fit", "Fit a linear mixed model and print its summary");
  cmd->footer(kFitHelp);
  cmd->add_option("data", args->data, "CSV or TSV file with a header row")->required();
  cmd->add_option("formula", args->formula, "model formula, e.g. \"y ~ time + (time | id)\"")->required();
  cmd->add_flag("--ml", args->ml, "fit by maximum likelihood instead of REML");
  cmd->add_flag("--json", args->json, "print the results as one JSON object");
  cmd->add_option("--ddf", args->ddf, "df for the fixed-effect tests: satterthwaite (default), kenward-roger, none");
  cmd->add_flag("--anova", args->anova, "print the type III ANOVA table (Satterthwaite's F tests)");
  cmd->callback([args, &action] {
    action = [args] {
      DataFrame data = read_table(args->data);
      FitOptions opt;
      opt.method = args->ml ? Method::ML : Method::REML;
      opt.ddf = parse_ddf_method(args->ddf);
      if (opt.ddf == DdfMethod::KenwardRoger && opt.method == Method::ML)
        throw Error("--ddf kenward-roger needs a REML fit (Kenward-Roger adjusts the REML covariance of the fixed "
                    "effects); drop --ml, or use --ddf satterthwaite");
      Fitted f = fit(data, args->formula, opt);
      if (args->json) {
        std::cout << dump(to_json(f.result)) << '\n';
      } else {
        std::cout << format_summary(f.result);
        if (args->anova) std::cout << '\n' << format_anova(f.result);
      }
      return 0;
    };
  });
}

}  // namespace lmm::cli
