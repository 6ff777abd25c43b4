#pragma once
// What the indexing op files share: every advanced index is a list of row-major positions in
// its input, read by take_flat (whose gradient is put_flat, and the other way round) or written
// by the index_put family.
#include <memory>
#include <string>
#include <vector>

#include "core/shape.hpp"
#include "ndgrad/tensor.hpp"

namespace ndgrad::indexing {

// Row-major positions as runs of consecutive ones: element k * length + j of a selection is
// position starts[k] + j. Rows of an embedding table are one start each, not one per element.
struct Runs {
  std::vector<int64_t> starts;
  int64_t length = 1;
  int64_t size() const { return static_cast<int64_t>(starts.size()) * length; }
  int64_t at(int64_t i) const { return starts[static_cast<size_t>(i / length)] + i % length; }
};
using Positions = std::shared_ptr<const Runs>;
// positions in the longest runs of one length that cover them (O(n)).
Positions shared(const std::vector<int64_t>& positions);
inline Positions shared_runs(std::vector<int64_t> starts, int64_t length) {
  return std::make_shared<const Runs>(Runs{std::move(starts), length});
}

// "axis 1 with size 4", for messages.
std::string axis_text(int64_t axis, int64_t size);
// i in [0, size) (negative counts from the end), or an IndexError naming op, the axis and size.
int64_t resolve_integer(int64_t i, int64_t axis, int64_t size, const char* op);
// The element offset (through strides) of the element at row-major position f of shape.
int64_t offset_of(int64_t f, const Dims& shape, const Dims& strides);

// out[k] = t's element at row-major position positions[k]: a 1-d result (the caller reshapes);
// differentiable (its gradient is put_flat).
Tensor take_flat(const Tensor& t, Positions positions);
// Zeros of shape with g[k] added at row-major position positions[k] (repeats accumulate);
// differentiable (its gradient is take_flat). Floating g.
Tensor put_flat(const Tensor& g, Positions positions, const Dims& shape);
// t + values added at positions, differentiable in both; DTypeError naming op unless t is
// floating (values are converted to t's dtype, then flattened).
Tensor add_at(const Tensor& t, const Tensor& values, Positions positions, const char* op);
// t with values[k] written at positions[k] (the last write to a position wins), differentiable
// in both: t's gradient is g where nothing was written, values' is g where its write landed.
Tensor replace_at(const Tensor& t, const Tensor& values, std::vector<int64_t> positions);

// An index tensor's values (i64), or a DTypeError naming op and what it is.
std::vector<int64_t> index_values(const Tensor& idx, const char* op, const char* what);

// What a full index (basic and advanced entries, NumPy's rules) names in a tensor of shape:
// the row-major positions of the result's elements, in the result's order, and its shape.
struct Located {
  std::vector<int64_t> positions;
  Dims shape;
};
Located locate(const Dims& shape, const std::vector<TensorIndex>& indices, const char* op);

// Positions of index_select's elements (idx resolved) along axis a of shape, in its order:
// one run per index and leading position, as long as the axes after a.
Positions select_positions(const Dims& shape, int64_t a, const std::vector<int64_t>& idx);
// An index_select-style index (0-d or 1-d) along axis a of shape, resolved.
std::vector<int64_t> axis_indices(const Tensor& indices, int64_t a, const Dims& shape,
                                  const char* op);
// Positions in shape that gather (libtorch's rule) reads for index, in index's order.
std::vector<int64_t> gather_positions(const Dims& shape, int64_t a, const Tensor& index,
                                      const char* op);

}  // namespace ndgrad::indexing
