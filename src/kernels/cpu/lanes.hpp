#pragma once
// Lane types for the float32 math cores that are written once and compiled three times: one
// float (Scalar), eight (Avx2, with FMA) and sixteen (Avx512). A core is a macro body over V
// (NDGRAD_LANES_CORE below; a template would be compiled for the default target and could not
// inline the intrinsics): the same operations in the same order in every version, each one
// rounding (fma too), so the loops, the one-element functions and every CPU give the same bits.
// Included by the files that compile such cores (fast_math.cpp, fast_math_lanes.cpp), with
// -ffp-contract=off -fno-trapping-math (CMakeLists.txt).
//
// The operations: set(v) broadcasts; fms(a, b, c) = a b - c and fnma(a, b, c) = c - a b;
// min(a, b) = a < b ? a : b and max(a, b) = a > b ? a : b (b where either is NaN, as the
// instructions); lt/le/gt/ge/eq/is_nan give masks, or_ joins two and select(m, a, b)
// picks a where m is set; bit_set(k, b) tests bit b of k's bits; abs clears the sign, neg_abs
// sets it, neg flips it; with_sign_of(v, x) is v (whose sign bit must be clear) with x's sign;
// scale(a, n) = a 2^n for an integer-valued float n in [-151, 129] and a in [1/2, 2], rounded
// once (AVX-512's vscalefps; elsewhere two exact steps of at most 2^+-75, the second rounding;
// n must be finite); pow2_of_rounded(k) = 2^n for k = 1.5 * 2^23 + n, |n| <= 127; mantissa(x)
// in [1, 2) and exponent(x) (a float) with x = mantissa 2^exponent, for finite x > 0
// (subnormals too; other x give values a core must not use); abs_at_most(x, end) =
// min(|x|, end) for x not NaN (NaN: end, or NaN under AVX-512; a core selects such lanes away);
// as_is(x): +-0, +inf or NaN; by_sign(x, a, b): a where x's sign bit is set, else b;
// index/lookup read 32-entry tables.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/fast_math.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NDGRAD_LANES_X86 1
#endif

