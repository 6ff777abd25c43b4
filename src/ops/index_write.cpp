// Writing through indices: index_put, scatter, scatter_add, put_along_axis and masked_fill
// (functional and differentiable in the input and the values), and their in-place forms, which
// are not recorded. Each finds the row-major positions it writes (index_internal.hpp) first, so
// bad input is refused before anything is written.
#include <cstring>
#include <string>
#include <vector>

#include "graph/grad_mode.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "ops/index_internal.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad {

namespace indexing {

namespace {

// t's gradient is g where no value landed; values' gradient is g where its write landed (a
// value overwritten by a later one at the same position gets zero).
struct ReplaceBackward : Node {
  NDGRAD_OP_NAME("index_put")
  Positions positions;
  Tensor kept;    // bool, the input's shape
  Tensor landed;  // bool, one per value
  GradList backward(const Tensor& g) override {
    const Tensor zero = scalar(0.0, g.dtype());
    return grad_list(needs(0) ? where(kept, g, zero) : Tensor(),
                     needs(1) ? where(landed, take_flat(g, positions), zero) : Tensor());
  }
};

}  // namespace

Tensor replace_at(const Tensor& t, const Tensor& values, std::vector<int64_t> positions) {
  const TensorImpl& ti = *t.impl();
  Tensor out = make_tensor(ti.shape, ti.dtype, "index_put");
  copy_into(out, t);
  // Converted by the recorded cast: values of another floating dtype keep their gradient.
  const Tensor v = values.dtype() == ti.dtype ? values : values.to(ti.dtype);
  const Tensor vc = raw_contiguous(v);
  const int64_t size = itemsize(ti.dtype);
  char* dst = out.impl()->data();
  const char* src = vc.impl()->read_data();
  for (size_t k = 0; k < positions.size(); ++k)
    std::memcpy(dst + positions[k] * size, src + static_cast<int64_t>(k) * size,
                static_cast<size_t>(size));
  const bool records = is_grad_enabled() && (records_grad(t) || records_grad(v));
  if (!records) return out;
  // Which writes stay: the last one at each position.
  Tensor kept = ones(Shape(ti.shape), DType::boolean);
  Tensor landed = zeros({static_cast<int64_t>(positions.size())}, DType::boolean);
  bool* keep = kept.data_ptr<bool>();
  bool* land = landed.data_ptr<bool>();
  for (size_t k = positions.size(); k-- > 0;) {
    if (!keep[positions[k]]) continue;
    keep[positions[k]] = false;
    land[k] = true;
  }
  const Tensor* inputs[] = {&t, &v};
  auto node = make_ref<ReplaceBackward>();
  node->positions = shared(positions);
  node->kept = std::move(kept);
  node->landed = std::move(landed);
  attach_node(out, std::move(node), inputs, 2);
  return out;
}

}  // namespace indexing

using namespace indexing;

namespace {

// values broadcast to shape, as a 1-d tensor in row-major order (differentiable); a ShapeError
// naming op when values do not broadcast to it.
Tensor values_for(const Tensor& values, const Dims& shape, const char* op) {
  const Dims& vs = values.impl()->shape;
  if (!broadcasts_to(vs, shape))
    throw ShapeError(std::string(op) + ": values of shape " + shape_str(vs) +
                     " cannot be broadcast to the indexed shape " + shape_str(shape));
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return values.broadcast_to(Shape(shape)).reshape({n});
}

// An in-place write into t is refused while grad mode is on when t or the values take part in
// autograd (the write is not recorded), and on a broadcast view (its elements share memory).
void check_in_place(const Tensor& t, const Tensor* values, const char* op) {
  if (is_grad_enabled() && t.requires_grad())
    throw AutogradError(std::string(op) +
                        ": in-place write into a tensor that requires grad while grad mode is "
                        "on; wrap it in a NoGradGuard, or use the functional form");
  if (values && is_grad_enabled() && values->requires_grad())
    throw AutogradError(std::string(op) +
                        ": the values require grad, and an in-place write is not recorded; use "
                        "the functional form (index_put, masked_fill) to differentiate it");
  const TensorImpl& ti = *t.impl();
  if (has_internal_overlap(ti.shape, ti.strides))
    throw ValueError(std::string(op) + ": the tensor (shape " + shape_str(ti.shape) + ", strides " +
                     shape_str(ti.strides) +
                     ") has elements that share memory (a broadcast view): a write to one would "
                     "change the others");
}

// Writes (or adds) values, already in t's dtype and of one element per position, into t's
// memory at row-major positions.
void write_into(Tensor& t, const Tensor& values, const std::vector<int64_t>& positions,
                bool accumulate) {
  TensorImpl& ti = *t.impl();
  const bool contiguous = is_contiguous(ti.shape, ti.strides);
  char* base = ti.data();
  const char* src = values.impl()->read_data();
  if (!accumulate) {  // elements moved unchanged: any dtype
    kernels::dispatch_bytes(ti.dtype, [&](auto tag) {
      using T = decltype(tag);
      T* dst = reinterpret_cast<T*>(base);
      const T* v = reinterpret_cast<const T*>(src);
      for (size_t k = 0; k < positions.size(); ++k)
        dst[contiguous ? positions[k] : offset_of(positions[k], ti.shape, ti.strides)] = v[k];
    });
    ti.storage->bump_version();
    return;
  }
  // Each add in order, in the compute dtype, its sum stored back (rounded, or wrapped) at once:
  // a repeated position adds to the stored value, as libtorch's and NumPy's add.at.
  kernels::dispatch_storage(ti.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* dst = reinterpret_cast<T*>(base);
    const T* v = reinterpret_cast<const T*>(src);
    for (size_t k = 0; k < positions.size(); ++k) {
      T& d = dst[contiguous ? positions[k] : offset_of(positions[k], ti.shape, ti.strides)];
      if constexpr (std::is_same_v<T, bool>)
        d = d || v[k];
      else if constexpr (std::is_same_v<T, kernels::float16_t> ||
                         std::is_same_v<T, kernels::bfloat16_t>)
        d = T(static_cast<double>(static_cast<float>(d) + static_cast<float>(v[k])));
      else if constexpr (std::is_integral_v<T> && sizeof(T) < 8)  // wraps, as NumPy's
        d = static_cast<T>(static_cast<uint64_t>(int64_t(d) + int64_t(v[k])));
      else
        d = static_cast<T>(d + v[k]);
    }
  });
  ti.storage->bump_version();
}

