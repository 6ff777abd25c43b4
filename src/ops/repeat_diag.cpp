// Repeating (repeat/tile, repeat_interleave), diagonals (diagonal, diag, trace) and coordinate
// grids (meshgrid). Written with the differentiable shape ops, except the diagonal: a strided
// view whose gradient embeds the incoming gradient into zeros, differentiable by taking the
// diagonal again.
#include <algorithm>
#include <string>
#include <vector>

#include "graph/grad_mode.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad {

namespace {

// The repeats padded with leading ones to max(ndim, reps), each checked non-negative.
Shape padded_reps(const Tensor& t, const Shape& reps, const char* op) {
  for (int64_t r : reps)
    if (r < 0)
      throw ValueError(std::string(op) + ": repeats must be non-negative, got " +
                       std::to_string(r) + " in " + shape_str(reps));
  Shape out(std::max<size_t>(reps.size(), static_cast<size_t>(t.ndim())) - reps.size(), 1);
  out.insert(out.end(), reps.begin(), reps.end());
  return out;
}

Tensor tiled(const Tensor& t, const Shape& reps, const char* op) {
  const Shape r = padded_reps(t, reps, op);
  Shape s(r.size() - static_cast<size_t>(t.ndim()), 1);  // t's shape with leading ones
  for (int64_t d : t.shape()) s.push_back(d);
  // (1, s0, 1, s1, ...) broadcast to (r0, s0, r1, s1, ...), then (r0*s0, ...); an axis repeated
  // once needs no axis of its own.
  Shape spread, grid, result;
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i] != 1) {
      spread.push_back(1);
      grid.push_back(r[i]);
    }
    spread.push_back(s[i]);
    grid.push_back(s[i]);
    if (s[i] != 0 && r[i] > INT64_MAX / s[i])
      throw ShapeError(std::string(op) + ": the result is too large");
    result.push_back(r[i] * s[i]);
  }
  checked_numel(result, op);
  return t.reshape(spread).broadcast_to(grid).contiguous().reshape(result);
}

// The geometry of the diagonal of (axis1, axis2) over shape and strides, from element base.
struct Diagonal {
  Dims shape, strides;
  int64_t offset;
};
Diagonal diagonal_of(const Dims& shape, const Dims& strides, int64_t base, int64_t offset,
                     int64_t a1, int64_t a2) {
  Diagonal d{{}, {}, base};
  for (size_t i = 0; i < shape.size(); ++i)
    if (static_cast<int64_t>(i) != a1 && static_cast<int64_t>(i) != a2) {
      d.shape.push_back(shape[i]);
      d.strides.push_back(strides[i]);
    }
  const int64_t r0 = offset >= 0 ? 0 : -offset, c0 = offset >= 0 ? offset : 0;
  const int64_t n = std::max<int64_t>(0, std::min(shape[a1] - r0, shape[a2] - c0));
  if (n > 0) d.offset += r0 * strides[a1] + c0 * strides[a2];
  d.shape.push_back(n);
  d.strides.push_back(strides[a1] + strides[a2]);
  return d;
}

struct DiagonalSpec {
  int64_t offset, a1, a2;
};

Tensor diagonal_view(const Tensor& t, const DiagonalSpec& spec);

// g placed on the diagonal of zeros of shape: the gradient of a diagonal.
struct DiagonalEmbedBackward : Node {
  NDGRAD_OP_NAME("diagonal_backward")
  DiagonalSpec spec;
  GradList backward(const Tensor& g) override { return grad_list(diagonal_view(g, spec)); }
};
Tensor embed_diagonal(const Tensor& g, const DiagonalSpec& spec, const Dims& shape) {
  Tensor out = zeros(Shape(shape), g.dtype());
  const TensorImpl& o = *out.impl();
  const Diagonal d = diagonal_of(o.shape, o.strides, o.offset, spec.offset, spec.a1, spec.a2);
  copy_into(make_view(out, d.shape, d.strides, d.offset), g);
  if (auto node = record<DiagonalEmbedBackward>(out, {&g})) node->spec = spec;
  return out;
}

