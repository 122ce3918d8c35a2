// Reading a CSV or TSV file in chunks of rows, for data larger than memory: each chunk is a table
// with the file's header, read by the same reader as read_table() (lmm/data.h), so a chunk's
// columns, missing codes and quoting are read exactly as the whole file's would be.
#pragma once
#include <cstddef>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "lmm/data.h"

namespace lmm {

class TableChunks {
 public:
  /// Opens `path` and reads its header. Chunks hold about `chunk_bytes` of text (whole records;
  /// quoted line breaks stay inside their record). Throws lmm::Error for a missing, empty or
  /// gzip-compressed file.
  explicit TableChunks(const std::string& path, const ReadOptions& options = {}, std::size_t chunk_bytes = 32 << 20);

  /// The next chunk, or false at the end of the file. Messages about a chunk's cells name the file
  /// and the line the chunk starts at.
  bool next(DataFrame& chunk);
  /// The raw text of record i of the last chunk (row i of its table), without its line break.
  std::string_view record(std::size_t i) const { return {text_.data() + starts_[i], ends_[i] - starts_[i]}; }
  /// The header line and the delimiter the file is read with.
  const std::string& header() const { return header_; }
  char delimiter() const { return options_.delimiter; }
  const ReadOptions& options() const { return options_; }
  std::size_t rows_read() const { return rows_; }
  std::size_t bytes_read() const { return bytes_; }
  std::size_t file_size() const { return size_; }
  /// Starts again at the first row after the header.
  void rewind();

 private:
  void fill();
  std::string path_;
  ReadOptions options_;
  std::size_t chunk_bytes_;
  std::ifstream in_;
  std::string header_, pending_, text_;
  std::vector<std::size_t> starts_, ends_;
  std::size_t data_offset_ = 0, rows_ = 0, bytes_ = 0, size_ = 0, line_ = 2;
  bool eof_ = false;
};

}  // namespace lmm
