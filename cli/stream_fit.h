// `lmm fit --stream`: a CSV/TSV file fitted in chunks through sufficient statistics
// (lmm/statistics.h), with memory bounded by the statistics and the output, not the rows.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "fit_extras.h"
#include "lmm/data.h"
#include "lmm/fit.h"

namespace lmm::cli {

struct StreamRequest {
  std::string path, formula;
  ReadOptions read;
  FitOptions fit;
  FitExtras extras;        ///< --ranef and --save (centering is refused)
  std::string residuals;   ///< --residuals FILE, written in the second pass
  bool json = false, anova = false, quiet = false, timings = false;
  std::size_t chunk_bytes = 16 << 20;
};

/// True with --stream, or when the file is larger than an eighth of the memory available
/// (MemAvailable in /proc/meminfo): reading it whole takes about eight times its size. Says so on
/// stderr when it decides by itself (unless quiet).
bool should_stream(bool stream_flag, const std::string& path, bool quiet);

/// Three passes over the file: the levels and a sample for the schema, the statistics, and the
/// residuals (their quantiles for the summary, and --residuals). Prints the summary or --json.
int run_stream_fit(const StreamRequest& request);

}  // namespace lmm::cli
