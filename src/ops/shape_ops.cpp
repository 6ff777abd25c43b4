// Views and copies: broadcast_to, reshape, permute and friends change only metadata; their
// backward rules map the gradient back through the inverse view.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>

#include "ops/ops_common.hpp"

namespace ndgrad {

void require_defined_arg(const Tensor& t, const char* op, const char* what) {
  if (!t.defined())
    throw ValueError(std::string(op) + ": " + what + " is undefined" + kUndefinedCause);
}

void require_floating(const Tensor& t, const char* op) {
  if (!is_floating(t.dtype()))
    throw DTypeError(std::string(op) + " expects a floating tensor (f32 or f64), got " +
                     dtype_name(t.dtype()) + "; convert it with .to(DType::f32)");
  require_compute_dtype(t, op);
}

void require_compute_dtype(const Tensor& t, const char* op) {
  if (is_storage_only(t.dtype()))
    throw DTypeError(std::string(op) + " is not defined for " + dtype_name(t.dtype()) +
                     " tensors (a storage dtype); convert with .to(DType::" +
                     dtype_name(compute_dtype(t.dtype())) + ")");
}

Tensor raw_cast(const Tensor& t, DType dtype, const char* op) {
  Tensor out = make_tensor_of_valid_shape(t.impl()->shape, dtype, op);
  kernels::copy(t.impl()->shape, {out.impl()->data(), out.impl()->strides.data(), dtype},
                {t.impl()->data(), t.impl()->strides.data(), t.impl()->dtype});
  return out;
}

Tensor raw_contiguous(const Tensor& t) {
  if (t.is_contiguous()) return t.detach();
  return raw_cast(t, t.impl()->dtype);
}

Tensor raw_broadcast(const Tensor& t, const Dims& shape) {
  const auto& impl = *t.impl();
  return make_view(t, shape, broadcast_strides(impl.shape, impl.strides, shape), impl.offset);
}

Tensor raw_reshape(const Tensor& t, const Dims& shape) {
  Tensor c = raw_contiguous(t);
  return make_view(c, shape, contiguous_strides(shape), c.impl()->offset);
}

namespace {

// The constants of a loop (y * 1.0001 + 0.5) recur: their 0-d tensors, which nothing writes
// to, come from a small per-thread table instead of one allocation per op. bits: the value's
// bits (a double's, or an i64's with dtype i64).
template <class Make>
const Tensor& cached_scalar(uint64_t bits, DType dt, Make make) {
  struct Entry {
    uint64_t bits = 0;
    DType dtype = DType::f32;
    Tensor t;
  };
  thread_local Entry table[16];
  Entry& e = table[(bits ^ (bits >> 29) ^ static_cast<uint64_t>(dt)) % 16];
  if (!e.t.defined() || e.bits != bits || e.dtype != dt) e = {bits, dt, make()};
  return e.t;
}

}  // namespace

bool integer_scalar_fits(int64_t value, DType dtype) {
  switch (dtype) {
    case DType::i32:
      return value >= INT32_MIN && value <= INT32_MAX;
    case DType::u8:
      return value >= 0 && value <= UINT8_MAX;
    case DType::i8:
      return value >= INT8_MIN && value <= INT8_MAX;
    case DType::boolean:
      return value == 0 || value == 1;
    default:
      return true;
  }
}

const Tensor& scalar_like(double value, const Tensor& t, const char* op, DType non_floating) {
  if (!t.defined()) require_defined_arg(t, op);
  const DType td = t.impl()->dtype;
  const DType dt = is_floating(td) ? td : non_floating;
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return cached_scalar(bits, dt, [&] { return scalar(value, dt); });
}

const Tensor& scalar_like(int64_t value, const Tensor& t, const char* op) {
  if (!t.defined()) require_defined_arg(t, op);
  const DType td = t.impl()->dtype;
  if (is_floating(td)) return scalar_like(static_cast<double>(value), t, op);
  if (is_storage_only(td) && integer_scalar_fits(value, td))  // i32, u8, i8: the tensor's dtype
    return cached_scalar(static_cast<uint64_t>(value), td,
                         [&] { return scalar(static_cast<double>(value), td); });
  return cached_scalar(static_cast<uint64_t>(value), DType::i64, [&] {
    Tensor s = make_tensor({}, DType::i64);
    *reinterpret_cast<int64_t*>(s.impl()->data()) = value;  // exactly, past 2^53 too
    return s;
  });
}

namespace {

struct IdentityBackward : Node {  // the engine sums the gradient to the input's shape
  NDGRAD_OP_NAME("broadcast_to")
  int broadcast_core_dims() const override { return 0; }
  GradList backward(const Tensor& g) override { return grad_list(g); }
};

struct CastBackward : Node {  // the engine converts the gradient to the input's dtype
  NDGRAD_OP_NAME("to")
  GradList backward(const Tensor& g) override { return grad_list(g); }
};

struct ContiguousBackward : Node {
  NDGRAD_OP_NAME("contiguous")
  GradList backward(const Tensor& g) override { return grad_list(g); }
};

struct ReshapeBackward : Node {
  NDGRAD_OP_NAME("reshape")
  Dims input_shape;
  GradList backward(const Tensor& g) override { return grad_list(g.reshape(input_shape)); }
};

struct PermuteBackward : Node {
  NDGRAD_OP_NAME("permute")
  std::vector<int64_t> inverse;
  GradList backward(const Tensor& g) override { return grad_list(g.permute(inverse)); }
};

struct SqueezeBackward : Node {
  NDGRAD_OP_NAME("squeeze")
  int64_t axis = 0;
  GradList backward(const Tensor& g) override { return grad_list(g.unsqueeze(axis)); }
};

struct UnsqueezeBackward : Node {
  NDGRAD_OP_NAME("unsqueeze")
  int64_t axis = 0;
  GradList backward(const Tensor& g) override { return grad_list(g.squeeze(axis)); }
};

}  // namespace

Tensor Tensor::to(DType dtype) const {
  require_defined_arg(*this, "to");
  if (dtype == impl_->dtype) return *this;
  Tensor out = raw_cast(*this, dtype, "to");
  if (is_floating(dtype) && is_floating(impl_->dtype)) record<CastBackward>(out, {this});
  return out;
}

Tensor copy_of(const Tensor& t) {
  Tensor out = raw_cast(t, t.impl()->dtype, "contiguous");
  record<ContiguousBackward>(out, {&t});
  return out;
}

Tensor Tensor::contiguous() const {
  require_defined_arg(*this, "contiguous");
  if (is_contiguous()) return *this;
  return copy_of(*this);
}

Tensor Tensor::clone() const {
  require_defined_arg(*this, "clone");
  return copy_of(*this);
}

Tensor Tensor::broadcast_to(const Shape& shape) const {
  require_defined_arg(*this, "broadcast_to");
  checked_numel(shape, "broadcast_to");
  const Dims& from = impl_->shape;
  bool ok = shape.size() >= from.size();
  for (size_t i = 0; ok && i < from.size(); ++i) {
    int64_t target = shape[shape.size() - from.size() + i];
    ok = from[i] == target || from[i] == 1;
  }
  if (!ok)
    throw ShapeError("broadcast_to: cannot broadcast a tensor of shape " + shape_str(from) +
                     " to shape " + shape_str(shape));
  if (shape == from) return *this;
  Tensor out = raw_broadcast(*this, shape);
  record<IdentityBackward>(out, {this});
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  require_defined_arg(*this, "reshape");
  Shape target = shape;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (infer >= 0)
        throw ShapeError("reshape: can only specify one unknown dimension (-1) in " +
                         shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else if (target[i] < 0) {
      throw ShapeError("reshape: negative dimension " + std::to_string(target[i]) + " in " +
                       shape_str(shape));
    } else {
      known = target[i] == 0 ? 0 : (known > INT64_MAX / target[i] ? -1 : known * target[i]);
      if (known < 0) throw ShapeError("reshape: shape " + shape_str(shape) + " is too large");
    }
  }
  const int64_t n = numel();
  if (infer >= 0) {
    if (known == 0 || n % known != 0)
      throw ShapeError("reshape: cannot reshape array of size " + std::to_string(n) +
                       " into shape " + shape_str(shape));
    target[infer] = n / known;
  }
  if (checked_numel(target, "reshape") != n)
    throw ShapeError("reshape: cannot reshape array of size " + std::to_string(n) + " into shape " +
                     shape_str(shape));
  if (target == impl_->shape) return *this;
  Tensor out = raw_reshape(*this, target);
  if (auto node = record<ReshapeBackward>(out, {this})) node->input_shape = impl_->shape;
  return out;
}

Tensor Tensor::flatten() const {
  require_defined_arg(*this, "flatten");
  return reshape({-1});
}

Tensor Tensor::permute(const std::vector<int64_t>& axes) const {
  require_defined_arg(*this, "permute");
  const int64_t n = ndim();
  if (static_cast<int64_t>(axes.size()) != n)
    throw AxisError("permute: axes " + axes_str(axes) + " don't match a tensor of shape " +
                    shape_str(impl_->shape));
  std::vector<int64_t> norm(axes.size()), inverse(axes.size(), -1);
  for (size_t i = 0; i < axes.size(); ++i) {
    norm[i] = normalize_axis(axes[i], n, "permute");
    if (inverse[norm[i]] >= 0) throw AxisError("permute: repeated axis in " + axes_str(axes));
    inverse[norm[i]] = static_cast<int64_t>(i);
  }
  Dims shape(n), strides(n);
  for (int64_t i = 0; i < n; ++i) {
    shape[i] = impl_->shape[norm[i]];
    strides[i] = impl_->strides[norm[i]];
  }
  Tensor out = make_view(*this, shape, strides, impl_->offset);
  if (auto node = record<PermuteBackward>(out, {this})) node->inverse = inverse;
  return out;
}

Tensor Tensor::transpose(int64_t axis0, int64_t axis1) const {
  require_defined_arg(*this, "transpose");
  std::vector<int64_t> axes(ndim());
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[normalize_axis(axis0, ndim(), "transpose")],
            axes[normalize_axis(axis1, ndim(), "transpose")]);
  return permute(axes);
}

