// Basic indexing (views) and joining: NumPy's basic indexing as zero-copy views whose gradient
// is embedded back into zeros of the input's shape; cat and stack as N-input nodes whose
// gradients are views of the output's gradient; split, chunk and unbind as views.
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "graph/grad_mode.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "ops/index_internal.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad {

namespace indexing {

std::string axis_text(int64_t axis, int64_t size) {
  return "axis " + std::to_string(axis) + " with size " + std::to_string(size);
}

int64_t resolve_integer(int64_t i, int64_t axis, int64_t size, const char* op) {
  if (i < -size || i >= size)
    throw IndexError(std::string(op) + ": index " + std::to_string(i) + " is out of bounds for " +
                     axis_text(axis, size));
  return i < 0 ? i + size : i;
}

}  // namespace indexing

using namespace indexing;

namespace {

// A basic index resolved against a shape: for each input axis, the elements it keeps (a
// slice: start, step, size) or the one it selects; and where the result has new axes.
struct ViewSpec {
  struct Pick {
    bool keep;      // false: the axis is selected at `start` and removed
    int64_t start;  // first element
    int64_t step;   // kept axes only
    int64_t size;   // kept axes only
  };
  std::vector<Pick> picks;       // one per input axis
  std::vector<bool> out_is_new;  // per output axis: a new axis of size 1
};

// NumPy's slice.indices(): ends clamped, negative values from the end, any non-zero step.
ViewSpec::Pick resolve_slice(const Slice& s, int64_t size, const char* op) {
  if (s.step == 0) throw ValueError(std::string(op) + ": slice step cannot be zero");
  const int64_t step = s.step;
  int64_t start, stop;
  auto clamp = [&](std::optional<int64_t> v, int64_t open, int64_t lo, int64_t hi) {
    if (!v) return open;
    int64_t x = *v < 0 ? *v + size : *v;
    return x < lo ? lo : (x > hi ? hi : x);
  };
  if (step > 0) {
    start = clamp(s.start, 0, 0, size);
    stop = clamp(s.stop, size, 0, size);
  } else {
    start = clamp(s.start, size - 1, -1, size - 1);
    stop = clamp(s.stop, -1, -1, size - 1);
  }
  int64_t n = step > 0 ? (stop - start + step - 1) / step : (start - stop + (-step) - 1) / (-step);
  if (n < 0) n = 0;
  return {true, n == 0 ? 0 : start, step, n};
}

ViewSpec resolve(const std::vector<TensorIndex>& indices, const Dims& shape, const char* op) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  int64_t consuming = 0, ellipses = 0;
  for (const TensorIndex& ix : indices) {
    if (ix.kind() == TensorIndex::Kind::integer || ix.kind() == TensorIndex::Kind::slice)
      ++consuming;
    if (ix.kind() == TensorIndex::Kind::ellipsis) ++ellipses;
  }
  if (ellipses > 1) throw IndexError(std::string(op) + ": an index can only have one ellipsis");
  if (consuming > ndim)
    throw IndexError(std::string(op) + ": too many indices for a tensor of shape " +
                     shape_str(shape) + ": " + std::to_string(consuming) + " were given");
  ViewSpec spec;
  int64_t axis = 0;
  auto full = [&] {
    spec.picks.push_back({true, 0, 1, shape[axis]});
    spec.out_is_new.push_back(false);
    ++axis;
  };
  for (const TensorIndex& ix : indices) {
    switch (ix.kind()) {
      case TensorIndex::Kind::integer:
        spec.picks.push_back({false, resolve_integer(ix.integer(), axis, shape[axis], op), 0, 0});
        ++axis;
        break;
      case TensorIndex::Kind::slice:
        spec.picks.push_back(resolve_slice(ix.slice(), shape[axis], op));
        spec.out_is_new.push_back(false);
        ++axis;
        break;
      case TensorIndex::Kind::new_axis:
        spec.out_is_new.push_back(true);
        break;
      case TensorIndex::Kind::ellipsis:
        for (int64_t k = ndim - consuming; k > 0; --k) full();
        break;
      case TensorIndex::Kind::tensor:  // callers hand advanced entries to locate()
        throw IndexError(std::string(op) + ": an index tensor where a basic index was expected");
    }
  }
  while (axis < ndim) full();  // the axes no index named are kept whole
  if (spec.out_is_new.size() > static_cast<size_t>(kMaxDims))
    throw IndexError(std::string(op) + ": the result would have " +
                     std::to_string(spec.out_is_new.size()) + " dimensions, more than the " +
                     std::to_string(kMaxDims) + " a tensor can have");
  return spec;
}

// The shape, strides and first element of what spec selects from a tensor with these strides
// whose first element is at offset.
struct Geometry {
  Dims shape, strides;
  int64_t offset;
};
Geometry geometry_of(const ViewSpec& spec, const Dims& strides, int64_t offset) {
  Geometry g{{}, {}, offset};
  size_t in = 0;
  for (bool is_new : spec.out_is_new) {
    if (is_new) {
      g.shape.push_back(1);
      g.strides.push_back(0);
      continue;
    }
    for (; !spec.picks[in].keep; ++in) g.offset += spec.picks[in].start * strides[in];
    const ViewSpec::Pick& p = spec.picks[in];
    if (p.size > 0) g.offset += p.start * strides[in];
    g.shape.push_back(p.size);
    g.strides.push_back(p.step * strides[in]);
    ++in;
  }
  for (; in < spec.picks.size(); ++in) g.offset += spec.picks[in].start * strides[in];
  return g;
}

// The view of t that spec describes (no autograd).
Tensor view_of(const Tensor& t, const ViewSpec& spec) {
  Geometry g = geometry_of(spec, t.impl()->strides, t.impl()->offset);
  return make_view(t, std::move(g.shape), std::move(g.strides), g.offset);
}

Tensor index_view(const Tensor& t, const ViewSpec& spec);

// g placed where the view took its elements, zeros elsewhere: the gradient of a view.
struct EmbedBackward : Node {
  NDGRAD_OP_NAME("index_backward")
  ViewSpec spec;
  GradList backward(const Tensor& g) override { return grad_list(index_view(g, spec)); }
};
Tensor embed(const Tensor& g, const ViewSpec& spec, const Dims& shape) {
  Tensor out = zeros(Shape(shape), g.dtype());
  copy_into(view_of(out, spec), g);
  if (auto node = record<EmbedBackward>(out, {&g})) node->spec = spec;
  return out;
}

struct IndexBackward : Node {
  NDGRAD_OP_NAME("index")
  ViewSpec spec;
  Dims input_shape;
  GradList backward(const Tensor& g) override { return grad_list(embed(g, spec, input_shape)); }
};
Tensor index_view(const Tensor& t, const ViewSpec& spec) {
  Tensor out = view_of(t, spec);
  if (auto node = record<IndexBackward>(out, {&t})) {
    node->spec = spec;
    node->input_shape = t.impl()->shape;
  }
  return out;
}

// The spec of a slice along one axis, every other axis whole.
ViewSpec along(const Dims& shape, int64_t axis, ViewSpec::Pick pick) {
  ViewSpec spec;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    spec.picks.push_back(d == axis ? pick : ViewSpec::Pick{true, 0, 1, shape[d]});
    if (d != axis || pick.keep) spec.out_is_new.push_back(false);
  }
  return spec;
}

}  // namespace

