#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <system_error>
#include <thread>

#include "commands.h"
#include "read_options.h"
#include "fit_extras.h"
#include "frame_options.h"
#include "glmm_command.h"
#include "inference_options.h"
#include "json_output.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "lmm/parallel.h"
#include "lmm/summary_text.h"
#include "stream_fit.h"

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
  y ~ x %in% g              x:g (x within g)
  y ~ poly(x, 2)            orthogonal polynomials as R's poly(); poly(x, 2, raw = TRUE): x, x^2
  y ~ scale(x)              x centred and divided by its SD (new data: the fit's mean and SD)
  (1 | factor(id))          the same grouping as (1 | id)
Categorical predictors use treatment contrasts; the reference is the first level in byte order.
Choose it with relevel(x, "b") or --ref x=b; factor(x, levels = c("b", "a")) orders the levels;
C(x, contr.sum), contr.helmert, contr.poly choose contrasts per factor, --contrasts sum|helmert for
all unordered factors; ordered(x) or factor(x, ordered = TRUE) gets polynomial contrasts (.L, .Q).

Grouping factors are categorical by their text: ids 01 and 1 are two persons.

Data: missing values are empty, NA, . or NaN, in numeric columns also N/A, NULL, na, -, #N/A (the
summary says how many); --na-values "N/A,-99" declares more. A column of numbers with a few text
cells is an error naming the cell. Files separated by ';' may use decimal commas (--decimal).

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
(one F test per term, with the same df method); --json always has it as "anova_type3".)";

