// `lmm`: argument parsing and dispatch only; the work is in the library.
#include <cstdio>
#include <exception>
#include <iostream>

#include "commands.h"
#include "lmm/error.h"
#include "lmm/version.h"
#include "wording.h"

int main(int argc, char** argv) {
  CLI::App app{
      "lmm " LMM_VERSION " - linear mixed models for longitudinal and other nested data.\n"
      "Fits models written in lme4's formula language and reports what lme4, lmerTest and\n"
      "performance report, from one C++ program.\n\n"
      "  lmm fit data.csv \"Reaction ~ Days + (Days | Subject)\"\n"
      "  lmm fit data.csv \"y ~ time * group + (time | id)\" --ml --json\n\n"
      "Run `lmm fit --help` for the formula syntax."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(LMM_VERSION));
  lmm::cli::Action action;
  lmm::cli::add_fit_command(app, action);
  lmm::cli::add_shrinkage_command(app, action);
  lmm::cli::add_predict_command(app, action);
  lmm::cli::add_simulate_command(app, action);
  lmm::cli::add_power_command(app, action);
  lmm::cli::add_reshape_command(app, action);
  lmm::cli::add_compare_command(app, action);
  lmm::cli::add_emmeans_command(app, action);
  lmm::cli::add_report_command(app, action);
  lmm::cli::add_explore_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    return action ? action() : 0;
  } catch (const lmm::Error& e) {
    std::cout.flush();
    std::cerr << "lmm: " << lmm::cli::in_cli_terms(e.what()) << '\n';
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "lmm: out of memory\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "lmm: internal error: " << e.what() << " (please report this with the command that caused it)\n";
    return 3;
  }
}