void check_mask(const Tensor& t, const Tensor& mask, const char* op) {
  require_defined_arg(t, op);
  require_defined_arg(mask, op, "mask");
  if (mask.dtype() != DType::boolean)
    throw DTypeError(std::string(op) + ": the mask must be a bool tensor, got " +
                     dtype_name(mask.dtype()));
  if (!broadcasts_to(mask.impl()->shape, t.impl()->shape))
    throw ShapeError(std::string(op) + ": a mask of shape " + shape_str(mask.impl()->shape) +
                     " does not broadcast to the input's shape " + shape_str(t.impl()->shape));
}

// scatter's and scatter_add's operands: the positions the index names in t, and the part of
// source it pairs with them (source's leading elements, the index's shape).
std::pair<std::vector<int64_t>, Tensor> scatter_operands(const Tensor& t, int64_t axis,
                                                         const Tensor& index, const Tensor& source,
                                                         const char* op) {
  require_defined_arg(t, op);
  require_defined_arg(index, op, "index");
  require_defined_arg(source, op, "source");
  const int64_t a = normalize_axis(axis, std::max<int64_t>(t.ndim(), 1), op);
  const Dims& ishape = index.impl()->shape;
  const Dims& sshape = source.impl()->shape;
  bool ok = sshape.size() == ishape.size();
  for (size_t d = 0; ok && d < ishape.size(); ++d) ok = ishape[d] <= sshape[d];
  if (!ok)
    throw ShapeError(std::string(op) + ": source of shape " + shape_str(sshape) +
                     " must have the index's rank and be no smaller on any axis (index shape " +
                     shape_str(ishape) + ")");
  std::vector<int64_t> positions = gather_positions(t.impl()->shape, a, index, op);
  std::vector<TensorIndex> part;
  for (int64_t n : ishape) part.emplace_back(Slice(0, n));
  return {std::move(positions), source.index(part)};
}

}  // namespace

Tensor index_put(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& values,
                 bool accumulate) {
  require_defined_arg(t, "index_put");
  require_defined_arg(values, "index_put", "values");
  Located at = locate(t.impl()->shape, indices, "index_put");
  const Tensor v = values_for(values, at.shape, "index_put");
  return accumulate ? add_at(t, v, shared(at.positions), "index_put")
                    : replace_at(t, v, std::move(at.positions));
}

Tensor& Tensor::index_put_(const std::vector<TensorIndex>& indices, const Tensor& values,
                           bool accumulate) {
  require_defined_arg(*this, "index_put_");
  require_defined_arg(values, "index_put_", "values");
  check_in_place(*this, &values, "index_put_");
  const Located at = locate(impl_->shape, indices, "index_put_");
  Tensor v;
  {
    NoGradGuard no_grad;
    // A copy of its own: the values may share this tensor's memory.
    v = raw_cast(values_for(values, at.shape, "index_put_"), impl_->dtype);
  }
  write_into(*this, v, at.positions, accumulate);
  return *this;
}

Tensor& Tensor::index_put_(const std::vector<TensorIndex>& indices, double value) {
  require_defined_arg(*this, "index_put_");
  return index_put_(indices, scalar(value, impl_->dtype));
}

