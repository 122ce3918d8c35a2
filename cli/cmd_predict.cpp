#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "commands.h"
#include "read_options.h"
#include "lmm/error.h"
#include "lmm/glmm.h"
#include "lmm/predict.h"
#include "lmm/table_io.h"
#include "model_file.h"

namespace lmm::cli {

namespace {

constexpr const char* kPredictHelp =
    R"HELP(Predictions for new rows from a model saved with `lmm fit ... --save model.json`.

  lmm fit data.csv "y ~ time * group + (time | id)" --save model.json
  lmm predict new.csv --model model.json                        conditional on the random effects
  lmm predict new.csv --model model.json --re-form none         population level, X beta (re.form = NA)
  lmm predict new.csv --model model.json --interval prediction  with a 95% prediction interval

Output: the columns of new.csv with `fit` appended, and with --interval also `se`, `lwr`, `upr`.

A person (grouping level) not in the fitted data gets the population-level prediction for that term,
with a note on stderr (lme4's allow.new.levels = TRUE). A categorical predictor value not in the
fitted data is an error. A row with a missing predictor gets NA. Centering given to `lmm fit`
(--center, --center-person) is applied to the new rows with the constants from the fit.

Intervals use normal quantiles with the variance parameters treated as known:
  confidence, conditional: Var(x'b_hat + z'u_hat - x'b - z'u), including the uncertainty of the
                           fixed effects, of the person's random effects, and their covariance
  confidence, population:  x'V x
  prediction:              the above plus sigma^2 (population: plus z'Sigma z + sigma^2)
Covariances between the random effects of different grouping factors are left out.

A GLMM saved by `lmm fit --family ... --save` predicts on the link scale (lme4's type = "link");
--type response applies the inverse link (probabilities, expected counts). For GLMMs,
--re-form none --interval confidence gives the Wald confidence interval of the population mean
(random effects at 0; glmer gives none, emmeans and ggeffects give this one): x'b +- z se_link,
se_link = sqrt(x'Vx) with V the fit's covariance of b (from the Hessian, lme4's vcov), and with
--type response the inverse link of fit, lwr and upr (the column se_link stays on the link
scale). Prediction intervals and conditional intervals are not available for GLMMs.)HELP";

struct PredictArgs {
  ReadArgs read;
  std::string data, model, out, re_form = "conditional", interval = "none", type = "link";
  double level = 0.95;
};

// GLMMs: only the confidence interval of the population mean (x'b, V from the Hessian).
void check_glmm_interval(const SavedModel& m, const PredictOptions& o) {
  if (o.interval == IntervalKind::Prediction)
    throw Error("--interval prediction is not available for a GLMM (" + m.family +
                " family: a new response is a count or 0/1, with no normal prediction interval); --re-form none "
                "--interval confidence gives the confidence interval of the population mean");
  if (o.interval == IntervalKind::Confidence && o.re_form != ReForm::Population)
    throw Error("--interval confidence of a GLMM (" + m.family +
                " family) is for the population mean: add --re-form none (conditional intervals are not available)");
}

}  // namespace

void add_predict_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand("predict", "Predict from a saved model on new rows");
  cmd->footer(kPredictHelp);
  cmd->add_option("data", a->data, "CSV or TSV with the new rows")->required();
  cmd->add_option("--model", a->model, "the model saved by `lmm fit ... --save`")->required();
  cmd->add_option("--re-form", a->re_form,
                  "conditional (Xb + Zu, default) or none (Xb, as re.form = NA)")
      ->check(CLI::IsMember({"conditional", "none", "NA"}));
  cmd->add_option("--interval", a->interval, "none, confidence or prediction")
      ->check(CLI::IsMember({"none", "confidence", "prediction"}));
  cmd->add_option("--level", a->level, "interval level")->capture_default_str();
  cmd->add_option("--type", a->type, "GLMM: link (default, as lme4) or response (inverse link applied)")
      ->check(CLI::IsMember({"link", "response"}));
  cmd->add_option("--out", a->out, "write the CSV to this file instead of stdout");
  add_read_options(cmd, a->read);
  cmd->callback([a, &action] {
    action = [a] {
      const SavedModel m = load_model(a->model);
      const DataFrame data = read_data(a->data, a->read, true);
      PredictOptions o;
      o.re_form = a->re_form == "conditional" ? ReForm::Conditional : ReForm::Population;
      o.interval = a->interval == "none"         ? IntervalKind::None
                   : a->interval == "confidence" ? IntervalKind::Confidence
                                                 : IntervalKind::Prediction;
      o.level = a->level;
      const bool glmm = !m.family.empty();
      if (glmm) check_glmm_interval(m, o);
      if (!glmm && a->type == "response")
        throw Error("--type response is for GLMMs; this model is a linear mixed model (its predictions are responses)");
      Predictions p = predict(m, data, o);
      if (a->type == "response") {
        const auto inverse = [&](const std::vector<double>& v) {
          return glmm_link_inverse(parse_family(m.family), parse_link(m.link), v);
        };
        p.fit = inverse(p.fit);
        if (o.interval != IntervalKind::None) p.lower = inverse(p.lower), p.upper = inverse(p.upper);
      }
      if (glmm && o.interval != IntervalKind::None)
        p.notes.push_back(fmt::format("fit, lwr and upr: the population mean (random effects at 0) with its {:g}% "
                                      "Wald confidence interval from the covariance of the fixed effects, on the "
                                      "{} scale; se_link is on the link scale",
                                      100 * o.level, a->type == "response" ? "response" : "link"));
      DataFrame out = data;
      auto add = [&](const char* name, std::vector<double> v) {
        if (out.find(name))
          throw Error(std::string("the new data already have a column '") + name + "'; rename it");
        out.columns.push_back(numeric_column(name, std::move(v)));
      };
      add("fit", p.fit);
      if (o.interval != IntervalKind::None) {
        add(glmm ? "se_link" : "se", p.se);
        add("lwr", p.lower);
        add("upr", p.upper);
      }
      write_table_output(out, a->out);
      for (const auto& n : p.notes) std::cerr << "lmm: note: " << n << '\n';
      return 0;
    };
  });
}

}  // namespace lmm::cli
