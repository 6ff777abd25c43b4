#include "kernels/cpu/fast_math.hpp"

#include <algorithm>

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

NDGRAD_CLONES double sum_f32(const float* x, int64_t n) {
  constexpr int64_t kBlock = int64_t(1) << 14;  // 512 terms a lane: exact for small integers
  double total = 0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const float* b = x + start;
    total += lane_sum<float, 32>(std::min(kBlock, n - start), [b](int64_t i) { return b[i]; });
  }
  return total;
}
NDGRAD_CLONES double sum_f64(const double* x, int64_t n) {
  return lane_sum<double, 16>(n, [x](int64_t i) { return x[i]; });
}

namespace {
template <class T>
inline void add_loop(T* __restrict acc, const T* __restrict v, int64_t n, bool subtract) {
  if (subtract)
    for (int64_t i = 0; i < n; ++i) acc[i] -= v[i];
  else
    for (int64_t i = 0; i < n; ++i) acc[i] += v[i];
}
}  // namespace

NDGRAD_CLONES void add_to(float* acc, const float* v, int64_t n, bool subtract) {
  add_loop(acc, v, n, subtract);
}
NDGRAD_CLONES void add_to(double* acc, const double* v, int64_t n, bool subtract) {
  add_loop(acc, v, n, subtract);
}

}  // namespace ndgrad::kernels
