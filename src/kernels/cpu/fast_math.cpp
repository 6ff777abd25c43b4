#include "kernels/cpu/fast_math.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/lanes.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace ndgrad::kernels {

namespace {
double erfc_libm(double x) { return std::erfc(x); }
float gelu_libm(float x) {
  const double xd = x;
  return x == -INFINITY ? NAN
                        : static_cast<float>(0.5 * xd * erfc_libm(-xd * 0.70710678118654752440));
}
// out = block's results block by block (vectorized; the cores are defined for every input;
// block returns nonzero where a lane is not covered), then, in a block with a lane the core does
// not cover (past the range reduction's bound, or in a far tail), those lanes again with the
// scalar function. One pass over the input: a block whose output overlaps its input (in place,
// y == x) is first copied aside, 1 KiB in L1. (A first pass that only looked for such lanes
// cost sin 1.3x.) Always inlined into each version: with the functions as constants there, their
// bodies inline and the loop vectorizes (left as a call, gelu's took the functions as pointers,
// element by element: 14x slower than libtorch).
template <class Block, class Lane, class Scalar>
[[gnu::always_inline]] inline void blocks_with_fallback(const float* x, float* y, int64_t n,
                                                        Block block, Lane vector_lane,
                                                        Scalar scalar) {
  constexpr int64_t kBlock = 256;
  float saved[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t m = n - b < kBlock ? n - b : kBlock;
    const float* in = x + b;
    float* out = y + b;
    // In place (or an output starting before the input): the second pass must still see
    // the inputs. (An output starting after an overlapping input is not supported: the
    // previous block would have written over this one's inputs.)
    if (reinterpret_cast<uintptr_t>(in) < reinterpret_cast<uintptr_t>(out + m) &&
        reinterpret_cast<uintptr_t>(out) < reinterpret_cast<uintptr_t>(in + m)) {
      std::copy(in, in + m, saved);
      in = saved;
    }
    if (block(in, out, m))
      for (int64_t i = 0; i < m; ++i)
        if (!vector_lane(in[i])) out[i] = scalar(in[i]);
  }
}
// The same with a core of one element, whose loop the compiler vectorizes.
template <class Core, class Lane, class Scalar>
[[gnu::always_inline]] inline void loop_with_fallback(const float* x, float* y, int64_t n,
                                                      Core core, Lane vector_lane, Scalar scalar) {
  blocks_with_fallback(
      x, y, n,
      [core, vector_lane](const float* in, float* out, int64_t m) {
        int beyond = 0;  // an int: GCC vectorizes its or-reduction, not a bool's
        for (int64_t i = 0; i < m; ++i) {
          const float v = in[i];
          out[i] = core(v);
          beyond |= vector_lane(v) ? 0 : 1;
        }
        return beyond;
      },
      vector_lane, scalar);
}

// GELU in float: x Phi(x), with Phi(-t) = e^(-t^2/2) M(t) for t = |x| and M = Phi(-t) e^(t^2/2)
// (smooth, from 0.5 down to 0.05 on [0, 7.87]) from a table of 32 quintics, one per quarter of
// t, in u = 4t - i for i = 4t rounded (exact). The parts that decide the relative accuracy on the
// negative side, where x Phi(x) has no cancellation to hide behind, are carried in two floats:
// M's constant as hi + lo and x M as an exact product; -t^2 / 2 as hi + lo for the exponential,
// reduced by n ln 2 (the first part exact) to e^r = 1 + w = 1 + r + r^2 P(r). Then
//   x <= 0: (xh + (xh r + xh r^2 P + xl)) 2^n;   x > 0: x - x q with q = M (1 + w) 2^n <= 1/2.
// From 7.87 on the result is x (Phi(-7.87) < 2^-48); at and below -7.87 (and at -inf) libm's
// erfc in double, lane by lane. Every float is within 1.58 ulp of float64's
// x erfc(-x / sqrt 2) / 2 (an exhaustive check, bench/NOTES.md). The tables are weighted
// least-squares (Lawson) fits of M, each coefficient rounded to float before the next lower one
// is refitted; the exponential's polynomial the same for (e^r - 1 - r) / r^2 on |r| <= ln 2 / 2.
alignas(64) constexpr float kGeluPoly[7][32] = {
    {-0x1.79b9b8p-16f, -0x1.ec499ap-17f, -0x1.1d8d04p-17f, -0x1.54340cp-18f, -0x1.9f9cp-19f,
     -0x1.03ecb2p-19f, -0x1.4c66f4p-20f, -0x1.b205aap-21f, -0x1.20ef04p-21f, -0x1.87c96ep-22f,
     -0x1.0e3656p-22f, -0x1.7abff8p-23f, -0x1.0d7536p-23f, -0x1.84d66cp-24f, -0x1.1c46bp-24f,
     -0x1.a4d546p-25f, -0x1.3b204cp-25f, -0x1.dd1b4p-26f,  -0x1.6ce2bcp-26f, -0x1.19c166p-26f,
     -0x1.b7152ap-27f, -0x1.590e36p-27f, -0x1.1159bep-27f, -0x1.b462ep-28f,  -0x1.5ed4ep-28f,
     -0x1.1bf80ap-28f, -0x1.cea3bap-29f, -0x1.7b2928p-29f, -0x1.388ab4p-29f, -0x1.0306f8p-29f,
     -0x1.af9adap-30f, -0x1.69f5cp-30f},
    {0x1.fc1eaep-13f, 0x1.322bcep-13f, 0x1.77243ap-14f, 0x1.d7cb9p-15f,  0x1.300156p-15f,
     0x1.90cfbp-16f,  0x1.0de6e4p-16f, 0x1.72c686p-17f, 0x1.036b98p-17f, 0x1.714f66p-18f,
     0x1.0b1d2ap-18f, 0x1.88315ap-19f, 0x1.23f0ecp-19f, 0x1.b84856p-20f, 0x1.5005ap-20f,
     0x1.03590cp-20f, 0x1.948f4cp-21f, 0x1.3ea592p-21f, 0x1.fa9496p-22f, 0x1.96265ap-22f,
     0x1.4842fp-22f,  0x1.0b5266p-22f, 0x1.b67dfap-23f, 0x1.6a0abcp-23f, 0x1.2cce6ap-23f,
     0x1.f6d414p-24f, 0x1.a69f74p-24f, 0x1.651826p-24f, 0x1.2f3d3ep-24f, 0x1.02bab2p-24f,
     0x1.bb7e26p-25f, 0x1.7db7e4p-25f},
    {-0x1.1048e8p-9f,  -0x1.594f78p-10f, -0x1.c1dd06p-11f, -0x1.2c84a6p-11f, -0x1.9b00b2p-12f,
     -0x1.1f33fep-12f, -0x1.998056p-13f, -0x1.2962f2p-13f, -0x1.b75f18p-14f, -0x1.49badap-14f,
     -0x1.f62758p-15f, -0x1.838c4ep-15f, -0x1.2ed73p-15f,  -0x1.dec59ep-16f, -0x1.7e821ep-16f,
     -0x1.34a256p-16f, -0x1.f6a4f2p-17f, -0x1.9ccf8ep-17f, -0x1.55bbfep-17f, -0x1.1cff26p-17f,
     -0x1.dea728p-18f, -0x1.948dacp-18f, -0x1.57ff84p-18f, -0x1.262b4cp-18f, -0x1.f9cc9cp-19f,
     -0x1.b504fep-19f, -0x1.7b5fb8p-19f, -0x1.4acbd8p-19f, -0x1.21a61ep-19f, -0x1.fd4002p-20f,
     -0x1.c159cep-20f, -0x1.8de7a6p-20f},
    {0x1.ffff96p-7f,  0x1.5c5624p-7f,  0x1.e68188p-8f,  0x1.5bf7cp-8f,   0x1.fcc7eap-9f,
     0x1.7b79bp-9f,   0x1.204024p-9f,  0x1.bd45dap-10f, 0x1.5d2ffap-10f, 0x1.15aa62p-10f,
     0x1.bf399p-11f,  0x1.6c5e34p-11f, 0x1.2c08c4p-11f, 0x1.f2f5c8p-12f, 0x1.a29efep-12f,
     0x1.62200ap-12f, 0x1.2ddap-12f,   0x1.031b64p-12f, 0x1.bfbaeap-13f, 0x1.852b7ap-13f,
     0x1.542a98p-13f, 0x1.2ae288p-13f, 0x1.07e3e8p-13f, 0x1.d419f6p-14f, 0x1.a0eee2p-14f,
     0x1.74d5b8p-14f, 0x1.4ea506p-14f, 0x1.2d6b58p-14f, 0x1.106374p-14f, 0x1.edd68ep-15f,
     0x1.c0f9d2p-15f, 0x1.99522ep-15f},
    {-0x1.988452p-4f,  -0x1.2e8652p-4f, -0x1.cb062cp-5f, -0x1.63e072p-5f,  -0x1.19524ap-5f,
     -0x1.c49322p-6f,  -0x1.71c04cp-6f, -0x1.3253b6p-6f, -0x1.00f9dap-6f,  -0x1.b405ccp-7f,
     -0x1.75ab64p-7f,  -0x1.432b1ap-7f, -0x1.19cef2p-7f, -0x1.ef2cc8p-8f,  -0x1.b6038ap-8f,
     -0x1.85dc7cp-8f,  -0x1.5cf97cp-8f, -0x1.3a0094p-8f, -0x1.1be2c6p-8f,  -0x1.01c9bep-8f,
     -0x1.d614ecp-9f,  -0x1.ae369cp-9f, -0x1.8b1956p-9f, -0x1.6c06bap-9f,  -0x1.5068c2p-9f,
     -0x1.37c334p-9f,  -0x1.21ae92p-9f, -0x1.0dd422p-9f, -0x1.f7d59ep-10f, -0x1.d76972p-10f,
     -0x1.b9fa6ap-10f, -0x1.9f2e78p-10f},
    {0x1p-1f,        0x1.a7f808p-2f, 0x1.66027ap-2f, 0x1.337024p-2f, 0x1.0bdb2ep-2f, 0x1.d898dep-3f,
     0x1.a57056p-3f, 0x1.7b5abep-3f, 0x1.5845dcp-3f, 0x1.3aaddep-3f, 0x1.217252p-3f, 0x1.0bb968p-3f,
     0x1.f1b89cp-4f, 0x1.d0b31cp-4f, 0x1.b396fap-4f, 0x1.99c2b6p-4f, 0x1.82b4bcp-4f, 0x1.6e040ap-4f,
     0x1.5b5acep-4f, 0x1.4a724ap-4f, 0x1.3b0fbcp-4f, 0x1.2d01fep-4f, 0x1.201faap-4f, 0x1.1445a6p-4f,
     0x1.095608p-4f, 0x1.fe6e5ep-5f, 0x1.eba5fep-5f, 0x1.da2caep-5f, 0x1.c9e12p-5f,  0x1.baa644p-5f,
     0x1.ac6292p-5f, 0x1.9eff96p-5f},
    {0.0f,
     0x1.69e57p-30f,
     0x1.a98496p-27f,
     -0x1.086b3cp-27f,
     0x1.cef998p-33f,
     0x1.38de36p-32f,
     -0x1.a5db52p-29f,
     -0x1.a05f8ap-28f,
     0x1.5a54aap-28f,
     -0x1.cc2cfep-32f,
     0x1.8b805ep-30f,
     0x1.9bdb28p-28f,
     0x1.18f4ep-31f,
     0x1.04a88p-33f,
     -0x1.870edp-31f,
     0x1.b67676p-29f,
     -0x1.cdac8ap-30f,
     -0x1.1df0fcp-29f,
     -0x1.89d408p-29f,
     -0x1.bd93eep-30f,
     0x1.698efap-29f,
     0x1.84e722p-29f,
     -0x1.b4c90ap-29f,
     -0x1.a6909p-29f,
     0x1.8f62cp-29f,
     0x1.88df8cp-32f,
     0x1.6c52cep-31f,
     -0x1.6f5454p-30f,
     0x1.c91126p-30f,
     -0x1.7a1e28p-32f,
     0x1.7b7802p-30f,
     0x1.83646ep-34f},
};

constexpr float kGeluTableEnd = 7.87f;  // 4 t rounds to at most 31 below it
constexpr float kGeluTail = -7.87f;     // at and below it: libm (gelu_libm)
[[gnu::always_inline]] inline bool gelu_table_lane(float x) { return !(x <= kGeluTail); }

// The GELU core written once (a macro: a template would be compiled for the default target
// and could not inline the intrinsics) over V, one float (Scalar) or a vector of them (Avx2,
// Avx512): the same operations in the same order, so every version gives the same bits. V gives
// the arithmetic (fma one rounding), min(|x|, end) (the same for every x but NaN, whose result is
// x), the table lookup and the selects.
#define NDGRAD_GELU_TABLE_CORE                                                              \
  using F = V::F;                                                                           \
  const F tc = V::abs_at_most(x, kGeluTableEnd);                                            \
  /* i = 4 t rounded (m's low bits), u = 4 t - i exactly, in [-1/2, 1/2]. */                \
  const F m = V::fma(tc, V::set(4.0f), V::set(12582912.0f));                                \
  const V::Index ix = V::index(m);                                                          \
  const F u = V::fms(tc, V::set(4.0f), V::sub(m, V::set(12582912.0f)));                     \
  F p = V::lookup(kGeluPoly[0], ix);                                                        \
  for (int c = 1; c < 5; ++c) p = V::fma(p, u, V::lookup(kGeluPoly[c], ix));                \
  const F prod = V::fma(u, p, V::lookup(kGeluPoly[6], ix));                                 \
  const F c0 = V::lookup(kGeluPoly[5], ix);                                                 \
  const F mh = V::add(c0, prod);                                                            \
  const F ml = V::add(V::sub(c0, mh), prod); /* M = mh + ml (|prod| < c0) */                \
  /* e^(-t^2 / 2) = 2^n (1 + w), -t^2 / 2 = yh + yl exactly. */                             \
  const F h = V::mul(tc, V::set(-0.5f));                                                    \
  const F yh = V::mul(tc, h), yl = V::fms(tc, h, yh);                                       \
  const F k = V::fma(yh, V::set(1.44269504f), V::set(12582912.0f));                         \
  const F n = V::sub(k, V::set(12582912.0f));                                               \
  const F r1 = V::fnma(n, V::set(0.693359375f), yh); /* exact: 9 bits of ln 2 */            \
  const F r = V::add(r1, V::fnma(n, V::set(-2.12194440e-4f), yl));                          \
  const float ec[] = {0x1.6a1a12p-10f, 0x1.123fbp-7f, 0x1.555916p-5f, 0x1.55548ap-3f,       \
                      0x1.fffffcp-2f};                                                      \
  F e = V::set(ec[0]);                                                                      \
  for (int c = 1; c < 5; ++c) e = V::fma(e, r, V::set(ec[c]));                              \
  const F r2 = V::mul(r, r), w = V::fma(r2, e, r);                                          \
  const F s = V::pow2_of_rounded(k);                                                        \
  /* x < 0: x M (1 + w) 2^n with x M = xh + xl exactly. */                                  \
  const F xh = V::mul(x, mh);                                                               \
  const F xl = V::fma(x, ml, V::fms(x, mh, xh));                                            \
  const F below = V::mul(V::add(xh, V::fma(xh, r, V::fma(V::mul(xh, r2), e, xl))), s);      \
  /* x > 0: x - x q with q = M (1 + w) 2^n. */                                              \
  const F qm = V::mul(mh, s);                                                               \
  const F above = V::fnma(x, V::fma(qm, w, qm), x);                                         \
  /* +-0, inf and NaN as themselves, x + x (a signalling NaN quieted; -0 would give +0, inf \
     inf - inf). */                                                                         \
  return V::select(V::as_is(x), V::add(x, x), V::by_sign(x, below, above));

using lanes::Scalar;

[[gnu::always_inline]] inline float gelu_table_core(float x) {
  using V = Scalar;
  NDGRAD_GELU_TABLE_CORE
}

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12 takes the undefined pass-through operand inside _mm512_range_ps and _mm512_slli_epi32
// for an uninitialized read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define NDGRAD_AVX512 NDGRAD_LANES_AVX512
#define NDGRAD_AVX2 NDGRAD_LANES_AVX2
using lanes::Avx2;
using lanes::Avx512;

NDGRAD_AVX512 inline __m512 gelu_table_core(__m512 x) {
  using V = Avx512;
  NDGRAD_GELU_TABLE_CORE
}
NDGRAD_AVX2 inline __m256 gelu_table_core(__m256 x) {
  using V = Avx2;
  NDGRAD_GELU_TABLE_CORE
}

// A block of GELUs, W lanes a step (the last step masked or one by one); returns whether a lane
// is at or below the tail bound (or NaN is not: NaN stays NaN here).
struct GeluBlock512 {
  [[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] int operator()(const float* in, float* out,
                                                                       int64_t m) const {
    __m512 least = _mm512_set1_ps(0.0f);  // NaN lanes left out: min gives its second operand
    int64_t i = 0;
    for (; i + 16 <= m; i += 16) {
      const __m512 v = _mm512_loadu_ps(in + i);
      _mm512_storeu_ps(out + i, gelu_table_core(v));
      least = _mm512_min_ps(v, least);
    }
    if (i < m) {
      const __mmask16 live = static_cast<__mmask16>((1u << (m - i)) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(live, in + i);
      _mm512_mask_storeu_ps(out + i, live, gelu_table_core(v));
      least = _mm512_min_ps(v, least);
    }
    return _mm512_cmp_ps_mask(least, _mm512_set1_ps(kGeluTail), _CMP_LE_OQ) != 0;
  }
};
struct GeluBlock256 {
  [[gnu::target("avx2,fma")]] int operator()(const float* in, float* out, int64_t m) const {
    __m256 least = _mm256_set1_ps(0.0f);
    int64_t i = 0;
    for (; i + 8 <= m; i += 8) {
      const __m256 v = _mm256_loadu_ps(in + i);
      _mm256_storeu_ps(out + i, gelu_table_core(v));
      least = _mm256_min_ps(v, least);
    }
    int tail = _mm256_movemask_ps(_mm256_cmp_ps(least, _mm256_set1_ps(kGeluTail), _CMP_LE_OQ));
    for (; i < m; ++i) {
      out[i] = gelu_table_core(in[i]);
      tail |= gelu_table_lane(in[i]) ? 0 : 1;
    }
    return tail;
  }
};
#undef NDGRAD_AVX512
#undef NDGRAD_AVX2
#pragma GCC diagnostic pop
#endif
#undef NDGRAD_GELU_TABLE_CORE

// sin and cos (fast_math.hpp describes the reduction): q = n (n + 1 for cos) picks among
// sin(r), cos(r), -sin(r), -cos(r) by its low two bits, read from k = 1.5 * 2^23 + q.
#define NDGRAD_TRIG_CORE(cosine)                                                            \
  const F magic = V::set(12582912.0f);                                                      \
  const F k = V::fma(x, V::set(0x1.45f306p-1f), magic);                                     \
  const F n = V::sub(k, magic);                                                             \
  const F q = cosine ? V::add(k, V::set(1.0f)) : k;                                         \
  const F rh = V::fnma(n, V::set(-0x1.777a5cp-25f), V::fnma(n, V::set(0x1.921fb6p+0f), x)); \
  const F rl = V::mul(n, V::set(0x1.ee59dap-50f));                                          \
  const F z = V::mul(rh, rh);                                                               \
  F s = V::fma(V::set(-1.9515295891e-4f), z, V::set(8.3321608736e-3f));                     \
  s = V::fma(s, z, V::set(-1.6666654611e-1f));                                              \
  s = V::add(V::fma(V::mul(rh, z), s, rl), rh);                                             \
  F c = V::fma(V::set(2.443315711809948e-5f), z, V::set(-1.388731625493765e-3f));           \
  c = V::fma(c, z, V::set(4.166664568298827e-2f));                                          \
  c = V::add(V::sub(V::set(1.0f), V::mul(V::set(0.5f), z)),                                 \
             V::fms(V::mul(z, z), c, V::mul(rh, rl)));                                      \
  const F v = V::select(V::bit_set(q, 1), c, s);                                            \
  const F signed_v = V::select(V::bit_set(q, 2), V::neg(v), v);
// sin(-0.0) is -0.0 (rh + ... gives +0.0).
NDGRAD_LANES_CORE(sin_core, {
  NDGRAD_TRIG_CORE(false)
  return V::select(V::eq(x, V::set(0.0f)), x, signed_v);
})
NDGRAD_LANES_CORE(cos_core, {
  NDGRAD_TRIG_CORE(true)
  return signed_v;
})
// tan: t = tan(rh) + rl (1 + t^2) with Cephes's tanf polynomial (2.4 ulp near pi/4), t in even
// quadrants and -1 / t in odd ones. The polynomial is fitted on |r| <= pi/4; from 2^12 on, the
// float 2/pi can leave |r| up to 0.82 (near 2^20), and there s / c and -c / s take over (sin /
// cos alone: 3.7 ulp from x = 1/2 on). One division for all. -0.0 as sin.
NDGRAD_LANES_CORE(tan_core, {
  NDGRAD_TRIG_CORE(false)
  (void)signed_v;
  F p = V::fma(V::set(9.38540185543e-3f), z, V::set(3.11992232697e-3f));
  p = V::fma(p, z, V::set(2.44301354525e-2f));
  p = V::fma(p, z, V::set(5.34112807005e-2f));
  p = V::fma(p, z, V::set(1.33387994085e-1f));
  p = V::fma(p, z, V::set(3.33331568548e-1f));
  const F y = V::fma(V::mul(p, z), rh, rh);
  const F t = V::fma(rl, V::fma(y, y, V::set(1.0f)), y);
  const V::M odd = V::bit_set(q, 1);
  const V::M fitted = V::le(V::abs(rh), V::set(0.785398185f));
  const F num = V::select(fitted, V::select(odd, V::set(-1.0f), t), V::select(odd, V::neg(c), s));
  const F den = V::select(fitted, V::select(odd, t, V::set(1.0f)), V::select(odd, s, c));
  return V::select(V::eq(x, V::set(0.0f)), x, V::div(num, den));
})
#undef NDGRAD_TRIG_CORE

#if defined(__x86_64__) && defined(__GNUC__)
// kFn's function of v (the others' branches fold away).
#define NDGRAD_TRIG_OF(v) (kFn == 0 ? sin_core(v) : kFn == 1 ? cos_core(v) : tan_core(v))
// A block of sin, cos or tan, W lanes a step (the last step masked, or one by one); returns whether
// a lane is beyond the reduction's bound (or inf or NaN), for libm.
template <int kFn>  // 0 sin, 1 cos, 2 tan
struct TrigBlock512 {
  [[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] int operator()(const float* in, float* out,
                                                                       int64_t m) const {
    using V = lanes::Avx512;
    const __m512 bound = V::set(kTrigBound);
    __mmask16 beyond = 0;
    int64_t i = 0;
    for (; i + 16 <= m; i += 16) {
      const __m512 v = _mm512_loadu_ps(in + i);
      _mm512_storeu_ps(out + i, NDGRAD_TRIG_OF(v));
      beyond |= _mm512_cmp_ps_mask(V::abs(v), bound, _CMP_NLT_UQ);
    }
    if (i < m) {
      const __mmask16 live = static_cast<__mmask16>((1u << (m - i)) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(live, in + i);
      _mm512_mask_storeu_ps(out + i, live, NDGRAD_TRIG_OF(v));
      beyond |= _mm512_mask_cmp_ps_mask(live, V::abs(v), bound, _CMP_NLT_UQ);
    }
    return beyond != 0;
  }
};
template <int kFn>
struct TrigBlock256 {
  [[gnu::target("avx2,fma")]] int operator()(const float* in, float* out, int64_t m) const {
    using V = lanes::Avx2;
    const __m256 bound = V::set(kTrigBound);
    __m256 beyond = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= m; i += 8) {
      const __m256 v = _mm256_loadu_ps(in + i);
      _mm256_storeu_ps(out + i, NDGRAD_TRIG_OF(v));
      beyond = _mm256_or_ps(beyond, _mm256_cmp_ps(V::abs(v), bound, _CMP_NLT_UQ));
    }
    int tail = _mm256_movemask_ps(beyond);
    for (; i < m; ++i) {
      out[i] = NDGRAD_TRIG_OF(in[i]);
      tail |= trig_vector_lane(in[i]) ? 0 : 1;
    }
    return tail;
  }
};
#undef NDGRAD_TRIG_OF
#endif

// The bodies of the functions that call fma_f/fma_d by name, each compiled three times below.
[[gnu::always_inline]] inline float sin_one(float x) {
  return trig_vector_lane(x) ? sin_core(x) : std::sin(x);
}
[[gnu::always_inline]] inline float cos_one(float x) {
  return trig_vector_lane(x) ? cos_core(x) : std::cos(x);
}
[[gnu::always_inline]] inline float tan_one(float x) {
  return trig_vector_lane(x) ? tan_core(x) : std::tan(x);
}
[[gnu::always_inline]] inline float erfc_one(float x) {
  return erfc_vector_lane(x) ? erfc_f32_core(x) : static_cast<float>(erfc_libm(x));
}
[[gnu::always_inline]] inline float gelu_one(float x) {
  return gelu_table_lane(x) ? gelu_table_core(x) : gelu_libm(x);
}
[[gnu::always_inline]] inline void sin_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return sin_core(v); }, [](float v) { return trig_vector_lane(v); },
      [](float v) { return std::sin(v); });
}
[[gnu::always_inline]] inline void cos_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return cos_core(v); }, [](float v) { return trig_vector_lane(v); },
      [](float v) { return std::cos(v); });
}
[[gnu::always_inline]] inline void tan_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return tan_core(v); }, [](float v) { return trig_vector_lane(v); },
      [](float v) { return std::tan(v); });
}
[[gnu::always_inline]] inline void erfc_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return erfc_f32_core(v); },
      [](float v) { return erfc_vector_lane(v); },
      [](float v) { return static_cast<float>(erfc_libm(v)); });
}
[[gnu::always_inline]] inline void gelu_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return gelu_table_core(v); },
      [](float v) { return gelu_table_lane(v); }, gelu_libm);
}
}  // namespace