namespace indexing {

namespace {

// One advanced entry of an index, once its axes are known: positions along view axis `axis`.
struct AdvancedEntry {
  Tensor values;       // i64
  int64_t axis;        // the axis of the basic view it indexes
  int64_t input_axis;  // the input's axis, for messages (-1: an axis a 0-d bool added)
  int64_t entry;       // its place in the index list (adjacency is decided there)
};

// "(2,) (3,)": the shapes NumPy lists when index arrays do not broadcast.
std::string shapes_text(const std::vector<AdvancedEntry>& adv) {
  std::string s;
  for (const AdvancedEntry& e : adv) s += (s.empty() ? "" : " ") + shape_str(e.values.shape());
  return s;
}

// Offsets (through strides) of every element of the sub-grid spanned by axes, row-major.
std::vector<int64_t> grid_offsets(const Dims& shape, const Dims& strides,
                                  const std::vector<int64_t>& axes) {
  std::vector<int64_t> offs{0};
  for (int64_t d : axes) {
    std::vector<int64_t> next;
    next.reserve(offs.size() * static_cast<size_t>(shape[d]));
    for (int64_t o : offs)
      for (int64_t i = 0; i < shape[d]; ++i) next.push_back(o + i * strides[d]);
    offs = std::move(next);
  }
  return offs;
}

}  // namespace

static Located locate_positions(const Dims& shape, const std::vector<TensorIndex>& indices,
                                const char* op) {
  for (size_t i = 0; i < indices.size(); ++i)
    if (indices[i].kind() == TensorIndex::Kind::tensor && indices[i].tensor().defined() &&
        is_storage_only(indices[i].tensor().dtype()) && !is_floating(indices[i].tensor().dtype())) {
      std::vector<TensorIndex> as_i64 = indices;  // i32, u8, i8 index tensors: their values
      for (TensorIndex& ix : as_i64)
        if (ix.kind() == TensorIndex::Kind::tensor && ix.tensor().defined() &&
            is_storage_only(ix.tensor().dtype()) && !is_floating(ix.tensor().dtype()))
          ix = TensorIndex(ix.tensor().to(DType::i64));
      return locate_positions(shape, as_i64, op);
    }
  const int64_t ndim = static_cast<int64_t>(shape.size());
  bool any_tensor = false;
  for (const TensorIndex& ix : indices) {
    if (ix.kind() != TensorIndex::Kind::tensor) continue;
    any_tensor = true;
    require_defined_arg(ix.tensor(), op, "an index tensor");
    const DType dt = ix.tensor().dtype();
    if (dt != DType::i64 && dt != DType::boolean)
      throw IndexError(std::string(op) +
                       ": tensors used as indices must be i64 or bool (or i32, u8, i8), got " +
                       dtype_name(dt));
  }
  // The basic part: every advanced entry becomes full slices over the axes it indexes (a 0-d
  // bool a new axis), so that the view keeps them; integers are advanced once a tensor is there.
  std::vector<TensorIndex> basic;
  for (const TensorIndex& ix : indices) {
    if (ix.kind() == TensorIndex::Kind::tensor) {
      const int64_t k = ix.tensor().dtype() == DType::boolean ? ix.tensor().ndim() : 1;
      if (k == 0) basic.emplace_back(NewAxis);
      for (int64_t j = 0; j < k; ++j) basic.emplace_back(All);
    } else if (ix.kind() == TensorIndex::Kind::integer && any_tensor) {
      basic.emplace_back(All);
    } else {
      basic.push_back(ix);
    }
  }
  const ViewSpec spec = resolve(basic, shape, op);
  // The view's geometry over a contiguous tensor of shape: positions are its element offsets.
  const Geometry view = geometry_of(spec, contiguous_strides(shape), 0);
  const Dims &vshape = view.shape, &vstrides = view.strides;
  const int64_t base = view.offset;
  // The advanced entries, with the axes they index.
  std::vector<AdvancedEntry> adv;
  int64_t consuming = 0;
  for (const TensorIndex& ix : basic)
    if (ix.kind() == TensorIndex::Kind::integer || ix.kind() == TensorIndex::Kind::slice)
      ++consuming;
  int64_t out_axis = 0, in_axis = 0;
  for (size_t e = 0; e < indices.size(); ++e) {
    const TensorIndex& ix = indices[e];
    const int64_t at = static_cast<int64_t>(e);
    switch (ix.kind()) {
      case TensorIndex::Kind::slice:
        ++out_axis, ++in_axis;
        break;
      case TensorIndex::Kind::new_axis:
        ++out_axis;
        break;
      case TensorIndex::Kind::ellipsis:
        out_axis += ndim - consuming, in_axis += ndim - consuming;
        break;
      case TensorIndex::Kind::integer:
        if (!any_tensor) {
          ++in_axis;
          break;
        }
        adv.push_back(
            {scalar(static_cast<double>(ix.integer()), DType::i64), out_axis++, in_axis++, at});
        break;
      case TensorIndex::Kind::tensor: {
        const Tensor& t = ix.tensor();
        if (t.dtype() == DType::i64) {
          adv.push_back({t, out_axis++, in_axis++, at});
        } else if (t.ndim() == 0) {  // True: one element along a new axis; False: none
          adv.push_back({t.item() != 0.0 ? tensor({0.0}, {1}, DType::i64) : zeros({0}, DType::i64),
                         out_axis++, -1, at});
        } else {
          const Dims& ms = t.impl()->shape;
          for (size_t j = 0; j < ms.size(); ++j)
            if (ms[j] != shape[in_axis + j])
              throw IndexError(std::string(op) + ": a boolean index of shape " + shape_str(ms) +
                               " does not match the indexed tensor along " +
                               axis_text(in_axis + static_cast<int64_t>(j), shape[in_axis + j]) +
                               " (the mask's size there is " + std::to_string(ms[j]) + ")");
          const Tensor nz = nonzero(t);
          for (int64_t j = 0; j < t.ndim(); ++j)
            adv.push_back({nz.select(1, j), out_axis++, in_axis++, at});
        }
        break;
      }
    }
  }
  Located out;
  if (adv.empty()) {  // a basic index: the view's elements
    out.shape = vshape;
    if (checked_numel(vshape, op) == 0) return out;
    std::vector<int64_t> all(vshape.size());
    for (size_t d = 0; d < all.size(); ++d) all[d] = static_cast<int64_t>(d);
    out.positions = grid_offsets(vshape, vstrides, all);
    for (int64_t& p : out.positions) p += base;
    return out;
  }
  // The index tensors broadcast together (NumPy's message when they do not).
  Shape b;
  for (const AdvancedEntry& e : adv) {
    const Dims& s = e.values.impl()->shape;
    if (s.size() > b.size()) b.insert(b.begin(), s.size() - b.size(), 1);
    for (size_t j = 0; j < s.size(); ++j) {
      int64_t& d = b[b.size() - s.size() + j];
      if (s[j] == d || s[j] == 1) continue;
      if (d != 1)
        throw IndexError(std::string(op) +
                         ": shape mismatch: index tensors could not be broadcast together with "
                         "shapes " +
                         shapes_text(adv));
      d = s[j];
    }
  }
  // The result's shape first: its size is checked before any position list is made.
  bool adjacent = true;
  for (size_t j = 1; j < adv.size(); ++j)
    adjacent = adjacent && adv[j].entry - adv[j - 1].entry <= 1;
  std::vector<int64_t> pre, post;
  for (int64_t d = 0; d < static_cast<int64_t>(vshape.size()); ++d) {
    bool is_adv = false;
    for (const AdvancedEntry& e : adv) is_adv = is_adv || e.axis == d;
    if (!is_adv) (adjacent && d < adv.front().axis ? pre : post).push_back(d);
  }
  for (int64_t d : pre) out.shape.push_back(vshape[d]);
  for (int64_t d : b) out.shape.push_back(d);
  for (int64_t d : post) out.shape.push_back(vshape[d]);
  const int64_t count = checked_numel(Dims(b), op);
  if (checked_numel(out.shape, op) == 0) return out;  // empty: NumPy checks no index value
  std::vector<int64_t> adv_off(static_cast<size_t>(count), 0);
  for (const AdvancedEntry& e : adv) {
    const Tensor v = e.values.broadcast_to(Shape(b)).contiguous();
    const int64_t* p = v.data_ptr<int64_t>();
    const int64_t size = vshape[e.axis];
    for (int64_t k = 0; k < count; ++k) {
      int64_t i = p[k];
      if (i < -size || i >= size)
        throw IndexError(std::string(op) + ": index " + std::to_string(i) +
                         " is out of bounds for " + axis_text(e.input_axis, size));
      adv_off[k] += (i < 0 ? i + size : i) * vstrides[e.axis];
    }
  }
  // The result's axes (above): the broadcast index shape where the advanced entries stand when
  // they are adjacent in the index, first otherwise; then the view's other axes in order.
  const std::vector<int64_t> pre_off = grid_offsets(vshape, vstrides, pre);
  const std::vector<int64_t> post_off = grid_offsets(vshape, vstrides, post);
  out.positions.reserve(pre_off.size() * adv_off.size() * post_off.size());
  for (int64_t p : pre_off)
    for (int64_t a : adv_off)
      for (int64_t q : post_off) out.positions.push_back(base + p + a + q);
  return out;
}

Located locate(const Dims& shape, const std::vector<TensorIndex>& indices, const char* op) {
  try {
    return locate_positions(shape, indices, op);
  } catch (const std::bad_alloc&) {
    // A valid but huge selection: its list of positions (8 bytes each) does not fit.
    throw MemoryError(std::string(op) + ": not enough memory for the positions of the " +
                      "elements the index selects in a tensor of shape " + shape_str(shape));
  } catch (const std::length_error&) {
    throw MemoryError(std::string(op) + ": the index selects more elements than a list of " +
                      "positions can hold (a tensor of shape " + shape_str(shape) + ")");
  }
}

}  // namespace indexing

