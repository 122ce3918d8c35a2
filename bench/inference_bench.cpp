// Satterthwaite and Kenward-Roger on a 100,000-row random-slope model y ~ time * group + (time | id),
// simulated as bench/simulate_growth.R does (N persons x T waves, random intercept and slope
// with correlation -0.3, a treatment group, 10% of non-baseline rows missing): 11,000 persons x 10
// waves, about 100,100 rows. The model is fitted once; each benchmark times one computation.
//   build/bench/inference_bench [--persons=N] [--waves=T] [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "lmm/fit.h"
#include "lmm/inference.h"
#include "synthetic.h"

namespace {

int g_persons = 11000;
int g_waves = 10;

lmm::LinearMixedModel& fitted_model() {
  static std::unique_ptr<lmm::LinearMixedModel> model = [] {
    auto m = std::make_unique<lmm::LinearMixedModel>(lmm::bench::growth_frame(g_persons, g_waves, 20261125), lmm::Method::REML);
    m->fit();
    return m;
  }();
  return *model;
}

void set_counters(benchmark::State& state) {
  state.counters["rows"] = static_cast<double>(fitted_model().frame().n());
  state.counters["levels"] = static_cast<double>(fitted_model().frame().re[0].nlevels());
}

// Satterthwaite: the Hessian and Jacobian in (θ, σ) (113 objective evaluations for 4 parameters)
// and the t tests of the 4 coefficients.
void BM_Satterthwaite(benchmark::State& state) {
  auto& m = fitted_model();
  for (auto _ : state) {
    lmm::Satterthwaite s(m);
    for (std::size_t i = 0; i < 4; ++i) {
      std::vector<double> c(4, 0.0);
      c[i] = 1;
      benchmark::DoNotOptimize(s.test(c));
    }
  }
  set_counters(state);
}
BENCHMARK(BM_Satterthwaite)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Kenward-Roger: the adjusted covariance level by level and the df of the 4 coefficients.
void BM_KenwardRoger(benchmark::State& state) {
  auto& m = fitted_model();
  for (auto _ : state) {
    lmm::KenwardRoger kr(m);
    for (std::size_t i = 0; i < 4; ++i) {
      std::vector<double> c(4, 0.0);
      c[i] = 1;
      benchmark::DoNotOptimize(kr.test(c));
    }
  }
  set_counters(state);
}
BENCHMARK(BM_KenwardRoger)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// For scale: the REML fit itself, from lme4's start.
void BM_Fit(benchmark::State& state) {
  const lmm::ModelFrame frame = lmm::bench::growth_frame(g_persons, g_waves, 20261125);
  for (auto _ : state) {
    lmm::LinearMixedModel m(frame, lmm::Method::REML);
    benchmark::DoNotOptimize(m.fit());
  }
}
BENCHMARK(BM_Fit)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

int main(int argc, char** argv) {
  // --persons=N and --waves=T (ours), the rest for Google Benchmark.
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--persons=", 10) == 0) {
      g_persons = std::stoi(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--waves=", 8) == 0) {
      g_waves = std::stoi(argv[i] + 8);
    } else {
      rest.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