struct FitArgs {
  ReadArgs read;
  std::string data, formula;
  FitExtras extras;
  FrameArgs frame;
  bool ml = false, json = false, anova = false;
  std::string ddf = "satterthwaite";
  InferenceArgs inference;
  bool quiet = false, timings = false;
  bool stream = false;  ///< --stream: read the file in chunks (cli/stream_fit.cpp)
  GlmmArgs glmm;  ///< --family: a generalized linear mixed model (cli/glmm_command.cpp)
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// A one-line progress display on stderr for fits that take longer than a second: rewritten in
/// place (carriage return) at most five times a second, erased when the fit ends.
class Progress {
 public:
  explicit Progress(Clock::time_point start) : start_(start) {}
  ~Progress() { clear(); }
  void update(int evaluations, double objective) {
    const auto now = Clock::now();
    if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    std::fprintf(stderr, "\rlmm: fitting: %d evaluations, objective %.6f, %.1f s\033[K", evaluations, objective,
                 seconds_since(start_));
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  Clock::time_point start_, last_{};
  bool shown_ = false;
};

// The request for a fit read in chunks; flags that need the rows in memory are refused by name.
StreamRequest stream_request(const FitArgs& a) {
  auto refuse = [](bool set, const std::string& flag) {
    if (set) throw Error(flag + " is not available when the file is read in chunks (--stream) yet");
  };
  refuse(!a.glmm.family.empty(), "--family");
  refuse(!a.extras.center.empty() || !a.extras.center_person.empty(), "--center/--center-person");
  refuse(a.inference.profile, "--profile");
  refuse(a.inference.boot > 0, "--boot");
  refuse(a.ddf == "kenward-roger" || a.ddf == "kr", "--ddf kenward-roger");
  StreamRequest r;
  r.path = a.data;
  r.formula = a.formula;
  r.read = read_options(a.read);
  r.fit.method = a.ml ? Method::ML : Method::REML;
  r.fit.ddf = parse_ddf_method(a.ddf);
  r.fit.frame = frame_options(a.frame);
  refuse(!r.fit.frame.weights.empty(), "--weights");
  refuse(r.fit.frame.residual.any(), "--residual");
  r.extras = a.extras;
  r.residuals = a.inference.residuals;
  r.json = a.json, r.anova = a.anova, r.quiet = a.quiet, r.timings = a.timings;
  return r;
}

}  // namespace

void add_fit_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<FitArgs>();
  CLI::App* cmd = app.add_subcommand("fit", "Fit a linear mixed model and print its summary");
  cmd->footer(kFitHelp);
  cmd->add_option("data", args->data, "CSV or TSV file with a header row")->required();
  cmd->add_option("formula", args->formula, "model formula, e.g. \"y ~ time + (time | id)\"")->required();
  cmd->add_flag("--ml", args->ml, "fit by maximum likelihood instead of REML");
  cmd->add_flag("--json", args->json, "print the results as one JSON object");
  add_fit_extras(cmd, args->extras);
  add_frame_options(cmd, args->frame);
  add_residual_options(cmd, args->frame);
  cmd->add_option("--ddf", args->ddf, "df for the fixed-effect tests: satterthwaite (default), kenward-roger, none");
  cmd->add_flag("--anova", args->anova, "print the type III ANOVA table (F tests with the --ddf method)");
  add_inference_options(cmd, args->inference);
  cmd->add_flag("--quiet", args->quiet, "no progress line on stderr (shown for fits longer than a second on a terminal)");
  cmd->add_flag("--timings", args->timings, "print the seconds each stage took on stderr");
  cmd->add_flag("--stream", args->stream,
                "read the file in chunks: memory bounded by the model's statistics, not the rows (automatic for a "
                "file larger than an eighth of the available memory); three passes over the file");
  add_read_options(cmd, args->read);
  add_glmm_options(cmd, args->glmm);
  cmd->callback([args, &action] {
    action = [args] {
      const auto start = Clock::now();
      set_num_threads(args->inference.threads);
      if ((args->stream || args->glmm.family.empty()) && should_stream(args->stream, args->data, args->quiet))
        return with_frame_flags([&] { return run_stream_fit(stream_request(*args)); });
      // A file of a megabyte or more (InstEval: 2.3 MB) may well make a crossed design with a large
      // dense block: its LAPACK library is opened on the other core while this one reads.
      std::error_code size_error;
      std::jthread dense_kernels;
      if (std::filesystem::file_size(args->data, size_error) >= (1u << 20) && !size_error)
        dense_kernels = std::jthread(load_dense_kernels);
      DataFrame data = read_data(args->data, args->read, false);
      const double read_seconds = seconds_since(start);
      prepare_fit_data(data, args->extras);
      FitOptions opt;
      auto progress = std::make_shared<Progress>(start);
      if (!args->quiet && ::isatty(STDERR_FILENO))
        opt.progress = [progress](int evaluations, double objective) { progress->update(evaluations, objective); };
      opt.method = args->ml ? Method::ML : Method::REML;
      opt.ddf = parse_ddf_method(args->ddf);
      if (opt.ddf == DdfMethod::KenwardRoger && !args->frame.weights.empty())
        throw Error("--ddf kenward-roger is not available with --weights (pbkrtest's Kenward-Roger has no prior "
                    "weights either); use --ddf satterthwaite");
      if (opt.ddf == DdfMethod::KenwardRoger && opt.method == Method::ML)
        throw Error("--ddf kenward-roger needs a REML fit (Kenward-Roger adjusts the REML covariance of the fixed "
                    "effects); drop --ml, or use --ddf satterthwaite");
      opt.frame = frame_options(args->frame);
      if (!args->glmm.family.empty()) {
        refuse_for_glmm({{"--ml", args->ml}, {"--anova", args->anova},
                         {"--residuals", !args->inference.residuals.empty()},
                         {"--ranef", !args->extras.ranef_csv.empty()}});
        args->glmm.save = args->extras.save;
        args->glmm.profile = args->inference.profile;
        args->glmm.boot = args->inference.boot;
        args->glmm.seed = args->inference.seed;
        args->glmm.threads = args->inference.threads;
        return run_glmm_fit(args->glmm, data, args->formula, opt.frame, args->json, args->data);
      }
      Fitted f = with_frame_flags([&] { return fit(data, args->formula, opt); });
      progress->clear();
      if (args->timings) {
        const auto& t = f.result.timings;
        std::fprintf(stderr,
                     "lmm: timings: read %.3f s, model frame %.3f s, setup %.3f s, optimize %.3f s (%d evaluations), "
                     "summary %.3f s, inference %.3f s; %d threads\n",
                     read_seconds, t.model_frame, t.setup, t.optimize, f.result.optimizer.evaluations, t.summary,
                     t.inference, num_threads());
      }
      write_fit_extras(f, args->extras, args->data);
      run_inference(args->inference, f, data);
      if (args->json) {
        print_json(std::cout, f.result, [&](SortedObject& j) {
          if (!args->extras.centering.empty())
            j.add("centering", [&](JsonWriter& w) { write_centering_json(w, args->extras); });
        });
      } else {
        std::cout << format_summary(f.result, SummaryContext{args->data, centering_lines(args->extras)});
        if (args->anova) std::cout << '\n' << format_anova(f.result);
      }
      return 0;
    };
  });
}

}  // namespace lmm::cli
