// float32 math over lane types: the exponential family (exp, exp2, expm1, sigmoid, tanh, sinh,
// cosh, SiLU, the tanh GELU, SELU, mish), the logarithms (log, log2, log10, log1p, softplus,
// logit), atan, asin, acos, asinh, acosh, atanh, cbrt and erf. (sin, cos, tan and GELU, which
// hand lanes past their range to libm, are in fast_math.cpp.)
// Each core is written once over lane types (lanes.hpp) and compiled as sixteen AVX-512 lanes,
// eight AVX2 lanes and one float: the loops are intrinsics (GCC's own vectorization of the
// same scalar code, with its mask bookkeeping, ran exp 3.4x slower on an AVX-512 Zen 4), and
// every version gives the same bits, the one-element functions included.
//
// e^x: x = n ln 2 + r with n = round(x / ln 2) (the 1.5 * 2^23 trick) and ln 2 in two parts,
// the first exact in n ln 2; e^r = 1 + w, w = r + r^2 P(r) with Cephes's expf polynomial; then
// (1 + w) 2^n rounded once (scale): results down into the subnormals round once, as libm's.
// Lanes returned as themselves (NaN, and +-0 or +-inf where a function keeps them) come back as
// x + x: a signalling NaN quieted, as libm's functions return it.
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
  return V::select(V::is_nan(x), V::add(x, x), V::scale(V::add(w, V::set(1.0f)), n));
})
// e^y for y <= 0 or NaN (whose result a caller's select drops): exp_core's steps and bits
// without the upper clamp and the NaN select.
NDGRAD_LANES_CORE(exp_nonpositive_core, {
  const F xc = V::max(x, V::set(-104.0f));
  NDGRAD_EXP_REDUCE(xc)
  return V::scale(V::add(w, V::set(1.0f)), n);
})

// 1 / (1 + e^-x) with e = e^-|x| only: e / (1 + e) for x < 0 keeps the subnormal results that
// 1 / (1 + e^-x) would flush to 0 once e^-x is inf. One division: only the numerator is chosen.
NDGRAD_LANES_CORE(sigmoid_core, {
  const F e = exp_nonpositive_core(V::neg_abs(x));
  const F one = V::set(1.0f);
  const F s = V::div(V::select(V::lt(x, V::set(0.0f)), e, one), V::add(one, e));
  return V::select(V::is_nan(x), V::add(x, x), s);
})

// tanh: below |x| = 0.625 an odd polynomial (Cephes's tanhf); above it v / (v + 2) for
// v = e^2|x| - 1, with x's sign.
NDGRAD_LANES_CORE(tanh_core, {
  const F z = V::mul(x, x);
  F p = V::fma(V::set(-5.70498872745e-3f), z, V::set(2.06390887954e-2f));
  p = V::fma(p, z, V::set(-5.37397155531e-2f));
  p = V::fma(p, z, V::set(1.33314422036e-1f));
  p = V::fma(p, z, V::set(-3.33332819422e-1f));
  const F small = V::fma(V::mul(p, z), x, x);
  // v / (v + 2) with v = e^2|x| - 1 (expm1's steps); |x| clamped to 10, where tanh rounds to 1.
  const F ax = V::abs(x);
  const F ax2 = V::min(V::add(ax, ax), V::set(20.0f));
  NDGRAD_EXP_REDUCE(ax2)
  const F s = V::pow2_of_rounded(k);
  const F v = V::fma(s, w, V::sub(s, V::set(1.0f)));
  const F big = V::with_sign_of(V::div(v, V::add(v, V::set(2.0f))), x);
  const F t = V::select(V::lt(ax, V::set(0.625f)), small, big);
  // +-0 and NaN as themselves (the polynomial gives +0 for -0).
  return V::select(V::or_(V::is_nan(x), V::eq(x, V::set(0.0f))), V::add(x, x), t);
})

