#include "kernels/cpu/fast_math.hpp"

#include "kernels/cpu/clones.hpp"

namespace ndgrad::kernels {

NDGRAD_CLONES void exp_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_f32(x[i]);
}
NDGRAD_CLONES void tanh_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_f32(x[i]);
}
NDGRAD_CLONES void sigmoid_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = sigmoid_f32(x[i]);
}

// Many independent partial sums: the adds overlap (and the result is more accurate than one
// running sum); 32 floats are two AVX-512 or four AVX2 registers.
template <class T, int kLanes>
T sum_loop(const T* x, int64_t n) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l];
  T r = 0;
  for (int l = 0; l < kLanes; ++l) r += acc[l];
  for (; i < n; ++i) r += x[i];
  return r;
}
NDGRAD_CLONES float sum_f32(const float* x, int64_t n) { return sum_loop<float, 32>(x, n); }
NDGRAD_CLONES double sum_f64(const double* x, int64_t n) { return sum_loop<double, 16>(x, n); }

}  // namespace ndgrad::kernels
