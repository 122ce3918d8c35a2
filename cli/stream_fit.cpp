#include "stream_fit.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <string_view>

#include "json_output.h"
#include "lmm/atomic_file.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "lmm/statistics.h"
#include "lmm/summary_text.h"
#include "lmm/table_chunks.h"
#include "lmm/table_io.h"

namespace lmm::cli {

namespace {

using Clock = std::chrono::steady_clock;

// "MemAvailable" of /proc/meminfo in bytes, 0 if unknown.
std::size_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  std::size_t kb = 0;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// The peak resident memory so far (VmHWM) in MB, for --timings; 0 if unknown.
double peak_mb() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      double kb = 0;
      in >> kb;
      return kb / 1024;
    }
    in.ignore(1 << 12, '\n');
  }
  return 0;
}

/// One line on stderr, rewritten in place, for a terminal only: the pass, rows read and the rate.
class StreamProgress {
 public:
  explicit StreamProgress(bool show) : show_(show && ::isatty(STDERR_FILENO)) {}
  ~StreamProgress() { clear(); }
  void start(const char* pass) { pass_ = pass, begin_ = Clock::now(); }
  void update(const TableChunks& t) {
    if (!show_) return;
    const double s = std::chrono::duration<double>(Clock::now() - begin_).count();
    std::fprintf(stderr, "\rlmm: %s: %zu rows (%.0f%% of the file), %.2g rows/s\033[K", pass_, t.rows_read(),
                 100.0 * static_cast<double>(t.bytes_read()) / std::max<double>(1, static_cast<double>(t.file_size())),
                 s > 0 ? static_cast<double>(t.rows_read()) / s : 0.0);
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K"), std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool show_, shown_ = false;
  const char* pass_ = "";
  Clock::time_point begin_;
};

// Pass 1: the sample that fixes the schema (every level, the first rows), as CSV text read back.
std::shared_ptr<const StatisticsSchema> schema_pass(TableChunks& t, const StreamRequest& r, StreamProgress& pr) {
  pr.start("pass 1 of 3 (levels)");
  SchemaSampler sampler(r.formula);
  std::string text = t.header() + '\n';
  DataFrame chunk;
  while (t.next(chunk)) {
    for (std::size_t i : sampler.select(chunk)) text.append(t.record(i)).push_back('\n');
    pr.update(t);
  }
  ReadOptions o = t.options();
  const DataFrame sample = parse_table(text, o, r.path);
  std::string().swap(text);
  return make_schema(sample, r.formula, r.fit.frame);
}

SufficientStatistics accumulate_pass(TableChunks& t, const std::shared_ptr<const StatisticsSchema>& schema,
                                     StreamProgress& pr) {
  pr.start("pass 2 of 3 (statistics)");
  t.rewind();
  SufficientStatistics s(schema);
  DataFrame chunk;
  while (t.next(chunk)) {
    s.accumulate(chunk);
    pr.update(t);
  }
  return s;
}

// Pass 3: the scaled residuals' quantiles (from single-precision copies: the summary prints four
// digits), and the --residuals file.
void residual_pass(TableChunks& t, Fitted& fit, const StreamRequest& r, StreamProgress& pr) {
  pr.start("pass 3 of 3 (residuals)");
  t.rewind();
  const ResidualPass pass(fit.model);
  const double sigma = fit.result.sigma;
  std::vector<float> scaled;
  scaled.reserve(fit.result.nobs);
  auto run = [&](std::ostream* out) {
    DataFrame chunk;
    std::size_t first = 0;
    while (t.next(chunk)) {
      const ResidualPass::Rows rr = pass(chunk);
      for (double e : rr.residual) scaled.push_back(static_cast<float>(e / sigma));
      if (out) pass.write_lines(*out, rr, first, chunk.nrows, sigma);
      first += chunk.nrows;
      pr.update(t);
    }
  };
  if (r.residuals.empty()) {
    run(nullptr);
  } else {
    write_file_atomically(r.residuals, [&](std::ostream& out) {
      out << pass.header();
      run(&out);
    });
  }
  const double probs[5] = {0, 0.25, 0.5, 0.75, 1};
  for (int q = 0; q < 5 && !scaled.empty(); ++q) {
    // R's type 7: the order statistics around (n - 1) p, interpolated.
    const double h = static_cast<double>(scaled.size() - 1) * probs[q];
    const auto lo = static_cast<std::size_t>(std::floor(h));
    std::nth_element(scaled.begin(), scaled.begin() + static_cast<std::ptrdiff_t>(lo), scaled.end());
    const double a = scaled[lo];
    double b = a;
    if (lo + 1 < scaled.size()) b = *std::min_element(scaled.begin() + static_cast<std::ptrdiff_t>(lo) + 1, scaled.end());
    fit.result.scaled_residuals[static_cast<std::size_t>(q)] = a + (h - static_cast<double>(lo)) * (b - a);
  }
}

// --ranef FILE: ranef_csv()'s table written a block of levels at a time, the header once.
void write_ranef_blocks(const std::string& path, const LinearMixedModel& model) {
  const ModelFrame& f = model.frame();
  std::vector<std::string> groups, terms, coef_terms;  // the columns: unions in order of appearance
  std::map<std::string, std::vector<std::string>> names;
  for (const auto& t : f.re) {
    if (!names.count(t.group)) groups.push_back(t.group);
    names[t.group].insert(names[t.group].end(), t.names.begin(), t.names.end());
  }
  auto add_unique = [](std::vector<std::string>& to, const std::string& n) {
    if (std::find(to.begin(), to.end(), n) == to.end()) to.push_back(n);
  };
  for (const auto& g : groups) {  // a level's coef: its random terms not among the fixed ones, then the fixed
    for (const auto& n : names[g]) {
      add_unique(terms, n);
      if (std::find(f.fixed_names.begin(), f.fixed_names.end(), n) == f.fixed_names.end()) add_unique(coef_terms, n);
    }
    for (const auto& n : f.fixed_names) add_unique(coef_terms, n);
  }
  write_file_atomically(path, [&](std::ostream& out) {
    std::vector<RandomEffectLevel> ranef;
    std::vector<LevelCoefficients> coef;
    bool first = true;
    auto flush = [&] {
      const std::string csv = to_csv(ranef_table(ranef, coef, terms, coef_terms));
      out << (first ? std::string_view(csv) : std::string_view(csv).substr(csv.find('\n') + 1));
      first = false;
      ranef.clear(), coef.clear();
    };
    for_each_level(model, [&](const RandomEffectLevel& re, const LevelCoefficients& c) {
      ranef.push_back(re), coef.push_back(c);
      if (ranef.size() == 65536) flush();
    });
    if (!ranef.empty() || first) flush();
  });
}

}  // namespace

