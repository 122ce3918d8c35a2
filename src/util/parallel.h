// Chunked parallel loops for the engine (a pool of sleeping threads, in parallel.cpp).
#pragma once
#include <cstddef>
#include <functional>

namespace lmm::detail {

/// The number of chunks to split `n` items into: fixed by n alone (never by the thread count), so
/// that sums over chunks, added in chunk order, give the same result with any number of threads.
int chunk_count(std::size_t n, std::size_t min_per_chunk);

/// Item range [begin, end) of chunk c of nchunks over n items.
inline std::size_t chunk_begin(std::size_t n, int nchunks, int c) {
  return n * static_cast<std::size_t>(c) / static_cast<std::size_t>(nchunks);
}

/// Calls f(c) for c in [0, nchunks) on up to num_threads() threads (serially when nested inside
/// another parallel loop, when another thread is running one, or when nchunks is 1).
void parallel_for(int nchunks, const std::function<void(int)>& f);

}  // namespace lmm::detail
