#include "lmm/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <streambuf>
#include <system_error>

#include "lmm/error.h"

namespace lmm {

namespace {

// ---- the temporaries a signal handler must remove ----------------------------------------------
// A fixed table, so that the handler touches only static memory: a slot is claimed (1), its path
// written, then published (2); the handler unlinks the published ones. Writes beyond the table's
// size still work, without the clean-up on a signal.
constexpr std::size_t kSlots = 32;
constexpr std::size_t kPathMax = 4096;
struct Slot {
  std::atomic<int> state{0};
  char path[kPathMax];
};
std::array<Slot, kSlots> g_slots;

extern "C" void remove_temporaries_and_reraise(int sig) {
  for (auto& s : g_slots)
    if (s.state.load() == 2) ::unlink(s.path);  // async-signal-safe
  // The handler was installed with SA_RESETHAND: the disposition is the default again, and the
  // signal (blocked while the handler runs) kills the process as soon as the handler returns.
  ::raise(sig);
}

void install_handlers_once() {
  static std::atomic<bool> done{false};
  if (done.exchange(true)) return;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0 || (old.sa_flags & SA_SIGINFO) != 0 ||
        old.sa_handler != SIG_DFL)
      continue;  // ignored, or a handler of the host program: left alone
    struct sigaction sa {};
    sa.sa_handler = remove_temporaries_and_reraise;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

/// A temporary file next to the target, registered for removal on a signal from before it is
/// created until it is renamed or removed (by the destructor, unless released after the rename).
class Temporary {
 public:
  Temporary() {
    for (std::size_t i = 0; i < kSlots && slot_ < 0; ++i) {
      int expected = 0;
      if (g_slots[i].state.compare_exchange_strong(expected, 1)) slot_ = static_cast<int>(i);
    }
  }
  Temporary(const Temporary&) = delete;
  Temporary& operator=(const Temporary&) = delete;
  ~Temporary() {
    if (fd_ >= 0) ::close(fd_);
    if (created_ && !released_) ::unlink(path_.c_str());
    if (slot_ >= 0) g_slots[static_cast<std::size_t>(slot_)].state.store(0);
  }
  /// Creates a new file (O_EXCL) named after the target, the process and a counter, hidden so that
  /// directory listings do not show it while it is written. Returns false with errno set.
  bool create(const std::filesystem::path& dir, const std::string& name) {
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0; attempt < 100; ++attempt) {
      path_ = (dir / ("." + name + ".tmp." + std::to_string(::getpid()) + "." +
                      std::to_string(counter.fetch_add(1))))
                  .string();
      publish();
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return created_ = true;
      if (errno != EEXIST) break;
    }
    const int err = errno;
    if (slot_ >= 0) g_slots[static_cast<std::size_t>(slot_)].state.store(1);  // not ours
    errno = err;
    return false;
  }
  int fd() const { return fd_; }
  /// Closes the file; returns the error of close(2), 0 if none.
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }
  void release() { released_ = true; }
  const std::string& path() const { return path_; }

 private:
  void publish() {
    if (slot_ < 0) return;
    Slot& s = g_slots[static_cast<std::size_t>(slot_)];
    s.state.store(1);
    if (path_.size() >= kPathMax) return;  // too long to register: no clean-up on a signal
    std::memcpy(s.path, path_.c_str(), path_.size() + 1);
    s.state.store(2);
  }
  std::string path_;
  int slot_ = -1;
  int fd_ = -1;
  bool created_ = false;
  bool released_ = false;
};

[[noreturn]] void fail(const std::string& path, int err) {
  throw Error("cannot write '" + path + "': " + std::generic_category().message(err));
}

// ---- an ostream onto a file descriptor that remembers the first error --------------------------
class FdBuf : public std::streambuf {
 public:
  explicit FdBuf(int fd) : fd_(fd) { setp(buf_.data(), buf_.data() + buf_.size()); }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!drain()) return traits_type::eof();
    if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
    *pptr() = traits_type::to_char_type(ch);
    pbump(1);
    return ch;
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    if (error_ != 0) return false;
    const char* p = pbase();
    std::size_t left = static_cast<std::size_t>(pptr() - pbase());
    while (left > 0) {
      const ssize_t w = ::write(fd_, p, left);
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      p += w;
      left -= static_cast<std::size_t>(w);
    }
    setp(buf_.data(), buf_.data() + buf_.size());
    return true;
  }
  int fd_;
  int error_ = 0;
  std::array<char, 1 << 16> buf_{};
};

/// fsync of the directory, so that the rename is on disk too. Not every file system supports it
/// (EINVAL); that is no reason to fail the write.
void sync_directory(const std::filesystem::path& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  ::fsync(dfd);
  ::close(dfd);
}

std::filesystem::path checked_directory(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw Error("cannot write a file with an empty name");
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(path, EISDIR);
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw Error("cannot write '" + path + "': the directory '" + dir.string() +
                "' does not exist");
  return fs::absolute(dir, ec).lexically_normal();
}

}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream&)>& write) {
  const std::filesystem::path dir = checked_directory(path);
  install_handlers_once();
  Temporary tmp;
  if (!tmp.create(dir, std::filesystem::path(path).filename().string())) fail(path, errno);
  int err = 0;
  {
    FdBuf buf(tmp.fd());
    std::ostream os(&buf);
    write(os);  // if it throws, ~Temporary closes and removes the file
    os.flush();
    err = buf.error() != 0 ? buf.error() : (os ? 0 : EIO);
  }
  // fsync before rename: otherwise a crash of the machine can leave the new name on an empty file.
  if (err == 0 && ::fsync(tmp.fd()) != 0 && errno != EINVAL && errno != EROFS) err = errno;
  const int close_err = tmp.close();
  if (err == 0) err = close_err;
  if (err != 0) fail(path, err);
  if (::rename(tmp.path().c_str(), path.c_str()) != 0) fail(path, errno);
  tmp.release();
  sync_directory(dir);
}

void write_file_atomically(const std::string& path, std::string_view content) {
  write_file_atomically(path, [content](std::ostream& os) {
    os.write(content.data(), static_cast<std::streamsize>(content.size()));
  });
}

}  // namespace lmm
