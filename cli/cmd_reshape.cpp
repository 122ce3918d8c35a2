#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "commands.h"
#include "read_options.h"
#include "lmm/error.h"
#include "lmm/reshape.h"
#include "lmm/table_io.h"

namespace lmm::cli {

namespace {

constexpr const char* kReshapeHelp =
    R"HELP(Wide to long (one row per person and wave, what a mixed model needs) and back.

  lmm reshape wide.csv --wide-to-long --id id --pattern 'y_t*'
      columns y_t1 y_t2 y_t3 -> rows (id, time = 1, 2, 3, y); other columns are carried along
  lmm reshape wide.csv --wide-to-long --id id --pattern 'y=score_w*' --pattern 'stress=stress_w*'
      several time-varying variables; NAME=PATTERN names the long column
  lmm reshape wide.csv --wide-to-long --id id --pattern 'y_wave*' --times 0,6,12
      the matched columns (in file order) stand for times 0, 6 and 12
  lmm reshape wide.csv --wide-to-long --id id --columns pre,post,followup --times 0,1,3 --value y
      the wide columns listed explicitly
  lmm reshape long.csv --long-to-wide --id id --time time --pattern 'y_t*'
      back: one row per id, columns y_t<time>; --values y,x is short for --pattern y=y_* --pattern x=x_*

The '*' in a pattern stands for the time. A missing wave is a missing value (NA) in wide data and a
row with y = NA in long data (--drop-missing leaves such rows out). Columns other than the id, the
time and the spread variables must be constant within a person when going long to wide.)HELP";

struct ReshapeArgs {
  ReadArgs read;
  std::string data, out, id, time = "time", value;
  bool to_long = false, to_wide = false, drop_missing = false;
  std::vector<std::string> patterns, values, columns, times;
};

// Runs a reshape; its errors name the options' fields, which are said here with the flags.
template <class F>
DataFrame with_flags(F reshape) {
  try {
    return reshape();
  } catch (const Error& e) {
    static const std::pair<std::string_view, std::string_view> kFlags[] = {
        {"WideToLongOptions::times", "--times"},
        {"WideToLongOptions::time_name", "--time"},
        {"WidePattern::columns", "--columns"},
        {"give the WidePattern another name", "name it with --pattern NEWNAME=PATTERN"},
    };
    std::string m = e.what();
    for (const auto& [field, flag] : kFlags)
      for (auto at = m.find(field); at != std::string::npos; at = m.find(field, at + flag.size()))
        m.replace(at, field.size(), flag);
    throw Error(m);
  }
}

}  // namespace

void add_reshape_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ReshapeArgs>();
  CLI::App* cmd =
      app.add_subcommand("reshape", "Reshape longitudinal data between wide and long format");
  cmd->footer(kReshapeHelp);
  cmd->add_option("data", a->data, "CSV or TSV file with a header row")->required();
  auto* wl =
      cmd->add_flag("--wide-to-long", a->to_long, "one row per id -> one row per id and time");
  auto* lw =
      cmd->add_flag("--long-to-wide", a->to_wide, "one row per id and time -> one row per id");
  wl->excludes(lw);
  cmd->add_option("--id", a->id, "the id column")->required();
  cmd->add_option(
         "--time", a->time,
         "the time column (long-to-wide), or the name of the new time column (wide-to-long)")
      ->capture_default_str();
  cmd->add_option("--pattern", a->patterns,
                  "[NAME=]PATTERN with one '*' standing for the time, e.g. y_t*; repeatable");
  cmd->add_option("--values", a->values, "long-to-wide: long columns to spread as NAME_<time>")
      ->delimiter(',');
  cmd->add_option("--columns", a->columns,
                  "wide-to-long: the wide columns of one variable, in time order")
      ->delimiter(',');
  cmd->add_option("--value", a->value,
                  "wide-to-long with --columns: the name of the long column (default y)");
  cmd->add_option("--times", a->times,
                  "wide-to-long: the time each matched column stands for, in order")
      ->delimiter(',');
  cmd->add_flag("--drop-missing", a->drop_missing,
                "wide-to-long: leave out rows whose values are all missing");
  cmd->add_option("--out", a->out, "write the CSV to this file instead of stdout");
  add_read_options(cmd, a->read);
  cmd->callback([a, &action] {
    if (!a->to_long && !a->to_wide)
      throw CLI::ValidationError("give --wide-to-long or --long-to-wide");
    action = [a] {
      const DataFrame data = read_data(a->data, a->read, true);
      std::vector<WidePattern> patterns;
      for (const auto& p : a->patterns) patterns.push_back(parse_wide_pattern(p));
      DataFrame out;
      if (a->to_long) {
        if (!a->values.empty())
          throw Error("--values is for --long-to-wide; use --pattern or --columns");
        WideToLongOptions o;
        o.id = a->id;
        o.time_name = a->time;
        o.times = a->times;
        o.drop_missing = a->drop_missing;
        if (!a->columns.empty()) {
          if (!patterns.empty()) throw Error("give either --columns or --pattern, not both");
          WidePattern p;
          p.name = a->value.empty() ? "y" : a->value;
          p.columns = a->columns;
          patterns.push_back(p);
        }
        o.patterns = std::move(patterns);
        if (o.patterns.empty())
          throw Error("wide-to-long needs at least one --pattern (e.g. y_t*) or --columns");
        out = with_flags([&] { return wide_to_long(data, o); });
      } else {
        if (!a->columns.empty() || !a->times.empty() || a->drop_missing)
          throw Error("--columns, --times and --drop-missing are for --wide-to-long");
        LongToWideOptions o;
        o.id = a->id;
        o.time = a->time;
        for (const auto& v : a->values) patterns.push_back(WidePattern{v, v + "_*", {}});
        o.patterns = std::move(patterns);
        if (o.patterns.empty())
          throw Error("long-to-wide needs at least one --pattern (e.g. y=y_t*) or --values");
        out = with_flags([&] { return long_to_wide(data, o); });
      }
      write_table_output(out, a->out);
      return 0;
    };
  });
}

}  // namespace lmm::cli
