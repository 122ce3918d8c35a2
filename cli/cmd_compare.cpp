// `lmm compare DATA FORMULA0 FORMULA1 [...]`: likelihood-ratio tests as lme4's anova(m0, m1).
#include <fmt/format.h>
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
#include "lmm/error.h"
#include "lmm/residual.h"

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
(a variance under test sits on its boundary, 0).

To compare residual structures (as nlme's anova of lme fits that differ in correlation =), give
--residual once per model, "none" for independent residuals, with the same formula each time:

  lmm compare ovary.csv "follicles ~ s1 + c1 + (1 | Mare)" "follicles ~ s1 + c1 + (1 | Mare)" \
      --residual none --residual "ar1(t | Mare)" --reml

--residual-sd-by likewise takes one column per model ("none" for one residual SD) or one for all.)HELP";

struct CompareArgs {
  ReadArgs read;
  std::string data;
  std::vector<std::string> formulas;
  bool json = false, reml = false, complete_cases = false;
  FrameArgs frame;
  std::vector<std::string> residual, residual_sd_by;  ///< one per model, or one for all
  GlmmArgs glmm;  ///< --family: compare generalized linear mixed models
};

// --residual and --residual-sd-by: one value for every model, or one per model ("none": nothing).
std::vector<ResidualOptions> model_residuals(const CompareArgs& a) {
  const std::size_t n = a.formulas.size();
  for (const auto* v : {&a.residual, &a.residual_sd_by})
    if (v->size() > 1 && v->size() != n)
      throw Error(fmt::format("{}: given {} times for {} models; give it once for all models or once per model",
                              v == &a.residual ? "--residual" : "--residual-sd-by", v->size(), n));
  if (a.residual.empty() && a.residual_sd_by.empty()) return {};
  std::vector<ResidualOptions> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& s = a.residual.empty() ? "none" : a.residual[a.residual.size() == 1 ? 0 : i];
    if (s != "none") {
      try {
        parse_residual_structure(s, out[i]);
      } catch (const Error& e) {
        throw Error(std::string("--residual: ") + e.what());
      }
    }
    const std::string& sd = a.residual_sd_by.empty() ? "none" : a.residual_sd_by[a.residual_sd_by.size() == 1 ? 0 : i];
    if (sd != "none") out[i].sd_by = sd;
  }
  return out;
}

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
  cmd->add_option("--residual", args->residual,
                  "residual structure per model (\"ar1(day | id)\", \"none\", ...; once per model or once for all)");
  cmd->add_option("--residual-sd-by", args->residual_sd_by,
                  "a residual SD per level of this column, per model (\"none\": one SD; once per model or once for all)");
  add_glmm_family_options(cmd, args->glmm);
  cmd->callback([args, &action] {
    action = [args] {
      DataFrame data = read_data(args->data, args->read, true);
      CompareOptions o;
      o.reml = args->reml;
      o.complete_cases = args->complete_cases;
      o.frame = frame_options(args->frame);
      o.residual = model_residuals(*args);
      if (!o.residual.empty() && !args->glmm.family.empty())
        throw Error("--residual is not available with --family (a GLMM has no residual covariance to structure)");
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
