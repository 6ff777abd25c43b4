#include "core/shape.hpp"

#include <algorithm>
#include <string>

#include "ndgrad/error.hpp"

namespace ndgrad {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::i64:
      return "i64";
    case DType::boolean:
      return "bool";
    case DType::i32:
      return "i32";
    case DType::u8:
      return "u8";
    case DType::i8:
      return "i8";
    case DType::f16:
      return "f16";
    case DType::bf16:
      return "bf16";
  }
  return "?";
}

namespace {

// The promotion table, indexed by DType's order (f32, f64, i64, bool, i32, u8, i8, f16, bf16).
// Symmetric; docs/API.md "Result dtypes" prints it and tests/core/test_dtypes.cpp checks every
// cell against NumPy's.
// clang-format off
constexpr DType F32 = DType::f32, F64 = DType::f64, I64 = DType::i64, B = DType::boolean,
                I32 = DType::i32, U8 = DType::u8, I8 = DType::i8, F16 = DType::f16,
                BF16 = DType::bf16;
constexpr DType kPromote[kNumDTypes][kNumDTypes] = {
    //         f32  f64  i64  bool  i32  u8   i8   f16  bf16
    /* f32 */ {F32, F64, F32, F32, F32, F32, F32, F32, F32},
    /* f64 */ {F64, F64, F64, F64, F64, F64, F64, F64, F64},
    /* i64 */ {F32, F64, I64, I64, I64, I64, I64, F16, BF16},
    /* bool*/ {F32, F64, I64, B, I32, U8, I8, F16, BF16},
    /* i32 */ {F32, F64, I64, I32, I32, I32, I32, F16, BF16},
    /* u8  */ {F32, F64, I64, U8, I32, U8, I32, F16, BF16},
    /* i8  */ {F32, F64, I64, I8, I32, I32, I8, F16, BF16},
    /* f16 */ {F32, F64, F16, F16, F16, F16, F16, F16, F32},
    /* bf16*/ {F32, F64, BF16, BF16, BF16, BF16, BF16, F32, BF16},
};
// clang-format on

}  // namespace

DType promote_types(DType a, DType b) { return kPromote[static_cast<int>(a)][static_cast<int>(b)]; }

bool has_internal_overlap(const Dims& shape, const Dims& strides) {
  // Sorted by stride, each axis must step past everything the smaller-stride axes span.
  int64_t order[kMaxDims];
  int n = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return false;  // no elements at all
    if (shape[i] > 1) order[n++] = static_cast<int64_t>(i);
  }
  auto stride = [&](int64_t i) { return strides[i] < 0 ? -strides[i] : strides[i]; };
  std::sort(order, order + n, [&](int64_t x, int64_t y) { return stride(x) < stride(y); });
  int64_t span = 1;  // elements covered by the axes so far, from the first
  for (int k = 0; k < n; ++k) {
    const int64_t s = stride(order[k]);
    if (s < span) return true;
    span = s * (shape[order[k]] - 1) + span;
  }
  return false;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::string axes_str(const std::vector<int64_t>& axes) {
  std::string s = "[";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? "," : "") + std::to_string(axes[i]);
  return s + "]";
}

int64_t checked_numel(const Dims& shape, const char* op) {
  if (static_cast<int64_t>(shape.size()) > kMaxDims)
    throw ValueError(std::string(op) + ": " + std::to_string(shape.size()) +
                     " dimensions exceed the maximum of " + std::to_string(kMaxDims));
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      throw ValueError(std::string(op) + ": negative dimension " + std::to_string(d) +
                       " in shape " + shape_str(shape));
    if (__builtin_mul_overflow(n, d, &n))
      throw ValueError(std::string(op) + ": shape " + shape_str(shape) +
                       " has more elements than fit in 64 bits");
  }
  return n;
}

Dims contiguous_strides(const Dims& shape) {
  Dims strides;
  contiguous_strides_into(shape, strides);
  return strides;
}

int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op) {
  if (axis < -ndim || axis >= ndim)
    throw AxisError(std::string(op) + ": axis " + std::to_string(axis) +
                    " is out of bounds for array of dimension " + std::to_string(ndim));
  return axis < 0 ? axis + ndim : axis;
}

std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t ndim,
                                    const char* op) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) out.push_back(normalize_axis(a, ndim, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    throw AxisError(std::string(op) + ": repeated axis in " + axes_str(axes));
  return out;
}

Dims reduced_shape(const Dims& shape, const std::vector<int64_t>& axes, bool keepdims) {
  Dims out;
  size_t k = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    bool reduced = k < axes.size() && axes[k] == i;
    if (reduced) ++k;
    if (!reduced)
      out.push_back(shape[i]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

Dims broadcast_shapes_for(const Dims& a, const Dims& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Dims out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw ShapeError(std::string(op) + ": operands could not be broadcast together with shapes " +
                       shape_str(a) + " " + shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  return broadcast_shapes_for(a, b, "broadcast_shapes");
}

bool unbroadcast_axes(const Dims& from, const Dims& to, int core, std::vector<int64_t>& axes,
                      int64_t& leading) {
  axes.clear();
  const int64_t rf = static_cast<int64_t>(from.size()) - core;
  const int64_t rt = static_cast<int64_t>(to.size()) - core;
  if (rf < rt || rt < 0) return false;
  leading = rf - rt;
  for (int64_t i = 0; i < rf; ++i) {
    if (i < leading) {
      axes.push_back(i);
    } else if (to[i - leading] != from[i]) {
      if (to[i - leading] != 1) return false;
      axes.push_back(i);
    }
  }
  return true;
}

Dims broadcast_strides(const Dims& shape, const Dims& strides, const Dims& target) {
  Dims out(target.size(), 0);
  size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    out[lead + i] = (shape[i] == target[lead + i] && shape[i] != 1) ? strides[i] : 0;
  return out;
}

bool broadcasts_to(const Dims& from, const Dims& to) {
  if (from.size() > to.size()) return false;
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[to.size() - from.size() + i]) return false;
  return true;
}

}  // namespace ndgrad
