#pragma once
// BLAS, found at run time: ndgrad opens OpenBLAS itself on first use, so it can ask for the
// AVX-512 kernels that OpenBLAS 0.3.21 fails to pick on CPUs it does not recognise, without
// the user setting environment variables, and so that a machine without BLAS still runs.
#include <cstdint>

namespace ndgrad::kernels {

struct Blas {
  using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
  using Dgemm = void (*)(int, int, int, int, int, int, double, const double*, int, const double*,
                         int, double, double*, int);
  Sgemm sgemm = nullptr;
  Dgemm dgemm = nullptr;
  void (*set_num_threads)(int) = nullptr;
  const char* (*corename)() = nullptr;
  void* handle = nullptr;  // the library, for LAPACK's symbols (kernels/cpu/decompose.cpp)
  bool loaded() const { return sgemm && dgemm; }
};

// Loaded once, thread-safely; loaded() is false when no BLAS was found (or NDGRAD_NO_BLAS is
// set, or the build disabled it).
const Blas& blas();
// Gives OpenBLAS ndgrad's thread count (set_num_threads) when it changed since the last call:
// called before each BLAS product, so that the thread pool (in core) never calls up into
// the kernels. A program that never multiplies matrices never loads OpenBLAS or its threads.
void blas_sync_threads();
// OpenBLAS's name for the kernels it uses ("SkylakeX", "Haswell", ...), or "none".
const char* blas_corename();

// CBLAS's constants for a row-major product.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

// How a rows x cols matrix with element strides (s0, s1), one of them 1, is described to BLAS:
// transposed or not, and its leading dimension.
struct Layout {
  bool trans;
  int64_t ld;
};
inline Layout layout_of(int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  const int64_t c = cols > 1 ? cols : 1, r = rows > 1 ? rows : 1;
  if ((cols == 1 || s1 == 1) && (rows == 1 || s0 >= c)) return {false, rows == 1 ? c : s0};
  return {true, cols == 1 ? r : s1};
}

}  // namespace ndgrad::kernels
