#pragma once
#include <functional>
#include <iosfwd>

#include "json_writer.h"
#include "lmm/fit.h"

namespace lmm::cli {

/// The fit as one JSON object with the keys of the lme4 reference files (nobs, ngroups, fixed[],
/// random[], loglik, aic, bic, reml_criterion or deviance, theta, sigma, singular, ...), written
/// as it goes: the ranef[] and coef[] arrays come straight from the result's vectors. Members are
/// in key order (byte order), as lmm has always printed them. Non-finite numbers are null.
/// `extra` may add members the result does not hold (the CLI's centering).
void write_json(JsonWriter& w, const FitResult& r, const std::function<void(SortedObject&)>& extra = {});

/// Pieces every model kind writes alike (the GLMM's JSON too): {group: levels}, random[] as lme4's
/// VarCorr, ranef[] as as.data.frame(ranef(m, condVar = TRUE)).
void write_ngroups(JsonWriter& w, const std::vector<GroupCount>& ngroups);
void write_random(JsonWriter& w, const std::vector<VarianceComponent>& random);
void write_ranef(JsonWriter& w, const std::vector<RandomEffectLevel>& ranef);

/// ranef[] and coef[] written level by level from the model (for_each_level), for a
/// result fitted without its per-level tables (LevelTables::Omit); as `extra`, they replace the
/// result's empty arrays (SortedObject keeps a key's last assignment). `model` must outlive `j`.
void add_level_tables_of(SortedObject& j, const LinearMixedModel& model);

/// `lmm fit --json`: the fit indented by 2, then a newline.
void print_json(std::ostream& out, const FitResult& r, const std::function<void(SortedObject&)>& extra = {});

}  // namespace lmm::cli