namespace ndgrad::kernels::lanes {

[[gnu::always_inline]] inline int32_t float_bits(float x) {
  int32_t i;
  std::memcpy(&i, &x, sizeof i);
  return i;
}

struct Scalar {
  using F = float;
  using M = bool;
  using Index = int32_t;
  [[gnu::always_inline]] static F set(float v) { return v; }
  [[gnu::always_inline]] static F add(F a, F b) { return a + b; }
  [[gnu::always_inline]] static F sub(F a, F b) { return a - b; }
  [[gnu::always_inline]] static F mul(F a, F b) { return a * b; }
  [[gnu::always_inline]] static F div(F a, F b) { return a / b; }
  [[gnu::always_inline]] static F sqrt(F a) { return __builtin_sqrtf(a); }
  [[gnu::always_inline]] static F fma(F a, F b, F c) { return fma_f(a, b, c); }
  [[gnu::always_inline]] static F fms(F a, F b, F c) { return fma_f(a, b, -c); }
  [[gnu::always_inline]] static F fnma(F a, F b, F c) { return fma_f(-a, b, c); }
  [[gnu::always_inline]] static F min(F a, F b) { return a < b ? a : b; }
  [[gnu::always_inline]] static F max(F a, F b) { return a > b ? a : b; }
  [[gnu::always_inline]] static F abs(F x) { return bits_to_float(float_bits(x) & 0x7fffffff); }
  [[gnu::always_inline]] static F neg(F x) { return -x; }
  [[gnu::always_inline]] static M bit_set(F k, int32_t bit) { return (float_bits(k) & bit) != 0; }
  [[gnu::always_inline]] static F neg_abs(F x) {
    return bits_to_float(static_cast<int32_t>(static_cast<uint32_t>(float_bits(x)) | 0x80000000u));
  }
  [[gnu::always_inline]] static F with_sign_of(F v, F x) {
    return bits_to_float(float_bits(v) | (float_bits(x) & static_cast<int32_t>(0x80000000u)));
  }
  [[gnu::always_inline]] static M lt(F a, F b) { return a < b; }
  [[gnu::always_inline]] static M le(F a, F b) { return a <= b; }
  [[gnu::always_inline]] static M gt(F a, F b) { return a > b; }
  [[gnu::always_inline]] static M ge(F a, F b) { return a >= b; }
  [[gnu::always_inline]] static M eq(F a, F b) { return a == b; }
  [[gnu::always_inline]] static M is_nan(F x) { return x != x; }
  [[gnu::always_inline]] static M or_(M a, M b) { return a | b; }
  [[gnu::always_inline]] static F select(M m, F a, F b) { return m ? a : b; }
  [[gnu::always_inline]] static F scale(F a, F n) {
    const int32_t ni = static_cast<int32_t>(n), n1 = ni >> 1, n2 = ni - n1;
    return a * bits_to_float((n1 + 127) << 23) * bits_to_float((n2 + 127) << 23);
  }
  [[gnu::always_inline]] static F pow2_of_rounded(F k) {
    return bits_to_float(
        static_cast<int32_t>(static_cast<uint32_t>(float_bits(k) - (0x4B400000 - 127)) << 23));
  }
  // Subnormals scaled by 2^23 first.
  [[gnu::always_inline]] static F mantissa(F x) {
    const int32_t bits = float_bits(x < 0x1p-126f ? x * 0x1p23f : x);
    return bits_to_float((bits & 0x007fffff) | 0x3f800000);
  }
  [[gnu::always_inline]] static F exponent(F x) {
    const bool tiny = x < 0x1p-126f;
    const int32_t bits = float_bits(tiny ? x * 0x1p23f : x);
    return static_cast<float>(((bits >> 23) & 0xff) - (tiny ? 127 + 23 : 127));
  }
  [[gnu::always_inline]] static F abs_at_most(F x, float end) {
    const F t = x < 0 ? -x : x;
    return t < end ? t : end;
  }
  [[gnu::always_inline]] static Index index(F m) { return float_bits(m) & 31; }
  [[gnu::always_inline]] static F lookup(const float* table, Index j) { return table[j]; }
  [[gnu::always_inline]] static bool as_is(F x) {
    return (x == 0.0f) | (x == bits_to_float(0x7f800000)) | (x != x);
  }
  [[gnu::always_inline]] static F by_sign(F x, F a, F b) { return std::signbit(x) ? a : b; }
};

#ifdef NDGRAD_LANES_X86
#define NDGRAD_LANES_AVX512 \
  [[gnu::target("avx512f,avx512bw,avx512dq,avx512vl"), gnu::always_inline]]
#define NDGRAD_LANES_AVX2 [[gnu::target("avx2,fma"), gnu::always_inline]]
// Sixteen floats; the 32-entry tables are two registers for vpermt2ps.
struct Avx512 {
  using F = __m512;
  using M = __mmask16;
  using Index = __m512i;
  NDGRAD_LANES_AVX512 static F set(float v) { return _mm512_set1_ps(v); }
  NDGRAD_LANES_AVX512 static F add(F a, F b) { return _mm512_add_ps(a, b); }
  NDGRAD_LANES_AVX512 static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  NDGRAD_LANES_AVX512 static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  NDGRAD_LANES_AVX512 static F div(F a, F b) { return _mm512_div_ps(a, b); }
  NDGRAD_LANES_AVX512 static F sqrt(F a) { return _mm512_sqrt_ps(a); }
  NDGRAD_LANES_AVX512 static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  NDGRAD_LANES_AVX512 static F fms(F a, F b, F c) { return _mm512_fmsub_ps(a, b, c); }
  NDGRAD_LANES_AVX512 static F fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  NDGRAD_LANES_AVX512 static F min(F a, F b) { return _mm512_min_ps(a, b); }
  NDGRAD_LANES_AVX512 static F max(F a, F b) { return _mm512_max_ps(a, b); }
  NDGRAD_LANES_AVX512 static F abs(F x) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
  }
  NDGRAD_LANES_AVX512 static F neg(F x) { return _mm512_xor_ps(x, _mm512_set1_ps(-0.0f)); }
  NDGRAD_LANES_AVX512 static M bit_set(F k, int32_t bit) {
    return _mm512_test_epi32_mask(_mm512_castps_si512(k), _mm512_set1_epi32(bit));
  }
  NDGRAD_LANES_AVX512 static F neg_abs(F x) {
    return _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0x80000000u))));
  }
  NDGRAD_LANES_AVX512 static F with_sign_of(F v, F x) {
    return _mm512_or_ps(v, _mm512_and_ps(_mm512_set1_ps(-0.0f), x));
  }
  NDGRAD_LANES_AVX512 static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  NDGRAD_LANES_AVX512 static M le(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  NDGRAD_LANES_AVX512 static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  NDGRAD_LANES_AVX512 static M ge(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  NDGRAD_LANES_AVX512 static M eq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  NDGRAD_LANES_AVX512 static M is_nan(F x) { return _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q); }
  NDGRAD_LANES_AVX512 static M or_(M a, M b) { return static_cast<M>(a | b); }
  NDGRAD_LANES_AVX512 static F select(M m, F a, F b) { return _mm512_mask_blend_ps(m, b, a); }
  NDGRAD_LANES_AVX512 static F scale(F a, F n) { return _mm512_scalef_ps(a, n); }
  NDGRAD_LANES_AVX512 static F pow2_of_rounded(F k) {
    const __m512i e = _mm512_sub_epi32(_mm512_castps_si512(k), _mm512_set1_epi32(0x4B400000 - 127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  NDGRAD_LANES_AVX512 static F mantissa(F x) {
    return _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  }
  NDGRAD_LANES_AVX512 static F exponent(F x) { return _mm512_getexp_ps(x); }
  NDGRAD_LANES_AVX512 static F abs_at_most(F x, float end) {
    return _mm512_range_ps(x, set(end), 0x0a);  // the smaller magnitude, sign cleared
  }
  NDGRAD_LANES_AVX512 static Index index(F m) { return _mm512_castps_si512(m); }  // 5 low bits
  NDGRAD_LANES_AVX512 static F lookup(const float* table, Index j) {
    return _mm512_permutex2var_ps(_mm512_load_ps(table), j, _mm512_load_ps(table + 16));
  }
  NDGRAD_LANES_AVX512 static M as_is(F x) {
    return _mm512_fpclass_ps_mask(x, 0x01 | 0x02 | 0x04 | 0x08 | 0x80);  // NaNs, +-0, +inf
  }
  NDGRAD_LANES_AVX512 static F by_sign(F x, F a, F b) {
    return _mm512_mask_blend_ps(_mm512_movepi32_mask(_mm512_castps_si512(x)), b, a);
  }
};
// Eight floats; masks are all-ones lanes; a 32-entry table is four vpermps and three blends on
// the index's bits 3 and 4.
struct Avx2 {
  using F = __m256;
  using M = __m256;
  struct Index {
    __m256i j;
    __m256 bit3, bit4;  // as sign bits, for blendv
  };
  NDGRAD_LANES_AVX2 static F set(float v) { return _mm256_set1_ps(v); }
  NDGRAD_LANES_AVX2 static F add(F a, F b) { return _mm256_add_ps(a, b); }
  NDGRAD_LANES_AVX2 static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  NDGRAD_LANES_AVX2 static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  NDGRAD_LANES_AVX2 static F div(F a, F b) { return _mm256_div_ps(a, b); }
  NDGRAD_LANES_AVX2 static F sqrt(F a) { return _mm256_sqrt_ps(a); }
  NDGRAD_LANES_AVX2 static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  NDGRAD_LANES_AVX2 static F fms(F a, F b, F c) { return _mm256_fmsub_ps(a, b, c); }
  NDGRAD_LANES_AVX2 static F fnma(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  NDGRAD_LANES_AVX2 static F min(F a, F b) { return _mm256_min_ps(a, b); }
  NDGRAD_LANES_AVX2 static F max(F a, F b) { return _mm256_max_ps(a, b); }
  NDGRAD_LANES_AVX2 static F abs(F x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
  NDGRAD_LANES_AVX2 static F neg(F x) { return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f)); }
  NDGRAD_LANES_AVX2 static M bit_set(F k, int32_t bit) {
    const __m256i b = _mm256_set1_epi32(bit);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(k), b), b));
  }
  NDGRAD_LANES_AVX2 static F neg_abs(F x) { return _mm256_or_ps(_mm256_set1_ps(-0.0f), x); }
  NDGRAD_LANES_AVX2 static F with_sign_of(F v, F x) {
    return _mm256_or_ps(v, _mm256_and_ps(_mm256_set1_ps(-0.0f), x));
  }
  NDGRAD_LANES_AVX2 static M lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  NDGRAD_LANES_AVX2 static M le(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  NDGRAD_LANES_AVX2 static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  NDGRAD_LANES_AVX2 static M ge(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  NDGRAD_LANES_AVX2 static M eq(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  NDGRAD_LANES_AVX2 static M is_nan(F x) { return _mm256_cmp_ps(x, x, _CMP_UNORD_Q); }
  NDGRAD_LANES_AVX2 static M or_(M a, M b) { return _mm256_or_ps(a, b); }
  NDGRAD_LANES_AVX2 static F select(M m, F a, F b) { return _mm256_blendv_ps(b, a, m); }
  NDGRAD_LANES_AVX2 static F scale(F a, F n) {
    const __m256i ni = _mm256_cvttps_epi32(n), n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1), bias = _mm256_set1_epi32(127);
    const F s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const F s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(a, s1), s2);
  }
  NDGRAD_LANES_AVX2 static F pow2_of_rounded(F k) {
    const __m256i e = _mm256_sub_epi32(_mm256_castps_si256(k), _mm256_set1_epi32(0x4B400000 - 127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  NDGRAD_LANES_AVX2 static __m256i scaled_bits(F x) {
    const F tiny = _mm256_cmp_ps(x, set(0x1p-126f), _CMP_LT_OQ);
    return _mm256_castps_si256(_mm256_blendv_ps(x, _mm256_mul_ps(x, set(0x1p23f)), tiny));
  }
  NDGRAD_LANES_AVX2 static F mantissa(F x) {
    const __m256i m = _mm256_and_si256(scaled_bits(x), _mm256_set1_epi32(0x007fffff));
    return _mm256_castsi256_ps(_mm256_or_si256(m, _mm256_set1_epi32(0x3f800000)));
  }
  NDGRAD_LANES_AVX2 static F exponent(F x) {
    const __m256i tiny = _mm256_castps_si256(_mm256_cmp_ps(x, set(0x1p-126f), _CMP_LT_OQ));
    const __m256i biased =
        _mm256_and_si256(_mm256_srli_epi32(scaled_bits(x), 23), _mm256_set1_epi32(0xff));
    const __m256i bias =
        _mm256_add_epi32(_mm256_set1_epi32(127), _mm256_and_si256(tiny, _mm256_set1_epi32(23)));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(biased, bias));
  }
  NDGRAD_LANES_AVX2 static F abs_at_most(F x, float end) {
    return _mm256_min_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), set(end));
  }
  NDGRAD_LANES_AVX2 static Index index(F m) {
    const __m256i j = _mm256_castps_si256(m);
    return {j, _mm256_castsi256_ps(_mm256_slli_epi32(j, 28)),
            _mm256_castsi256_ps(_mm256_slli_epi32(j, 27))};
  }
  NDGRAD_LANES_AVX2 static F lookup(const float* table, const Index& ix) {
    const F a = _mm256_permutevar8x32_ps(_mm256_load_ps(table), ix.j);
    const F b = _mm256_permutevar8x32_ps(_mm256_load_ps(table + 8), ix.j);
    const F c = _mm256_permutevar8x32_ps(_mm256_load_ps(table + 16), ix.j);
    const F d = _mm256_permutevar8x32_ps(_mm256_load_ps(table + 24), ix.j);
    return _mm256_blendv_ps(_mm256_blendv_ps(a, b, ix.bit3), _mm256_blendv_ps(c, d, ix.bit3),
                            ix.bit4);
  }
  NDGRAD_LANES_AVX2 static M as_is(F x) {
    const F zero_or_nan = _mm256_or_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ),
                                       _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    return _mm256_or_ps(zero_or_nan, _mm256_cmp_ps(x, set(bits_to_float(0x7f800000)), _CMP_EQ_OQ));
  }
  NDGRAD_LANES_AVX2 static F by_sign(F x, F a, F b) { return _mm256_blendv_ps(b, a, x); }
};
#endif

}  // namespace ndgrad::kernels::lanes