Tensor Tensor::index(const std::vector<TensorIndex>& indices) const {
  require_defined_arg(*this, "index");
  for (const TensorIndex& ix : indices)
    if (ix.kind() == TensorIndex::Kind::tensor) {
      Located at = locate(impl_->shape, indices, "index");
      return take_flat(*this, shared(at.positions)).reshape(Shape(at.shape));
    }
  return index_view(*this, resolve(indices, impl_->shape, "index"));
}

Tensor Tensor::operator[](int64_t i) const {
  require_defined_arg(*this, "operator[]");
  if (ndim() == 0) throw IndexError("operator[]: a 0-d tensor has no axis to index (shape ())");
  return select(0, i);
}

Tensor Tensor::slice(int64_t axis, std::optional<int64_t> start, std::optional<int64_t> stop,
                     int64_t step) const {
  require_defined_arg(*this, "slice");
  const int64_t a = normalize_axis(axis, ndim(), "slice");
  return index_view(
      *this,
      along(impl_->shape, a, resolve_slice(Slice(start, stop, step), impl_->shape[a], "slice")));
}

Tensor Tensor::select(int64_t axis, int64_t index) const {
  require_defined_arg(*this, "select");
  const int64_t a = normalize_axis(axis, ndim(), "select");
  const int64_t i = resolve_integer(index, a, impl_->shape[a], "select");
  return index_view(*this, along(impl_->shape, a, {false, i, 0, 0}));
}

