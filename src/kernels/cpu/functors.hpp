#pragma once
// One functor per row of the op table (include/ndgrad/op_table.def): the op on one element,
// for every dtype the row's dtype rule admits. A unary functor may add vec_f32, a vectorized
// float32 loop over a contiguous run (and then f32, the same on one element, for broadcast
// and strided runs).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/fast_math.hpp"

namespace ndgrad::kernels::fn {

// NaN passes through neg, abs, sign and relu, as in NumPy (a comparison alone would make it 0).
struct neg {
  template <class T>
  static T apply(T x) {
    return wrap_neg(x);
  }
};
struct exp {
  template <class T>
  static T apply(T x) {
    return std::exp(x);
  }
  static constexpr auto vec_f32 = exp_f32_loop;
  static constexpr auto f32 = exp_f32;
};
struct log {
  template <class T>
  static T apply(T x) {
    return std::log(x);
  }
  static constexpr auto vec_f32 = log_f32_loop;
  static constexpr auto f32 = log_f32;
};
struct sqrt {
  template <class T>
  static T apply(T x) {
    return std::sqrt(x);
  }
  static constexpr auto vec_f32 = sqrt_f32_loop;
  static constexpr auto f32 = sqrt_f32;
};
struct tanh {
  template <class T>
  static T apply(T x) {
    return std::tanh(x);
  }
  static constexpr auto vec_f32 = tanh_f32_loop;
  static constexpr auto f32 = tanh_f32;
};
struct sigmoid {
  template <class T>
  static T apply(T x) {
    // Two branches so that exp never overflows.
    if (x >= 0) return T(1) / (T(1) + std::exp(-x));
    T e = std::exp(x);
    return e / (T(1) + e);
  }
  static constexpr auto vec_f32 = sigmoid_f32_loop;
  static constexpr auto f32 = sigmoid_f32;
};
struct relu {
  template <class T>
  static T apply(T x) {
    return (x > T(0) || x != x) ? x : T(0);
  }
};
struct abs {
  template <class T>
  static T apply(T x) {
    return x < 0 ? wrap_neg(x) : x;
  }
  static constexpr auto vec_f32 = abs_f32_loop;
  static constexpr auto f32 = abs_f32;
};
struct sign {
  template <class T>
  static T apply(T x) {
    return x != x ? x : T((T(0) < x) - (x < T(0)));
  }
};

// The C library's functions, in the element's type; for float32 the vectorized ones of
// fast_math.hpp where they exist (libm's are scalar calls; float64 keeps libm).
#define NDGRAD_LIBM_FUNCTOR_F32(name, fast)      \
  struct name {                                  \
    template <class T>                           \
    static T apply(T x) {                        \
      return std::name(x);                       \
    }                                            \
    static constexpr auto vec_f32 = fast##_loop; \
    static constexpr auto f32 = fast;            \
  };
NDGRAD_LIBM_FUNCTOR_F32(sin, sin_f32)
NDGRAD_LIBM_FUNCTOR_F32(cos, cos_f32)
NDGRAD_LIBM_FUNCTOR_F32(tan, tan_f32)
NDGRAD_LIBM_FUNCTOR_F32(erf, erf_f32)
NDGRAD_LIBM_FUNCTOR_F32(erfc, erfc_f32)
NDGRAD_LIBM_FUNCTOR_F32(log2, log2_f32)
NDGRAD_LIBM_FUNCTOR_F32(log10, log10_f32)
NDGRAD_LIBM_FUNCTOR_F32(log1p, log1p_f32)
NDGRAD_LIBM_FUNCTOR_F32(expm1, expm1_f32)
NDGRAD_LIBM_FUNCTOR_F32(sinh, sinh_f32)
NDGRAD_LIBM_FUNCTOR_F32(cosh, cosh_f32)
NDGRAD_LIBM_FUNCTOR_F32(asinh, asinh_f32)
NDGRAD_LIBM_FUNCTOR_F32(atan, atan_f32)
NDGRAD_LIBM_FUNCTOR_F32(exp2, exp2_f32)
NDGRAD_LIBM_FUNCTOR_F32(asin, asin_f32)
NDGRAD_LIBM_FUNCTOR_F32(acos, acos_f32)
NDGRAD_LIBM_FUNCTOR_F32(acosh, acosh_f32)
NDGRAD_LIBM_FUNCTOR_F32(atanh, atanh_f32)
NDGRAD_LIBM_FUNCTOR_F32(cbrt, cbrt_f32)
#undef NDGRAD_LIBM_FUNCTOR_F32
struct square {
  template <class T>
  static T apply(T x) {
    return wrap_mul(x, x);
  }
};
struct reciprocal {
  template <class T>
  static T apply(T x) {
    return T(1) / x;
  }
};
struct rsqrt {
  template <class T>
  static T apply(T x) {
    return T(1) / std::sqrt(x);
  }
  static constexpr auto vec_f32 = rsqrt_f32_loop;
  static constexpr auto f32 = rsqrt_f32;
};
// log(1 + e^x) without overflow: x + log1p(e^-x) for positive x.
struct softplus {
  template <class T>
  static T apply(T x) {
    return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
  static constexpr auto vec_f32 = softplus_f32_loop;
  static constexpr auto f32 = softplus_f32;
};
// x * sigmoid(z), with e^-|z| only (e^-z overflows where the result is still a normal value).
template <class T>
T x_sigmoid(T x, T z) {
  const T e = std::exp(z < 0 ? z : -z);
  return (z < 0 ? x * e : x) / (T(1) + e);
}
// x * sigmoid(x).
struct silu {
  template <class T>
  static T apply(T x) {
    return x_sigmoid(x, x);
  }
  static constexpr auto vec_f32 = silu_f32_loop;
  static constexpr auto f32 = silu_f32;
};

// log(x / (1 - x)), PyTorch's logit without eps: NaN outside [0, 1], -inf and inf at 0 and 1.
struct logit {
  template <class T>
  static T apply(T x) {
    return std::log(x / (T(1) - x));
  }
  static constexpr auto vec_f32 = logit_f32_loop;
  static constexpr auto f32 = logit_f32;
};
// x * tanh(softplus(x)).
struct mish {
  template <class T>
  static T apply(T x) {
    return x * std::tanh(softplus::apply(x));
  }
  static constexpr auto vec_f32 = mish_f32_loop;
  static constexpr auto f32 = mish_f32;
};
// The exact GELU, x * Phi(x) = x (1 + erf(x / sqrt 2)) / 2.
struct gelu {
  template <class T>
  static T apply(T x) {
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
  static constexpr auto vec_f32 = gelu_f32_loop;
  static constexpr auto f32 = gelu_f32;
};
// GELU's tanh approximation (PyTorch's approximate="tanh"), 0.5 x (1 + tanh(u)) computed as
// x sigmoid(2u): the same function, accurate also for negative x (1 + tanh cancels there).
struct gelu_tanh {
  template <class T>
  static T apply(T x) {
    const T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
    return x_sigmoid(x, T(2) * inner);
  }
  static constexpr auto vec_f32 = gelu_tanh_f32_loop;
  static constexpr auto f32 = gelu_tanh_f32;
};
// SELU's constants (Klambauer et al., PyTorch's).
inline constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;
struct selu {
  template <class T>
  static T apply(T x) {
    return x > T(0) ? T(kSeluScale) * x : T(kSeluScale * kSeluAlpha) * std::expm1(x);
  }
  static constexpr auto vec_f32 = selu_f32_loop;
  static constexpr auto f32 = selu_f32;
};
// relu6(x + 3) / 6, and x times it; NaN passes through.
struct hardsigmoid {
  template <class T>
  static T apply(T x) {
    if (x != x) return x;
    const T r = x + T(3);
    return (r <= T(0) ? T(0) : r >= T(6) ? T(6) : r) / T(6);
  }
  static constexpr auto vec_f32 = hardsigmoid_f32_loop;
  static constexpr auto f32 = hardsigmoid_f32;
};
struct hardswish {
  template <class T>
  static T apply(T x) {
    return x * hardsigmoid::apply(x);
  }
  static constexpr auto vec_f32 = hardswish_f32_loop;
  static constexpr auto f32 = hardswish_f32;
};
// Integers are their own floor, ceil, round and trunc. float32 rounds in the vectorized loops
// (libm's floorf is a call on baseline x86-64, which has no roundps).
#define NDGRAD_ROUNDING_FUNCTOR(name, fn)          \
  struct name {                                    \
    template <class T>                             \
    static T apply(T x) {                          \
      if constexpr (std::is_integral_v<T>)         \
        return x;                                  \
      else                                         \
        return std::fn(x);                         \
    }                                              \
    static constexpr auto vec_f32 = fn##_f32_loop; \
    static constexpr auto f32 = fn##_f32;          \
  };
NDGRAD_ROUNDING_FUNCTOR(floor, floor)
NDGRAD_ROUNDING_FUNCTOR(ceil, ceil)
NDGRAD_ROUNDING_FUNCTOR(round, nearbyint)  // half to even under the default rounding mode
NDGRAD_ROUNDING_FUNCTOR(trunc, trunc)
#undef NDGRAD_ROUNDING_FUNCTOR
struct frac {
  template <class T>
  static T apply(T x) {
    return x - std::trunc(x);
  }
  static constexpr auto vec_f32 = frac_f32_loop;
  static constexpr auto f32 = frac_f32;
};
// Predicates: a bool for every dtype (integers are finite).
struct isnan {
  template <class T>
  static bool apply(T x) {
    return x != x;
  }
};
struct isinf {
  template <class T>
  static bool apply(T x) {
    if constexpr (std::is_floating_point_v<T>)
      return std::isinf(x);
    else
      return false;
  }
};
struct isfinite {
  template <class T>
  static bool apply(T x) {
    if constexpr (std::is_floating_point_v<T>)
      return std::isfinite(x);
    else
      return true;
  }
};
struct logical_not {  // NaN is true, as any non-zero value
  template <class T>
  static bool apply(T x) {
    return !(x != T(0));
  }
};
struct bitwise_not {
  template <class T>
  static T apply(T x) {
    if constexpr (std::is_same_v<T, bool>)
      return !x;
    else
      return static_cast<T>(~x);
  }
};

struct add {
  template <class T>
  static T apply(T x, T y) {
    return wrap_add(x, y);
  }
};
struct sub {
  template <class T>
  static T apply(T x, T y) {
    return wrap_sub(x, y);
  }
};
struct mul {
  template <class T>
  static T apply(T x, T y) {
    return wrap_mul(x, y);
  }
};

// NumPy's floor division (//). Integers: the quotient rounded toward -inf; division by 0
// gives 0 (NumPy's result, there with a warning) rather than a SIGFPE, and INT64_MIN // -1
// wraps to INT64_MIN. Floats: NumPy's npy_divmod, exact where floor(a / b) is not (a / b
// rounds up to an integer); b == 0 gives a / b (inf or NaN).
struct floor_divide {
  template <class T>
  static T apply(T x, T y) {
    if constexpr (std::is_integral_v<T>) {
      if (y == 0) return T(0);
      if (y == -1) return wrap_neg(x);  // INT64_MIN / -1 overflows
      const T q = x / y;
      return (x % y != 0 && ((x < 0) != (y < 0))) ? T(q - 1) : q;
    } else {
      if (y == 0) return x / y;
      const T mod = std::fmod(x, y);
      T div = (x - mod) / y;
      if (mod != 0 && ((y < 0) != (mod < 0))) div -= T(1);
      if (div == 0) return std::copysign(T(0), x / y);
      T floor_div = std::floor(div);
      if (div - floor_div > T(0.5)) floor_div += T(1);
      return floor_div;
    }
  }
};
struct div {
  // The ops never divide integers with div (true division computes them in f64); were it
  // asked to, floor division cannot trap.
  template <class T>
  static T apply(T x, T y) {
    if constexpr (std::is_integral_v<T>)
      return floor_divide::apply(x, y);
    else
      return T(x / y);
  }
};
struct pow {
  template <class T>
  static T apply(T x, T y) {
    if constexpr (std::is_integral_v<T>) {  // exact, wrapping (NumPy's, PyTorch's); y >= 0
      uint64_t r = 1, base = static_cast<uint64_t>(x);  // (the ops refuse y < 0)
      for (uint64_t e = y < 0 ? 0 : static_cast<uint64_t>(y); e; e >>= 1) {
        if (e & 1) r *= base;
        base *= base;
      }
      return static_cast<T>(r);
    } else {
      return T(std::pow(x, y));
    }
  }
};
struct maximum {  // NaN wins, as in NumPy
  template <class T>
  static T apply(T x, T y) {
    return (x > y || x != x) ? x : y;
  }
};
struct minimum {
  template <class T>
  static T apply(T x, T y) {
    return (x < y || x != x) ? x : y;
  }
};
// The derivatives of tanh, sigmoid and relu in one pass: g is the output's gradient, y the
// forward output (x, relu's input: NaN passes g through, as relu passes NaN).
struct tanh_backward {
  template <class T>
  static T apply(T g, T y) {
    return T(g * (T(1) - y * y));
  }
};
struct sigmoid_backward {
  template <class T>
  static T apply(T g, T y) {
    return T(g * (y * (T(1) - y)));
  }
};
struct relu_backward {
  template <class T>
  static T apply(T g, T x) {
    return x <= T(0) ? T(0) : g;
  }
};
struct equal {
  template <class T>
  static bool apply(T x, T y) {
    return x == y;
  }
};
struct not_equal {
  template <class T>
  static bool apply(T x, T y) {
    return x != y;
  }
};
struct less {
  template <class T>
  static bool apply(T x, T y) {
    return x < y;
  }
};
struct less_equal {
  template <class T>
  static bool apply(T x, T y) {
    return x <= y;
  }
};
struct greater {
  template <class T>
  static bool apply(T x, T y) {
    return x > y;
  }
};
struct greater_equal {
  template <class T>
  static bool apply(T x, T y) {
    return x >= y;
  }
};

#define NDGRAD_LIBM_BINARY_FUNCTOR(name) \
  struct name {                          \
    template <class T>                   \
    static T apply(T x, T y) {           \
      return std::name(x, y);            \
    }                                    \
  };
NDGRAD_LIBM_BINARY_FUNCTOR(atan2)
NDGRAD_LIBM_BINARY_FUNCTOR(hypot)
// x log y, 0 where x == 0 unless y is NaN (PyTorch's, scipy's).
struct xlogy {
  template <class T>
  static T apply(T x, T y) {
    if (y != y) return y;
    if (x == T(0)) return T(0);
    return x * std::log(y);
  }
};
NDGRAD_LIBM_BINARY_FUNCTOR(copysign)
#undef NDGRAD_LIBM_BINARY_FUNCTOR
// C's fmod: the remainder of the quotient truncated toward 0, with a's sign. Integers: b == 0
// gives 0 (NumPy's value, no SIGFPE), and so does b == -1 (INT64_MIN % -1 overflows).
struct fmod {
  template <class T>
  static T apply(T x, T y) {
    if constexpr (std::is_integral_v<T>) {
      if (y == 0 || y == -1) return T(0);
      return x % y;
    } else {
      return std::fmod(x, y);
    }
  }
};
// NumPy's (and Python's) remainder: a - b * floor(a / b), with b's sign (a zero takes b's
// sign too); b == 0 gives NaN for floats, 0 for integers.
struct remainder {
  template <class T>
  static T apply(T x, T y) {
    if constexpr (std::is_integral_v<T>) {
      if (y == 0 || y == -1) return T(0);
      const T r = x % y;
      return (r != 0 && ((r < 0) != (y < 0))) ? T(r + y) : r;
    } else {
      T mod = std::fmod(x, y);
      if (mod != T(0)) {
        if ((y < T(0)) != (mod < T(0))) mod += y;
      } else {
        mod = std::copysign(T(0), y);
      }
      return mod;
    }
  }
};
// Truth values: any non-zero value (NaN included) is true.
struct logical_and {
  template <class T>
  static bool apply(T x, T y) {
    return x != T(0) && y != T(0);
  }
};
struct logical_or {
  template <class T>
  static bool apply(T x, T y) {
    return x != T(0) || y != T(0);
  }
};
struct logical_xor {
  template <class T>
  static bool apply(T x, T y) {
    return (x != T(0)) != (y != T(0));
  }
};
struct bitwise_and {
  template <class T>
  static T apply(T x, T y) {
    return static_cast<T>(x & y);
  }
};
struct bitwise_or {
  template <class T>
  static T apply(T x, T y) {
    return static_cast<T>(x | y);
  }
};
struct bitwise_xor {
  template <class T>
  static T apply(T x, T y) {
    return static_cast<T>(x ^ y);
  }
};
// NumPy's shifts: a count outside [0, bits) shifts every bit out (left: 0; right: the sign, 0 or
// -1) instead of being undefined; a left shift wraps (two's complement). bool: as 0/1, the
// result's truth value.
struct left_shift {
  template <class T>
  static T apply(T x, T y) {
    if constexpr (std::is_same_v<T, bool>) {
      (void)y;
      return x;  // 1 << 0 is 1, 1 << 1 is 2: true either way
    } else {
      using U = std::make_unsigned_t<T>;
      if (y < 0 || y >= T(sizeof(T) * 8)) return T(0);
      return static_cast<T>(static_cast<U>(x) << y);
    }
  }
};
struct right_shift {
  template <class T>
  static T apply(T x, T y) {
    if constexpr (std::is_same_v<T, bool>) {
      return x && !y;
    } else {
      if (y < 0 || y >= T(sizeof(T) * 8)) return x < 0 ? T(-1) : T(0);
      return static_cast<T>(x >> y);  // arithmetic for negative x (C++20; GCC and Clang always)
    }
  }
};

}  // namespace ndgrad::kernels::fn
