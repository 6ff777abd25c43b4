#pragma once
// One functor per reduction row of the op table (include/ndgrad/op_table.def): how two partial
// results combine, and the identity a zero-size reduction gives.
#include <limits>

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/kernels.hpp"

namespace ndgrad::kernels {

template <ReduceOp op, class T>
struct ReduceFunctor;

template <class T>
struct ReduceFunctor<ReduceOp::sum, T> {
  static T combine(T a, T b) { return wrap_add(a, b); }  // integers wrap, as in NumPy
  static T identity() { return T(0); }
};
// NaN wins: once a NaN is met, it is the result.
template <class T>
struct ReduceFunctor<ReduceOp::max, T> {
  static T combine(T a, T b) { return (b > a || b != b) ? b : a; }
  static T identity() {
    using L = std::numeric_limits<T>;
    return L::has_infinity ? -L::infinity() : L::lowest();
  }
};
template <class T>
struct ReduceFunctor<ReduceOp::min, T> {
  static T combine(T a, T b) { return (b < a || b != b) ? b : a; }
  static T identity() {
    using L = std::numeric_limits<T>;
    return L::has_infinity ? L::infinity() : L::max();
  }
};

template <class T>
struct ReduceFunctor<ReduceOp::prod, T> {
  static T combine(T a, T b) { return wrap_mul(a, b); }  // integers wrap, as in NumPy
  static T identity() { return T(1); }
};

}  // namespace ndgrad::kernels
