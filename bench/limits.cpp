// The physical limits of this machine, measured: STREAM-like triad bandwidth (a = b + s*c,
// 64M floats, 12 bytes an element) and sgemm GFLOP/s through the BLAS ndgrad loads, on 1 and
// 2 threads. Benchmarks report ndgrad as a fraction of these.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "machine_limits.hpp"
#include "ndgrad/ndgrad.hpp"

using Clock = std::chrono::steady_clock;

namespace {

double best_of(int reps, const std::function<void()>& f) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main() {
  const int64_t n = 64 << 20;
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  for (int threads : {1, 2}) {
    ndgrad::set_num_threads(threads);
    const double t = best_of(5, [&] { ndgrad::bench::triad(a.data(), b.data(), c.data(), n); });
    std::printf("triad, %d thread%s: %.1f GB/s\n", threads, threads > 1 ? "s" : "",
                12.0 * n / t / 1e9);
  }
  if (!ndgrad::kernels::blas().loaded()) {
    std::printf("sgemm: no BLAS found\n");
    return 0;
  }
  const int m = 2048;
  std::vector<float> x(size_t(m) * m, 1.0f), y(size_t(m) * m, 1.0f), z(size_t(m) * m);
  for (int threads : {1, 2}) {
    ndgrad::set_num_threads(threads);
    const double t =
        best_of(3, [&] { ndgrad::bench::sgemm_square(m, x.data(), y.data(), z.data()); });
    std::printf("sgemm %d^3 (OpenBLAS, %s kernels), %d thread%s: %.0f GFLOP/s\n", m,
                ndgrad::kernels::blas_corename(), threads, threads > 1 ? "s" : "",
                2.0 * m * m * m / t / 1e9);
  }
}