Tensor scatter(const Tensor& t, int64_t axis, const Tensor& index, const Tensor& source) {
  auto [positions, part] = scatter_operands(t, axis, index, source, "scatter");
  return replace_at(t, part.reshape({part.numel()}), std::move(positions));
}

Tensor scatter(const Tensor& t, int64_t axis, const Tensor& index, double value) {
  require_defined_arg(t, "scatter");
  require_defined_arg(index, "scatter", "index");
  return scatter(t, axis, index, full(index.shape(), value, t.dtype()));
}

Tensor scatter_add(const Tensor& t, int64_t axis, const Tensor& index, const Tensor& source) {
  auto [positions, part] = scatter_operands(t, axis, index, source, "scatter_add");
  return add_at(t, part, shared(positions), "scatter_add");
}

Tensor put_along_axis(const Tensor& t, const Tensor& indices, const Tensor& values, int64_t axis) {
  require_defined_arg(t, "put_along_axis");
  require_defined_arg(indices, "put_along_axis", "indices");
  require_defined_arg(values, "put_along_axis", "values");
  if (indices.ndim() != t.ndim())
    throw ShapeError("put_along_axis: indices of shape " + shape_str(indices.impl()->shape) +
                     " must have the input's rank (input shape " + shape_str(t.impl()->shape) +
                     ")");
  const int64_t a = normalize_axis(axis, std::max<int64_t>(t.ndim(), 1), "put_along_axis");
  // NumPy's rule: the other axes of the input and of the indices broadcast together (an input
  // axis of size 1 is written once per index along it); the values broadcast to the indices'.
  const Dims& ts = t.impl()->shape;
  const Dims& is = indices.impl()->shape;
  Dims ishape = ts, tb = ts;  // the indices' broadcast shape; the input's, broadcast
  for (size_t d = 0; d < ts.size(); ++d) {
    if (static_cast<int64_t>(d) == a) {
      ishape[d] = is[d];
    } else if (is[d] != ts[d] && is[d] != 1 && ts[d] != 1) {
      throw ShapeError("put_along_axis: indices of shape " + shape_str(is) +
                       " do not broadcast with the input's shape " + shape_str(ts) +
                       " on the axes other than " + std::to_string(a));
    } else {
      ishape[d] = tb[d] = std::max(is[d], ts[d]);
    }
  }
  checked_numel(ishape, "put_along_axis");
  const Tensor idx = indices.broadcast_to(Shape(ishape));
  std::vector<int64_t> positions = gather_positions(tb, a, idx, "put_along_axis");
  if (tb != ts) {  // positions in the broadcast input, back to the input's own elements
    const Dims cs = contiguous_strides(ts);
    Dims strides = cs;
    for (size_t d = 0; d < ts.size(); ++d)
      if (ts[d] != tb[d]) strides[d] = 0;
    for (int64_t& p : positions) p = offset_of(p, tb, strides);
  }
  return replace_at(t, values_for(values, ishape, "put_along_axis"), std::move(positions));
}

Tensor masked_fill(const Tensor& t, const Tensor& mask, double value) {
  check_mask(t, mask, "masked_fill");
  return where(mask, scalar(value, t.dtype()), t);
}

Tensor masked_fill(const Tensor& t, const Tensor& mask, const Tensor& value) {
  check_mask(t, mask, "masked_fill");
  require_defined_arg(value, "masked_fill", "value");
  if (value.ndim() != 0)
    throw ShapeError("masked_fill: the value must be a 0-d tensor, got shape " +
                     shape_str(value.impl()->shape));
  return where(mask, value.dtype() == t.dtype() ? value : value.to(t.dtype()), t);
}

Tensor& Tensor::masked_fill_(const Tensor& mask, double value) {
  check_mask(*this, mask, "masked_fill_");
  check_in_place(*this, nullptr, "masked_fill_");
  // One walk over the mask: no positions (a mask over a large tensor would need 8 bytes each).
  const Tensor m = raw_contiguous(mask.broadcast_to(shape()));
  const Tensor fill = scalar(value, impl_->dtype);
  TensorImpl& ti = *impl_;
  const bool* p = m.data_ptr<bool>();
  const int64_t n = m.numel();
  const bool contiguous = ndgrad::is_contiguous(ti.shape, ti.strides);
  kernels::dispatch_bytes(ti.dtype, [&](auto tag) {  // (the value stored unchanged)
    using T = decltype(tag);
    T v;
    std::memcpy(&v, fill.impl()->data(), sizeof v);
    T* dst = reinterpret_cast<T*>(ti.data());
    for (int64_t k = 0; k < n; ++k)
      if (p[k]) dst[contiguous ? k : offset_of(k, ti.shape, ti.strides)] = v;
  });
  ti.storage->bump_version();
  return *this;
}

}  // namespace ndgrad
