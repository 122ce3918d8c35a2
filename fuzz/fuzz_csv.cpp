// libFuzzer target for the CSV/TSV reader: parse_table must either return a well-formed table or
// throw lmm::Error with a one-line message; anything else (a crash, a sanitizer report, another
// exception, a broken invariant) is a finding. The input is parsed three times: with the delimiter
// sniffed, as CSV and as TSV.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lmm/data.h"
#include "lmm/error.h"

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_csv: invariant violated: %s\n", what);
  std::abort();
}

void check(const lmm::DataFrame& df) {
  for (const lmm::Column& c : df.columns) {
    if (c.name.empty()) violated("empty column name");
    if (c.size() != df.nrows) violated("column length differs from nrows");
    if (c.is_numeric()) {
      if (!c.codes.empty() || !c.levels.empty()) violated("numeric column with levels");
      continue;
    }
    for (std::size_t i = 1; i < c.levels.size(); ++i)
      if (!(c.levels[i - 1] < c.levels[i])) violated("levels not sorted and distinct");
    for (std::int32_t code : c.codes)
      if (code < -1 || code >= static_cast<std::int32_t>(c.levels.size())) violated("code out of range");
    for (std::size_t r = 0; r < df.nrows; ++r) (void)c.missing(r);
  }
  if (!df.columns.empty()) (void)df.find(df.columns.back().name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (char delimiter : {'\0', ',', '\t'}) {
    try {
      check(lmm::parse_table(text, delimiter, "fuzz.csv"));
    } catch (const lmm::Error& e) {
      const std::string_view msg = e.what();
      if (msg.empty() || msg.find('\n') != std::string_view::npos) violated("error message empty or not one line");
    }
  }
  return 0;
}
