#pragma once
// Shape arithmetic shared by the ops: numel, strides, axis normalization.
#include <algorithm>
#include <string>
#include <vector>

#include "core/dims.hpp"
#include "ndgrad/dtype.hpp"

namespace ndgrad {

// Product of the sizes; ValueError on a negative size, too many dims, or overflow.
int64_t checked_numel(const Dims& shape, const char* op);
// Product of the sizes of a valid shape. Taken modulo 2^64, so that a size of 0 gives 0
// whatever the others (a permuted empty shape's partial products may not fit); without a 0,
// every partial product of a valid shape fits.
inline int64_t numel_of(const Dims& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return static_cast<int64_t>(n);
}
Dims contiguous_strides(const Dims& shape);
// The same, written into strides (no temporary: make_tensor's hot path).
inline void contiguous_strides_into(const Dims& shape, Dims& strides) {
  strides.resize_for_overwrite(shape.size());
  // An empty tensor touches no element; zero strides avoid overflowing on its other sizes.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) {
    std::fill(strides.begin(), strides.end(), 0);
    return;
  }
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
}
// Whether a view of this shape and these strides is laid out row-major without gaps (sizes 1
// and empty tensors excepted). Inline: every small op asks about its operands.
inline bool is_contiguous(const Dims& shape, const Dims& strides) {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (shape[i] == 0) return true;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}
// Whether two elements of a view share memory (a broadcast axis: stride 0 with size > 1, or
// strides that interleave). Conservative: a view it accepts has no two elements at one address.
bool has_internal_overlap(const Dims& shape, const Dims& strides);
// Maps axis into [0, ndim); AxisError naming op otherwise.
int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op);
// Sorted, normalized, unique axes; empty input means every axis. AxisError on a repeat.
std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t ndim, const char* op);
// The shape with the given (normalized, sorted) axes set to 1 (keepdims) or removed.
Dims reduced_shape(const Dims& shape, const std::vector<int64_t>& axes, bool keepdims);
// Broadcasting with the error message naming op.
Dims broadcast_shapes_for(const Dims& a, const Dims& b, const char* op);
// Whether from broadcasts to exactly to (to unchanged: its axes may not stretch).
bool broadcasts_to(const Dims& from, const Dims& to);
// Strides of t's (shape, strides) seen as the larger broadcast shape: stride 0 on broadcast axes.
Dims broadcast_strides(const Dims& shape, const Dims& strides, const Dims& target);
// The axes along which a gradient of shape `from` is summed to reach `to` (broadcasting undone):
// the leading axes `to` lacks (`leading` of them, removed after summing), then the axes where
// `to` has 1. The last `core` dims of both take no part (matmul's matrix dims). False when
// `to` is not a shape `from` could have been broadcast from.
bool unbroadcast_axes(const Dims& from, const Dims& to, int core, std::vector<int64_t>& axes,
                      int64_t& leading);
std::string axes_str(const std::vector<int64_t>& axes);

}  // namespace ndgrad