// A core over the three lane types: NDGRAD_LANES_CORE(name, body) defines name(float),
// name(__m256) and name(__m512), each with V (the lane type), F (its vector) and the argument
// x; the body may call other such cores by name (overloads).
#ifdef NDGRAD_LANES_X86
#define NDGRAD_LANES_CORE(name, ...)                  \
  [[gnu::always_inline]] inline float name(float x) { \
    using V = ::ndgrad::kernels::lanes::Scalar;       \
    using F [[maybe_unused]] = V::F;                  \
    __VA_ARGS__                                       \
  }                                                   \
  NDGRAD_LANES_AVX2 inline __m256 name(__m256 x) {    \
    using V = ::ndgrad::kernels::lanes::Avx2;         \
    using F [[maybe_unused]] = V::F;                  \
    __VA_ARGS__                                       \
  }                                                   \
  NDGRAD_LANES_AVX512 inline __m512 name(__m512 x) {  \
    using V = ::ndgrad::kernels::lanes::Avx512;       \
    using F [[maybe_unused]] = V::F;                  \
    __VA_ARGS__                                       \
  }
#else
#define NDGRAD_LANES_CORE(name, ...)                  \
  [[gnu::always_inline]] inline float name(float x) { \
    using V = ::ndgrad::kernels::lanes::Scalar;       \
    using F [[maybe_unused]] = V::F;                  \
    __VA_ARGS__                                       \
  }
#endif
