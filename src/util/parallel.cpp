#include "util/parallel.h"

#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "lmm/parallel.h"

namespace lmm {

namespace {
std::atomic<int> g_threads{0};
}

void set_num_threads(int n) {
  g_threads = n > 0 ? n : 0;
  // Eigen's own parallel products (dense blocks of crossed models) follow the same setting.
  Eigen::setNbThreads(num_threads());
}

int num_threads() {
  const int n = g_threads.load();
  if (n > 0) return n;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

namespace detail {

int chunk_count(std::size_t n, std::size_t min_per_chunk) {
  constexpr std::size_t kMaxChunks = 64;
  if (min_per_chunk == 0) min_per_chunk = 1;
  return static_cast<int>(std::clamp<std::size_t>(n / min_per_chunk, 1, kMaxChunks));
}

namespace {

// True on a pool worker and on a thread inside parallel_for: a nested loop runs serially.
thread_local bool t_in_parallel = false;

// A pool of threads that sleep on a condition variable between loops, and a caller that does not
// wait for a sleeping worker to wake. OpenMP's teams (used before) spin after each loop and make
// the caller wait at the closing barrier for every thread of the team; on a machine whose cores
// are busy with other processes (builds, other fits) a spinning or descheduled worker held up each
// of the optimizer's loops by milliseconds, and two threads were twice as slow as one. Here the
// caller claims chunks too, and once every chunk is claimed it waits only for the workers that are
// running one; a worker that wakes after that finds the loop closed and goes back to sleep.
class Pool {
 public:
  // Runs f(c) for every chunk c on the caller and up to `helpers` workers; false (nothing run) if
  // another thread is using the pool.
  bool run(int nchunks, int helpers, const std::function<void(int)>& f) {
    std::unique_lock<std::mutex> use(use_, std::try_to_lock);
    if (!use.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(workers_.size()) < helpers) {
        const int id = static_cast<int>(workers_.size());
        workers_.emplace_back([this, id] { work(id); });
        workers_.back().detach();  // the pool lives until the process ends
      }
      f_ = &f;
      nchunks_ = nchunks;
      next_ = 0;
      helpers_ = helpers;
      error_ = nullptr;
      open_ = true;
      ++generation_;
    }
    wake_.notify_all();
    t_in_parallel = true;
    run_chunks();
    t_in_parallel = false;
    std::exception_ptr error;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      open_ = false;  // every chunk is claimed: late workers stay out
      done_.wait(lock, [this] { return active_ == 0; });
      f_ = nullptr;
      error = error_;
    }
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  void run_chunks() {
    for (int c = next_.fetch_add(1); c < nchunks_; c = next_.fetch_add(1)) {
      try {
        (*f_)(c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  void work(int id) {
    t_in_parallel = true;
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return open_ && generation_ != seen; });
      seen = generation_;
      if (id >= helpers_) continue;
      ++active_;
      lock.unlock();
      run_chunks();
      lock.lock();
      if (--active_ == 0) done_.notify_all();
    }
  }

  std::mutex use_;    // one loop at a time
  std::mutex mutex_;  // guards everything below but next_
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* f_ = nullptr;
  int nchunks_ = 0;
  std::atomic<int> next_{0};
  int helpers_ = 0;
  int active_ = 0;  // workers inside run_chunks()
  bool open_ = false;
  std::uint64_t generation_ = 0;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: detached workers may still wait on it at exit
  return *p;
}

}  // namespace

void parallel_for(int nchunks, const std::function<void(int)>& f) {
  const int threads = std::min(num_threads(), nchunks);
  if (threads > 1 && !t_in_parallel && pool().run(nchunks, threads - 1, f)) return;
  for (int c = 0; c < nchunks; ++c) f(c);
}

}  // namespace detail
}  // namespace lmm