Tensor Tensor::narrow(int64_t axis, int64_t start, int64_t length) const {
  require_defined_arg(*this, "narrow");
  const int64_t a = normalize_axis(axis, ndim(), "narrow");
  const int64_t size = impl_->shape[a];
  const int64_t s = start < 0 ? start + size : start;
  if (s < 0 || s > size || length < 0 || length > size - s)
    throw IndexError("narrow: start " + std::to_string(start) + " and length " +
                     std::to_string(length) + " do not fit " + axis_text(a, size));
  return index_view(*this, along(impl_->shape, a, {true, length == 0 ? 0 : s, 1, length}));
}

namespace {

// Each input's gradient is its part of the output's gradient: a view of it.
struct CatBackward : Node {
  NDGRAD_OP_NAME("cat")
  int64_t axis = 0;
  std::vector<int64_t> offsets, sizes;
  GradList backward(const Tensor& g) override {
    GradList grads;
    grads.reserve(sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i)
      grads.emplace_back(needs(i) ? g.narrow(axis, offsets[i], sizes[i]) : Tensor());
    return grads;
  }
};

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t axis) {
  if (tensors.empty()) throw ValueError("cat: expects a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    require_defined_arg(tensors[i], "cat", ("tensor " + std::to_string(i)).c_str());
  const Tensor& first = tensors[0];
  const int64_t ndim = first.ndim();
  if (ndim == 0)
    throw ShapeError("cat: 0-d tensors cannot be concatenated (tensor 0 has shape ())");
  const int64_t a = normalize_axis(axis, ndim, "cat");
  Dims shape = first.impl()->shape;
  DType dt = first.dtype();
  shape[a] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Dims& s = tensors[i].impl()->shape;
    bool ok = static_cast<int64_t>(s.size()) == ndim;
    for (int64_t d = 0; ok && d < ndim; ++d) ok = d == a || s[d] == first.impl()->shape[d];
    if (!ok)
      throw ShapeError("cat: tensor " + std::to_string(i) + " has shape " + shape_str(s) +
                       ", which does not match tensor 0's shape " + shape_str(first.impl()->shape) +
                       " except along axis " + std::to_string(a));
    if (shape[a] > INT64_MAX - s[a]) throw ShapeError("cat: the result's size is too large");
    shape[a] += s[a];
    dt = promote_types(dt, tensors[i].dtype());
  }
  Tensor out = make_tensor(shape, dt, "cat");
  std::vector<int64_t> offsets, sizes;
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    const int64_t n = t.impl()->shape[a];
    copy_into(view_of(out, along(shape, a, {true, n == 0 ? 0 : at, 1, n})), t);
    offsets.push_back(at);
    sizes.push_back(n);
    at += n;
  }
  std::vector<const Tensor*> inputs;
  for (const Tensor& t : tensors) inputs.push_back(&t);
  bool records = false;
  for (const Tensor* t : inputs) records = records || records_grad(*t);
  if (records && is_grad_enabled()) {
    auto node = make_ref<CatBackward>();
    node->axis = a;
    node->offsets = std::move(offsets);
    node->sizes = std::move(sizes);
    attach_node(out, std::move(node), inputs.data(), inputs.size());
  }
  return out;
}

Tensor concatenate(const std::vector<Tensor>& tensors, int64_t axis) { return cat(tensors, axis); }

Tensor stack(const std::vector<Tensor>& tensors, int64_t axis) {
  if (tensors.empty()) throw ValueError("stack: expects a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    require_defined_arg(tensors[i], "stack", ("tensor " + std::to_string(i)).c_str());
  const Dims& shape = tensors[0].impl()->shape;
  for (size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].impl()->shape != shape)
      throw ShapeError("stack: tensor " + std::to_string(i) + " has shape " +
                       shape_str(tensors[i].impl()->shape) + ", tensor 0 has shape " +
                       shape_str(shape) + "; stack needs one shape");
  const int64_t a = normalize_axis(axis, static_cast<int64_t>(shape.size()) + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(t.unsqueeze(a));
  return cat(parts, a);
}

std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t axis) {
  require_defined_arg(t, "split");
  const int64_t a = normalize_axis(axis, t.ndim(), "split");
  const int64_t size = t.impl()->shape[a];
  if (split_size <= 0 && !(split_size == 0 && size == 0))
    throw ValueError("split: split_size must be positive, got " + std::to_string(split_size));
  std::vector<Tensor> out;
  if (size == 0) return {t.narrow(a, 0, 0)};
  for (int64_t at = 0; at < size; at += split_size)
    out.push_back(t.narrow(a, at, std::min(split_size, size - at)));
  return out;
}

std::vector<Tensor> split(const Tensor& t, const std::vector<int64_t>& sizes, int64_t axis) {
  require_defined_arg(t, "split");
  const int64_t a = normalize_axis(axis, t.ndim(), "split");
  const int64_t size = t.impl()->shape[a];
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0 || total > size) break;
    total += s;
  }
  bool ok = total == size;
  for (int64_t s : sizes) ok = ok && s >= 0;
  if (!ok) {
    std::string list;
    for (int64_t s : sizes) list += (list.empty() ? "" : ", ") + std::to_string(s);
    throw ValueError("split: sizes [" + list + "] do not add up to " + axis_text(a, size));
  }
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(t.narrow(a, at, s));
    at += s;
  }
  return out;
}

std::vector<Tensor> tensor_split(const Tensor& t, int64_t sections, int64_t axis) {
  require_defined_arg(t, "tensor_split");
  if (sections <= 0)
    throw ValueError("tensor_split: sections must be positive, got " + std::to_string(sections));
  const int64_t a = normalize_axis(axis, t.ndim(), "tensor_split");
  const int64_t size = t.impl()->shape[a], base = size / sections, longer = size % sections;
  std::vector<Tensor> out;
  for (int64_t i = 0, at = 0; i < sections; ++i) {
    const int64_t n = base + (i < longer ? 1 : 0);
    out.push_back(t.narrow(a, at, n));
    at += n;
  }
  return out;
}

std::vector<Tensor> tensor_split(const Tensor& t, const std::vector<int64_t>& indices,
                                 int64_t axis) {
  require_defined_arg(t, "tensor_split");
  const int64_t a = normalize_axis(axis, t.ndim(), "tensor_split");
  std::vector<Tensor> out;
  std::optional<int64_t> start = 0;
  for (int64_t stop : indices) {
    out.push_back(t.slice(a, start, stop));
    start = stop;
  }
  out.push_back(t.slice(a, start, None));
  return out;
}

