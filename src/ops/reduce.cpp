// Reductions over axes with keepdims. Backward puts the reduced axes back BY POSITION
// (a reshape to the keepdims shape), then broadcasts: never by matching sizes.
#include <cmath>

#include "ops/lazy.hpp"
#include "ops/ops_common.hpp"
#include "ops/strict.hpp"

namespace ndgrad {

namespace {

// Forward reduction into a fresh tensor of the keepdims shape.
Tensor reduce_forward(kernels::ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes,
                      const char* name) {
  const Dims& shape = x.impl()->shape;
  Tensor out = make_tensor(reduced_shape(shape, axes, true), x.dtype(), name);
  OperandOf o(out, shape, Access::write);
  kernels::reduce(op, shape, o.op, out.numel(),
                  {const_cast<char*>(x.impl()->read_data()), x.impl()->strides.data(), x.dtype()});
  return out;
}

Tensor finish(const Tensor& kept, const Dims& in_shape, const std::vector<int64_t>& axes,
              bool keepdims) {
  return keepdims ? kept : raw_reshape(kept, reduced_shape(in_shape, axes, false));
}

struct SumBackward : Node {
  NDGRAD_OP_NAME("sum")
  Dims input_shape, kept_shape;
  GradList backward(const Tensor& g) override {
    return grad_list(g.reshape(kept_shape).broadcast_to(input_shape));
  }
};

// max/min: the gradient goes to the elements equal to the extreme, split evenly among ties.
// Where the extreme is NaN (a NaN wins), the NaN elements are the ones that equal it.
struct ExtremeBackward : SavingNode {
  Tensor x, kept_out;
  Dims kept_shape;
  std::vector<int64_t> axes;
  void release_saved() override { x = kept_out = Tensor(); }
  GradList backward(const Tensor& g) override {
    const Tensor mask = where(kept_out != kept_out, x != x, x == kept_out).to(g.dtype());
    const Tensor count = mask.sum(axes, true);
    return grad_list(g.reshape(kept_shape) * mask / count);
  }
};
struct MaxBackward : ExtremeBackward {
  NDGRAD_OP_NAME("max")
};
struct MinBackward : ExtremeBackward {
  NDGRAD_OP_NAME("min")
};

template <class N>
Tensor extreme(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims,
               kernels::ReduceOp op, const char* name) {
  require_defined_arg(t, name);
  if (t.dtype() == DType::boolean)  // computed on 0/1, given back as bool (NumPy's dtype)
    return extreme<N>(t.to(DType::i64), axes_in, keepdims, op, name).to(DType::boolean);
  const auto axes = normalize_axes(axes_in, t.ndim(), name);
  for (int64_t a : axes)
    if (t.impl()->shape[a] == 0)
      throw ValueError(std::string(name) + ": zero-size reduction along axis " + std::to_string(a) +
                       " of shape " + shape_str(t.impl()->shape) + ", which has no identity");
  Tensor kept = reduce_forward(op, t, axes, name);
  Tensor out = finish(kept, t.impl()->shape, axes, keepdims);
  if (auto node = record<N>(out, {&t})) {
    node->x = node->save(t, "the input");
    node->kept_out = node->save(kept.detach(), "the output");
    node->kept_shape = kept.impl()->shape;
    node->axes = axes;
  }
  return out;
}

Tensor arg_extreme(const Tensor& t, int64_t axis, bool is_max, const char* name) {
  require_defined_arg(t, name);
  const Dims& shape = t.impl()->shape;
  Tensor x = t;
  if (t.ndim() == 0) x = t.reshape({1});
  const int64_t a = normalize_axis(axis, x.ndim(), name);
  const int64_t n = x.impl()->shape[a];
  if (n == 0)
    throw ValueError(std::string(name) + ": attempt to get " + name +
                     " of an empty sequence (shape " + shape_str(shape) + ", axis " +
                     std::to_string(axis) + ")");
  Dims out_shape = x.impl()->shape, in_strides = x.impl()->strides;
  out_shape.erase(out_shape.begin() + a);
  in_strides.erase(in_strides.begin() + a);
  Tensor out = make_tensor(out_shape, DType::i64, name);
  kernels::arg_reduce(is_max, out_shape,
                      {out.impl()->data(), out.impl()->strides.data(), DType::i64},
                      {x.impl()->data(), in_strides.data(), x.dtype()}, n, x.impl()->strides[a]);
  return out;
}

}  // namespace

Tensor Tensor::sum(const std::vector<int64_t>& axes_in, bool keepdims) const {
  require_defined_arg(*this, "sum");
  if (impl_->dtype == DType::boolean) return to(DType::i64).sum(axes_in, keepdims);
  const auto axes = normalize_axes(axes_in, ndim(), "sum");
  Tensor kept = lazy::large(impl_->shape) ? lazy::sum(*this, axes) : Tensor();
  if (!kept.defined()) kept = reduce_forward(kernels::ReduceOp::sum, *this, axes, "sum");
  Tensor out = finish(kept, impl_->shape, axes, keepdims);
  if (auto node = record<SumBackward>(out, {this})) {
    node->input_shape = impl_->shape;
    node->kept_shape = kept.impl()->shape;
  }
  return out;
}

Tensor Tensor::mean(const std::vector<int64_t>& axes_in, bool keepdims) const {
  require_defined_arg(*this, "mean");
  if (!is_floating(impl_->dtype)) return to(DType::f32).mean(axes_in, keepdims);
  const auto axes = normalize_axes(axes_in, ndim(), "mean");
  int64_t count = 1;
  for (int64_t a : axes) count *= impl_->shape[a];
  return sum(axes, keepdims) / static_cast<double>(count);
}

Tensor Tensor::max(const std::vector<int64_t>& axes, bool keepdims) const {
  return extreme<MaxBackward>(*this, axes, keepdims, kernels::ReduceOp::max, "max");
}

Tensor Tensor::min(const std::vector<int64_t>& axes, bool keepdims) const {
  return extreme<MinBackward>(*this, axes, keepdims, kernels::ReduceOp::min, "min");
}

Tensor Tensor::argmax(int64_t axis) const { return arg_extreme(*this, axis, true, "argmax"); }
Tensor Tensor::argmin(int64_t axis) const { return arg_extreme(*this, axis, false, "argmin"); }

Tensor sum(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims) {
  require_defined_arg(t, "sum");
  return t.sum(axes, keepdims);
}
Tensor mean(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims) {
  require_defined_arg(t, "mean");
  return t.mean(axes, keepdims);
}
Tensor max(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims) {
  require_defined_arg(t, "max");
  return t.max(axes, keepdims);
}
Tensor min(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims) {
  require_defined_arg(t, "min");
  return t.min(axes, keepdims);
}
Tensor argmax(const Tensor& t, int64_t axis) {
  require_defined_arg(t, "argmax");
  return t.argmax(axis);
}
Tensor argmin(const Tensor& t, int64_t axis) {
  require_defined_arg(t, "argmin");
  return t.argmin(axis);
}

Tensor logsumexp(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims) {
  require_defined_arg(t, "logsumexp");
  require_floating(t, "logsumexp");
  const auto axes = normalize_axes(axes_in, t.ndim(), "logsumexp");
  // The max below would otherwise refuse an empty reduction under its own name.
  for (int64_t a : axes)
    if (t.impl()->shape[a] == 0)
      throw ValueError("logsumexp: zero-size reduction along axis " + std::to_string(a) +
                       " of shape " + shape_str(t.impl()->shape));
  StrictExemptScope exempt;  // the keepdims shift broadcasts by design
  const Tensor shift = max_shift(t, axes);
  Tensor r = log(exp(t - shift).sum(axes, true)) + shift;
  return keepdims ? r : r.reshape(reduced_shape(t.impl()->shape, axes, false));
}

Tensor max_shift(const Tensor& t, const std::vector<int64_t>& axes) {
  NoGradGuard no_grad;
  const Tensor shift = t.max(axes, true);
  return where(abs(shift) == INFINITY, scalar(0.0, t.dtype()), shift);
}

}  // namespace ndgrad