// Each compiled for AVX-512, for AVX2 with FMA and for baseline x86-64, picked by cpu().
// (target_clones cannot name AVX2 and FMA together, and its "arch=haswell" clone cannot
// inline functions compiled for the default architecture.) Elsewhere, once.
#if defined(__x86_64__) && defined(__GNUC__)
#define NDGRAD_FMA_VERSIONS(ret, name, body, params, args)                         \
  namespace {                                                                      \
  [[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] ret name##_avx512 params { \
    return body args;                                                              \
  }                                                                                \
  [[gnu::target("avx2,fma")]] ret name##_avx2 params { return body args; }         \
  ret name##_baseline params { return body args; }                                 \
  }                                                                                \
  ret name params { return for_cpu(name##_avx512, name##_avx2, name##_baseline) args; }
#else
#define NDGRAD_FMA_VERSIONS(ret, name, body, params, args) \
  ret name params { return body args; }
#endif
NDGRAD_FMA_VERSIONS(float, sin_f32, sin_one, (float x), (x))
NDGRAD_FMA_VERSIONS(float, cos_f32, cos_one, (float x), (x))
NDGRAD_FMA_VERSIONS(float, tan_f32, tan_one, (float x), (x))
NDGRAD_FMA_VERSIONS(float, erfc_f32, erfc_one, (float x), (x))
NDGRAD_FMA_VERSIONS(float, gelu_f32, gelu_one, (float x), (x))
NDGRAD_FMA_VERSIONS(void, erfc_f32_loop, erfc_loop, (const float* x, float* y, int64_t n),
                    (x, y, n))
#undef NDGRAD_FMA_VERSIONS
// GELU's vector versions are written with intrinsics (table lookups are permutes).
#if defined(__x86_64__) && defined(__GNUC__)
namespace {
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void gelu_f32_loop_avx512(const float* x,
                                                                                float* y,
                                                                                int64_t n) {
  blocks_with_fallback(
      x, y, n, GeluBlock512{}, [](float v) { return gelu_table_lane(v); }, gelu_libm);
}
#define NDGRAD_TRIG_LOOPS(name, cosine)                                                        \
  [[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void name##_f32_loop_avx512(           \
      const float* x, float* y, int64_t n) {                                                   \
    blocks_with_fallback(                                                                      \
        x, y, n, TrigBlock512<cosine>{}, [](float v) { return trig_vector_lane(v); },          \
        [](float v) { return std::name(v); });                                                 \
  }                                                                                            \
  [[gnu::target("avx2,fma")]] void name##_f32_loop_avx2(const float* x, float* y, int64_t n) { \
    blocks_with_fallback(                                                                      \
        x, y, n, TrigBlock256<cosine>{}, [](float v) { return trig_vector_lane(v); },          \
        [](float v) { return std::name(v); });                                                 \
  }
NDGRAD_TRIG_LOOPS(sin, 0)
NDGRAD_TRIG_LOOPS(cos, 1)
NDGRAD_TRIG_LOOPS(tan, 2)
#undef NDGRAD_TRIG_LOOPS
[[gnu::target("avx2,fma")]] void gelu_f32_loop_avx2(const float* x, float* y, int64_t n) {
  blocks_with_fallback(
      x, y, n, GeluBlock256{}, [](float v) { return gelu_table_lane(v); }, gelu_libm);
}
}  // namespace
#define NDGRAD_DISPATCH_LOOP(name, baseline)                                  \
  void name##_f32_loop(const float* x, float* y, int64_t n) {                 \
    for_cpu(name##_f32_loop_avx512, name##_f32_loop_avx2, baseline)(x, y, n); \
  }
NDGRAD_DISPATCH_LOOP(sin, sin_loop)
NDGRAD_DISPATCH_LOOP(cos, cos_loop)
NDGRAD_DISPATCH_LOOP(tan, tan_loop)
NDGRAD_DISPATCH_LOOP(gelu, gelu_loop)
#undef NDGRAD_DISPATCH_LOOP
#else
void sin_f32_loop(const float* x, float* y, int64_t n) { sin_loop(x, y, n); }
void cos_f32_loop(const float* x, float* y, int64_t n) { cos_loop(x, y, n); }
void tan_f32_loop(const float* x, float* y, int64_t n) { tan_loop(x, y, n); }
void gelu_f32_loop(const float* x, float* y, int64_t n) { gelu_loop(x, y, n); }
#endif
#define NDGRAD_F32_LOOP(name)                                               \
  NDGRAD_CLONES void name##_f32_loop(const float* x, float* y, int64_t n) { \
    for (int64_t i = 0; i < n; ++i) y[i] = name##_f32(x[i]);                \
  }
NDGRAD_F32_LOOP(floor)
NDGRAD_F32_LOOP(ceil)
NDGRAD_F32_LOOP(nearbyint)
NDGRAD_F32_LOOP(trunc)
NDGRAD_F32_LOOP(frac)
NDGRAD_F32_LOOP(abs)
NDGRAD_F32_LOOP(sqrt)
NDGRAD_F32_LOOP(rsqrt)
NDGRAD_F32_LOOP(hardsigmoid)
NDGRAD_F32_LOOP(hardswish)
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

// Merges a block of nb values (mean mb, M2 qb) into na values (mean ma, M2 qa).
inline void merge_moments(double na, double& ma, double& qa, double nb, double mb, double qb) {
  const double n = na + nb, d = mb - ma;
  ma += d * (nb / n);
  qa += qb + d * d * (na * nb / n);
}

// The mean and M2 of m values stride apart in two passes, the mean then the deviations: for a
// block whose shifted squares overflowed (d = x - one of the values can reach the block's whole
// spread, twice the largest deviation from the mean: float64 blocks spread past 1.3e154).
template <class T>
inline void two_pass_block(const T* b, int64_t m, int64_t stride, double* mean, double* m2) {
  // The mean as a sum of x / m: a plain sum of values past 1.8e305 overflowed, and a block
  // mean of inf made the merged variance NaN where it is inf.
  double mu = 0;
  for (int64_t i = 0; i < m; ++i) mu += static_cast<double>(b[i * stride]) / double(m);
  double q = 0;
  for (int64_t i = 0; i < m; ++i) {
    const double d = static_cast<double>(b[i * stride]) - mu;
    q += d * d;
  }
  *mean = mu;
  *m2 = q;
}

// Rows take one pass per block: the sums of d and d^2 for d = x - (the block's first value),
// as columns do below, in 32 double lanes (four AVX-512 registers a sum, so the adds overlap).
// (Two passes, the block's mean then its deviations, cost 1.4x the time.) One read stream from
// memory is latency-bound below the bandwidth: a prefetch 1024 values ahead makes it 1.3x faster.
template <class T>
[[gnu::always_inline]] inline void var_row_t(const T* x, int64_t n, double* mean, double* m2) {
  constexpr int64_t kBlock = 4096;
  constexpr int kLanes = 32;
  // Block means are kept relative to x[0] (K): merging subtracts them, and absolute means
  // far larger than the spread would lose the low bits of each block's offset.
  const double K = n > 0 ? static_cast<double>(x[0]) : 0.0;
  double ma = 0, qa = 0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t m = std::min(kBlock, n - start);
    const T* b = x + start;
    const double k = static_cast<double>(b[0]);
    double s1[kLanes] = {}, s2[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= m; i += kLanes) {
      for (int l = 0; l < kLanes; l += 64 / int(sizeof(T))) __builtin_prefetch(b + i + l + 1024);
      for (int l = 0; l < kLanes; ++l) {
        const double d = static_cast<double>(b[i + l]) - k;
        s1[l] += d;
        s2[l] += d * d;
      }
    }
    double t1 = 0, t2 = 0;
    for (int l = 0; l < kLanes; ++l) {
      t1 += s1[l];
      t2 += s2[l];
    }
    for (; i < m; ++i) {
      const double d = static_cast<double>(b[i]) - k;
      t1 += d;
      t2 += d * d;
    }
    const double db = t1 / double(m);
    double mb = (k - K) + db, qb = t2 - t1 * db;
    if (std::isinf(t2)) {
      two_pass_block(b, m, 1, &mb, &qb);
      mb -= K;
    }
    if (start == 0) {
      ma = mb;
      qa = qb;
    } else {
      merge_moments(double(start), ma, qa, double(m), mb, qb);
    }
  }
  *mean = K + ma;
  *m2 = qa;
}

