#include <cstdio>
#include <iostream>
#include <memory>

#include "frame_options.h"
#include "glmm_command.h"
#include "commands.h"
#include "lmm/atomic_file.h"
#include "read_options.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "report_json.h"

namespace lmm::cli {

namespace {

constexpr const char* kReportHelp = R"(Write one self-contained HTML file (it opens offline; the plotting library is inside) with:
  the summary tables (fixed effects, variance components, fit statistics, ICC and R², warnings
  explained); the plot the design calls for: individual trajectories with fitted and population
  lines (longitudinal data), each group's regression line and the population line at the other
  covariates' means (units nested in groups, e.g. students in schools), or the groups' means
  (factors only, e.g. a split plot); shrinkage from each level's own fit to the model's, the
  variance partition (over time where it varies), and diagnostics (residuals vs fitted, normal
  QQ plots, caterpillar plots of the random effects). Every plot can be saved
  as SVG or PNG from its menu. The numbers are those of `lmm fit --json` with the same options.
With --residual (and/or --residual-sd-by): the structure's estimates beside the summary, the
  autocorrelation of the normalized residuals by lag (nlme's ACF(m, resType = "normalized")) and
  the fitted residual covariance and correlation matrix of one group as a heat map.
With --family binomial|poisson (a GLMM): fixed effects with z and p, variance components, logLik
  and AIC; fitted probabilities (expected counts) over time for a sample of persons with the
  population curve and the observed proportions (means); binned residuals (binomial, as
  arm::binnedplot) or Pearson residuals (Poisson) against the fitted values; caterpillar plots.)";

struct ReportArgs {
  ReadArgs read;
  std::string data, formula, out;
  bool ml = false;
  std::string ddf = "satterthwaite";
  std::size_t max_persons = 2000;
  FrameArgs frame;
  GlmmArgs glmm;
};

void write_report(const std::string& out, const std::string& html) {
  write_file_atomically(out, html);
  std::cout << "wrote " << out << " (" << (html.size() + 512) / 1024 << " KB)\n";
}

// `lmm report --family ...`: the GLMM as `lmm fit --family ... --json` fits it, and its plots.
std::string glmm_report(const ReportArgs& args, const DataFrame& data, const report::PlotOptions& po) {
  if (args.frame.residual.size() + args.frame.residual_sd_by.size() > 0)
    throw Error("--residual and --residual-sd-by are not available with --family (GLMMs have no residual structure)");
  if (args.ml || args.ddf != "satterthwaite")
    throw Error("--ml and --ddf are not available with --family (a GLMM is fitted by maximum likelihood, with z tests)");
  const GlmmOptions o = glmm_options(args.glmm, frame_options(args.frame));
  const GlmmFitted f = with_frame_flags([&] { return fit_glmm(data, args.formula, o); });
  return render_report_html(glmm_report_document(args.data, f, data, po));
}

}  // namespace

void add_report_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand("report", "Fit a model and write an HTML report with its plots");
  cmd->footer(kReportHelp);
  cmd->add_option("data", args->data, "CSV or TSV file with a header row")->required();
  cmd->add_option("formula", args->formula, "model formula, e.g. \"y ~ time + (time | id)\"")->required();
  cmd->add_option("--out,-o", args->out, "the HTML file to write")->required();
  cmd->add_flag("--ml", args->ml, "fit by maximum likelihood instead of REML");
  cmd->add_option("--ddf", args->ddf, "df for the fixed-effect tests: satterthwaite (default), kenward-roger, none");
  cmd->add_option("--max-persons", args->max_persons, "trajectories kept in the page (a random sample beyond)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  add_read_options(cmd, args->read);
  add_frame_options(cmd, args->frame);
  add_residual_options(cmd, args->frame);
  add_glmm_family_options(cmd, args->glmm);
  cmd->callback([args, &action] {
    action = [args] {
      DataFrame data = read_data(args->data, args->read, false);
      report::PlotOptions po;
      po.max_persons = args->max_persons;
      if (!args->glmm.family.empty()) {
        write_report(args->out, glmm_report(*args, data, po));
        return 0;
      }
      FitOptions opt;
      opt.method = args->ml ? Method::ML : Method::REML;
      opt.ddf = parse_ddf_method(args->ddf);
      if (opt.ddf == DdfMethod::KenwardRoger && opt.method == Method::ML)
        throw Error("--ddf kenward-roger needs a REML fit; drop --ml, or use --ddf satterthwaite");
      // The same fit as `lmm fit` with the same options, so the report's numbers are its numbers.
      opt.frame = frame_options(args->frame);
      Fitted fitted = with_frame_flags([&] { return fit(data, args->formula, opt); });
      const std::string html = render_report_html(report_document(args->data, fitted, data, po));
      write_report(args->out, html);
      return 0;
    };
  });
}

}  // namespace lmm::cli