Tensor Tensor::T() const {
  require_defined_arg(*this, "T");
  std::vector<int64_t> axes(ndim());
  std::iota(axes.rbegin(), axes.rend(), 0);
  return permute(axes);
}

Tensor Tensor::mT() const {
  require_defined_arg(*this, "mT");
  if (ndim() < 2)
    throw ValueError("mT: needs at least 2 dimensions, got shape " + shape_str(impl_->shape));
  return transpose(-2, -1);
}

Tensor Tensor::squeeze(int64_t axis) const {
  require_defined_arg(*this, "squeeze");
  const int64_t a = normalize_axis(axis, ndim(), "squeeze");
  if (impl_->shape[a] != 1)
    throw ShapeError("squeeze: cannot select axis " + std::to_string(axis) +
                     " of a tensor of shape " + shape_str(impl_->shape) +
                     ": its size is not equal to one");
  Dims shape = impl_->shape, strides = impl_->strides;
  shape.erase(shape.begin() + a);
  strides.erase(strides.begin() + a);
  Tensor out = make_view(*this, shape, strides, impl_->offset);
  if (auto node = record<SqueezeBackward>(out, {this})) node->axis = a;
  return out;
}

Tensor Tensor::unsqueeze(int64_t axis) const {
  require_defined_arg(*this, "unsqueeze");
  const int64_t a = normalize_axis(axis, ndim() + 1, "unsqueeze");
  Dims shape = impl_->shape, strides = impl_->strides;
  if (static_cast<int64_t>(shape.size()) >= kMaxDims)
    throw ValueError("unsqueeze: a tensor cannot have more than " + std::to_string(kMaxDims) +
                     " dimensions");
  int64_t stride = a < ndim() ? impl_->strides[a] * impl_->shape[a] : 1;
  shape.insert(shape.begin() + a, 1);
  strides.insert(strides.begin() + a, stride);
  Tensor out = make_view(*this, shape, strides, impl_->offset);
  if (auto node = record<UnsqueezeBackward>(out, {this})) node->axis = a;
  return out;
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  require_defined_arg(t, "sum_to");
  const Dims& from = t.impl()->shape;
  if (from == shape) return t;
  std::vector<int64_t> axes;
  int64_t leading;
  if (!unbroadcast_axes(from, shape, 0, axes, leading))
    throw ShapeError("sum_to: a tensor of shape " + shape_str(from) +
                     " cannot be summed to shape " + shape_str(shape));
  return sum_axes_to(t, axes, shape);
}