// x sigmoid(z) from h = e^-|z|: x / (1 + h) for z >= 0, x h / (1 + h) below. Below z = -80,
// e^z nears the subnormals, where it keeps few bits while x e^z may still be a normal float:
// h = e^(z/2) there, applied twice. SiLU is x sigmoid(x); the tanh GELU
// 0.5 x (1 + tanh(u)) = x sigmoid(2u), which keeps its relative accuracy for negative x, where
// 1 + tanh cancels.
#define NDGRAD_X_SIGMOID(xv, zv)                                                 \
  const V::M below = V::lt(zv, V::set(0.0f)), deep = V::lt(zv, V::set(-80.0f));  \
  const F a = V::neg_abs(zv);                                                    \
  const F h = exp_nonpositive_core(V::select(deep, V::mul(a, V::set(0.5f)), a)); \
  const F e = V::select(deep, V::mul(h, h), h);                                  \
  const F xh = V::mul(xv, h);                                                    \
  const F num = V::select(below, V::select(deep, V::mul(xh, h), xh), xv);        \
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
  return V::select(V::or_(V::is_nan(x), V::eq(x, V::set(0.0f))), V::add(x, x), m);
})

// SELU: scale * x above 0, scale * alpha * expm1(x) at and below.
NDGRAD_LANES_CORE(selu_core, {
  const F below = V::mul(V::set(1.7580993408473768599f), expm1_core(x));
  return V::select(V::gt(x, V::set(0.0f)), V::mul(V::set(1.0507009873554804934f), x), below);
})

#undef NDGRAD_X_SIGMOID

// log of a float, base e, 2 or 10: x = m 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1 exactly,
// log(1 + f) = f + y with y = -f^2 / 2 + f^3 P(f) (Cephes's logf polynomial); then e ln 2 in two
// parts (the first exact), log2 (exact at powers of two) and log10 in Cephes's order of small
// parts first. 0 gives -inf, negatives NaN, inf and NaN themselves.
#define NDGRAD_LOG_REDUCE                                                           \
  const F m0 = V::mantissa(x);                                                      \
  const V::M high = V::gt(m0, V::set(1.41421356f));                                 \
  const F f = V::sub(V::select(high, V::mul(m0, V::set(0.5f)), m0), V::set(1.0f));  \
  const F ef = V::add(V::exponent(x), V::select(high, V::set(1.0f), V::set(0.0f))); \
  const F z = V::mul(f, f);                                                         \
  F p = V::fma(V::set(7.0376836292e-2f), f, V::set(-1.1514610310e-1f));             \
  p = V::fma(p, f, V::set(1.1676998740e-1f));                                       \
  p = V::fma(p, f, V::set(-1.2420140846e-1f));                                      \
  p = V::fma(p, f, V::set(1.4249322787e-1f));                                       \
  p = V::fma(p, f, V::set(-1.6668057665e-1f));                                      \
  p = V::fma(p, f, V::set(2.0000714765e-1f));                                       \
  p = V::fma(p, f, V::set(-2.4999993993e-1f));                                      \
  p = V::fma(p, f, V::set(3.3333331174e-1f));                                       \
  const F y = V::fma(V::set(-0.5f), z, V::mul(V::mul(f, z), p));
#define NDGRAD_LOG_SPECIALS(r)                                                            \
  const F inf = V::set(bits_to_float(0x7f800000));                                        \
  const F finite =                                                                        \
      V::select(V::eq(x, V::set(0.0f)), V::neg_abs(inf),                                  \
                V::select(V::lt(x, V::set(0.0f)), V::set(bits_to_float(0x7fc00000)), r)); \
  return V::select(V::or_(V::is_nan(x), V::eq(x, inf)), V::add(x, x), finite);

