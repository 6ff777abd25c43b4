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

// One call (or a few) into the BLAS library, admitted by begin() and held until destroyed.
// At exit ndgrad waits for the calls held on other threads before OpenBLAS's own shutdown runs
// (that shutdown hangs forever when a call is in flight: its worker finishes the call and then
// sleeps through the stop), and admits no new ones: the caller then takes its portable path.
// begin() also gives OpenBLAS ndgrad's thread count when it changed since the last call, so
// that the thread pool (in core) never calls up into the kernels. A program that never
// multiplies matrices never loads OpenBLAS or its threads.
class BlasCall {
 public:
  BlasCall() = default;
  BlasCall(const BlasCall&) = delete;
  BlasCall& operator=(const BlasCall&) = delete;
  ~BlasCall();
  // True when BLAS is loaded and may be called now; false once the process is exiting.
  bool begin();

 private:
  bool held_ = false;
};
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