Tensor sum_axes_to(const Tensor& t, const std::vector<int64_t>& axes, const Shape& shape) {
  return (axes.empty() ? t : t.sum(axes, true)).reshape(shape);
}

}  // namespace ndgrad

namespace ndgrad {

Tensor& Tensor::copy_(const Tensor& src) {
  require_defined_arg(*this, "copy_", "the destination");
  require_defined_arg(src, "copy_", "the source");
  if (impl_->requires_grad && is_grad_enabled())
    throw AutogradError(
        "copy_: in-place write into a tensor that requires grad while grad mode "
        "is on; wrap it in a NoGradGuard");
  broadcast_shapes_for(src.impl()->shape, impl_->shape, "copy_");
  Tensor source = src;
  if (!broadcasts_to(src.impl()->shape, impl_->shape))
    throw ShapeError("copy_: cannot broadcast a source of shape " + shape_str(src.impl()->shape) +
                     " into a tensor of shape " + shape_str(impl_->shape));
  if (has_internal_overlap(impl_->shape, impl_->strides))
    throw ValueError("copy_: the destination (shape " + shape_str(impl_->shape) + ", strides " +
                     shape_str(impl_->strides) +
                     ") has elements that share memory (a broadcast view): a write to one would "
                     "change the others; copy into a tensor of its own (contiguous()) instead");
  if (src.impl()->storage == impl_->storage) source = raw_cast(src, src.dtype());  // overlap
  OperandOf in(source, impl_->shape);
  kernels::copy(impl_->shape, {impl_->data(), impl_->strides.data(), impl_->dtype}, in.op);
  impl_->storage->bump_version();
  return *this;
}

}  // namespace ndgrad
