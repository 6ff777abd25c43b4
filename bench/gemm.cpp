// ndgrad's own float32 GEMM (src/kernels/cpu/sgemm.*) against OpenBLAS with its AVX-512
// kernels, interleaved in one process (rounds of ~100 ms: own, OpenBLAS, own, ...; medians), on
// the products of the MLP workloads (batch 64 and 128, the weight gradients with a transposed
// left operand, the input gradients with a transposed right one) and on 1024^3. Prints GFLOP/s
// and own/OpenBLAS.
// Usage: bench_gemm [--threads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/sgemm.hpp"
#include "ndgrad/threads.hpp"

namespace {

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Shape {
  int m, n, k;
  bool a_transposed, b_transposed;
  const char* what;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  ndgrad::set_num_threads(std::max(1, threads));
  using namespace ndgrad::kernels;
  if (!own_sgemm_available()) {
    std::printf("bench_gemm: this CPU has no AVX-512; float32 products use OpenBLAS\n");
    return 0;
  }
  if (!blas().loaded()) {
    std::printf("bench_gemm: no OpenBLAS to compare with\n");
    return 0;
  }
  const Shape shapes[] = {
      {128, 256, 784, false, false, "x @ W1, batch 128"},
      {784, 256, 128, true, false, "dW1 = x^T @ dy, batch 128"},
      {128, 128, 256, false, false, "h1 @ W2, batch 128"},
      {128, 256, 128, false, true, "dh1 = dy @ W2^T, batch 128"},
      {128, 10, 128, false, false, "h2 @ W3 (10 outputs)"},
      {128, 10, 128, true, false, "dW3 = h2^T @ dy"},
      {128, 128, 10, false, true, "dh2 = dy @ W3^T"},
      {64, 256, 784, false, false, "x @ W1, batch 64"},
      {784, 256, 64, true, false, "dW1 = x^T @ dy, batch 64"},
      {1024, 1024, 1024, false, false, "1024^3"},
      {1024, 1024, 1024, false, true, "1024^3, b^T (W5's dA)"},
      {1024, 1024, 1024, true, false, "1024^3, a^T (W5's dB)"},
  };
  std::printf("own float32 GEMM vs OpenBLAS (%s kernels), %d thread%s, interleaved medians\n",
              blas_corename(), threads, threads > 1 ? "s" : "");
  for (const Shape& s : shapes) {
    // Operands stored as the op hands them over: a transposed operand is the other one's
    // row-major storage read with swapped strides.
    std::vector<float> a(size_t(s.m) * s.k), b(size_t(s.k) * s.n), c(size_t(s.m) * s.n);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = float((i * 104729) % 1000) / 1000.0f - 0.5f;
    const int64_t as0 = s.a_transposed ? 1 : s.k, as1 = s.a_transposed ? s.m : 1;
    const int64_t bs0 = s.b_transposed ? 1 : s.n, bs1 = s.b_transposed ? s.k : 1;
    auto own = [&] {
      own_sgemm(s.m, s.n, s.k, a.data(), as0, as1, b.data(), bs0, bs1, c.data(), s.n);
    };
    auto openblas = [&] {
      blas().sgemm(101, s.a_transposed ? 112 : 111, s.b_transposed ? 112 : 111, s.m, s.n, s.k, 1.0f,
                   a.data(), s.a_transposed ? s.m : s.k, b.data(), s.b_transposed ? s.k : s.n, 0.0f,
                   c.data(), s.n);
    };
    const double flop = 2.0 * s.m * s.n * s.k;
    // ~100 ms per side per round: the other library's idle threads (OpenBLAS's spin for a
    // while after each call, ndgrad's poll for 100 us) disturb only the start of a round.
    const int reps = std::max(4, int(1e10 / flop));
    own();
    openblas();
    std::vector<double> t_own, t_blas;
    for (int r = 0; r < 11; ++r) {
      double t0 = seconds_now();
      for (int i = 0; i < reps; ++i) own();
      double t1 = seconds_now();
      for (int i = 0; i < reps; ++i) openblas();
      double t2 = seconds_now();
      t_own.push_back((t1 - t0) / reps);
      t_blas.push_back((t2 - t1) / reps);
    }
    std::sort(t_own.begin(), t_own.end());
    std::sort(t_blas.begin(), t_blas.end());
    const double o = t_own[t_own.size() / 2], bl = t_blas[t_blas.size() / 2];
    std::printf(
        "%-28s %4dx%4dx%4d  own %6.1f GFLOP/s  OpenBLAS %6.1f GFLOP/s  own/OpenBLAS %.2fx\n",
        s.what, s.m, s.n, s.k, flop / o / 1e9, flop / bl / 1e9, bl / o);
  }
}
