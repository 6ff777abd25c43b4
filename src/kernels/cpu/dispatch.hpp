#pragma once
// Calls f with a value of the C++ type that matches a dtype.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "ndgrad/dtype.hpp"

namespace ndgrad::kernels {

// static_cast, except that a floating value outside an integer type's range saturates (and
// NaN becomes 0) instead of being undefined behaviour.
template <class R, class T>
R convert_value(T x) {
  if constexpr (std::is_floating_point_v<T> && std::is_integral_v<R> && !std::is_same_v<R, bool>) {
    if (std::isnan(x)) return R(0);
    if (x <= static_cast<T>(std::numeric_limits<R>::lowest()))
      return std::numeric_limits<R>::lowest();
    if (x >= static_cast<T>(std::numeric_limits<R>::max())) return std::numeric_limits<R>::max();
    return static_cast<R>(x);
  } else {
    return static_cast<R>(x);
  }
}

// Integer arithmetic wraps around (two's complement), as in NumPy, instead of being undefined
// on overflow; floating arithmetic is unchanged.
template <class T>
T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) +
                          static_cast<std::make_unsigned_t<T>>(b));
  else
    return static_cast<T>(a + b);
}
template <class T>
T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) -
                          static_cast<std::make_unsigned_t<T>>(b));
  else
    return static_cast<T>(a - b);
}
template <class T>
T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) *
                          static_cast<std::make_unsigned_t<T>>(b));
  else
    return static_cast<T>(a * b);
}
template <class T>
T wrap_neg(T a) {
  return wrap_sub(T(0), a);
}

template <class F>
decltype(auto) dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    case DType::i64:
      return f(int64_t{});
    case DType::boolean:
      return f(bool{});
  }
  return f(float{});
}

template <class F>
decltype(auto) dispatch_floating(DType dtype, F&& f) {
  if (dtype == DType::f64) return f(double{});
  return f(float{});
}

}  // namespace ndgrad::kernels
