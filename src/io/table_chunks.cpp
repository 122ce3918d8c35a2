// TableChunks: a CSV/TSV file read in chunks of whole records, each parsed by parse_table() with
// the file's header and one delimiter for the whole file.
#include "lmm/table_chunks.h"

#include <algorithm>
#include <fmt/format.h>

#include "lmm/error.h"

namespace lmm {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const std::string_view x(suffix);
  return s.size() >= x.size() && std::equal(x.rbegin(), x.rend(), s.rbegin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

// As read_table(): by extension, else a comma unless the header has none but has ';', tab or '|'.
char choose_delimiter(const std::string& path, const std::string& header) {
  if (ends_with(path, ".tsv") || ends_with(path, ".tab")) return '\t';
  if (header.find(',') != std::string::npos) return ',';
  char best = ',';
  std::ptrdiff_t most = 0;
  for (char c : {';', '\t', '|'}) {
    const auto k = std::count(header.begin(), header.end(), c);
    if (k > most) most = k, best = c;
  }
  return best;
}

bool blank(std::string_view r, char delim) {
  return std::all_of(r.begin(), r.end(), [&](char c) { return c == ' ' || c == '\r' || (c == '\t' && delim != '\t'); });
}

}  // namespace

TableChunks::TableChunks(const std::string& path, const ReadOptions& options, std::size_t chunk_bytes)
    : path_(path), options_(options), chunk_bytes_(std::max<std::size_t>(chunk_bytes, 1024)) {
  in_.open(path, std::ios::binary);
  if (!in_) throw Error(fmt::format("{}: cannot open the file", path));
  in_.seekg(0, std::ios::end);
  size_ = static_cast<std::size_t>(in_.tellg());
  in_.seekg(0);
  if (!std::getline(in_, header_) || header_.find_first_not_of(" \t\r") == std::string::npos)
    throw Error(fmt::format("{}: the file is empty", path));
  if (header_.size() >= 2 && static_cast<unsigned char>(header_[0]) == 0x1f && static_cast<unsigned char>(header_[1]) == 0x8b)
    throw Error(fmt::format("{}: the file is gzip-compressed; decompress it first", path));
  if (header_.starts_with("\xEF\xBB\xBF")) header_.erase(0, 3);
  if (!header_.empty() && header_.back() == '\r') header_.pop_back();
  data_offset_ = static_cast<std::size_t>(in_.tellg());
  if (!options_.delimiter) options_.delimiter = choose_delimiter(path, header_);
}

void TableChunks::rewind() {
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(data_offset_));
  pending_.clear();
  eof_ = false;
  rows_ = bytes_ = 0;
  line_ = 2;
}

// Reads about chunk_bytes_ more into pending_ (eof_ at the end of the file).
void TableChunks::fill() {
  const std::size_t old = pending_.size();
  pending_.resize(old + chunk_bytes_);
  in_.read(pending_.data() + old, static_cast<std::streamsize>(chunk_bytes_));
  pending_.resize(old + static_cast<std::size_t>(in_.gcount()));
  if (!in_) eof_ = true;
}

bool TableChunks::next(DataFrame& chunk) {
  starts_.clear();
  ends_.clear();
  std::size_t cut = 0, lines = 0;
  while (true) {
    while (!eof_ && pending_.size() < chunk_bytes_ + cut) fill();
    // Whole records: a line break outside quotes ends one.
    bool quoted = false;
    std::size_t start = 0;
    lines = 0;
    starts_.clear();
    ends_.clear();
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const char c = pending_[i];
      if (c == '"') quoted = !quoted;
      if (c != '\n' || quoted) continue;
      ++lines;
      starts_.push_back(start), ends_.push_back(i);
      start = i + 1;
    }
    cut = start;
    if (eof_ && start < pending_.size()) starts_.push_back(start), ends_.push_back(pending_.size()), cut = pending_.size();
    if (!starts_.empty() || eof_) break;
    cut = pending_.size();  // one record longer than a chunk: read on
  }
  // Offsets into text_ (header, line break, records); blank records are not rows (parse_table skips them).
  text_ = header_ + '\n';
  text_.append(pending_, 0, cut);
  const std::size_t base = header_.size() + 1;
  std::size_t kept = 0;
  for (std::size_t r = 0; r < starts_.size(); ++r) {
    std::size_t e = ends_[r];
    if (e > starts_[r] && pending_[e - 1] == '\r') --e;
    if (blank(std::string_view(pending_).substr(starts_[r], e - starts_[r]), options_.delimiter)) continue;
    starts_[kept] = base + starts_[r], ends_[kept] = base + e, ++kept;
  }
  starts_.resize(kept), ends_.resize(kept);
  pending_.erase(0, cut);
  bytes_ += cut;
  const std::size_t first_line = line_;
  line_ += lines;
  if (kept == 0) {
    if (eof_ && pending_.empty()) return false;
    return next(chunk);
  }
  chunk = parse_table(text_, options_, fmt::format("{} (chunk from line {})", path_, first_line));
  rows_ += kept;
  return true;
}

}  // namespace lmm