NDGRAD_LANES_CORE(log_core, {
  NDGRAD_LOG_REDUCE
  const F r = V::fma(ef, V::set(0.693359375f), V::add(f, V::fma(ef, V::set(-2.12194440e-4f), y)));
  NDGRAD_LOG_SPECIALS(r)
})
// (f + y)(1 + L) + e with L = log2(e) - 1.
NDGRAD_LANES_CORE(log2_core, {
  NDGRAD_LOG_REDUCE
  const F l = V::set(0.44269504088896340736f);
  const F t = V::fma(y, l, V::mul(f, l));
  const F r = V::add(V::add(V::add(t, y), f), ef);
  NDGRAD_LOG_SPECIALS(r)
})
NDGRAD_LANES_CORE(log10_core, {
  NDGRAD_LOG_REDUCE
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
  return V::select(V::or_(V::or_(V::is_nan(x), V::eq(x, V::set(0.0f))), V::eq(x, inf)),
                   V::add(x, x), r);
})

// softplus, log(1 + e^x) = max(x, 0) + log1p(e) for e = e^-|x| in (0, 1]: no overflow, and e^x
// itself far below 0. log1p(e) = e + e^2 Q(e) with Q a degree-8 fit (tools/fits/softplus_poly.py;
// 0.26 x 2^-24 relative before rounding): half the operations of a logarithm's reduction and
// no division.
NDGRAD_LANES_CORE(softplus_core, {
  const F e = exp_nonpositive_core(V::neg_abs(x));
  F q = V::fma(V::set(-0x1.b2f368p-9f), e, V::set(0x1.4b0704p-6f));
  q = V::fma(q, e, V::set(-0x1.d86206p-5f));
  q = V::fma(q, e, V::set(0x1.b57932p-4f));
  q = V::fma(q, e, V::set(-0x1.3a7a56p-3f));
  q = V::fma(q, e, V::set(0x1.935c90p-3f));
  q = V::fma(q, e, V::set(-0x1.ff26dep-3f));
  q = V::fma(q, e, V::set(0x1.554df0p-2f));
  q = V::fma(q, e, V::set(-0x1.ffffd4p-2f));
  const F l = V::fma(V::mul(e, q), e, e);
  return V::select(V::is_nan(x), V::add(x, x), V::add(V::max(x, V::set(0.0f)), l));
})
// mish = x tanh(softplus(x)) = x w / (w + 2) for w = n (n + 2), n = e^x (tanh(log u) =
// (u^2 - 1) / (u^2 + 1), u = 1 + n): one exponential and one division, e = e^-|x| only (for
// x >= 0, (1 + 2e) / (1 + 2e + 2e^2), the same over e^2x), nothing cancels. Below x = -17, e^x
// nears the subnormals before x e^x does, and mish = x e^x to the float: x e^(x/2) e^(x/2).
NDGRAD_LANES_CORE(mish_core, {
  const F a = V::neg_abs(x), two = V::set(2.0f);
  const V::M deep = V::lt(x, V::set(-17.0f)), below = V::lt(x, V::set(0.0f));
  const F h = exp_nonpositive_core(V::select(deep, V::mul(a, V::set(0.5f)), a));
  const F h2 = V::add(h, h);
  const F num = V::select(below, V::fma(h, h, h2), V::add(V::set(1.0f), h2));
  const F den = V::select(below, V::add(num, two), V::fma(h2, h, num));
  const F m = V::select(deep, V::mul(V::mul(x, h), h), V::mul(x, V::div(num, den)));
  return V::select(V::is_nan(x), V::add(x, x), m);
})
#undef NDGRAD_LOG_REDUCE

// 2^x: n = round(x), f = x - n exactly, e^(f ln 2) as exp's 1 + w (f ln 2 rounded: 2^-25 of
// |r| <= 0.35, a fifth of an ulp at most), then 2^n. Integers give powers of two exactly.
NDGRAD_LANES_CORE(exp2_core, {
  const F xc = V::min(V::max(x, V::set(-151.0f)), V::set(129.0f));
  const F magic = V::set(12582912.0f);
  const F n = V::sub(V::add(xc, magic), magic);
  const F r = V::mul(V::sub(xc, n), V::set(0.693147180559945309f));
  F w = V::fma(V::set(1.9875691500e-4f), r, V::set(1.3981999507e-3f));
  w = V::fma(w, r, V::set(8.3334519073e-3f));
  w = V::fma(w, r, V::set(4.1665795894e-2f));
  w = V::fma(w, r, V::set(1.6666665459e-1f));
  w = V::fma(w, r, V::set(5.0000001201e-1f));
  w = V::fma(V::mul(r, r), w, r);
  return V::select(V::is_nan(x), V::add(x, x), V::scale(V::add(w, V::set(1.0f)), n));
})

