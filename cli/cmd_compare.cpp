// `lmm compare DATA FORMULA0 FORMULA1 [...]`: likelihood-ratio tests as lme4's anova(m0, m1).
#include <iostream>
#include <memory>

#include "frame_options.h"
#include "glmm_command.h"
#include "commands.h"
#include "read_options.h"
#include "json_inference.h"
#include "json_output.h"
#include "lmm/compare.h"
#include "lmm/data.h"

namespace lmm::cli {

namespace {

constexpr const char* kCompareHelp = R"HELP(Compare nested models with likelihood-ratio tests, as lme4's anova(m0, m1).

  lmm compare sleepstudy.csv "Reaction ~ Days + (1 | Subject)" "Reaction ~ Days + (Days | Subject)"

Every model is fitted by maximum likelihood, as lme4's anova() refits REML fits: REML criteria of
models with different fixed effects are not comparable (the REML criterion depends on the fixed-
effects design). --reml compares REML criteria instead, and is refused unless all models have the
same fixed effects. Models are listed by number of parameters; each row is tested against the one
above it: Chisq = 2 (logLik - logLik above), Df = difference in parameters, Pr(>Chisq) from the
chi-square distribution. All models must use the same rows: --complete-cases fits every model to
the rows with no missing value in any model's variables (and says how many rows that drops). When models differ only in random effects, the p-value is conservative
(a variance under test sits on its boundary, 0).)HELP";

struct CompareArgs {
  ReadArgs read;
  std::string data;
  std::vector<std::string> formulas;
  bool json = false, reml = false, complete_cases = false;
  FrameArgs frame;
  GlmmArgs glmm;  ///< --family: compare generalized linear mixed models
};

}  // namespace

void add_compare_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand("compare", "Likelihood-ratio tests between nested models (lme4's anova)");
  cmd->footer(kCompareHelp);
  cmd->add_option("data", args->data, "CSV or TSV file with a header row")->required();
  cmd->add_option("formulas", args->formulas, "two or more model formulas")->required()->expected(2, -1);
  cmd->add_flag("--json", args->json, "print the results as one JSON object");
  cmd->add_flag("--complete-cases", args->complete_cases,
                "fit every model to the rows complete for all models' variables");
  cmd->add_flag("--reml", args->reml, "compare REML criteria (only for models with the same fixed effects)");
  add_read_options(cmd, args->read);
  add_frame_options(cmd, args->frame);
  add_glmm_family_options(cmd, args->glmm);
  cmd->callback([args, &action] {
    action = [args] {
      DataFrame data = read_data(args->data, args->read, true);
      CompareOptions o;
      o.reml = args->reml;
      o.complete_cases = args->complete_cases;
      o.frame = frame_options(args->frame);
      const ModelComparison c =
          args->glmm.family.empty() ? with_frame_flags([&] { return compare_models(data, args->formulas, o); })
                                    : compare_glmm_models(args->glmm, data, args->formulas, o.frame);
      if (args->json) {
        print_indented(std::cout, [&](JsonWriter& w) { write_comparison_json(w, c); });
      } else {
        std::cout << format_comparison(c);
      }
      return 0;
    };
  });
}

}  // namespace lmm::cli
