#pragma once
// Calls f with a value of the C++ type that matches a dtype.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels/cpu/half.hpp"
#include "ndgrad/dtype.hpp"
#include "ndgrad/error.hpp"

namespace ndgrad::kernels {

// static_cast between any two storage types, except that: a floating value outside an integer
// type's range saturates and NaN becomes 0 (instead of being undefined behaviour; NumPy leaves
// it undefined); an integer to a narrower integer wraps (two's complement, as NumPy's astype);
// anything to float16_t or bfloat16_t rounds to nearest even, once (from the exact double).
template <class R, class T>
R convert_value(T x) {
  if constexpr (std::is_same_v<R, T>) {
    return x;
  } else if constexpr (is_half_v<T>) {
    return convert_value<R>(static_cast<float>(x));  // exact
  } else if constexpr (is_half_v<R>) {
    if constexpr (std::is_same_v<T, bool>)
      return R(x ? 1.0 : 0.0);
    else
      return R(static_cast<double>(x));
  } else if constexpr (std::is_floating_point_v<T> && std::is_integral_v<R> &&
                       !std::is_same_v<R, bool>) {
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

// A storage-only dtype (i32, u8, i8, f16, bf16) reaching a compute kernel: the op should have
// converted it to compute_dtype() first, or refused it.
[[noreturn]] inline void no_compute_kernel(DType dtype) {
  throw DTypeError(std::string("no kernel computes in ") + dtype_name(dtype) +
                   " (a storage dtype); convert the tensor with .to(DType::" +
                   dtype_name(compute_dtype(dtype)) + ") first");
}

// f with a value of the C++ type of a compute dtype (f32, f64, i64, bool).
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
    default:
      break;
  }
  no_compute_kernel(dtype);
}

// f with a value of the C++ type of any dtype: for the kernels that only store (copy, fill).
template <class F>
decltype(auto) dispatch_storage(DType dtype, F&& f) {
  switch (dtype) {
    case DType::i32:
      return f(int32_t{});
    case DType::u8:
      return f(uint8_t{});
    case DType::i8:
      return f(int8_t{});
    case DType::f16:
      return f(float16_t{});
    case DType::bf16:
      return f(bfloat16_t{});
    default:
      return dispatch_dtype(dtype, std::forward<F>(f));
  }
}

// f with an unsigned type of the dtype's item size: for kernels that move elements unchanged.
template <class F>
decltype(auto) dispatch_bytes(DType dtype, F&& f) {
  switch (itemsize(dtype)) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    default:
      return f(uint64_t{});
  }
}

template <class F>
decltype(auto) dispatch_floating(DType dtype, F&& f) {
  if (dtype == DType::f64) return f(double{});
  if (is_storage_only(dtype)) no_compute_kernel(dtype);
  return f(float{});
}

// f(float()) or f(double()); any other dtype is an internal error naming op (the ops of their
// own that call such kernels keep other dtypes on their composed paths).
template <class F>
void dispatch_f32_f64(DType dtype, const char* op, F&& f) {
  if (dtype == DType::f32)
    f(float());
  else if (dtype == DType::f64)
    f(double());
  else
    throw DTypeError(std::string("internal: no ") + op + " kernel for " + dtype_name(dtype));
}

}  // namespace ndgrad::kernels
