// Each subcommand registers itself on the app; main() only dispatches and maps errors to exit codes.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "lmm/data.h"

namespace lmm::cli {

/// A registered subcommand's action, run after parsing.
using Action = std::function<int()>;

/// Writes `table` as CSV to `path` through lmm::write_file_atomically, or to stdout when `path` is
/// empty.
void write_table_output(const DataFrame& table, const std::string& path);

void add_fit_command(CLI::App& app, Action& action);
void add_shrinkage_command(CLI::App& app, Action& action);
void add_predict_command(CLI::App& app, Action& action);
void add_simulate_command(CLI::App& app, Action& action);
void add_reshape_command(CLI::App& app, Action& action);
void add_compare_command(CLI::App& app, Action& action);
void add_report_command(CLI::App& app, Action& action);
void add_explore_command(CLI::App& app, Action& action);
void add_emmeans_command(CLI::App& app, Action& action);
void add_power_command(CLI::App& app, Action& action);

}  // namespace lmm::cli