struct DiagonalBackward : Node {
  NDGRAD_OP_NAME("diagonal")
  DiagonalSpec spec;
  Dims input_shape;
  GradList backward(const Tensor& g) override {
    return grad_list(embed_diagonal(g, spec, input_shape));
  }
};
Tensor diagonal_view(const Tensor& t, const DiagonalSpec& spec) {
  const TensorImpl& ti = *t.impl();
  const Diagonal d = diagonal_of(ti.shape, ti.strides, ti.offset, spec.offset, spec.a1, spec.a2);
  Tensor out = make_view(t, d.shape, d.strides, d.offset);
  if (auto node = record<DiagonalBackward>(out, {&t})) {
    node->spec = spec;
    node->input_shape = ti.shape;
  }
  return out;
}

DiagonalSpec diagonal_spec(const Tensor& t, int64_t offset, int64_t axis1, int64_t axis2,
                           const char* op) {
  if (t.ndim() < 2)
    throw ShapeError(std::string(op) + ": needs at least 2 dimensions, got shape " +
                     shape_str(t.impl()->shape));
  const int64_t a1 = normalize_axis(axis1, t.ndim(), op), a2 = normalize_axis(axis2, t.ndim(), op);
  if (a1 == a2)
    throw ValueError(std::string(op) + ": axis1 and axis2 cannot be the same axis (" +
                     std::to_string(a1) + ")");
  return {offset, a1, a2};
}

}  // namespace

Tensor Tensor::repeat(const Shape& reps) const {
  require_defined_arg(*this, "repeat");
  if (static_cast<int64_t>(reps.size()) < ndim())
    throw ValueError("repeat: " + std::to_string(reps.size()) + " repeats for a tensor of shape " +
                     shape_str(impl_->shape) + ": at least one per axis is needed");
  return tiled(*this, reps, "repeat");
}

Tensor tile(const Tensor& t, const Shape& reps) {
  require_defined_arg(t, "tile");
  return tiled(t, reps, "tile");
}

Tensor repeat_interleave(const Tensor& t, int64_t repeats, std::optional<int64_t> axis) {
  require_defined_arg(t, "repeat_interleave");
  if (repeats < 0)
    throw ValueError("repeat_interleave: repeats must be non-negative, got " +
                     std::to_string(repeats));
  const Tensor x = axis ? t : t.flatten();
  const int64_t a =
      axis ? normalize_axis(*axis, std::max<int64_t>(x.ndim(), 1), "repeat_interleave") : 0;
  if (x.ndim() == 0) return repeat_interleave(x.reshape({1}), repeats, 0);
  Shape grid = x.shape();
  grid.insert(grid.begin() + a + 1, repeats);
  Shape result = x.shape();
  if (result[a] != 0 && repeats > INT64_MAX / result[a])
    throw ShapeError("repeat_interleave: the result is too large");
  result[a] *= repeats;
  checked_numel(result, "repeat_interleave");
  return x.unsqueeze(a + 1).broadcast_to(grid).contiguous().reshape(result);
}