std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t axis) {
  require_defined_arg(t, "chunk");
  if (chunks <= 0)
    throw ValueError("chunk: chunks must be positive, got " + std::to_string(chunks));
  const int64_t a = normalize_axis(axis, t.ndim(), "chunk");
  const int64_t size = t.impl()->shape[a];
  return split(t, size == 0 ? 0 : (size + chunks - 1) / chunks, a);
}

Tensor hstack(const std::vector<Tensor>& tensors) {
  if (tensors.empty()) throw ValueError("hstack: expects a non-empty list of tensors");
  require_defined_arg(tensors[0], "hstack", "tensor 0");
  return cat(tensors, tensors[0].ndim() <= 1 ? 0 : 1);
}

Tensor vstack(const std::vector<Tensor>& tensors) {
  if (tensors.empty()) throw ValueError("vstack: expects a non-empty list of tensors");
  std::vector<Tensor> rows;
  rows.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    require_defined_arg(t, "vstack", ("tensor " + std::to_string(i)).c_str());
    rows.push_back(t.ndim() == 0 ? t.reshape({1, 1}) : t.ndim() == 1 ? t.unsqueeze(0) : t);
  }
  return cat(rows, 0);
}

Tensor flip(const Tensor& t, const std::vector<int64_t>& axes_in) {
  require_defined_arg(t, "flip");
  const auto axes = normalize_axes(axes_in, t.ndim(), "flip");
  std::vector<TensorIndex> ix(static_cast<size_t>(t.ndim()), All);
  for (int64_t a : axes) ix[a] = Slice(None, None, -1);
  return t.index(ix);
}

Tensor expand_dims(const Tensor& t, int64_t axis) {
  require_defined_arg(t, "expand_dims");
  return t.unsqueeze(axis);
}

Tensor swapaxes(const Tensor& t, int64_t axis0, int64_t axis1) {
  require_defined_arg(t, "swapaxes");
  return t.transpose(axis0, axis1);
}

Tensor moveaxis(const Tensor& t, int64_t source, int64_t destination) {
  require_defined_arg(t, "moveaxis");
  const int64_t s = normalize_axis(source, t.ndim(), "moveaxis");
  const int64_t d = normalize_axis(destination, t.ndim(), "moveaxis");
  std::vector<int64_t> order;
  for (int64_t a = 0; a < t.ndim(); ++a)
    if (a != s) order.push_back(a);
  order.insert(order.begin() + d, s);
  return t.permute(order);
}

Tensor roll(const Tensor& t, int64_t shift, std::optional<int64_t> axis) {
  require_defined_arg(t, "roll");
  if (!axis) return roll(t.flatten(), shift, 0).reshape(t.shape());
  const int64_t a = normalize_axis(*axis, t.ndim(), "roll");
  const int64_t n = t.impl()->shape[a];
  if (n == 0) return t.contiguous();
  const int64_t s = ((shift % n) + n) % n;
  if (s == 0) return copy_of(t);
  return cat({t.narrow(a, n - s, s), t.narrow(a, 0, n - s)}, a);
}

Tensor pad(const Tensor& t, const std::vector<std::pair<int64_t, int64_t>>& widths, PadMode mode,
           double value) {
  require_defined_arg(t, "pad");
  if (static_cast<int64_t>(widths.size()) != t.ndim())
    throw ValueError("pad: " + std::to_string(widths.size()) +
                     " (before, after) pairs for a tensor of shape " + shape_str(t.impl()->shape) +
                     ": one per axis is needed");
  static const char* kModes[] = {"constant", "reflect", "edge", "wrap"};
  // Every axis checked first: negative widths crop, then the mode's widths must fit.
  struct AxisPad {
    int64_t cut, n, before, after;  // crop from the start, the size left, the padding
  };
  std::vector<AxisPad> axes;
  for (int64_t a = 0; a < t.ndim(); ++a) {
    int64_t before = widths[a].first, after = widths[a].second;
    int64_t n = t.impl()->shape[a];
    const int64_t cut_before = before < 0 ? -before : 0, cut_after = after < 0 ? -after : 0;
    if (cut_before + cut_after > n)
      throw ValueError("pad: cropping " + std::to_string(cut_before + cut_after) +
                       " elements from " + axis_text(a, n));
    n -= cut_before + cut_after;
    before = std::max<int64_t>(before, 0);
    after = std::max<int64_t>(after, 0);
    if (mode != PadMode::constant && (before > 0 || after > 0)) {
      const int64_t limit = mode == PadMode::reflect ? n - 1 : n;
      if (n == 0 || before > limit || after > limit)
        throw ValueError(std::string("pad: ") + kModes[static_cast<int>(mode)] + " widths (" +
                         std::to_string(before) + ", " + std::to_string(after) + ") do not fit " +
                         axis_text(a, n) +
                         (mode == PadMode::reflect ? " (at most size - 1)" : " (at most size)"));
    }
    axes.push_back({cut_before, n, before, after});
  }
  // The elements of the border along axis a that are copied from x (reflect, edge, wrap), as a
  // view of x of the border's shape.
  auto border = [mode](const Tensor& x, int64_t a, int64_t n, int64_t w, bool is_before) {
    switch (mode) {
      case PadMode::reflect:
        return flip(x.narrow(a, is_before ? 1 : n - 1 - w, w), {a});
      case PadMode::edge: {
        Shape s = x.shape();
        s[a] = w;
        return x.narrow(a, is_before ? 0 : n - 1, 1).broadcast_to(s);
      }
      case PadMode::wrap:
        return x.narrow(a, is_before ? n - w : 0, w);
      case PadMode::constant:
        break;
    }
    throw ValueError("pad: constant borders are not copied from the input");
  };
  if (is_grad_enabled() && records_grad(t)) {
    // Differentiable: one cat per axis, whose gradient hands each part its share.
    Tensor x = t;
    for (int64_t a = 0; a < t.ndim(); ++a) {
      const AxisPad& p = axes[a];
      if (p.n != x.impl()->shape[a]) x = x.narrow(a, p.cut, p.n);
      if (p.before == 0 && p.after == 0) continue;
      auto block = [&](bool is_before) -> Tensor {
        const int64_t w = is_before ? p.before : p.after;
        Shape s = x.shape();
        s[a] = w;
        return mode == PadMode::constant ? full(s, value, x.dtype())
                                         : border(x, a, p.n, w, is_before);
      };
      x = cat({block(true), x, block(false)}, a);
    }
    return x.impl() == t.impl() ? copy_of(t) : x;
  }
  // Nothing to record: one pass writes the result. The input goes to the interior, then each
  // axis' borders are filled, the last axis first, from elements already in place (so that a
  // border's corners come from the borders of later axes, as the per-axis definition says).
  Shape shape;
  for (const AxisPad& p : axes) shape.push_back(p.before + p.n + p.after);
  checked_numel(shape, "pad");
  Tensor out = make_tensor(shape, t.dtype(), "pad");
  Tensor src = t, interior = out;
  for (int64_t a = 0; a < t.ndim(); ++a) {
    src = src.narrow(a, axes[a].cut, axes[a].n);
    interior = interior.narrow(a, axes[a].before, axes[a].n);
  }
  copy_into(interior, src);
  const Tensor fill = scalar(value, t.dtype());
  for (int64_t a = t.ndim() - 1; a >= 0; --a) {
    const AxisPad& p = axes[a];
    if (p.before == 0 && p.after == 0) continue;
    Tensor region = out;  // the interior along the axes before a, everything along a and after
    for (int64_t d = 0; d < a; ++d) region = region.narrow(d, axes[d].before, axes[d].n);
    const Tensor x = region.narrow(a, p.before, p.n);
    if (p.before > 0)
      copy_into(region.narrow(a, 0, p.before),
                mode == PadMode::constant ? fill : border(x, a, p.n, p.before, true));
    if (p.after > 0)
      copy_into(region.narrow(a, p.before + p.n, p.after),
                mode == PadMode::constant ? fill : border(x, a, p.n, p.after, false));
  }
  return out;
}

