#include "kernels/cpu/fast_math.hpp"

#include <algorithm>
#include <cmath>

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

float sin_f32(float x) { return trig_vector_lane(x) ? sin_f32_core(x) : std::sin(x); }
float cos_f32(float x) { return trig_vector_lane(x) ? cos_f32_core(x) : std::cos(x); }
namespace {
double erfc_libm(double x) { return std::erfc(x); }
float gelu_libm(float x) {
  const double xd = x;
  return x == -INFINITY ? NAN
                        : static_cast<float>(0.5 * xd * erfc_libm(-xd * 0.70710678118654752440));
}
}  // namespace
float erfc_f32(float x) {
  return erfc_vector_lane(x) ? erfc_f32_core(x) : static_cast<float>(erfc_libm(x));
}
float gelu_f32(float x) { return gelu_vector_lane(x) ? gelu_f32_core(x) : gelu_libm(x); }

namespace {
// y = core(x) over all lanes (vectorized; the cores are defined for every input), then the
// scalar function for the few lanes the core does not cover (past the range reduction's
// bound, or in erfc's far tail).
template <class Core, class Lane, class Scalar>
inline void loop_with_fallback(const float* x, float* y, int64_t n, Core core, Lane vector_lane,
                               Scalar scalar) {
  int beyond = 0;  // an int: GCC vectorizes its or-reduction, not a bool's
  for (int64_t i = 0; i < n; ++i) {
    y[i] = core(x[i]);
    beyond |= vector_lane(x[i]) ? 0 : 1;
  }
  if (beyond)
    for (int64_t i = 0; i < n; ++i)
      if (!vector_lane(x[i])) y[i] = scalar(x[i]);
}
}  // namespace

NDGRAD_CLONES void sin_f32_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(x, y, n, sin_f32_core, trig_vector_lane, [](float v) { return std::sin(v); });
}
NDGRAD_CLONES void cos_f32_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(x, y, n, cos_f32_core, trig_vector_lane, [](float v) { return std::cos(v); });
}
NDGRAD_CLONES void erfc_f32_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(x, y, n, erfc_f32_core, erfc_vector_lane,
                     [](float v) { return static_cast<float>(erfc_libm(v)); });
}
NDGRAD_CLONES void gelu_f32_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(x, y, n, gelu_f32_core, gelu_vector_lane, gelu_libm);
}
#define NDGRAD_F32_LOOP(name)                                               \
  NDGRAD_CLONES void name##_f32_loop(const float* x, float* y, int64_t n) { \
    for (int64_t i = 0; i < n; ++i) y[i] = name##_f32(x[i]);                \
  }
NDGRAD_F32_LOOP(erf)
NDGRAD_F32_LOOP(floor)
NDGRAD_F32_LOOP(ceil)
NDGRAD_F32_LOOP(nearbyint)
NDGRAD_F32_LOOP(trunc)
NDGRAD_F32_LOOP(frac)
#undef NDGRAD_F32_LOOP

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
