#pragma once
// float32 exp, tanh and sigmoid written without branches so that contiguous loops over them
// vectorize (libm's expf/tanhf are scalar calls). Cody-Waite range reduction and the Cephes
// minimax polynomials: within 2 ulp of libm over the whole float range, inf/NaN preserved, and
// results below FLT_MIN kept as subnormals (gradual underflow) as libm keeps them.
#include <cstdint>
#include <cstring>

namespace ndgrad::kernels {

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

inline float exp_f32(float x) {
  // lo = ln(2^-150): below it the result rounds to 0. Between it and ln(FLT_MIN) = -87.34 the
  // result is subnormal; the last multiplication by 2^n2 rounds it there once.
  const float hi = 88.7228394f, lo = -103.972084f;
  // Clamped, and NaN mapped to 0 so the integer conversion below is defined; the result for
  // out-of-range and NaN inputs is chosen at the end.
  const float xc = x > hi ? hi : (x < lo ? lo : (x == x ? x : 0.0f));
  // n = round(x / ln 2) by the 1.5 * 2^23 trick; r = x - n ln 2 in two parts.
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  // 2^n in two halves: n reaches 128 just below the overflow bound and -150 at lo, past float's
  // exponent range either way.
  const int32_t ni = static_cast<int32_t>(n), n1 = ni / 2, n2 = ni - n1;
  const float e =
      (p * r * r + r + 1.0f) * bits_to_float((n1 + 127) << 23) * bits_to_float((n2 + 127) << 23);
  const float inf = bits_to_float(0x7f800000);
  return x != x ? x : (x > hi ? inf : (x < lo ? 0.0f : e));
}

inline float tanh_f32(float x) {
  const float ax = x < 0 ? -x : x;
  // Small |x|: odd polynomial (accurate where 1 - 2/(e+1) would cancel).
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float big = 1.0f - 2.0f / (exp_f32(2.0f * ax) + 1.0f);
  const float signed_big = x < 0 ? -big : big;
  return x != x ? x : (ax < 0.625f ? small : signed_big);
}

// exp of -|x| cannot overflow: for x < 0 the result is e / (1 + e), which keeps the subnormal
// results (x down to -103.97) that 1 / (1 + exp(-x)) flushes to 0 once exp(-x) is inf. One
// division either way: only the numerator is chosen.
inline float sigmoid_f32(float x) {
  const float e = exp_f32(x < 0 ? x : -x);
  return (x < 0 ? e : 1.0f) / (1.0f + e);
}

// Contiguous loops, compiled for AVX-512, AVX2 and baseline x86-64 and picked at run time.
void exp_f32_loop(const float* x, float* y, int64_t n);
void tanh_f32_loop(const float* x, float* y, int64_t n);
void sigmoid_f32_loop(const float* x, float* y, int64_t n);
// The sum of term(i) for i in [0, n) in kLanes independent partial sums, added up in lane
// order, then the tail: the adds overlap (and the result is more accurate than one running
// sum). 32 floats are two AVX-512 or four AVX2 registers.
template <class T, int kLanes, class Term>
inline T lane_sum(int64_t n, Term term) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(i + l);
  T r = 0;
  for (int l = 0; l < kLanes; ++l) r += acc[l];
  for (; i < n; ++i) r += term(i);
  return r;
}

// Sums of n contiguous values (lane_sum over 32 floats or 16 doubles). Floats are summed in
// blocks whose sums are added in double: a float accumulator stops growing at 2^24 times its
// increments (2^25 ones summed to 2^25 exactly, and the 8 after them were lost).
double sum_f32(const float* x, int64_t n);
double sum_f64(const double* x, int64_t n);
// acc[i] += v[i] (acc[i] -= v[i] with subtract) over n values that do not overlap.
void add_to(float* acc, const float* v, int64_t n, bool subtract);
void add_to(double* acc, const double* v, int64_t n, bool subtract);

}  // namespace ndgrad::kernels