namespace {
Tensor triangle(const Tensor& t, int64_t k, bool lower, const char* op) {
  require_defined_arg(t, op);
  if (t.ndim() < 2)
    throw ShapeError(std::string(op) + ": needs at least 2 dimensions, got shape " +
                     shape_str(t.impl()->shape));
  const int64_t m = t.impl()->shape[t.ndim() - 2], n = t.impl()->shape[t.ndim() - 1];
  const Tensor offset = arange(n, DType::i64) - arange(m, DType::i64).reshape({m, 1});  // j - i
  const Tensor keep = lower ? offset <= k : offset >= k;
  return where(keep, t, scalar(0.0, t.dtype()));
}
}  // namespace

Tensor tril(const Tensor& t, int64_t k) { return triangle(t, k, true, "tril"); }
Tensor triu(const Tensor& t, int64_t k) { return triangle(t, k, false, "triu"); }

// ---- advanced indexing: every selected element named by its row-major position ----

namespace indexing {

int64_t offset_of(int64_t f, const Dims& shape, const Dims& strides) {
  int64_t off = 0;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    const int64_t n = shape[d];
    off += (f % n) * strides[d];
    f /= n;
  }
  return off;
}

Positions shared(const std::vector<int64_t>& positions) {
  // The run length: the gcd of the maximal runs' lengths (each maximal run then splits into
  // whole runs of it).
  int64_t length = 0;
  const size_t n = positions.size();
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && positions[j] == positions[j - 1] + 1) ++j;
    length = std::gcd(length, static_cast<int64_t>(j - i));
    i = j;
  }
  if (length == 0) length = 1;
  std::vector<int64_t> starts;
  starts.reserve(n / static_cast<size_t>(length));
  for (size_t i = 0; i < n; i += static_cast<size_t>(length)) starts.push_back(positions[i]);
  return shared_runs(std::move(starts), length);
}

// out[k] = t's element at row-major position runs.at(k) (a 1-D result; the caller reshapes).
struct TakeBackward : Node {
  NDGRAD_OP_NAME("take")
  Positions runs;
  Dims input_shape;
  GradList backward(const Tensor& g) override { return grad_list(put_flat(g, runs, input_shape)); }
};
Tensor take_flat(const Tensor& t, Positions runs) {
  const TensorImpl& ti = *t.impl();
  const int64_t n = runs->size(), length = runs->length;
  Tensor out = make_tensor({n}, ti.dtype, "take");
  const int64_t size = itemsize(ti.dtype);
  const char* src = ti.read_data();
  char* dst = out.impl()->data();
  const std::vector<int64_t>& starts = runs->starts;
  const int64_t count = static_cast<int64_t>(starts.size());
  if (is_contiguous(ti.shape, ti.strides) && length > 1) {
    // Rows scattered over a large table: each copy waits on memory, so threads overlap them.
    const int64_t bytes = length * size;
    parallel_range(
        count, std::max<int64_t>(1, (int64_t(1) << 16) / bytes), [&](int64_t begin, int64_t end) {
          for (int64_t k = begin; k < end; ++k)
            std::memcpy(dst + k * bytes, src + starts[k] * size, static_cast<size_t>(bytes));
        });
  } else if (is_contiguous(ti.shape, ti.strides)) {
    for (int64_t k = 0; k < n;) {  // single positions: consecutive ones copied together
      int64_t run = 1;
      while (k + run < n && starts[k + run] == starts[k] + run) ++run;
      std::memcpy(dst + k * size, src + starts[k] * size, static_cast<size_t>(run * size));
      k += run;
    }
  } else {
    for (int64_t k = 0; k < n; ++k)
      std::memcpy(dst + k * size, src + offset_of(runs->at(k), ti.shape, ti.strides) * size,
                  static_cast<size_t>(size));
  }
  if (auto node = record<TakeBackward>(out, {&t})) {
    node->runs = std::move(runs);
    node->input_shape = ti.shape;
  }
  return out;
}

// The gradient of take_flat: zeros of shape with g[k] added at position runs.at(k) (repeated
// positions accumulate). Differentiable: its own gradient takes again.
struct PutBackward : Node {
  NDGRAD_OP_NAME("take_backward")
  Positions runs;
  GradList backward(const Tensor& g) override { return grad_list(take_flat(g, runs)); }
};
Tensor put_flat(const Tensor& g, Positions runs, const Dims& shape) {
  if (is_storage_only(g.dtype()))  // f16, bf16: summed in f32, rounded back once
    return put_flat(g.to(compute_dtype(g.dtype())), std::move(runs), shape).to(g.dtype());
  Tensor out = zeros(Shape(shape), g.dtype());
  const Tensor gc = g.contiguous();
  kernels::dispatch_floating(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = reinterpret_cast<T*>(out.impl()->data());
    const T* v = reinterpret_cast<const T*>(gc.impl()->read_data());
    const int64_t length = runs->length;
    for (const int64_t start : runs->starts) {
      T* row = o + start;
      for (int64_t j = 0; j < length; ++j) row[j] += v[j];
      v += length;
    }
  });
  if (auto node = record<PutBackward>(out, {&g})) node->runs = std::move(runs);
  return out;
}