bool should_stream(bool stream_flag, const std::string& path, bool quiet) {
  if (stream_flag) return true;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const std::size_t avail = available_memory();
  if (ec || avail == 0 || size <= avail / 8) return false;
  if (!quiet)
    std::fprintf(stderr, "lmm: %s is %.2g GB, more than an eighth of the memory available (%.2g GB): reading it in "
                 "chunks, as --stream does\n", path.c_str(), static_cast<double>(size) / 1e9, static_cast<double>(avail) / 1e9);
  return true;
}

int run_stream_fit(const StreamRequest& r) {
  const auto start = Clock::now();
  TableChunks t(r.path, r.read, r.chunk_bytes);
  StreamProgress pr(!r.quiet);
  const auto schema = schema_pass(t, r, pr);
  const double t1 = std::chrono::duration<double>(Clock::now() - start).count(), m1 = peak_mb();
  double ma = 0;
  Fitted f = [&] {
    SufficientStatistics s = accumulate_pass(t, schema, pr);
    pr.clear();
    ma = peak_mb();
    // The per-level tables are written level by level below (--json, --ranef), never held.
    return fit(std::move(s), r.fit, LevelTables::Omit);
  }();
  const double t2 = std::chrono::duration<double>(Clock::now() - start).count(), m2 = peak_mb();
  residual_pass(t, f, r, pr);
  pr.clear();
  if (r.timings)
    std::fprintf(stderr,
                 "lmm: timings: levels pass %.3f s, statistics pass and fit %.3f s, residual pass %.3f s; peak memory "
                 "after the levels %.0f MB, the statistics %.0f MB, the fit %.0f MB, the residuals %.0f MB\n",
                 t1, t2 - t1, std::chrono::duration<double>(Clock::now() - start).count() - t2, m1, ma, m2, peak_mb());
  if (!r.extras.ranef_csv.empty()) write_ranef_blocks(r.extras.ranef_csv, f.model);
  FitExtras save_only = r.extras;
  save_only.ranef_csv.clear();
  write_fit_extras(f, save_only, r.path);
  if (r.json) {
    print_json(std::cout, f.result, [&](SortedObject& j) { add_level_tables_of(j, f.model); });
  } else {
    std::cout << format_summary(f.result, SummaryContext{r.path, {}});
    if (r.anova) std::cout << '\n' << format_anova(f.result);
  }
  return 0;
}

}  // namespace lmm::cli