// e^|x| / 2 = (1 + w) 2^(n - 1): no overflow below |x| = 89.4 (sinh and cosh reach FLT_MAX
// there, past exp's 88.7).
NDGRAD_LANES_CORE(half_exp_abs_core, {
  const F xc = V::min(V::abs(x), V::set(90.0f));
  NDGRAD_EXP_REDUCE(xc)
  return V::scale(V::add(w, V::set(1.0f)), V::sub(n, V::set(1.0f)));
})
// cosh = e^|x| / 2 + 1 / (4 (e^|x| / 2)): two positive terms.
NDGRAD_LANES_CORE(cosh_core, {
  const F h = half_exp_abs_core(x);
  return V::select(V::is_nan(x), V::add(x, x), V::add(h, V::div(V::set(0.25f), h)));
})
// sinh: |x| <= 1 an odd polynomial (Cephes's sinhf), where the difference would cancel; above,
// e^|x| / 2 - 1 / (4 (e^|x| / 2)), with x's sign.
NDGRAD_LANES_CORE(sinh_core, {
  const F ax = V::abs(x);
  const F z = V::mul(x, x);
  F p = V::fma(V::set(2.03721912945e-4f), z, V::set(8.33028376239e-3f));
  p = V::fma(p, z, V::set(1.66667160211e-1f));
  const F small = V::fma(V::mul(p, z), x, x);
  const F h = half_exp_abs_core(x);
  const F big = V::with_sign_of(V::sub(h, V::div(V::set(0.25f), h)), x);
  return V::select(V::is_nan(x), V::add(x, x), V::select(V::le(ax, V::set(1.0f)), small, big));
})

// atan (Cephes's atanf): |x| > tan(3 pi / 8): pi/2 + atan(-1/|x|); > tan(pi / 8):
// pi/4 + atan((|x| - 1) / (|x| + 1)); one division serves the three. pi/2 and pi/4 in two parts.
NDGRAD_LANES_CORE(atan_core, {
  const F ax = V::abs(x), one = V::set(1.0f), zero = V::set(0.0f);
  const V::M big = V::gt(ax, V::set(2.414213562373095f));
  const V::M mid = V::gt(ax, V::set(0.4142135623730950f));
  const F num = V::select(big, V::set(-1.0f), V::select(mid, V::sub(ax, one), ax));
  const F den = V::select(big, ax, V::select(mid, V::add(ax, one), one));
  const F t = V::div(num, den);
  const F z = V::mul(t, t);
  F p = V::fma(V::set(8.05374449538e-2f), z, V::set(-1.38776856032e-1f));
  p = V::fma(p, z, V::set(1.99777106478e-1f));
  p = V::fma(p, z, V::set(-3.33329491539e-1f));
  const F poly = V::fma(V::mul(p, z), t, t);
  const F hi = V::select(big, V::set(1.57079637f), V::select(mid, V::set(0.785398185f), zero));
  const F lo =
      V::select(big, V::set(-4.37113883e-8f), V::select(mid, V::set(-2.18556941e-8f), zero));
  const F a = V::add(hi, V::add(lo, poly));
  return V::select(V::is_nan(x), V::add(x, x), V::with_sign_of(a, x));
})

