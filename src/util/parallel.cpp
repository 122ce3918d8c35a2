#include "util/parallel.h"

#include <omp.h>

#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

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

void parallel_for(int nchunks, const std::function<void(int)>& f) {
  const int threads = std::min(num_threads(), nchunks);
  if (threads <= 1 || omp_in_parallel()) {
    for (int c = 0; c < nchunks; ++c) f(c);
    return;
  }
  // Exceptions must not leave an OpenMP region: keep the first and rethrow it afterwards.
  std::exception_ptr error;
  std::mutex mutex;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int c = 0; c < nchunks; ++c) {
    try {
      f(c);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace detail
}  // namespace lmm
