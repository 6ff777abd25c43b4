#pragma once
// float32 math for contiguous loops that vectorize (libm's expf/sinf/... are scalar calls): the
// exponential family (fast_math_lanes.cpp), sin, cos, erf, erfc, GELU, the logarithms and the
// roundings. Cody-Waite range reductions and minimax polynomials (Cephes's where they serve):
// within a few ulp of float64 over the whole float range, inf/NaN preserved, and results below
// FLT_MIN kept as subnormals (gradual underflow) as libm keeps them.
#include <cstdint>
#include <cstring>

namespace ndgrad::kernels {

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

// exp, sigmoid and tanh of a float (fast_math_lanes.cpp; SiLU, the tanh GELU, expm1 and SELU
// further down): vectorized loops and one-element functions with the same bits on every CPU.
float exp_f32(float x);
float sigmoid_f32(float x);
float tanh_f32(float x);

[[gnu::always_inline]] inline double bits_to_double(uint64_t i) {
  double d;
  std::memcpy(&d, &i, sizeof d);
  return d;
}
[[gnu::always_inline]] inline uint64_t double_bits(double d) {
  uint64_t i;
  std::memcpy(&i, &d, sizeof i);
  return i;
}

// erfc of a float, computed in double without branches (so that loops
// over them vectorize, eight lanes under AVX-512): the double result is within about 1e-9 of
// the exact value relative, so the float it rounds to is within 1 ulp (the test sweeps measure
// this against float64 references).
//
// Fused multiply-adds, written out: one rounding on every CPU. The loops and one-element
// functions that use them are compiled for AVX-512, for AVX2 with FMA and for baseline x86-64
// (fast_math.cpp's NDGRAD_FMA_VERSIONS), where they are libm's fmaf/fma, correctly rounded too
// (slower): a result never depends on the CPU. The compiler's own contraction is off in
// fast_math.cpp, where the cores below are compiled; other files call the out-of-line
// functions (sin_f32, sin_f32_loop, ...), not the cores, whose mul-adds a file compiled with
// contraction on an FMA target would fuse differently.
[[gnu::always_inline]] inline float fma_f(float a, float b, float c) {
  return __builtin_fmaf(a, b, c);
}
[[gnu::always_inline]] inline double fma_d(double a, double b, double c) {
  return __builtin_fma(a, b, c);
}
[[gnu::always_inline]] inline float fma_any(float a, float b, float c) { return fma_f(a, b, c); }
[[gnu::always_inline]] inline double fma_any(double a, double b, double c) {
  return fma_d(a, b, c);
}
// c0 x^n + c1 x^(n-1) + ... + cn by Horner's rule, one FMA a step (unrolled at compile time,
// so that the loops calling it still vectorize).
template <class T, class... C>
[[gnu::always_inline]] inline T horner(T x, T c0, C... c) {
  T p = c0;
  ((p = fma_any(p, x, T(c))), ...);
  return p;
}

// sin and cos in float (fast_math.cpp, over lanes.hpp's lane types). n = round(x 2/pi); r = x - n
// pi/2 as a pair rh + rl, with pi/2 = C1 + C2 + C3 in floats (to 1e-23), all with FMAs:
// - r1 = x - n C1 is exact (the difference fits 24 bits while |r| < 1);
// - rh = r1 - n C2, rounded once: within half an ulp of itself, also where r1 and n C2 cancel
//   (x near a multiple of pi/2; for |x| < kTrigBound, |x - n pi/2| >= 2^-28);
// - rl = -n C3, which rh + rl needs only to a few bits.
// Beyond the bound (and for inf and NaN) the loops call libm. Then Cephes's minimax polynomials
// on |r| <= pi/4, as sin(rh) + rl and cos(rh) - rh rl. Every float with |x| < kTrigBound is
// within 1.6 ulp of float64's sin and cos (an exhaustive check, bench/NOTES.md); rh's rounding
// is most of it (its error recovered by a two-sum gave 1.2 ulp, at 1.35x the time).
inline constexpr float kTrigBound = 1048576.0f;  // 2^20
[[gnu::always_inline]] inline bool trig_vector_lane(float x) {
  return (x < 0 ? -x : x) < kTrigBound;
}
// One element: the core in range, libm beyond it (the loops do the same lane by lane).
float sin_f32(float x);
float cos_f32(float x);
float tan_f32(float x);

// e^-y for y >= 0 in double, to about 1e-10 relative while y <= 700; 0 beyond (and for inf).
[[gnu::always_inline]] inline double exp_neg_f64(double y) {
  const double yc = y < 700.0 ? y : 700.0;
  const double magic = 6755399441055744.0;
  const double k = fma_d(yc, 1.44269504088896338700, magic);
  const double n = k - magic;
  const double r = fma_d(-n, 1.90821492927058770002e-10, fma_d(-n, 6.93147180369123816490e-01, yc));
  // e^-r on |r| <= ln2 / 2 (Taylor to r^8: the next term is below 3e-10).
  double p = horner(r, 1.0 / 40320, -1.0 / 5040, 1.0 / 720, -1.0 / 120, 1.0 / 24, -1.0 / 6, 0.5,
                    -1.0, 1.0);
  // 2^-n: the low bits of k hold n; (1023 - n) << 52 is the exponent field (n <= 1010).
  const double scale = bits_to_double((uint64_t(1023) - double_bits(k)) << 52);
  return y > 700.0 ? 0.0 : p * scale;
}

// erfc (which needs its relative accuracy far into the tail, beyond what float sums keep) uses
// erf(z) and erfc(|z|) in double from the same parts, without divisions: for |z| <
// 1, erf(z) = z P(z^2); for 1 <= |z| < kErfTail, erfc(|z|) = e^(Q(|z|) - z^2) with Q a fit of
// log(erfc(a)) + a^2 on [1, 4]. Past kErfTail, erf is +-1 in float (erfc(3.92) is below half an
// ulp of 1) and the parts take |z| as kErfTail; erfc, which needs the tail, sends those
// lanes to libm.
inline constexpr double kErfTail = 4.0;
struct ErfParts {
  bool small;  // |z| < 1
  double e;    // erf(z) when small
  double c;    // erfc(min(|z|, kErfTail)) when not small
};
[[gnu::always_inline]] inline ErfParts erf_parts(double z) {
  ErfParts out;
  const double a = z < 0 ? -z : z;
  out.small = a < 1.0;
  const double zs = out.small ? z : 0.0;
  const double s = zs * zs;
  double p = horner(s, 1.058938064107502e-06, -1.3909340021874599e-05, 0.0001195656256820733,
                    -0.0008542637997087229, 0.005223783477189248, -0.026866133235095593,
                    0.11283791308604582, -0.3761263888963531, 1.1283791670946768);
  out.e = zs * p;
  const double ab = out.small ? 1.0 : (a < kErfTail ? a : kErfTail);  // NaN: kErfTail
  double q = horner(ab, 1.7209690824851262e-08, -5.142644145387832e-07, 6.7684630820822335e-06,
                    -5.017761223849733e-05, 0.00021031362856905767, -0.0002639513191146384,
                    -0.0027588615876994885, 0.023201839035587927, -0.10656557710916013,
                    0.36569388133060443, -1.1292146628106385, 0.00013541551419289665);
  out.c = exp_neg_f64(ab * ab - q);
  return out;
}
// erfc from the parts for x < kErfTail (and NaN); libm's (in double) at and past it.
[[gnu::always_inline]] inline bool erfc_vector_lane(float x) { return !(x >= float(kErfTail)); }
[[gnu::always_inline]] inline float erfc_f32_core(float x) {
  const ErfParts p = erf_parts(x);
  const double r = p.small ? 1.0 - p.e : (x < 0 ? 2.0 - p.c : p.c);
  return x != x ? x + x : static_cast<float>(r);
}
// erf in float (fast_math_lanes.cpp); erfc from the parts above.
float erf_f32(float x);
float erfc_f32(float x);
// GELU, computed in float from a table (fast_math.cpp), libm's erfc in double at and below -7.87.
float gelu_f32(float x);

// floor, ceil, nearbyint (half to even) and trunc of a float without SSE4.1's roundps (which
// baseline x86-64 lacks, so std::floor is a libm call there) and without int conversions: for
// |x| < 2^23, adding 2^23 to |x| rounds its fraction away (to even, under the default rounding
// mode), and floor, ceil and trunc step from that; at and past 2^23, and for inf and NaN, x
// itself. The sign is x's, so -0.0 and the results in (-1, 0] keep it as libm does. (Float
// compares and int conversions here let GCC turn the selects into branches or conditional
// calls, and the loops stayed scalar.)
inline float copysign_f32(float v, float x) {
  int32_t vb, xb;
  std::memcpy(&vb, &v, sizeof vb);
  std::memcpy(&xb, &x, sizeof xb);
  return bits_to_float((vb & 0x7fffffff) | (xb & int32_t(0x80000000u)));
}
inline bool has_fraction_bits(float x) { return (x < 0 ? -x : x) < 8388608.0f; }
inline float nearest_abs(float x) {
  const float ax = x < 0 ? -x : x;
  return (ax + 8388608.0f) - 8388608.0f;
}
inline float nearbyint_f32(float x) {
  return has_fraction_bits(x) ? copysign_f32(nearest_abs(x), x) : x;
}
inline float trunc_f32(float x) {
  const float ax = x < 0 ? -x : x, r = nearest_abs(x);
  return has_fraction_bits(x) ? copysign_f32(r > ax ? r - 1.0f : r, x) : x;
}
inline float floor_f32(float x) {
  const float r = copysign_f32(nearest_abs(x), x);
  return has_fraction_bits(x) ? copysign_f32(r > x ? r - 1.0f : r, x) : x;
}
inline float ceil_f32(float x) {
  const float r = copysign_f32(nearest_abs(x), x);
  return has_fraction_bits(x) ? copysign_f32(r < x ? r + 1.0f : r, x) : x;
}
inline float frac_f32(float x) { return x - trunc_f32(x); }

// Ops whose one-element form rounds once or not at all (sqrt, a division, selects), as the
// functors' apply computes them: the loops give the same bits, vectorized (elementwise.cpp is
// compiled for baseline x86-64, where std::sqrt keeps a libm call for errno and these selects
// stay branches: abs of random signs ran at 5 ns an element).
inline float abs_f32(float x) { return x < 0 ? 0.0f - x : x; }
inline float sqrt_f32(float x) { return __builtin_sqrtf(x); }
inline float rsqrt_f32(float x) { return 1.0f / __builtin_sqrtf(x); }
inline float hardsigmoid_f32(float x) {
  const float r = x + 3.0f;
  return x != x ? x : (r <= 0.0f ? 0.0f : r >= 6.0f ? 6.0f : r) / 6.0f;
}
inline float hardswish_f32(float x) { return x * hardsigmoid_f32(x); }
// The tanh GELU's inner value, sqrt(2 / pi) (x + 0.044715 x^3), rounded step by step as
// gelu_tanh_f32 computes it (the tests' reference; a caller compiled with contraction on an FMA
// target would fuse it). SiLU is x sigmoid(x) and the tanh GELU x sigmoid(2u)
// (fast_math_lanes.cpp).
inline float gelu_tanh_inner(float x) {
  return 0.79788456080286535588f * (x + 0.044715f * x * x * x);
}
float silu_f32(float x);
float gelu_tanh_f32(float x);
// Natural, base-2 and base-10 logarithms of a float (Cephes's logf polynomial, FMAs written out,
// compiled like sin_f32): within 2 ulp of float64; 0 gives -inf, negatives NaN, inf inf.
float log_f32(float x);
float log2_f32(float x);
float log10_f32(float x);
// expm1 and log1p of a float (exp_f32's polynomial and the logarithm above, FMAs written out),
// and from them softplus, log(1 + e^x) = max(x, 0) + log1p(e^-|x|), and SELU.
float expm1_f32(float x);
float log1p_f32(float x);
float softplus_f32(float x);
float selu_f32(float x);

// 2^x, sinh, cosh, atan, asin, acos, asinh, acosh, atanh (Cephes's float polynomials and
// reductions), logit, mish and cbrt (fast_math_lanes.cpp).
float exp2_f32(float x);
float sinh_f32(float x);
float cosh_f32(float x);
float atan_f32(float x);
float asin_f32(float x);
float acos_f32(float x);
float asinh_f32(float x);
float acosh_f32(float x);
float atanh_f32(float x);
float logit_f32(float x);
float mish_f32(float x);
float cbrt_f32(float x);

// Contiguous loops, compiled for AVX-512, AVX2 and baseline x86-64 and picked at run time.
// y may be x (in place), or overlap it starting before it; not start after it.
void exp_f32_loop(const float* x, float* y, int64_t n);
void tanh_f32_loop(const float* x, float* y, int64_t n);
void sigmoid_f32_loop(const float* x, float* y, int64_t n);
void sin_f32_loop(const float* x, float* y, int64_t n);
void cos_f32_loop(const float* x, float* y, int64_t n);
void tan_f32_loop(const float* x, float* y, int64_t n);
void erf_f32_loop(const float* x, float* y, int64_t n);
void erfc_f32_loop(const float* x, float* y, int64_t n);
void gelu_f32_loop(const float* x, float* y, int64_t n);
void floor_f32_loop(const float* x, float* y, int64_t n);
void ceil_f32_loop(const float* x, float* y, int64_t n);
void nearbyint_f32_loop(const float* x, float* y, int64_t n);
void trunc_f32_loop(const float* x, float* y, int64_t n);
void frac_f32_loop(const float* x, float* y, int64_t n);
void abs_f32_loop(const float* x, float* y, int64_t n);
void sqrt_f32_loop(const float* x, float* y, int64_t n);
void rsqrt_f32_loop(const float* x, float* y, int64_t n);
void hardsigmoid_f32_loop(const float* x, float* y, int64_t n);
void hardswish_f32_loop(const float* x, float* y, int64_t n);
void silu_f32_loop(const float* x, float* y, int64_t n);
void gelu_tanh_f32_loop(const float* x, float* y, int64_t n);
void log_f32_loop(const float* x, float* y, int64_t n);
void log2_f32_loop(const float* x, float* y, int64_t n);
void log10_f32_loop(const float* x, float* y, int64_t n);
void expm1_f32_loop(const float* x, float* y, int64_t n);
void log1p_f32_loop(const float* x, float* y, int64_t n);
void softplus_f32_loop(const float* x, float* y, int64_t n);
void selu_f32_loop(const float* x, float* y, int64_t n);
void exp2_f32_loop(const float* x, float* y, int64_t n);
void sinh_f32_loop(const float* x, float* y, int64_t n);
void cosh_f32_loop(const float* x, float* y, int64_t n);
void atan_f32_loop(const float* x, float* y, int64_t n);
void asin_f32_loop(const float* x, float* y, int64_t n);
void acos_f32_loop(const float* x, float* y, int64_t n);
void asinh_f32_loop(const float* x, float* y, int64_t n);
void acosh_f32_loop(const float* x, float* y, int64_t n);
void atanh_f32_loop(const float* x, float* y, int64_t n);
void logit_f32_loop(const float* x, float* y, int64_t n);
void mish_f32_loop(const float* x, float* y, int64_t n);
void cbrt_f32_loop(const float* x, float* y, int64_t n);
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
// The mean and the sum of squared deviations (M2) of n values: of one contiguous row
// (var_row), or of each of cols columns over rows rows stride apart (var_cols).
// Blocks that fit in cache each give their mean and M2 in one pass (the sums of d and d^2 for
// d = x - one of the block's values), and the blocks merge by Chan et al.'s formula: one pass
// over memory, in double, accurate where a plain sum of squares minus a squared sum cancels.
void var_row(const float* x, int64_t n, double* mean, double* m2);
void var_row(const double* x, int64_t n, double* mean, double* m2);
void var_cols(const float* x, int64_t rows, int64_t cols, int64_t stride, double* mean, double* m2);
void var_cols(const double* x, int64_t rows, int64_t cols, int64_t stride, double* mean,
              double* m2);
// acc[i] += v[i] (acc[i] -= v[i] with subtract) over n values that do not overlap.
void add_to(float* acc, const float* v, int64_t n, bool subtract);
void add_to(double* acc, const double* v, int64_t n, bool subtract);

}  // namespace ndgrad::kernels