#if defined(__x86_64__) && defined(__GNUC__)
// var_cols_t's sweep of eight float rows for the first multiple of 8 columns (returned): one
// float-to-double conversion, one subtraction and two multiply-adds a vector of 8 columns a row,
// where GCC's vectorization of the loop (a 16-float load split in halves) ran 1.35x slower.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] int64_t var_sweep8_avx512(
    const float* p, int64_t stride, int64_t cols, const double* k, double* s1, double* s2) {
  const __m512d one = _mm512_set1_pd(1.0);
  int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    const __m512d kc = _mm512_loadu_pd(k + c);
    __m512d t1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(p + c)), kc);
    __m512d t2 = _mm512_mul_pd(t1, t1);
    for (int j = 1; j < 8; ++j) {
      const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(p + j * stride + c)), kc);
      t1 = _mm512_fmadd_pd(d, one, t1);
      t2 = _mm512_fmadd_pd(d, d, t2);
    }
    _mm512_storeu_pd(s1 + c, _mm512_add_pd(_mm512_loadu_pd(s1 + c), t1));
    _mm512_storeu_pd(s2 + c, _mm512_add_pd(_mm512_loadu_pd(s2 + c), t2));
  }
  return c;
}
#endif

// Columns take one pass per block of rows: sums of d and d^2 for d = x - (the block's first
// row), which gives the block's mean and M2 = sum d^2 - (sum d)^2 / m. The shift is one of the
// block's values, so m (mean - shift)^2 <= m M2 and the subtraction loses at most log2(m) bits
// of double's 53. (Two passes over each block cost a second read from L2: about 1.5x slower.)
enum class VarIsa { baseline, fma, avx512 };
// One chunk of at most kVarChunk columns (var_cols_t takes them a chunk at a time, so that the
// scratch stays small however wide the input; a row's chunk is still 16 KiB of floats read in
// one run). k, s1, s2: scratch of cols values each.
constexpr int64_t kVarChunk = 4096;
template <class T, VarIsa kIsa>
[[gnu::always_inline]] inline void var_chunk(const T* x, int64_t rows, int64_t cols, int64_t stride,
                                             double* mean, double* m2, double* k, double* s1,
                                             double* s2) {
  // A block: its shifted sums lose at most log2(rows) bits of double's 53; merging is a few
  // multiply-adds a column (the block's weights are the same for every column). float32
  // results keep 24 bits: blocks of 1024 rows (from memory, 64-row blocks ran 1.5x slower: each
  // block's bookkeeping stalls the read stream); float64 results keep 64-row blocks.
  constexpr int64_t kRows = std::is_same_v<T, float> ? 1024 : 64;
  // mean[c] holds the mean relative to the first row's value (k_first) until the end, as
  // var_row_t keeps it.
  auto k_first = [x](int64_t c) { return static_cast<double>(x[c]); };
  for (int64_t c = 0; c < cols; ++c) mean[c] = m2[c] = 0;
  if (rows == 0) return;
  for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const int64_t m = std::min(kRows, rows - r0);
    const T* b = x + r0 * stride;
    for (int64_t c = 0; c < cols; ++c) {
      k[c] = static_cast<double>(b[c]);
      s1[c] = s2[c] = 0;
    }
    int64_t r = 0;
    for (; r + 8 <= m; r += 8) {    // eight rows a sweep: eight read streams, and the sums are
      const T* p = b + r * stride;  // loaded and stored once
      int64_t c = 0;
#if defined(__x86_64__) && defined(__GNUC__)
      if constexpr (kIsa == VarIsa::avx512 && std::is_same_v<T, float>)
        c = var_sweep8_avx512(p, stride, cols, k, s1, s2);
#endif
      for (; c < cols; ++c) {
        double t1 = static_cast<double>(p[c]) - k[c], t2 = t1 * t1;
        for (int j = 1; j < 8; ++j) {
          const double d = static_cast<double>(p[j * stride + c]) - k[c];
          if constexpr (kIsa != VarIsa::baseline) {  // both sums on the multiply-add units, the
            t1 = __builtin_fma(d, 1.0, t1);  // adders left to the conversions and subtractions
            t2 = __builtin_fma(d, d, t2);    // (t1 is the same)
          } else {
            t1 += d;
            t2 += d * d;
          }
        }
        s1[c] += t1;
        s2[c] += t2;
      }
    }
    for (; r < m; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(b[r * stride + c]) - k[c];
        s1[c] += d;
        s2[c] += d * d;
      }
    bool overflow = false;
    for (int64_t c = 0; c < cols; ++c) overflow |= std::isinf(s2[c]);
    const double inv_m = 1.0 / double(m), w = double(m) / double(r0 + m),
                 wq = double(r0) * w;  // merge_moments's weights, the same for every column
    if (!overflow) {
      for (int64_t c = 0; c < cols; ++c) {  // (vectorized)
        const double db = s1[c] * inv_m;
        const double mb = (k[c] - k_first(c)) + db, qb = s2[c] - s1[c] * db;
        const double d = mb - mean[c];
        mean[c] = r0 == 0 ? mb : mean[c] + d * w;
        m2[c] = r0 == 0 ? qb : m2[c] + (qb + d * d * wq);
      }
      continue;
    }
    for (int64_t c = 0; c < cols; ++c) {
      const double db = s1[c] * inv_m;
      double mb = (k[c] - k_first(c)) + db, qb = s2[c] - s1[c] * db;
      if (std::isinf(s2[c])) {
        two_pass_block(b + c, m, stride, &mb, &qb);
        mb -= k_first(c);
      }
      const double d = mb - mean[c];
      mean[c] = r0 == 0 ? mb : mean[c] + d * w;
      m2[c] = r0 == 0 ? qb : m2[c] + (qb + d * d * wq);
    }
  }
  for (int64_t c = 0; c < cols; ++c) mean[c] += k_first(c);
}

