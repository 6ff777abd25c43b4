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
};
struct sqrt {
  template <class T>
  static T apply(T x) {
    return std::sqrt(x);
  }
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
};
struct sign {
  template <class T>
  static T apply(T x) {
    return x != x ? x : T((T(0) < x) - (x < T(0)));
  }
};

struct sin {
  template <class T>
  static T apply(T x) {
    return std::sin(x);
  }
};
struct cos {
  template <class T>
  static T apply(T x) {
    return std::cos(x);
  }
};
// The math rows after sin and cos: the C library's functions, in the element's type.
#define NDGRAD_LIBM_FUNCTOR(name) \
  struct name {                   \
    template <class T>            \
    static T apply(T x) {         \
      return std::name(x);        \
    }                             \
  };
NDGRAD_LIBM_FUNCTOR(sinh)
NDGRAD_LIBM_FUNCTOR(cosh)
NDGRAD_LIBM_FUNCTOR(asinh)
NDGRAD_LIBM_FUNCTOR(atan)
NDGRAD_LIBM_FUNCTOR(log1p)
NDGRAD_LIBM_FUNCTOR(expm1)
NDGRAD_LIBM_FUNCTOR(log2)
NDGRAD_LIBM_FUNCTOR(log10)
NDGRAD_LIBM_FUNCTOR(exp2)
NDGRAD_LIBM_FUNCTOR(erf)
NDGRAD_LIBM_FUNCTOR(erfc)
#undef NDGRAD_LIBM_FUNCTOR
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
};
// log(1 + e^x) without overflow: x + log1p(e^-x) for positive x.
struct softplus {
  template <class T>
  static T apply(T x) {
    return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
};
// x * sigmoid(x).
struct silu {
  template <class T>
  static T apply(T x) {
    return x / (T(1) + std::exp(-x));
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
    if constexpr (std::is_integral_v<T>)
      return convert_value<T>(std::pow(static_cast<double>(x), static_cast<double>(y)));
    else
      return T(std::pow(x, y));
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

}  // namespace ndgrad::kernels::fn
