// Micro-benchmarks of the engine's two costs: the one pass over the rows that builds the
// cross-product blocks A = [Z X y]'[Z X y] (with the symbolic analysis and the first factor), and
// one evaluation of the profiled objective (update of the blocked Cholesky factor), which must not
// depend on the number of rows. Also the analytic gradient of one-term models.
//   build/bench/engine_bench [--benchmark_filter=...]
// The designs are those of bench/simulate_growth.R and bench/simulate_crossed.R (bench/synthetic.h).
#include <benchmark/benchmark.h>

#include <vector>

#include "lmm/model.h"
#include "lmm/parallel.h"
#include "model/model_access.h"
#include "synthetic.h"

namespace {

// Rows ≈ 0.91 × persons × waves.
void BM_DataPass(benchmark::State& state) {
  lmm::set_num_threads(0);
  const auto frame = lmm::bench::growth_frame(static_cast<int>(state.range(0)), 10);
  for (auto _ : state) {
    state.PauseTiming();
    lmm::ModelFrame f = frame;
    state.ResumeTiming();
    lmm::LinearMixedModel m(std::move(f), lmm::Method::REML);
    benchmark::DoNotOptimize(m.objective());
  }
  state.counters["rows"] = static_cast<double>(frame.n());
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(frame.n()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DataPass)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// One evaluation at alternating θ (so no caching can help): the cost grows with the number of
// persons (one q x q block each), not with the rows per person. Third argument: threads (0: all).
void BM_ObjectiveGrowth(benchmark::State& state) {
  lmm::set_num_threads(static_cast<int>(state.range(2)));
  lmm::LinearMixedModel m(lmm::bench::growth_frame(static_cast<int>(state.range(0)), static_cast<int>(state.range(1))),
                          lmm::Method::REML);
  const std::vector<double> a{0.8, -0.05, 0.3}, b{0.9, -0.04, 0.25};
  bool flip = false;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.set_theta(flip ? a : b));
    flip = !flip;
  }
  state.counters["rows"] = static_cast<double>(m.frame().n());
}
BENCHMARK(BM_ObjectiveGrowth)
    ->Args({10000, 10, 0})
    ->Args({10000, 40, 0})
    ->Args({100000, 10, 0})
    ->Args({100000, 10, 1})
    ->Unit(benchmark::kMicrosecond);

// Second argument: threads (0: all).
void BM_GradientGrowth(benchmark::State& state) {
  lmm::set_num_threads(static_cast<int>(state.range(1)));
  lmm::LinearMixedModel m(lmm::bench::growth_frame(static_cast<int>(state.range(0)), 10), lmm::Method::REML);
  m.set_theta({0.8, -0.05, 0.3});
  for (auto _ : state) benchmark::DoNotOptimize(m.gradient());
}
BENCHMARK(BM_GradientGrowth)->Args({10000, 0})->Args({100000, 0})->Args({100000, 1})->Unit(benchmark::kMicrosecond);

// Crossed subjects x items: the items' diagonal block fills in (dense or sparse Cholesky).
void BM_ObjectiveCrossed(benchmark::State& state) {
  lmm::set_num_threads(0);
  lmm::LinearMixedModel m(lmm::bench::crossed_frame(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)),
                                                    static_cast<int>(state.range(2))),
                          lmm::Method::REML);
  const std::vector<double> a{1.9, 1.4}, b{2.1, 1.5};
  bool flip = false;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.set_theta(flip ? a : b));
    flip = !flip;
  }
  state.counters["rows"] = static_cast<double>(m.frame().n());
}
BENCHMARK(BM_ObjectiveCrossed)->Args({1000, 500, 100})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
