// The exponential family in float32 (exp, sigmoid, tanh, SiLU, the tanh GELU, expm1, SELU) and
// the logarithms (log, log2, log10, log1p, softplus).
// Each core is written once over lane types (lanes.hpp) and compiled as sixteen AVX-512 lanes,
// eight AVX2 lanes and one float: the loops are intrinsics (GCC's own vectorization of the
// same scalar code, with its mask bookkeeping, ran exp 3.4x slower on an AVX-512 Zen 4), and
// every version gives the same bits, the one-element functions included.
//
// e^x: x = n ln 2 + r with n = round(x / ln 2) (the 1.5 * 2^23 trick) and ln 2 in two parts,
// the first exact in n ln 2; e^r = 1 + w, w = r + r^2 P(r) with Cephes's expf polynomial; then
// (1 + w) 2^n rounded once (scale): results down into the subnormals round once, as libm's.
#include <cstdint>

#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/fast_math.hpp"
#include "kernels/cpu/lanes.hpp"

namespace ndgrad::kernels {

namespace {

#ifdef NDGRAD_LANES_X86
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// k, n (= k - magic, an integer-valued float), r and w for xc (already clamped).
#define NDGRAD_EXP_REDUCE(xc)                                                            \
  const F k = V::fma(xc, V::set(1.44269504088896341f), V::set(12582912.0f));             \
  const F n = V::sub(k, V::set(12582912.0f));                                            \
  const F r = V::fnma(n, V::set(-2.12194440e-4f), V::fnma(n, V::set(0.693359375f), xc)); \
  F w = V::fma(V::set(1.9875691500e-4f), r, V::set(1.3981999507e-3f));                   \
  w = V::fma(w, r, V::set(8.3334519073e-3f));                                            \
  w = V::fma(w, r, V::set(4.1665795894e-2f));                                            \
  w = V::fma(w, r, V::set(1.6666665459e-1f));                                            \
  w = V::fma(w, r, V::set(5.0000001201e-1f));                                            \
  w = V::fma(V::mul(r, r), w, r);

// e^x. Clamped to [-104, 89] (NaN to -104, its result chosen at the end): below -103.97 the
// result rounds to 0, from 88.73 on it overflows to inf (n = 128 and 1 + w >= 1).
NDGRAD_LANES_CORE(exp_core, {
  const F xc = V::min(V::max(x, V::set(-104.0f)), V::set(89.0f));
  NDGRAD_EXP_REDUCE(xc)
  return V::select(V::is_nan(x), x, V::scale(V::add(w, V::set(1.0f)), n));
})

// 1 / (1 + e^-x) with e = e^-|x| only: e / (1 + e) for x < 0 keeps the subnormal results that
// 1 / (1 + e^-x) would flush to 0 once e^-x is inf. One division: only the numerator is chosen.
NDGRAD_LANES_CORE(sigmoid_core, {
  const F e = exp_core(V::neg_abs(x));
  const F one = V::set(1.0f);
  const F s = V::div(V::select(V::lt(x, V::set(0.0f)), e, one), V::add(one, e));
  return V::select(V::is_nan(x), x, s);
})

// tanh: below |x| = 0.625 an odd polynomial (Cephes's tanhf), where 1 - 2 / (e^2|x| + 1) would
// cancel; above it that, with x's sign (e^2|x| = inf gives 1).
NDGRAD_LANES_CORE(tanh_core, {
  const F ax = V::abs(x);
  const F z = V::mul(x, x);
  F p = V::fma(V::set(-5.70498872745e-3f), z, V::set(2.06390887954e-2f));
  p = V::fma(p, z, V::set(-5.37397155531e-2f));
  p = V::fma(p, z, V::set(1.33314422036e-1f));
  p = V::fma(p, z, V::set(-3.33332819422e-1f));
  const F small = V::fma(V::mul(p, z), x, x);
  const F e = exp_core(V::add(ax, ax));
  const F big = V::sub(V::set(1.0f), V::div(V::set(2.0f), V::add(e, V::set(1.0f))));
  const F t = V::select(V::lt(ax, V::set(0.625f)), small, V::with_sign_of(big, x));
  return V::select(V::is_nan(x), x, t);
})

// x sigmoid(z) from h = e^-|z|: x / (1 + h) for z >= 0, x h / (1 + h) below. Below z = -80,
// e^z nears the subnormals, where it keeps few bits while x e^z may still be a normal float:
// h = e^(z/2) there, applied twice. SiLU is x sigmoid(x); the tanh GELU
// 0.5 x (1 + tanh(u)) = x sigmoid(2u), which keeps its relative accuracy for negative x, where
// 1 + tanh cancels.
#define NDGRAD_X_SIGMOID(xv, zv)                                                \
  const V::M below = V::lt(zv, V::set(0.0f)), deep = V::lt(zv, V::set(-80.0f)); \
  const F a = V::neg_abs(zv);                                                   \
  const F h = exp_core(V::select(deep, V::mul(a, V::set(0.5f)), a));            \
  const F e = V::select(deep, V::mul(h, h), h);                                 \
  const F xh = V::mul(xv, h);                                                   \
  const F num = V::select(below, V::select(deep, V::mul(xh, h), xh), xv);       \
  return V::div(num, V::add(V::set(1.0f), e));

NDGRAD_LANES_CORE(silu_core, {NDGRAD_X_SIGMOID(x, x)})
// u = sqrt(2 / pi) (x + 0.044715 x^3), in gelu_tanh_inner's order.
NDGRAD_LANES_CORE(gelu_tanh_core, {
  const F cube = V::mul(V::mul(V::mul(V::set(0.044715f), x), x), x);
  const F u = V::mul(V::set(0.79788456080286535588f), V::add(x, cube));
  const F z = V::add(u, u);
  NDGRAD_X_SIGMOID(x, z)
})

// e^x - 1: 2^n w + (2^n - 1) in one FMA (nothing cancels near 0: n = 0 gives w, and 2^n - 1 is
// exact where it matters). Clamped to [-25, 89]: below -25 the result is -1 (rounded); above 88,
// where 2^n would overflow first, e^x = (1 + w) 2^n.
NDGRAD_LANES_CORE(expm1_core, {
  const F xc = V::min(V::max(x, V::set(-25.0f)), V::set(89.0f));
  NDGRAD_EXP_REDUCE(xc)
  const F s = V::pow2_of_rounded(k);  // n <= 127 where it is used
  const F v = V::fma(s, w, V::sub(s, V::set(1.0f)));
  const F big = V::scale(V::add(w, V::set(1.0f)), n);
  const F m = V::select(V::gt(x, V::set(88.0f)), big, v);
  return V::select(V::or_(V::is_nan(x), V::eq(x, V::set(0.0f))), x, m);
})

// SELU: scale * x above 0, scale * alpha * expm1(x) at and below.
NDGRAD_LANES_CORE(selu_core, {
  const F below = V::mul(V::set(1.7580993408473768599f), expm1_core(x));
  return V::select(V::gt(x, V::set(0.0f)), V::mul(V::set(1.0507009873554804934f), x), below);
})

#undef NDGRAD_X_SIGMOID
#undef NDGRAD_EXP_REDUCE

// log of a float, base e, 2 or 10: x = m 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1 exactly,
// log(1 + f) = f + y with y = -f^2 / 2 + f^3 P(f) (Cephes's logf polynomial); then e ln 2 in two
// parts (the first exact), log2 (exact at powers of two) and log10 in Cephes's order of small
// parts first. 0 gives -inf, negatives NaN, inf and NaN themselves.
// For x = m0 2^e0, m0 in [1, 2).
#define NDGRAD_LOG_REDUCE(m0, e0)                                                  \
  const V::M high = V::gt(m0, V::set(1.41421356f));                                \
  const F f = V::sub(V::select(high, V::mul(m0, V::set(0.5f)), m0), V::set(1.0f)); \
  const F ef = V::add(e0, V::select(high, V::set(1.0f), V::set(0.0f)));            \
  const F z = V::mul(f, f);                                                        \
  F p = V::fma(V::set(7.0376836292e-2f), f, V::set(-1.1514610310e-1f));            \
  p = V::fma(p, f, V::set(1.1676998740e-1f));                                      \
  p = V::fma(p, f, V::set(-1.2420140846e-1f));                                     \
  p = V::fma(p, f, V::set(1.4249322787e-1f));                                      \
  p = V::fma(p, f, V::set(-1.6668057665e-1f));                                     \
  p = V::fma(p, f, V::set(2.0000714765e-1f));                                      \
  p = V::fma(p, f, V::set(-2.4999993993e-1f));                                     \
  p = V::fma(p, f, V::set(3.3333331174e-1f));                                      \
  const F y = V::fma(V::set(-0.5f), z, V::mul(V::mul(f, z), p));
#define NDGRAD_LOG_SPECIALS(r)                                                            \
  const F inf = V::set(bits_to_float(0x7f800000));                                        \
  const F finite =                                                                        \
      V::select(V::eq(x, V::set(0.0f)), V::neg_abs(inf),                                  \
                V::select(V::lt(x, V::set(0.0f)), V::set(bits_to_float(0x7fc00000)), r)); \
  return V::select(V::or_(V::is_nan(x), V::eq(x, inf)), x, finite);

NDGRAD_LANES_CORE(log_core, {
  NDGRAD_LOG_REDUCE(V::mantissa(x), V::exponent(x))
  const F r = V::fma(ef, V::set(0.693359375f), V::add(f, V::fma(ef, V::set(-2.12194440e-4f), y)));
  NDGRAD_LOG_SPECIALS(r)
})
// (f + y)(1 + L) + e with L = log2(e) - 1.
NDGRAD_LANES_CORE(log2_core, {
  NDGRAD_LOG_REDUCE(V::mantissa(x), V::exponent(x))
  const F l = V::set(0.44269504088896340736f);
  const F t = V::fma(y, l, V::mul(f, l));
  const F r = V::add(V::add(V::add(t, y), f), ef);
  NDGRAD_LOG_SPECIALS(r)
})
NDGRAD_LANES_CORE(log10_core, {
  NDGRAD_LOG_REDUCE(V::mantissa(x), V::exponent(x))
  F t =
      V::fma(y, V::set(7.00731903251827651129e-4f), V::mul(f, V::set(7.00731903251827651129e-4f)));
  t = V::fma(ef, V::set(2.48745663981195213739e-4f), t);
  t = V::fma(y, V::set(4.3359375e-1f), t);
  t = V::fma(f, V::set(4.3359375e-1f), t);
  const F r = V::fma(ef, V::set(3.0078125e-1f), t);
  NDGRAD_LOG_SPECIALS(r)
})
#undef NDGRAD_LOG_SPECIALS

// log(1 + x): log(u) for u = 1 + x rounded, plus what the rounding lost, (x - (u - 1)) / u
// (u - 1 is exact while u is in [1/2, 2], and the term negligible beyond).
NDGRAD_LANES_CORE(log1p_core, {
  const F one = V::set(1.0f), inf = V::set(bits_to_float(0x7f800000));
  const F u = V::add(one, x);
  const F l = V::add(log_core(u), V::div(V::sub(x, V::sub(u, one)), u));
  const F r = V::select(V::eq(u, V::set(0.0f)), V::neg_abs(inf), l);
  return V::select(V::or_(V::or_(V::is_nan(x), V::eq(x, V::set(0.0f))), V::eq(x, inf)), x, r);
})

// log(1 + e^x) = max(x, 0) + log1p(e) with e = e^-|x| in (0, 1]: no overflow, and e^x itself
// far below 0. log1p_core's steps with u = 1 + e in [1, 2] taken as its own mantissa (2 as 2^1):
// the same bits without the general exponent split.
NDGRAD_LANES_CORE(softplus_core, {
  const F one = V::set(1.0f);
  const F e = exp_core(V::neg_abs(x));
  const F u = V::add(one, e);
  const V::M two = V::eq(u, V::set(2.0f));
  NDGRAD_LOG_REDUCE(V::select(two, one, u), V::select(two, one, V::set(0.0f)))
  const F lu = V::fma(ef, V::set(0.693359375f), V::add(f, V::fma(ef, V::set(-2.12194440e-4f), y)));
  const F l = V::add(lu, V::div(V::sub(e, V::sub(u, one)), u));
  return V::select(V::is_nan(x), x, V::add(V::max(x, V::set(0.0f)), l));
})
#undef NDGRAD_LOG_REDUCE

// A contiguous loop over a core: whole vectors, then the rest (AVX-512: one masked vector;
// AVX2: one element at a time, the same bits). Each vector is loaded before its results are
// stored, so y == x works (as does an output starting before an overlapping input).
#ifdef NDGRAD_LANES_X86
#define NDGRAD_LANES_LOOPS(name)                                                               \
  [[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void name##_loop_avx512(               \
      const float* x, float* y, int64_t n) {                                                   \
    int64_t i = 0;                                                                             \
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, name##_core(_mm512_loadu_ps(x + i))); \
    if (i < n) {                                                                               \
      const __mmask16 live = static_cast<__mmask16>((1u << (n - i)) - 1);                      \
      _mm512_mask_storeu_ps(y + i, live, name##_core(_mm512_maskz_loadu_ps(live, x + i)));     \
    }                                                                                          \
  }                                                                                            \
  [[gnu::target("avx2,fma")]] void name##_loop_avx2(const float* x, float* y, int64_t n) {     \
    int64_t i = 0;                                                                             \
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, name##_core(_mm256_loadu_ps(x + i)));   \
    for (; i < n; ++i) y[i] = name##_core(x[i]);                                               \
  }                                                                                            \
  void name##_loop_baseline(const float* x, float* y, int64_t n) {                             \
    for (int64_t i = 0; i < n; ++i) y[i] = name##_core(x[i]);                                  \
  }                                                                                            \
  [[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] float name##_one_avx512(float x) {     \
    return name##_core(x);                                                                     \
  }                                                                                            \
  [[gnu::target("avx2,fma")]] float name##_one_avx2(float x) { return name##_core(x); }        \
  float name##_one_baseline(float x) { return name##_core(x); }                                \
  }                                                                                            \
  void name##_f32_loop(const float* x, float* y, int64_t n) {                                  \
    const CpuFeatures& features = cpu();                                                       \
    if (features.avx512)                                                                       \
      name##_loop_avx512(x, y, n);                                                             \
    else if (features.avx2_fma)                                                                \
      name##_loop_avx2(x, y, n);                                                               \
    else                                                                                       \
      name##_loop_baseline(x, y, n);                                                           \
  }                                                                                            \
  float name##_f32(float x) {                                                                  \
    const CpuFeatures& features = cpu();                                                       \
    return features.avx512     ? name##_one_avx512(x)                                          \
           : features.avx2_fma ? name##_one_avx2(x)                                            \
                               : name##_one_baseline(x);                                       \
  }                                                                                            \
  namespace {
#else
#define NDGRAD_LANES_LOOPS(name)                              \
  }                                                           \
  void name##_f32_loop(const float* x, float* y, int64_t n) { \
    for (int64_t i = 0; i < n; ++i) y[i] = name##_core(x[i]); \
  }                                                           \
  float name##_f32(float x) { return name##_core(x); }        \
  namespace {
#endif

NDGRAD_LANES_LOOPS(exp)
NDGRAD_LANES_LOOPS(sigmoid)
NDGRAD_LANES_LOOPS(tanh)
NDGRAD_LANES_LOOPS(silu)
NDGRAD_LANES_LOOPS(gelu_tanh)
NDGRAD_LANES_LOOPS(expm1)
NDGRAD_LANES_LOOPS(selu)
NDGRAD_LANES_LOOPS(log)
NDGRAD_LANES_LOOPS(log2)
NDGRAD_LANES_LOOPS(log10)
NDGRAD_LANES_LOOPS(log1p)
NDGRAD_LANES_LOOPS(softplus)
#undef NDGRAD_LANES_LOOPS

#ifdef NDGRAD_LANES_X86
#pragma GCC diagnostic pop
#endif

}  // namespace

}  // namespace ndgrad::kernels
