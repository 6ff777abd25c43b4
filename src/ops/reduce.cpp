// Reductions over axes with keepdims. Backward puts the reduced axes back BY POSITION
// (a reshape to the keepdims shape), then broadcasts: never by matching sizes.
#include <cmath>

#include "exec/lazy.hpp"
#include "ops/derivatives.hpp"
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

// What a reduction row's derivative reads: bit 0 the input, bit 1 the kept output.
constexpr unsigned kReduceReads_nothing = 0, kReduceReads_xy = 3;
// The bool_as and empty columns.
constexpr bool kBoolAsI64_i64 = true, kBoolAsI64_bool = false;
constexpr bool kRefusesEmpty_identity = false, kRefusesEmpty_refuse = true;

struct ReductionNode : SavingNode {
  // The input and the output (in the output's own shape: under create_graph it is linked back
  // to this node as the output it is), when the derivative reads them.
  Tensor x, out;
  Dims input_shape, kept_shape;
  std::vector<int64_t> axes;
  void release_saved() override { x = out = Tensor(); }
};

// A table row's node: its derivative, from g in the keepdims shape.
#define NDGRAD_REDUCTION_OP(name_, bool_as, empty, saves, derivative)          \
  struct name_##_reduction final : ReductionNode {                             \
    NDGRAD_OP_NAME(#name_)                                                     \
    static constexpr kernels::ReduceOp kOp = kernels::ReduceOp::name_;         \
    static constexpr unsigned kReads = kReduceReads_##saves;                   \
    static constexpr bool kBoolAsI64 = kBoolAsI64_##bool_as;                   \
    static constexpr bool kRefusesEmpty = kRefusesEmpty_##empty;               \
    GradList backward(const Tensor& grad) override {                           \
      const Tensor g = grad.reshape(kept_shape);                               \
      [[maybe_unused]] const Dims& shape = input_shape;                        \
      Tensor linked;                                                           \
      [[maybe_unused]] const Tensor y =                                        \
          out.defined() ? saved_output(out, linked).reshape(kept_shape) : out; \
      using namespace derivatives;                                             \
      return grad_list(derivative);                                            \
    }                                                                          \
  };
#include "ndgrad/op_table.def"

// A table row over axes: bools reduced as the row says, zero-size reductions refused where the
// row has no identity; large sums fused with their pending input (an execution choice).
template <class N>
Tensor reduction(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims) {
  const char* name = N::kName;
  require_defined_arg(t, name);
  if (t.dtype() == DType::boolean) {
    if constexpr (N::kBoolAsI64) return reduction<N>(t.to(DType::i64), axes_in, keepdims);
    return reduction<N>(t.to(DType::i64), axes_in, keepdims).to(DType::boolean);
  }
  if (is_storage_only(t.dtype())) {  // computed in the compute dtype, rounded back once
    const DType dt = t.dtype();
    Tensor r = reduction<N>(t.to(compute_dtype(dt)), axes_in, keepdims);
    if (N::kBoolAsI64 && !is_floating(dt)) return r;  // sums of small integers: i64, as bool's
    return r.to(dt);
  }
  const auto axes = normalize_axes(axes_in, t.ndim(), name);
  const Dims& shape = t.impl()->shape;
  if constexpr (N::kRefusesEmpty)
    for (int64_t a : axes)
      if (shape[a] == 0)
        throw ValueError(std::string(name) + ": zero-size reduction along axis " +
                         std::to_string(a) + " of shape " + shape_str(shape) +
                         ", which has no identity");
  Tensor kept;
  if constexpr (N::kOp == kernels::ReduceOp::sum)
    if (lazy::large(shape)) kept = lazy::sum(t, axes);
  if (!kept.defined()) kept = reduce_forward(N::kOp, t, axes, name);
  Tensor out = finish(kept, shape, axes, keepdims);
  if (auto node = record<N>(out, {&t})) {
    if constexpr ((N::kReads & 1) != 0) node->x = node->save(t, "the input");
    if constexpr ((N::kReads & 2) != 0) node->out = node->save(out.detach(), "the output");
    node->input_shape = shape;
    node->kept_shape = kept.impl()->shape;
    node->axes = axes;
  }
  return out;
}