// An index tensor's values as i64, or a DTypeError naming op.
std::vector<int64_t> index_values(const Tensor& idx, const char* op, const char* what) {
  require_defined_arg(idx, op, what);
  if (is_storage_only(idx.dtype()) && !is_floating(idx.dtype()))  // i32, u8, i8: their values
    return index_values(idx.to(DType::i64), op, what);
  if (idx.dtype() != DType::i64)
    throw DTypeError(std::string(op) + ": " + what + " must be an integer (i64) tensor, got " +
                     dtype_name(idx.dtype()));
  const Tensor c = idx.contiguous();
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

}  // namespace indexing

Tensor take(const Tensor& t, const Tensor& indices) {
  require_defined_arg(t, "take");
  const std::vector<int64_t> idx = index_values(indices, "take", "indices");
  const int64_t n = t.numel();
  std::vector<int64_t> flat(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    const int64_t i = idx[k];
    if (i < -n || i >= n)
      throw IndexError("take: index " + std::to_string(i) + " is out of bounds for a tensor of " +
                       std::to_string(n) + " elements (shape " + shape_str(t.impl()->shape) + ")");
    flat[k] = i < 0 ? i + n : i;
  }
  return take_flat(t, shared(flat)).reshape(indices.shape());
}

namespace indexing {

// Row-major positions in shape of the elements index_select takes along axis a (idx resolved),
// in the order of its result.
Positions select_positions(const Dims& shape, int64_t a, const std::vector<int64_t>& idx) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < a; ++d) outer *= shape[d];
  for (size_t d = a + 1; d < shape.size(); ++d) inner *= shape[d];
  if (outer == 0 || inner == 0 || idx.empty()) return shared_runs({}, 1);  // nothing selected
  std::vector<int64_t> starts;
  starts.reserve(static_cast<size_t>(outer) * idx.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : idx) starts.push_back((o * shape[a] + i) * inner);
  return shared_runs(std::move(starts), inner);
}

// An index_select-style index along axis a of shape, resolved (IndexError naming op).
std::vector<int64_t> axis_indices(const Tensor& indices, int64_t a, const Dims& shape,
                                  const char* op) {
  if (indices.defined() && indices.ndim() > 1)
    throw ShapeError(std::string(op) + ": indices must be 0-d or 1-d, got shape " +
                     shape_str(indices.impl()->shape));
  std::vector<int64_t> idx = index_values(indices, op, "indices");
  for (int64_t& i : idx) i = resolve_integer(i, a, shape[a], op);
  return idx;
}

// Row-major positions in shape that gather (libtorch's rule) reads for index (of ishape), in
// index's order: index has shape's rank and is no larger on the axes but a.
std::vector<int64_t> gather_positions(const Dims& shape, int64_t a, const Tensor& index,
                                      const char* op) {
  const Dims& ishape = index.impl()->shape;
  bool ok = ishape.size() == shape.size();
  for (size_t d = 0; ok && d < shape.size(); ++d)
    ok = static_cast<int64_t>(d) == a || ishape[d] <= shape[d];
  if (!ok)
    throw ShapeError(std::string(op) + ": index of shape " + shape_str(ishape) +
                     " must have the input's rank and no larger size on any axis but " +
                     std::to_string(a) + " (input shape " + shape_str(shape) + ")");
  const std::vector<int64_t> idx = index_values(index, op, "index");
  std::vector<int64_t> flat(idx.size());
  if (shape.empty()) {  // 0-d: the index must be 0 (or -1)
    for (size_t k = 0; k < idx.size(); ++k) flat[k] = resolve_integer(idx[k], 0, 1, op);
    return flat;
  }
  const Dims strides = contiguous_strides(shape);
  std::vector<int64_t> coord(ishape.size(), 0);
  for (size_t k = 0; k < idx.size(); ++k) {
    int64_t f = 0;
    for (size_t d = 0; d < shape.size(); ++d)
      f += (static_cast<int64_t>(d) == a ? resolve_integer(idx[k], a, shape[a], op) : coord[d]) *
           strides[d];
    flat[k] = f;
    for (int64_t d = static_cast<int64_t>(ishape.size()) - 1; d >= 0; --d) {  // next coordinate
      if (++coord[d] < ishape[d]) break;
      coord[d] = 0;
    }
  }
  return flat;
}

// t + values added at positions (repeated positions accumulate), differentiable in both; a
// DTypeError unless t is floating (values are converted to t's dtype).
Tensor add_at(const Tensor& t, const Tensor& values, Positions positions, const char* op) {
  if (!is_floating(t.dtype()))
    throw DTypeError(std::string(op) + ": only floating tensors, got " + dtype_name(t.dtype()));
  const Tensor v = values.dtype() == t.dtype() ? values : values.to(t.dtype());
  return t + put_flat(v.reshape({v.numel()}), std::move(positions), t.impl()->shape);
}

}  // namespace indexing

Tensor index_select(const Tensor& t, int64_t axis, const Tensor& indices) {
  require_defined_arg(t, "index_select");
  const int64_t a = normalize_axis(axis, std::max<int64_t>(t.ndim(), 1), "index_select");
  const Tensor x = t.ndim() == 0 ? t.reshape({1}) : t;
  const Dims& shape = x.impl()->shape;
  const std::vector<int64_t> idx = axis_indices(indices, a, shape, "index_select");
  Dims out_shape = shape;
  out_shape[a] = static_cast<int64_t>(idx.size());
  Tensor out = take_flat(x, select_positions(shape, a, idx)).reshape(Shape(out_shape));
  return t.ndim() == 0 && indices.ndim() == 0 ? out.reshape({}) : out;
}

Tensor gather(const Tensor& t, int64_t axis, const Tensor& index) {
  require_defined_arg(t, "gather");
  require_defined_arg(index, "gather", "index");
  const int64_t a = normalize_axis(axis, std::max<int64_t>(t.ndim(), 1), "gather");
  return take_flat(t, shared(gather_positions(t.impl()->shape, a, index, "gather")))
      .reshape(index.shape());
}

