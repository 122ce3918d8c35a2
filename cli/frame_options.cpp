#include "frame_options.h"

#include <string>
#include <utility>

#include "lmm/error.h"
#include "wording.h"

namespace lmm::cli {

void add_frame_options(CLI::App* cmd, FrameArgs& args) {
  cmd->add_option("--ref", args.refs,
                  "reference level of a factor, as R's relevel(): --ref Sex=Male (repeatable)");
  cmd->add_option("--contrasts", args.contrasts,
                  "contrasts of unordered factors: treatment (default), sum, helmert; ordered "
                  "factors use poly, as in R");
  cmd->add_option("--weights", args.weights,
                  "column of prior weights (lme4's weights =): a row's residual variance is sigma^2/w");
  cmd->add_option("--offset", args.offset,
                  "column added to the linear predictor with coefficient 1 (lme4's offset =)");
}

void add_residual_options(CLI::App* cmd, FrameArgs& args) {
  cmd->add_option("--residual", args.residual,
                  "correlated residuals within groups (nlme's correlation =): \"ar1(day | id)\" (lag = difference "
                  "of integer times), \"car1(t | id)\" (real times), \"cs(1 | id)\", \"us(visit | id)\"; the "
                  "formula may then have no random-effects term");
  cmd->add_option("--residual-sd-by", args.residual_sd_by,
                  "a residual SD per level of this column (nlme's varIdent), reported as ratios to the first level");
}

ModelFrameOptions frame_options(const FrameArgs& args) {
  ModelFrameOptions o;
  o.weights = args.weights;
  o.offset = args.offset;
  if (!args.residual.empty()) {
    try {
      parse_residual_structure(args.residual, o.residual);
    } catch (const Error& e) {
      throw Error(std::string("--residual: ") + e.what());
    }
  }
  o.residual.sd_by = args.residual_sd_by;
  for (const std::string& r : args.refs) {
    const auto eq = r.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == r.size())
      throw Error("--ref '" + r + "': write the factor and its reference level as --ref x=level");
    const std::string var = r.substr(0, eq);
    if (o.reference_levels.count(var)) throw Error("--ref: '" + var + "' is given twice");
    o.reference_levels[var] = r.substr(eq + 1);
  }
  if (!args.contrasts.empty()) {
    if (args.contrasts != "treatment" && args.contrasts != "sum" && args.contrasts != "helmert" &&
        args.contrasts != "contr.treatment" && args.contrasts != "contr.sum" &&
        args.contrasts != "contr.helmert")
      throw Error("--contrasts '" + args.contrasts + "': use treatment, sum or helmert");
    o.unordered_contrasts = parse_contrasts(args.contrasts);
  }
  return o;
}

void rethrow_with_flags(const Error& e) {
  std::string what = in_cli_terms(e.what());
  if (what == e.what()) throw e;
  throw Error(what);
}

}  // namespace lmm::cli