// asin and acos (Cephes's asinf): for t = |x| <= 1/2, asin t = t + t z P(z) with z = t^2; above,
// asin t = pi/2 - 2 asin(sqrt(z)) with z = (1 - t) / 2 (exact). acos x = pi/2 - asin x below
// |x| = 1/2, 2 asin(sqrt(z)) above it and pi - 2 asin(sqrt(z)) below -1/2. |x| > 1 gives NaN
// (the square root of a negative z).
#define NDGRAD_ASIN_PARTS                                                                     \
  const F ax = V::abs(x);                                                                     \
  const V::M big = V::gt(ax, V::set(0.5f));                                                   \
  const F z = V::select(big, V::mul(V::set(0.5f), V::sub(V::set(1.0f), ax)), V::mul(ax, ax)); \
  const F t = V::select(big, V::sqrt(z), ax);                                                 \
  F p = V::fma(V::set(4.2163199048e-2f), z, V::set(2.4181311049e-2f));                        \
  p = V::fma(p, z, V::set(4.5470025998e-2f));                                                 \
  p = V::fma(p, z, V::set(7.4953002686e-2f));                                                 \
  p = V::fma(p, z, V::set(1.6666752422e-1f));                                                 \
  const F a = V::fma(V::mul(p, z), t, t); /* asin t */                                        \
  const F pio2_hi = V::set(1.57079637f), pio2_lo = V::set(-4.37113883e-8f);
NDGRAD_LANES_CORE(asin_core, {
  NDGRAD_ASIN_PARTS
  const F r = V::select(big, V::sub(pio2_hi, V::fms(V::set(2.0f), a, pio2_lo)), a);
  return V::select(V::is_nan(x), V::add(x, x), V::with_sign_of(r, x));
})
NDGRAD_LANES_CORE(acos_core, {
  NDGRAD_ASIN_PARTS
  const F two_a = V::add(a, a);
  // pi - 2a = 2 (pi/2) - 2a, the parts doubled exactly.
  const F below = V::sub(V::add(pio2_hi, pio2_hi), V::sub(two_a, V::add(pio2_lo, pio2_lo)));
  const F middle = V::sub(pio2_hi, V::sub(V::with_sign_of(a, x), pio2_lo));
  const F r = V::select(big, V::select(V::lt(x, V::set(0.0f)), below, two_a), middle);
  return V::select(V::is_nan(x), V::add(x, x), r);
})
#undef NDGRAD_ASIN_PARTS

// asinh (Cephes's asinhf): |x| < 1/2 an odd polynomial; up to 1500 log(|x| + sqrt(x^2 + 1));
// beyond, log |x| + log 2 (x^2 would overflow first). x's sign.
NDGRAD_LANES_CORE(asinh_core, {
  const F ax = V::abs(x);
  const F z = V::mul(x, x);
  F p = V::fma(V::set(2.0122003309e-2f), z, V::set(-4.2699340972e-2f));
  p = V::fma(p, z, V::set(7.4847586088e-2f));
  p = V::fma(p, z, V::set(-1.6666288134e-1f));
  const F small = V::fma(V::mul(p, z), ax, ax);
  const V::M huge = V::gt(ax, V::set(1500.0f));
  const F l = log_core(V::select(huge, ax, V::add(ax, V::sqrt(V::add(z, V::set(1.0f))))));
  const F large = V::select(huge, V::add(l, V::set(0.693147180559945309f)), l);
  const F r = V::select(V::lt(ax, V::set(0.5f)), small, large);
  return V::select(V::is_nan(x), V::add(x, x), V::with_sign_of(r, x));
})
// acosh (Cephes's acoshf): x - 1 < 1/2: sqrt(2 (x - 1)) P(x - 1); up to 1500
// log(x + sqrt((x - 1)(x + 1))); beyond, log x + log 2. Below 1: NaN.
NDGRAD_LANES_CORE(acosh_core, {
  const F one = V::set(1.0f);
  const F z = V::sub(x, one);
  F p = V::fma(V::set(1.7596881071e-3f), z, V::set(-7.5272886713e-3f));
  p = V::fma(p, z, V::set(2.6454905019e-2f));
  p = V::fma(p, z, V::set(-1.1784741703e-1f));
  p = V::fma(p, z, V::set(1.4142135263e0f));
  const F near_one = V::mul(p, V::sqrt(z));
  const V::M huge = V::gt(x, V::set(1500.0f));
  const F l = log_core(V::select(huge, x, V::add(x, V::sqrt(V::mul(z, V::add(x, one))))));
  const F large = V::select(huge, V::add(l, V::set(0.693147180559945309f)), l);
  const F r = V::select(V::lt(z, V::set(0.5f)), near_one, large);
  const F nan = V::set(bits_to_float(0x7fc00000));
  return V::select(V::is_nan(x), V::add(x, x), V::select(V::lt(x, one), nan, r));
})
// atanh: |x| < 1/2 an odd polynomial (Cephes's atanhf); above, log1p(2|x| / (1 - |x|)) / 2
// (1 - |x| exact there), with x's sign: +-1 gives +-inf, |x| > 1 NaN.
NDGRAD_LANES_CORE(atanh_core, {
  const F ax = V::abs(x);
  const F z = V::mul(x, x);
  F p = V::fma(V::set(1.81740078349e-1f), z, V::set(8.24370301058e-2f));
  p = V::fma(p, z, V::set(1.46691431730e-1f));
  p = V::fma(p, z, V::set(1.99782164500e-1f));
  p = V::fma(p, z, V::set(3.33337300303e-1f));
  const F small = V::fma(V::mul(p, z), ax, ax);
  const F large =
      V::mul(V::set(0.5f), log1p_core(V::div(V::add(ax, ax), V::sub(V::set(1.0f), ax))));
  const F r = V::select(V::lt(ax, V::set(0.5f)), small, large);
  return V::select(V::is_nan(x), V::add(x, x), V::with_sign_of(r, x));
})