Tensor index_add(const Tensor& t, int64_t axis, const Tensor& indices, const Tensor& source) {
  require_defined_arg(t, "index_add");
  require_defined_arg(source, "index_add", "source");
  const int64_t a = normalize_axis(axis, t.ndim(), "index_add");
  const Dims& shape = t.impl()->shape;
  const std::vector<int64_t> idx = axis_indices(indices, a, shape, "index_add");
  Dims want = shape;
  want[a] = static_cast<int64_t>(idx.size());
  if (source.impl()->shape != want)
    throw ShapeError("index_add: source has shape " + shape_str(source.impl()->shape) +
                     ", expected " + shape_str(want) + " (the input's with axis " +
                     std::to_string(a) + " as long as the indices)");
  return add_at(t, source, select_positions(shape, a, idx), "index_add");
}

Tensor take_along_axis(const Tensor& t, const Tensor& indices, int64_t axis) {
  require_defined_arg(t, "take_along_axis");
  require_defined_arg(indices, "take_along_axis", "indices");
  if (indices.ndim() != t.ndim())
    throw ShapeError("take_along_axis: indices of shape " + shape_str(indices.impl()->shape) +
                     " must have the input's rank (input shape " + shape_str(t.impl()->shape) +
                     ")");
  const int64_t a = normalize_axis(axis, t.ndim(), "take_along_axis");
  // The other axes broadcast together (NumPy's rule).
  Shape ts = t.shape(), is = indices.shape();
  Shape tb = ts, ib = is;
  tb[a] = ib[a] = 1;
  const Shape common = broadcast_shapes(tb, ib);
  tb = common, ib = common;
  tb[a] = ts[a];
  ib[a] = is[a];
  return gather(t.broadcast_to(tb), a, indices.broadcast_to(ib));
}

namespace {

Tensor masked_scatter_zeros(const Tensor& g, const Tensor& mask);

// A mask select's gradient: zeros with g's elements, in order, where the mask is true.
struct MaskedSelectBackward : SavingNode {
  NDGRAD_OP_NAME("masked_select")
  Tensor mask;  // contiguous bool, the (broadcast) input's shape
  void release_saved() override { mask = Tensor(); }
  GradList backward(const Tensor& g) override { return grad_list(masked_scatter_zeros(g, mask)); }
};
struct MaskedScatterBackward : SavingNode {
  NDGRAD_OP_NAME("masked_select_backward")
  Tensor mask;
  void release_saved() override { mask = Tensor(); }
  GradList backward(const Tensor& g) override { return grad_list(masked_select(g, mask)); }
};

Tensor masked_scatter_zeros(const Tensor& g, const Tensor& mask) {
  Tensor out = zeros(mask.shape(), g.dtype());
  const Tensor gc = raw_contiguous(g);
  const bool* m = mask.data_ptr<bool>();
  const int64_t n = mask.numel();
  kernels::dispatch_bytes(g.dtype(), [&](auto tag) {  // (elements moved unchanged)
    using T = decltype(tag);
    T* o = reinterpret_cast<T*>(out.impl()->data());
    const T* v = reinterpret_cast<const T*>(gc.impl()->read_data());
    for (int64_t i = 0, k = 0; i < n; ++i)
      if (m[i]) o[i] = v[k++];
  });
  if (auto node = record<MaskedScatterBackward>(out, {&g}))
    node->mask = node->save(mask, "the mask");
  return out;
}

}  // namespace

Tensor masked_select(const Tensor& t, const Tensor& mask) {
  require_defined_arg(t, "masked_select");
  require_defined_arg(mask, "masked_select", "mask");
  if (mask.dtype() != DType::boolean)
    throw DTypeError(std::string("masked_select: the mask must be a bool tensor, got ") +
                     dtype_name(mask.dtype()));
  const Shape shape = broadcast_shapes(t.shape(), mask.shape());
  const Tensor m = raw_contiguous(mask.broadcast_to(shape));
  const Tensor x = t.broadcast_to(shape);
  const Tensor xc = raw_contiguous(x);
  const bool* p = m.data_ptr<bool>();
  const int64_t n = m.numel();
  int64_t count = 0, last = -1;
  for (int64_t i = 0; i < n; ++i) count += p[i];
  for (int64_t i = n - 1; i >= 0 && last < 0; --i)
    if (p[i]) last = i;
  Tensor out = make_tensor({count}, x.dtype(), "masked_select");
  kernels::dispatch_bytes(x.dtype(), [&](auto tag) {  // (elements moved unchanged)
    using T = decltype(tag);
    T* o = reinterpret_cast<T*>(out.impl()->data());
    const T* v = reinterpret_cast<const T*>(xc.impl()->read_data());
    // Branch-free: every element is written at the next free place, which only a selected one
    // keeps. Up to the last selected element that place is inside the result.
    int64_t k = 0;
    for (int64_t i = 0; i <= last; ++i) {
      o[k] = v[i];
      k += p[i];
    }
  });
  if (auto node = record<MaskedSelectBackward>(out, {&x})) node->mask = node->save(m, "the mask");
  return out;
}

Tensor nonzero(const Tensor& t) {
  require_defined_arg(t, "nonzero");
  const Tensor c = (t != 0.0).contiguous();
  const bool* p = c.data_ptr<bool>();
  const Dims& shape = c.impl()->shape;
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::vector<double> coords;
  int64_t count = 0;
  for (int64_t k = 0; k < c.numel(); ++k) {
    if (!p[k]) continue;
    ++count;
    std::vector<double> coord(nd);
    int64_t f = k;
    for (int64_t d = nd - 1; d >= 0; --d) {
      coord[d] = static_cast<double>(f % shape[d]);
      f /= shape[d];
    }
    coords.insert(coords.end(), coord.begin(), coord.end());
  }
  return tensor(std::move(coords), {count, nd}, DType::i64);
}

Tensor argwhere(const Tensor& t) { return nonzero(t); }

std::vector<Tensor> unbind(const Tensor& t, int64_t axis) {
  require_defined_arg(t, "unbind");
  const int64_t a = normalize_axis(axis, t.ndim(), "unbind");
  std::vector<Tensor> out;
  for (int64_t i = 0; i < t.impl()->shape[a]; ++i) out.push_back(t.select(a, i));
  return out;
}

}  // namespace ndgrad
