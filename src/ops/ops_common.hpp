#pragma once
// Helpers the op files share: raw (unrecorded) views and copies, operands for kernels.
#include <string>

#include "core/shape.hpp"
#include "core/tensor_impl.hpp"
#include "graph/grad_mode.hpp"
#include "graph/node.hpp"
#include "kernels/cpu/kernels.hpp"
#include "ndgrad/autograd.hpp"

namespace ndgrad {

// A kernel operand for t seen through the (broadcast) iteration shape. Allocates only when t
// is really broadcast: a tensor of the iteration's shape lends its own strides, a 0-d one
// all-zero strides.
struct OperandOf {
  Dims strides;
  kernels::Operand op;
  // access: read for an input (its deferred readers stay deferred), write for an output.
  OperandOf(const Tensor& t, const Dims& shape, Access access = Access::read)
      : op{access == Access::read ? const_cast<char*>(t.impl()->read_data()) : t.impl()->data(),
           nullptr, t.impl()->dtype} {
    static const int64_t zeros[kMaxDims] = {};
    const TensorImpl& impl = *t.impl();
    if (impl.shape == shape) {
      op.strides = impl.strides.data();
    } else if (impl.shape.empty()) {
      op.strides = zeros;
    } else {
      strides = broadcast_strides(impl.shape, impl.strides, shape);
      op.strides = strides.data();
    }
  }
};

// Copies src (broadcast to dst's shape, converted to dst's dtype) into dst's memory, unrecorded:
// for ops that write their result through views of it (cat, pad, the gradients of views).
inline void copy_into(const Tensor& dst, const Tensor& src) {
  const TensorImpl& d = *dst.impl();
  OperandOf in(src, d.shape);
  kernels::copy(d.shape, {d.data(), d.strides.data(), d.dtype}, in.op);
}

// DTypeError unless t is f32 or f64.
void require_floating(const Tensor& t, const char* op);
// DTypeError naming op unless t has a compute dtype (f32, f64, i64, bool): for the ops that do
// not convert the storage dtypes (i32, u8, i8, f16, bf16) themselves.
void require_compute_dtype(const Tensor& t, const char* op);
// f16 or bf16: the ops written for f32 and f64 take these converted to f32 and round their result
// back once (`op(t.to(DType::f32)).to(t.dtype())`, differentiable through the conversions).
inline bool is_half(DType dtype) { return dtype == DType::f16 || dtype == DType::bf16; }
// t in f32 when it is f16 or bf16 (differentiable), as it is otherwise: the functions that
// compute the half dtypes in f32 and round the result once.
inline Tensor in_f32_if_half(const Tensor& t) { return is_half(t.dtype()) ? t.to(DType::f32) : t; }

// Unrecorded building blocks: the public ops call these, then record a node.
Tensor raw_cast(const Tensor& t, DType dtype, const char* op = nullptr);
// t in dtype: t itself when it already has it (no handle copy: that costs two atomic
// reference-count updates), otherwise a converted copy, kept in holder.
inline const Tensor& in_dtype(const Tensor& t, DType dtype, Tensor& holder) {
  if (t.impl()->dtype == dtype) return t;
  holder = raw_cast(t, dtype);
  return holder;
}
Tensor raw_contiguous(const Tensor& t);
// A contiguous copy in memory of its own; recorded (as an identity) when t takes part in autograd
// and grad mode is on.
Tensor copy_of(const Tensor& t);
Tensor raw_broadcast(const Tensor& t, const Dims& shape);
Tensor raw_reshape(const Tensor& t, const Dims& shape);

// sum_to once its axes are known (from unbroadcast_axes): sums t over them, keeping dims, then
// drops the leading ones by reshaping to shape. Recorded like the public ops it uses.
Tensor sum_axes_to(const Tensor& t, const std::vector<int64_t>& axes, const Shape& shape);

// The max of t over axes (normalized; keepdims shape), unrecorded, with an infinite max
// replaced by 0: t - shift is at most 0, so exp cannot overflow, and an infinite max gives no
// inf - inf. A constant shift: results that do not depend on it (softmax, logsumexp once the
// shift is added back) get exact gradients without one flowing through it.
Tensor max_shift(const Tensor& t, const std::vector<int64_t>& axes);

// acc += g (acc -= g with subtract) in place; g broadcasts to acc's shape, same dtype, and does
// not share acc's memory. Unrecorded: for the engine.
void add_into(Tensor& acc, const Tensor& g, bool subtract = false);

// The 0-d operand for a scalar in an op (named op) with t: a floating scalar takes t's dtype
// when t is floating and non_floating (f32, the default float dtype) otherwise; an integer
// scalar takes t's dtype when t is floating and i64 otherwise (its value exactly). Never the
// value: the result dtype does not depend on it. From a small per-thread table: the reference
// holds until the thread's next scalar_like call (the operators use it within one expression;
// no handle copy, no atomic reference-count updates).
const Tensor& scalar_like(double value, const Tensor& t, const char* op,
                          DType non_floating = DType::f32);
const Tensor& scalar_like(int64_t value, const Tensor& t, const char* op);
// Whether an integer scalar's value is one of dtype's (i32, u8, i8, bool; any other: true).
bool integer_scalar_fits(int64_t value, DType dtype);

}  // namespace ndgrad