Tensor repeat_interleave(const Tensor& t, const Tensor& repeats, std::optional<int64_t> axis) {
  require_defined_arg(t, "repeat_interleave");
  require_defined_arg(repeats, "repeat_interleave", "repeats");
  if (is_storage_only(repeats.dtype()) && !is_floating(repeats.dtype()))  // i32, u8, i8
    return repeat_interleave(t, repeats.to(DType::i64), axis);
  if (repeats.dtype() != DType::i64)
    throw DTypeError(std::string("repeat_interleave: repeats must be an i64 tensor, got ") +
                     dtype_name(repeats.dtype()));
  if (repeats.ndim() > 1)
    throw ShapeError("repeat_interleave: repeats must be 0-d or 1-d, got shape " +
                     shape_str(repeats.impl()->shape));
  if (repeats.ndim() == 0 || repeats.numel() == 1)
    return repeat_interleave(t, static_cast<int64_t>(repeats.flatten().to_vector()[0]), axis);
  const Tensor x = axis ? t : t.flatten();
  if (x.ndim() == 0)
    throw ShapeError("repeat_interleave: " + std::to_string(repeats.numel()) +
                     " repeats for a single element");
  const int64_t a = axis ? normalize_axis(*axis, x.ndim(), "repeat_interleave") : 0;
  const int64_t n = x.impl()->shape[a];
  if (repeats.numel() != n)
    throw ShapeError("repeat_interleave: " + std::to_string(repeats.numel()) +
                     " repeats for axis " + std::to_string(a) + " with size " + std::to_string(n) +
                     ": one per element (or one for all) is needed");
  const Tensor rc = repeats.contiguous();
  const int64_t* r = rc.data_ptr<int64_t>();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (r[i] < 0)
      throw ValueError("repeat_interleave: repeats must be non-negative, got " +
                       std::to_string(r[i]) + " for element " + std::to_string(i));
    if (__builtin_add_overflow(count, r[i], &count))
      throw ShapeError("repeat_interleave: the result is too large");
  }
  Shape result = x.shape();
  result[a] = count;
  checked_numel(result, "repeat_interleave");
  Tensor idx = make_tensor({count}, DType::i64, "repeat_interleave");
  int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) p = std::fill_n(p, r[i], i);
  return index_select(x, a, idx);
}

Tensor Tensor::diagonal(int64_t offset, int64_t axis1, int64_t axis2) const {
  require_defined_arg(*this, "diagonal");
  return diagonal_view(*this, diagonal_spec(*this, offset, axis1, axis2, "diagonal"));
}

Tensor diagonal(const Tensor& t, int64_t offset, int64_t axis1, int64_t axis2) {
  require_defined_arg(t, "diagonal");
  return t.diagonal(offset, axis1, axis2);
}

Tensor diag(const Tensor& t, int64_t k) {
  require_defined_arg(t, "diag");
  if (t.ndim() == 2) return t.diagonal(k);
  if (t.ndim() != 1)
    throw ShapeError("diag: takes a 1-d or 2-d tensor, got shape " + shape_str(t.impl()->shape));
  const int64_t m = t.impl()->shape[0] + (k < 0 ? -k : k);
  return embed_diagonal(t, {k, 0, 1}, {m, m});
}

Tensor trace(const Tensor& t, int64_t offset, int64_t axis1, int64_t axis2) {
  require_defined_arg(t, "trace");
  return diagonal_view(t, diagonal_spec(t, offset, axis1, axis2, "trace")).sum({-1});
}

std::vector<Tensor> meshgrid(const std::vector<Tensor>& tensors, const std::string& indexing) {
  if (indexing != "xy" && indexing != "ij")
    throw ValueError("meshgrid: indexing must be \"xy\" or \"ij\", got \"" + indexing + "\"");
  Shape shape;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    require_defined_arg(t, "meshgrid", ("tensor " + std::to_string(i)).c_str());
    if (t.ndim() > 1)
      throw ShapeError("meshgrid: tensor " + std::to_string(i) + " has shape " +
                       shape_str(t.impl()->shape) + "; each must be 0-d or 1-d");
    shape.push_back(t.numel());
  }
  const bool xy = indexing == "xy" && tensors.size() >= 2;
  if (xy) std::swap(shape[0], shape[1]);
  checked_numel(shape, "meshgrid");
  std::vector<Tensor> out;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const size_t at = xy && i < 2 ? 1 - i : i;
    Shape s(tensors.size(), 1);
    s[at] = tensors[i].numel();
    out.push_back(tensors[i].reshape(s).broadcast_to(shape));
  }
  return out;
}

}  // namespace ndgrad
