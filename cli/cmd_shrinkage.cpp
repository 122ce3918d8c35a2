#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <optional>

#include "frame_options.h"
#include "commands.h"
#include "read_options.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/shrinkage.h"
#include "lmm/table_io.h"

namespace lmm::cli {

namespace {

constexpr const char* kShrinkageHelp =
    R"HELP(Fits the model, then for each level of its grouping factor (each person) shows:
  n           the level's number of observations
  ols_T       its own least-squares fit of y on the random-effects terms' columns (lmList)
  blup_T      the mixed model's coefficient for the level (fixed + random effects)
  pop_T       the population estimate for the level (fixed effects only)
  moved_T     blup - ols: how far the mixed model moved the level's own estimate
  fraction_T  (ols - blup) / (ols - pop): 0 = not pulled at all, 1 = pulled all the way
  distance    |ols - blup| in units of the random effects' SDs
Levels without their own fit (fewer observations than random-effects columns, or those columns
collinear within the level, e.g. one time point for an intercept and slope) are listed with the
reason; their blup and pop columns are coef()'s (fixed effect of the same name plus the random
effect).

For y ~ time * group + (time | id), blup and pop are the person's own intercept and slope, with the
group terms included: the least-squares summary of the person's fitted values, comparable to the
person's own fit. The model must have one grouping factor.)HELP";

struct ShrinkageArgs {
  ReadArgs read;
  std::string data, formula, csv;
  bool ml = false;
  FrameArgs frame;
};

std::string cell(double v) { return std::isnan(v) ? std::string("NA") : fmt::format("{:.4g}", v); }

// The text table: fixed-width columns, then the levels without their own fit.
void print_shrinkage(const ShrinkageTable& t, const DataFrame& out, bool ml) {
  // The text table: fixed-width columns.
  std::vector<std::size_t> width(out.columns.size());
  for (std::size_t c = 0; c < out.columns.size(); ++c) {
    width[c] = out.columns[c].name.size();
    for (std::size_t r = 0; r < out.nrows; ++r) {
      const std::string s = out.columns[c].is_numeric() ? cell(out.columns[c].numbers[r])
                                                        : format_cell(out.columns[c], r);
      width[c] = std::max(width[c], s.size());
    }
  }
  std::cout << fmt::format(
      "Shrinkage of each {}'s own fit toward the population ({} fit, {} levels)\n\n", t.group,
      ml ? "ML" : "REML", t.rows.size());
  for (std::size_t c = 0; c < out.columns.size(); ++c)
    std::cout << (c ? "  " : "") << fmt::format("{:>{}}", out.columns[c].name, width[c]);
  std::cout << '\n';
  for (std::size_t r = 0; r < out.nrows; ++r) {
    for (std::size_t c = 0; c < out.columns.size(); ++c) {
      const std::string s = out.columns[c].is_numeric() ? cell(out.columns[c].numbers[r])
                                                        : format_cell(out.columns[c], r);
      std::cout << (c ? "  " : "") << fmt::format("{:>{}}", s, width[c]);
    }
    std::cout << '\n';
  }
  if (!t.too_few.empty()) {
    std::string list;
    for (const auto& r : t.rows)
      if (!r.own_fit)
        list += (list.empty() ? "" : ", ") + fmt::format("{} ({})", r.level, r.reason);
    std::cout << fmt::format(
        "\n{} level{} without their own fit (ols = NA): {}\n",
        t.too_few.size(), t.too_few.size() == 1 ? "" : "s", list);
  }
}

}  // namespace

void add_shrinkage_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ShrinkageArgs>();
  CLI::App* cmd =
      app.add_subcommand("shrinkage", "Each level's own fit beside its mixed-model estimate");
  cmd->footer(kShrinkageHelp);
  cmd->add_option("data", a->data, "CSV or TSV file with a header row")->required();
  cmd->add_option("formula", a->formula,
                  "model formula with one grouping factor, e.g. \"y ~ time + (time | id)\"")
      ->required();
  cmd->add_flag("--ml", a->ml, "fit by maximum likelihood instead of REML");
  cmd->add_option("--csv", a->csv, "write the table to this CSV file");
  add_read_options(cmd, a->read);
  add_frame_options(cmd, a->frame);
  cmd->callback([a, &action] {
    action = [a] {
      const DataFrame data = read_data(a->data, a->read, true);
      FitOptions opt;
      opt.method = a->ml ? Method::ML : Method::REML;
      opt.frame = frame_options(a->frame);
      const Fitted f = with_frame_flags([&] { return fit(data, a->formula, opt); });
      const ShrinkageTable t = shrinkage(f.model);
      if (!t.available()) throw Error(t.reason);

      DataFrame out;
      out.nrows = t.rows.size();
      std::vector<std::optional<std::string>> level;
      std::vector<double> n, dist;
      for (const auto& r : t.rows) {
        level.emplace_back(r.level);
        n.push_back(static_cast<double>(r.n));
        dist.push_back(r.distance);
      }
      out.columns.push_back(categorical_column(t.group, level));
      out.columns.push_back(numeric_column("n", n));
      const char* parts[] = {"ols_", "blup_", "pop_", "moved_", "fraction_"};
      for (std::size_t k = 0; k < t.terms.size(); ++k)
        for (int part = 0; part < 5; ++part) {
          std::vector<double> v;
          for (const auto& r : t.rows) {
            const std::vector<double>* src[] = {&r.ols, &r.blup, &r.population, &r.moved,
                                                &r.fraction};
            v.push_back((*src[part])[k]);
          }
          out.columns.push_back(numeric_column(parts[part] + t.terms[k], std::move(v)));
        }
      out.columns.push_back(numeric_column("distance", dist));
      if (!a->csv.empty()) write_table_output(out, a->csv);

      print_shrinkage(t, out, a->ml);
      return 0;
    };
  });
}

}  // namespace lmm::cli