template <class T, VarIsa kIsa>
[[gnu::always_inline]] inline void var_cols_t(const T* x, int64_t rows, int64_t cols,
                                              int64_t stride, double* mean, double* m2) {
  const int64_t chunk = std::min(cols, kVarChunk);
  std::vector<double> scratch(static_cast<size_t>(3 * chunk));
  for (int64_t c0 = 0; c0 < cols; c0 += chunk) {
    const int64_t n = std::min(chunk, cols - c0);
    var_chunk<T, kIsa>(x + c0, rows, n, stride, mean + c0, m2 + c0, scratch.data(),
                       scratch.data() + chunk, scratch.data() + 2 * chunk);
  }
}

template <class T>
[[gnu::always_inline]] inline void add_loop(T* __restrict acc, const T* __restrict v, int64_t n,
                                            bool subtract) {
  if (subtract)
    for (int64_t i = 0; i < n; ++i) acc[i] -= v[i];
  else
    for (int64_t i = 0; i < n; ++i) acc[i] += v[i];
}
}  // namespace

NDGRAD_CLONES void var_row(const float* x, int64_t n, double* mean, double* m2) {
  var_row_t(x, n, mean, m2);
}
NDGRAD_CLONES void var_row(const double* x, int64_t n, double* mean, double* m2) {
  var_row_t(x, n, mean, m2);
}
namespace {
template <class T>
using VarCols = void (*)(const T*, int64_t, int64_t, int64_t, double*, double*);
template <class T>
void var_cols_baseline(const T* x, int64_t rows, int64_t cols, int64_t stride, double* mean,
                       double* m2) {
  var_cols_t<T, VarIsa::baseline>(x, rows, cols, stride, mean, m2);
}
#if defined(__x86_64__) && defined(__GNUC__)
template <class T>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,fma")]] void var_cols_avx512(
    const T* x, int64_t rows, int64_t cols, int64_t stride, double* mean, double* m2) {
  var_cols_t<T, VarIsa::avx512>(x, rows, cols, stride, mean, m2);
}
template <class T>
[[gnu::target("avx2,fma")]] void var_cols_avx2(const T* x, int64_t rows, int64_t cols,
                                               int64_t stride, double* mean, double* m2) {
  var_cols_t<T, VarIsa::fma>(x, rows, cols, stride, mean, m2);
}
template <class T>
VarCols<T> var_cols_for_cpu() {
  return for_cpu<VarCols<T>>(var_cols_avx512<T>, var_cols_avx2<T>, var_cols_baseline<T>);
}
#else
template <class T>
VarCols<T> var_cols_for_cpu() {
  return var_cols_baseline<T>;
}
#endif
}  // namespace

void var_cols(const float* x, int64_t rows, int64_t cols, int64_t stride, double* mean,
              double* m2) {
  var_cols_for_cpu<float>()(x, rows, cols, stride, mean, m2);
}
void var_cols(const double* x, int64_t rows, int64_t cols, int64_t stride, double* mean,
              double* m2) {
  var_cols_for_cpu<double>()(x, rows, cols, stride, mean, m2);
}

NDGRAD_CLONES void add_to(float* acc, const float* v, int64_t n, bool subtract) {
  add_loop(acc, v, n, subtract);
}
NDGRAD_CLONES void add_to(double* acc, const double* v, int64_t n, bool subtract) {
  add_loop(acc, v, n, subtract);
}

}  // namespace ndgrad::kernels