// cbrt: |x| = m 2^e = mm 2^(3q) with mm = m 2^(e - 3q) in [1, 8); cbrt(mm) from a cubic (1.4%),
// one Halley step (y (y^3 + 2mm) / (2y^3 + mm), to about 1e-6) and one Newton step on the
// residual y^3 - mm computed to twice float's precision (so that a cube's root comes out exact);
// then 2^q and x's sign. +-0, +-inf and NaN as themselves.
NDGRAD_LANES_CORE(cbrt_core, {
  const F a = V::abs(x), magic = V::set(12582912.0f);
  const F e = V::exponent(a);
  // q = floor(e / 3): e / 3 - 0.4 rounded (rem / 3 - 0.4 lies in [-0.4, 0.27]).
  const F q = V::sub(V::add(V::fma(e, V::set(1.0f / 3.0f), V::set(-0.4f)), magic), magic);
  const F rem = V::fnma(q, V::set(3.0f), e);
  const F mm = V::mul(V::mantissa(a),
                      V::select(V::eq(rem, V::set(0.0f)), V::set(1.0f),
                                V::select(V::eq(rem, V::set(1.0f)), V::set(2.0f), V::set(4.0f))));
  F y = V::fma(V::set(1.9168345e-3f), mm, V::set(-3.7498120e-2f));
  y = V::fma(y, mm, V::set(3.4002912e-1f));
  y = V::fma(y, mm, V::set(7.0912069e-1f));
  const F y3 = V::mul(V::mul(y, y), y);
  y = V::mul(y, V::div(V::add(y3, V::add(mm, mm)), V::add(V::add(y3, y3), mm)));
  const F yy = V::mul(y, y);
  const F residual = V::fma(V::fms(y, y, yy), y, V::fms(yy, y, mm));
  y = V::sub(y, V::div(residual, V::mul(V::set(3.0f), yy)));
  const F r = V::with_sign_of(V::scale(y, q), x);
  const V::M as_is = V::or_(
      V::is_nan(x), V::or_(V::eq(a, V::set(0.0f)), V::eq(a, V::set(bits_to_float(0x7f800000)))));
  return V::select(as_is, V::add(x, x), r);
})

