// Writing output files so that a reader never sees a half-written one. Every file lmm writes goes
// through here: the content goes to a new temporary file in the target's directory (so the rename
// stays within one file system), is flushed to disk (fsync of the file), renamed over the target
// (rename(2) replaces the name atomically; a hard link to the old file keeps the old content), and
// the directory is fsynced so the rename itself survives a crash. If writing fails part-way (disk
// full, file-size limit, a throwing producer) the temporary is removed and the target is untouched.
// While a temporary exists, SIGINT, SIGTERM and SIGHUP remove it before the process dies of the
// signal: on the first write, handlers are installed for those of the three signals whose
// disposition is still the default (a handler the host program installed is left alone).
//
//     lmm::write_file_atomically(path, json_text);
//     lmm::write_file_atomically(path, [&](std::ostream& os) { lmm::write_csv(table, os); });
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace lmm {

/// Writes `content` to `path` atomically. Throws lmm::Error ("cannot write '<path>': <reason>")
/// when the directory does not exist or is not writable, the disk is full, or `path` is a
/// directory. The new file gets the usual permissions (0666 minus the umask). Thread-safe for
/// different targets.
void write_file_atomically(const std::string& path, std::string_view content);

/// The same, with the content streamed by `write` straight into the temporary file (nothing is
/// held in memory). If `write` throws, the temporary is removed, the target is untouched and the
/// exception propagates.
void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream&)>& write);

}  // namespace lmm
