#include "kernels/cpu/fast_math.hpp"

namespace ndgrad::kernels {

// Not under sanitizers: their runtimes are not ready when ifunc resolvers run at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define NDGRAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NDGRAD_CLONES
#endif

NDGRAD_CLONES void exp_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_f32(x[i]);
}
NDGRAD_CLONES void tanh_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_f32(x[i]);
}
NDGRAD_CLONES void sigmoid_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = sigmoid_f32(x[i]);
}

}  // namespace ndgrad::kernels