// erf: for |x| < 1, x + x P(x^2); above, 1 - e^R(|x|) with R a fit of log(erfc(a)) on
// [1, 3.92] in powers of a - 1 (exact at the left end, where erfc is largest) and e^R by
// n ln 2 + r and a Taylor polynomial to r^6; past 3.92 the result rounds to +-1 (R is taken at
// 3.92). P and R are weighted least-squares fits (bench/NOTES.md): every float is within 1.1
// ulp of float64's erf (an exhaustive check). NaN: the small branch, NaN.
NDGRAD_LANES_CORE(erf_core, {
  const F a = V::abs(x);
  const F s = V::mul(x, x);
  F p = V::fma(V::set(7.882499631e-05f), s, V::set(-8.018857916e-04f));
  p = V::fma(p, s, V::set(5.189312622e-03f));
  p = V::fma(p, s, V::set(-2.685432881e-02f));
  p = V::fma(p, s, V::set(1.128359735e-01f));
  p = V::fma(p, s, V::set(-3.761262596e-01f));
  p = V::fma(p, s, V::set(1.283791661e-01f));
  const F small = V::fma(x, p, x);
  const F u = V::sub(V::min(a, V::set(3.92f)), V::set(1.0f));
  F q = V::fma(V::set(1.863895159e-04f), u, V::set(-1.829075743e-03f));
  q = V::fma(q, u, V::set(9.894574061e-03f));
  q = V::fma(q, u, V::set(-4.150269926e-02f));
  q = V::fma(q, u, V::set(-8.431178927e-01f));
  q = V::fma(q, u, V::set(-2.638966799e+00f));
  q = V::fma(q, u, V::set(-1.849605560e+00f));
  const F magic = V::set(12582912.0f);
  const F k = V::fma(q, V::set(1.44269502f), magic);
  const F n = V::sub(k, magic);
  // One part of ln 2 is enough: n (ln 2 - that) <= 5e-8 shifts R by a part of erfc that stays
  // far below half an ulp of erf.
  const F r = V::fnma(n, V::set(0.693147182f), q);
  F e = V::fma(V::set(1.0f / 720), r, V::set(1.0f / 120));
  e = V::fma(e, r, V::set(1.0f / 24));
  e = V::fma(e, r, V::set(1.0f / 6));
  e = V::fma(e, r, V::set(0.5f));
  e = V::fma(e, r, V::set(1.0f));
  e = V::fma(e, r, V::set(1.0f));
  const F big = V::fnma(e, V::pow2_of_rounded(k), V::set(1.0f));
  return V::select(V::ge(a, V::set(1.0f)), V::with_sign_of(big, x), small);
})

// logit as the functor computes it in float, log(x / (1 - x)).
NDGRAD_LANES_CORE(logit_core, { return log_core(V::div(x, V::sub(V::set(1.0f), x))); })
#undef NDGRAD_EXP_REDUCE

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
    for_cpu(name##_loop_avx512, name##_loop_avx2, name##_loop_baseline)(x, y, n);              \
  }                                                                                            \
  float name##_f32(float x) {                                                                  \
    return for_cpu(name##_one_avx512, name##_one_avx2, name##_one_baseline)(x);                \
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
NDGRAD_LANES_LOOPS(exp2)
NDGRAD_LANES_LOOPS(cosh)
NDGRAD_LANES_LOOPS(sinh)
NDGRAD_LANES_LOOPS(atan)
NDGRAD_LANES_LOOPS(asin)
NDGRAD_LANES_LOOPS(acos)
NDGRAD_LANES_LOOPS(asinh)
NDGRAD_LANES_LOOPS(acosh)
NDGRAD_LANES_LOOPS(atanh)
NDGRAD_LANES_LOOPS(logit)
NDGRAD_LANES_LOOPS(mish)
NDGRAD_LANES_LOOPS(cbrt)
NDGRAD_LANES_LOOPS(erf)
#undef NDGRAD_LANES_LOOPS

#ifdef NDGRAD_LANES_X86
#pragma GCC diagnostic pop
#endif

}  // namespace

}  // namespace ndgrad::kernels
