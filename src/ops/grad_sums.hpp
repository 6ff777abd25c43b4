#pragma once
// How the engine's sums of gradients are computed. The engine states what a pass needs: each
// gradient summed to its input's shape (sum_to_input) and added to what that input already
// has (accumulate; for a leaf, LeafSums). This layer chooses how: in place when nothing else
// holds the running sum, lazily when the gradients are pending (exec/lazy.hpp), and, for a
// leaf, reassociated where that saves passes over memory: contributions that must be summed
// down are added up in their broadcast shape first and reduced once, together with another
// leaf's total over the same values (b and X in (X + b) * (X + b)). The values are the sums
// the engine asked for, up to the order of additions.
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/dims.hpp"
#include "core/tensor_impl.hpp"

namespace ndgrad {

// acc + g (g when acc is undefined); g has acc's shape and dtype.
Tensor add_to(Tensor acc, Tensor g);
inline Tensor accumulate(Tensor acc, Tensor g) {
  return acc.defined() ? add_to(std::move(acc), std::move(g)) : g;
}

// g summed over the axes its op broadcast the input along, in the input's dtype: the one place
// where broadcasting is undone. AutogradError naming op when g cannot be summed to shape.
Tensor reduce_to(Tensor g, const Dims& shape, DType dtype, const char* op);
inline Tensor sum_to_input(Tensor g, const Dims& shape, DType dtype, const char* op) {
  const TensorImpl& impl = *g.impl();
  if (impl.shape == shape && impl.dtype == dtype) return g;
  return reduce_to(std::move(g), shape, dtype, op);
}

// The contributions to each leaf's gradient over one backward pass.
class LeafSums {
 public:
  // reassociate: false where each contribution must stay a tensor of its own history
  // (create_graph) or where the sums are not materialized at once (never here otherwise).
  explicit LeafSums(bool reassociate) : reassociate_(reassociate) {}
  // Adds g, in its op's broadcast shape, to leaf's total.
  void add(const Ref<TensorImpl>& leaf, Tensor g, const Dims& shape, DType dtype, const char* op);
  // Each leaf's total in its shape and dtype, computed, in the order the leaves first came.
  std::vector<std::pair<Ref<TensorImpl>, Tensor>> finish();
  // One leaf's total now, computed (undefined when nothing was added to it); finish() leaves it
  // out after. No contribution to it may follow.
  Tensor take(const TensorImpl* leaf);

 private:
  struct Total {
    Ref<TensorImpl> leaf;
    Dims shape;
    DType dtype;
    const char* op;
    Tensor sum;      // in the leaf's shape
    Tensor pending;  // reassociated: pending contributions in one broadcast shape, unreduced
  };
  // t's pending contributions summed down into t.sum (with another leaf's total of the same
  // values where the evaluator can compute both in one pass).
  void reduce_pending(Total& t);
  static constexpr size_t kScanned = 16;
  bool reassociate_;
  std::vector<Total> totals_;
  std::unordered_map<const TensorImpl*, size_t> index_;  // only past kScanned leaves
};

}  // namespace ndgrad
