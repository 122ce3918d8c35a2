#include "atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "lmm/error.h"

namespace lmm::cli {

namespace {

// The temporary file being written, for the signal handler to remove. One at a time: the CLI
// writes its outputs one after another on one thread.
char g_tmp_path[4096];
volatile std::sig_atomic_t g_tmp_active = 0;

extern "C" void remove_tmp_and_reraise(int sig) {
  if (g_tmp_active) ::unlink(g_tmp_path);  // async-signal-safe
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_handlers_once() {
  static std::atomic<bool> done{false};
  if (done.exchange(true)) return;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    ::sigaction(sig, nullptr, &old);
    if (old.sa_handler != SIG_DFL) continue;  // leave a handler someone else installed alone
    struct sigaction sa {};
    sa.sa_handler = remove_tmp_and_reraise;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

[[noreturn]] void fail(const std::string& path, int err) {
  throw Error("cannot write '" + path + "': " + std::generic_category().message(err));
}

class TmpGuard {
 public:
  explicit TmpGuard(const std::string& p) {
    std::snprintf(g_tmp_path, sizeof g_tmp_path, "%s", p.c_str());
    g_tmp_active = 1;
  }
  ~TmpGuard() {
    if (g_tmp_active) ::unlink(g_tmp_path);
    g_tmp_active = 0;
  }
  void release() { g_tmp_active = 0; }
};

}  // namespace

void write_file_atomic(const std::string& path, std::string_view content) {
  if (path.empty()) throw Error("cannot write a file with an empty name");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(path, EISDIR);
  // Same directory as the target, so that rename() does not cross file systems; the pid keeps two
  // runs writing the same file from clobbering each other's temporary.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  if (tmp.size() >= sizeof g_tmp_path) fail(path, ENAMETOOLONG);
  install_handlers_once();
  TmpGuard guard(tmp);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;
    guard.release();  // nothing was created
    fail(path, err);
  }
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail(path, err);
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  // fsync before rename: otherwise a crash of the machine can leave the new name on an empty file.
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    const int err = errno;
    ::close(fd);
    fail(path, err);
  }
  if (::close(fd) != 0) fail(path, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(path, errno);
  guard.release();
}

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::ostringstream os;
  write(os);
  write_file_atomic(path, os.view());
}

}  // namespace lmm::cli
