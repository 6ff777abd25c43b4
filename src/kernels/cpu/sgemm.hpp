#pragma once
// ndgrad's own float32 matrix product for CPUs with AVX-512. On the small and medium shapes of
// training (a batch of 64-128 rows against layers of 10-1000 units) OpenBLAS 0.3.21 spends a
// quarter of its time packing both operands and zero-filling the result; this one reads the
// left operand in place when its rows are contiguous, packs only the right one, and splits the
// work over ndgrad's own threads. Other CPUs and float64 keep OpenBLAS (blas.hpp).
#include <cstdint>

namespace ndgrad::kernels {

// True when the CPU runs AVX-512F and the build has the kernel; decided once.
bool own_sgemm_available();

// c (m x n, row-major, row stride ldc) = a (m x k) * b (k x n), where element (i, p) of a is
// a[i * as0 + p * as1] and element (p, j) of b is b[p * bs0 + j * bs1] (any strides; unit
// ones are the fast cases). m, n, k >= 1. Large products are split over the thread pool.
// accumulate: c += a * b instead (convolution's weight gradient sums a product per image);
// else a non-null row_bias adds row_bias[i] to each element of row i (convolution's bias).
// Call only when own_sgemm_available().
void own_sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t as0, int64_t as1,
               const float* b, int64_t bs0, int64_t bs1, float* c, int64_t ldc,
               bool accumulate = false, const float* row_bias = nullptr);

}  // namespace ndgrad::kernels
