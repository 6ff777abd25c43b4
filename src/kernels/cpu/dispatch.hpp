#pragma once
// Calls f with a value of the C++ type that matches a dtype.
#include <cstdint>

#include "ndgrad/dtype.hpp"

namespace ndgrad::kernels {

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
