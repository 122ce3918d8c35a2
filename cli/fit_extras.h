// The options of `lmm fit` that belong to individual trajectories: centering before the fit,
// the random-effects table (--ranef) and the saved model (--save). Kept here so that cmd_fit.cpp
// only wires them in.
#pragma once
#include <CLI/CLI.hpp>
#include "json_writer.h"
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/reshape.h"

namespace lmm::cli {

struct FitExtras {
  std::vector<std::string> center, center_person;  // as given
  std::string ranef_csv, save;
  std::vector<Centering> centering;  // parsed and, after prepare(), computed
};

/// Registers --center, --center-person, --ranef and --save on `fit`.
void add_fit_extras(CLI::App* cmd, FitExtras& extras);


/// Applies the centering options to the data (person-mean ones first).
void prepare_fit_data(DataFrame& data, FitExtras& extras);

/// The centering applied, in words, for the text summary (lmm::SummaryContext::centering).
std::vector<std::string> centering_lines(const FitExtras& extras);

/// The centering applied, for the JSON output's "centering" entry: per centering its variable,
/// kind ("mean", "value", "person_mean"), the value subtracted (mean or given value; person means:
/// the grouping column and the number of levels) and the description.
void write_centering_json(JsonWriter& w, const FitExtras& extras);

/// Writes the --ranef table and the --save model, if asked for.
void write_fit_extras(const Fitted& fitted, const FitExtras& extras, const std::string& data_path);

/// The random-effects table as CSV: group, level, then per term its conditional mode and
/// condsd_<term>, then coef_<term> (fixed + random, as coef()).
std::string ranef_csv(const FitResult& result);
/// The rows of that table for some levels (`coef` in step with `ranef`), with the columns of
/// `terms` and `coef_terms` (the unions over all levels), so that tables of consecutive levels
/// concatenate (lmm fit --stream writes it a block of levels at a time).
DataFrame ranef_table(const std::vector<RandomEffectLevel>& ranef, const std::vector<LevelCoefficients>& coef,
                      const std::vector<std::string>& terms, const std::vector<std::string>& coef_terms);

}  // namespace lmm::cli
