// Microbenchmarks of the kernels and the engine (Google Benchmark). Bytes/s counters make
// bandwidth-bound results comparable with bench/limits.
#include <benchmark/benchmark.h>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

static void elementwise_contiguous(benchmark::State& s) {
  const int64_t n = s.range(0);
  Tensor a = randn({n}, 1), b = randn({n}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(a * b);
  s.SetBytesProcessed(s.iterations() * n * 12);
}
BENCHMARK(elementwise_contiguous)->Arg(64)->Arg(1 << 12)->Arg(1 << 20)->Arg(1 << 24);

static void elementwise_transposed(benchmark::State& s) {
  const int64_t n = s.range(0);
  Tensor a = randn({n, n}, 1), b = randn({n, n}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(a.T() + b);
  s.SetBytesProcessed(s.iterations() * n * n * 12);
}
BENCHMARK(elementwise_transposed)->Arg(256)->Arg(2048);

static void elementwise_broadcast_row(benchmark::State& s) {
  const int64_t n = s.range(0);
  Tensor a = randn({n, n}, 1), b = randn({n}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(a + b);
  s.SetBytesProcessed(s.iterations() * n * n * 8);
}
BENCHMARK(elementwise_broadcast_row)->Arg(256)->Arg(4096);

static void tanh_contiguous(benchmark::State& s) {
  const int64_t n = s.range(0);
  Tensor a = randn({n}, 1);
  for (auto _ : s) benchmark::DoNotOptimize(tanh(a));
  s.SetItemsProcessed(s.iterations() * n);
}
BENCHMARK(tanh_contiguous)->Arg(1 << 20);

static void reduce_axis(benchmark::State& s) {
  const int64_t n = s.range(0), axis = s.range(1);
  Tensor a = randn({n, n}, 1);
  for (auto _ : s) benchmark::DoNotOptimize(a.sum({axis}));
  s.SetBytesProcessed(s.iterations() * n * n * 4);
}
BENCHMARK(reduce_axis)->Args({4096, 0})->Args({4096, 1})->Args({256, 0})->Args({256, 1});

static void matmul_square(benchmark::State& s) {
  const int64_t n = s.range(0);
  Tensor a = randn({n, n}, 1), b = randn({n, n}, 2);
  for (auto _ : s) benchmark::DoNotOptimize(matmul(a, b));
  s.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * s.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(matmul_square)->Arg(64)->Arg(256)->Arg(1024);

static void engine_per_node(benchmark::State& s) {  // 100 recorded ops on 8x8, then backward
  Tensor x = randn({8, 8}, 1).requires_grad_();
  for (auto _ : s) {
    Tensor y = x;
    for (int i = 0; i < 50; ++i) y = y * x + x;
    y.sum().backward();
    x.zero_grad();
  }
  s.SetItemsProcessed(s.iterations() * 101);
}
BENCHMARK(engine_per_node);

BENCHMARK_MAIN();
