// Writing output files so that a reader never sees a half-written one: the content goes to a
// temporary file next to the target, is flushed to disk, and is renamed over the target
// (rename(2) is atomic within a file system). If lmm fails or is interrupted (SIGINT, SIGTERM,
// SIGHUP) before the rename, the target is untouched and the temporary file is removed.
//
//     cli::write_file_atomic(path, json_text);
//     cli::write_file_atomic(path, [&](std::ostream& os) { os << table; });
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace lmm::cli {

/// Writes `content` to `path` atomically. Throws lmm::Error ("cannot write '<path>': <reason>")
/// when the directory does not exist or is not writable, the disk is full, or `path` is a directory.
/// The new file gets the usual permissions (0666 minus the umask).
void write_file_atomic(const std::string& path, std::string_view content);

/// The same, with the content produced by `write` on a stream. If `write` throws, nothing is
/// written and the exception propagates.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace lmm::cli
