#pragma once
// float16 (IEEE binary16) and bfloat16 as storage types: 16 bits in memory, converted exactly to
// float and double, and rounded to nearest-even from them. Portable C++ (no compiler's _Float16
// or __bf16): bit manipulation only.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ndgrad::kernels {

namespace half_detail {

// The bits of x rounded to nearest, ties to even, in a binary format with E exponent bits and M
// mantissa bits (IEEE layout, bias 2^(E-1) - 1): gradual underflow to subnormals, overflow to
// +-inf (values at or past the largest finite plus half an ulp), NaN to a quiet NaN of the same
// sign that keeps the payload's top bits. Rounded once, straight from the double.
template <int E, int M>
inline uint16_t round_from_double(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  const uint32_t sign = static_cast<uint32_t>(b >> 63) << (E + M);
  const uint32_t exp = static_cast<uint32_t>(b >> 52) & 0x7ff;
  const uint64_t man = b & ((uint64_t(1) << 52) - 1);
  const uint32_t inf = ((uint32_t(1) << E) - 1) << M;
  if (exp == 0x7ff) {
    if (man == 0) return static_cast<uint16_t>(sign | inf);
    return static_cast<uint16_t>(sign | inf | (uint32_t(1) << (M - 1)) |
                                 static_cast<uint32_t>(man >> (52 - M)));
  }
  if (exp == 0) return static_cast<uint16_t>(sign);  // 0, or a double subnormal: far below
  constexpr int bias = (1 << (E - 1)) - 1;
  int te = static_cast<int>(exp) - 1023 + bias;  // the target's biased exponent
  if (te >= (1 << E) - 1) return static_cast<uint16_t>(sign | inf);
  const uint64_t full = man | (uint64_t(1) << 52);  // the 53-bit significand
  int shift = 52 - M;                               // the bits dropped
  if (te < 1) {                                     // a subnormal result (or 0)
    shift += 1 - te;
    te = 0;
    if (shift > 54) return static_cast<uint16_t>(sign);  // under half the smallest subnormal
  }
  uint64_t q = full >> shift;
  const uint64_t rem = full & ((uint64_t(1) << shift) - 1);
  const uint64_t half = uint64_t(1) << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  // A normal's q holds the implicit bit; a carry out of the mantissa moves to the exponent, as
  // does a subnormal's rounding up to the smallest normal.
  const uint32_t bits =
      te >= 1 ? (static_cast<uint32_t>(te) << M) + static_cast<uint32_t>(q) - (uint32_t(1) << M)
              : static_cast<uint32_t>(q);
  if (bits >= inf) return static_cast<uint16_t>(sign | inf);
  return static_cast<uint16_t>(sign | bits);
}

// The exact value of bits in that format.
template <int E, int M>
inline double to_double(uint16_t h) {
  constexpr int bias = (1 << (E - 1)) - 1;
  const uint64_t sign = static_cast<uint64_t>(h >> (E + M)) << 63;
  const uint32_t exp = (h >> M) & ((1u << E) - 1);
  const uint64_t man = h & ((1u << M) - 1);
  uint64_t b;
  if (exp == (1u << E) - 1) {
    b = sign | (uint64_t(0x7ff) << 52) | (man << (52 - M));  // inf, or NaN with its payload
  } else if (exp == 0) {
    const double v = std::ldexp(static_cast<double>(man), 1 - bias - M);  // exact
    return sign ? -v : v;
  } else {
    b = sign | (static_cast<uint64_t>(exp - bias + 1023) << 52) | (man << (52 - M));
  }
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

}  // namespace half_detail

// IEEE binary16: 5 exponent bits, 10 mantissa bits; finite values up to 65504.
struct float16_t {
  uint16_t bits = 0;
  float16_t() = default;
  static float16_t from_bits(uint16_t b) {
    float16_t h;
    h.bits = b;
    return h;
  }
  explicit float16_t(double x) : bits(half_detail::round_from_double<5, 10>(x)) {}
  explicit operator double() const { return half_detail::to_double<5, 10>(bits); }
  explicit operator float() const { return static_cast<float>(static_cast<double>(*this)); }
};

// bfloat16: float32's 8 exponent bits with 7 mantissa bits (the top half of a float).
struct bfloat16_t {
  uint16_t bits = 0;
  bfloat16_t() = default;
  static bfloat16_t from_bits(uint16_t b) {
    bfloat16_t h;
    h.bits = b;
    return h;
  }
  explicit bfloat16_t(double x) : bits(half_detail::round_from_double<8, 7>(x)) {}
  explicit operator float() const {
    const uint32_t b = static_cast<uint32_t>(bits) << 16;  // exact: a float's top half
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
  }
  explicit operator double() const { return static_cast<float>(*this); }
};

template <class T>
constexpr bool is_half_v = std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;

}  // namespace ndgrad::kernels