Tensor arg_extreme(const Tensor& t, std::optional<int64_t> axis, bool keepdims, bool is_max,
                   const char* name) {
  require_defined_arg(t, name);
  if (is_storage_only(t.dtype()))  // (the conversions keep the order and NaNs)
    return arg_extreme(raw_cast(t, compute_dtype(t.dtype())), axis, keepdims, is_max, name);
  const Dims& shape = t.impl()->shape;
  if (!axis) {  // over the flattened tensor
    if (t.numel() == 0)
      throw ValueError(std::string(name) + ": attempt to get " + name +
                       " of an empty sequence (shape " + shape_str(shape) + ", axis None)");
    Tensor flat = raw_reshape(t, {t.numel()});
    Tensor r = arg_extreme(flat, 0, false, is_max, name);
    return keepdims ? raw_reshape(r, Dims(shape.size(), 1)) : r;
  }
  Tensor x = t;
  if (t.ndim() == 0) x = t.reshape({1});
  const int64_t a = normalize_axis(*axis, x.ndim(), name);
  const int64_t n = x.impl()->shape[a];
  if (n == 0)
    throw ValueError(std::string(name) + ": attempt to get " + name +
                     " of an empty sequence (shape " + shape_str(shape) + ", axis " +
                     std::to_string(*axis) + ")");
  Dims out_shape = x.impl()->shape, in_strides = x.impl()->strides;
  out_shape.erase(out_shape.begin() + a);
  in_strides.erase(in_strides.begin() + a);
  Tensor out = make_tensor(out_shape, DType::i64, name);
  kernels::arg_reduce(is_max, out_shape,
                      {out.impl()->data(), out.impl()->strides.data(), DType::i64},
                      {x.impl()->data(), in_strides.data(), x.dtype()}, n, x.impl()->strides[a]);
  if (keepdims && t.ndim() > 0) {
    Dims kept = shape;
    kept[a] = 1;
    return raw_reshape(out, kept);
  }
  return out;
}

}  // namespace

// The table's reductions as members and free functions.
#define NDGRAD_REDUCTION_OP(name, ...)                                            \
  Tensor Tensor::name(const std::vector<int64_t>& axes, bool keepdims) const {    \
    return reduction<name##_reduction>(*this, axes, keepdims);                    \
  }                                                                               \
  Tensor name(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims) { \
    return reduction<name##_reduction>(t, axes, keepdims);                        \
  }
#include "ndgrad/op_table.def"

Tensor Tensor::mean(const std::vector<int64_t>& axes_in, bool keepdims) const {
  require_defined_arg(*this, "mean");
  if (!is_floating(impl_->dtype)) return to(DType::f32).mean(axes_in, keepdims);
  if (is_storage_only(impl_->dtype))  // accumulated in f32, as NumPy's float16 mean
    return to(DType::f32).mean(axes_in, keepdims).to(impl_->dtype);
  const auto axes = normalize_axes(axes_in, ndim(), "mean");
  int64_t count = 1;
  for (int64_t a : axes) count *= impl_->shape[a];
  return sum(axes, keepdims) / static_cast<double>(count);
}

Tensor Tensor::argmax(std::optional<int64_t> axis, bool keepdims) const {
  return arg_extreme(*this, axis, keepdims, true, "argmax");
}
Tensor Tensor::argmin(std::optional<int64_t> axis, bool keepdims) const {
  return arg_extreme(*this, axis, keepdims, false, "argmin");
}

Tensor mean(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims) {
  require_defined_arg(t, "mean");
  return t.mean(axes, keepdims);
}
Tensor argmax(const Tensor& t, std::optional<int64_t> axis, bool keepdims) {
  require_defined_arg(t, "argmax");
  return t.argmax(axis, keepdims);
}
Tensor argmin(const Tensor& t, std::optional<int64_t> axis, bool keepdims) {
  require_defined_arg(t, "argmin");
  return t.argmin(axis, keepdims);
}

Tensor sum(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims, DType dtype) {
  require_defined_arg(t, "sum");
  // (i32, u8, i8 sum in i64 and give i64 by default: here the asked dtype, wrapped, as NumPy's)
  Tensor r = t.to(dtype).sum(axes, keepdims);
  return is_storage_only(dtype) ? r.to(dtype) : r;
}
Tensor mean(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims, DType dtype) {
  require_defined_arg(t, "mean");
  if (!is_floating(dtype))
    throw DTypeError(std::string("mean: the dtype to accumulate in must be floating, got ") +
                     dtype_name(dtype));
  return t.to(dtype).mean(axes, keepdims);
}

Tensor logsumexp(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims) {
  require_defined_arg(t, "logsumexp");
  if (is_half(t.dtype())) return logsumexp(t.to(DType::f32), axes_in, keepdims).to(t.dtype());
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
