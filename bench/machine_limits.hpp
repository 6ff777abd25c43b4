#pragma once
// The two calls that measure the machine's limits, shared by bench_limits (on their own) and
// vs_torch (in the same rounds as a workload).
#include <cstdint>

#include "core/thread_pool.hpp"
#include "kernels/cpu/blas.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad::bench {

// One STREAM-like triad a = b + 3c over n floats (12 bytes an element), split over ndgrad's
// threads.
inline void triad(float* a, const float* b, const float* c, int64_t n) {
  const int parts = get_num_threads();
  parallel_for(parts, [&](int64_t part) {
    const int64_t lo = n * part / parts, hi = n * (part + 1) / parts;
    float* __restrict pa = a;
    const float* __restrict pb = b;
    const float* __restrict pc = c;
    for (int64_t i = lo; i < hi; ++i) pa[i] = pb[i] + 3.0f * pc[i];
  });
}

// One product z = x y of row-major m x m float matrices through the BLAS ndgrad loaded (check
// kernels::blas().loaded() first); 2 m^3 flops.
inline void sgemm_square(int m, const float* x, const float* y, float* z) {
  kernels::blas().sgemm(101, 111, 111, m, m, m, 1.0f, x, m, y, m, 0.0f, z, m);
}

}  // namespace ndgrad::bench
