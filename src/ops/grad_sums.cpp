#include "ops/grad_sums.hpp"

#include <string>

#include "core/shape.hpp"
#include "exec/lazy.hpp"
#include "graph/grad_mode.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad {

Tensor add_to(Tensor acc, Tensor g) {
  if (grad_enabled_here()) return acc + g;  // create_graph: the sum is recorded
  // Pending values are added lazily: the sum is computed once, with them.
  if (lazy::pending(acc) || lazy::pending(g)) return acc + g;
  const auto& impl = acc.impl();
  if (impl.unique() && impl->storage.unique() && impl->shape == g.impl()->shape &&
      impl->dtype == g.impl()->dtype && is_contiguous(impl->shape, impl->strides)) {
    add_into(acc, g);  // nothing else sees acc: added to in place
    return acc;
  }
  return acc + g;
}

namespace {

// The axes g was broadcast along to reach shape, or an AutogradError naming op.
std::vector<int64_t> unbroadcast_or_throw(const Dims& gs, const Dims& shape, const char* op) {
  std::vector<int64_t> axes;
  int64_t leading;
  if (!unbroadcast_axes(gs, shape, 0, axes, leading))
    throw AutogradError(std::string(op) + " backward: a gradient of shape " + shape_str(gs) +
                        " cannot be summed to the input's shape " + shape_str(shape));
  return axes;
}

}  // namespace

Tensor reduce_to(Tensor g, const Dims& shape, DType dtype, const char* op) {
  if (g.impl()->shape != shape)
    g = sum_axes_to(g, unbroadcast_or_throw(g.impl()->shape, shape, op), shape);
  if (g.impl()->dtype != dtype) g = g.to(dtype);
  return g;
}

void LeafSums::add(const Ref<TensorImpl>& leaf, Tensor g, const Dims& shape, DType dtype,
                   const char* op) {
  // Few leaves (most passes): a scan; many: the index, built once there are more.
  size_t at = totals_.size();
  if (totals_.size() <= kScanned) {
    for (size_t i = 0; i < totals_.size(); ++i)
      if (totals_[i].leaf.get() == leaf.get()) at = i;
  } else if (auto it = index_.find(leaf.get()); it != index_.end()) {
    at = it->second;
  }
  if (at == totals_.size()) {
    totals_.push_back(Total{leaf, shape, dtype, op, Tensor(), Tensor()});
    if (totals_.size() > kScanned) {
      if (index_.empty())
        for (size_t i = 0; i < totals_.size(); ++i) index_.emplace(totals_[i].leaf.get(), i);
      else
        index_.emplace(leaf.get(), at);
    }
  }
  Total& t = totals_[at];
  // A pending contribution to be summed down joins the others of its broadcast shape, so that
  // the leaf's total costs one reduction (one pass over the ops' inputs), not one per use.
  if (reassociate_ && lazy::pending(g) && g.impl()->shape != shape && g.impl()->dtype == dtype &&
      (!t.pending.defined() || t.pending.impl()->shape == g.impl()->shape)) {
    t.pending = accumulate(std::move(t.pending), std::move(g));
    return;
  }
  t.sum = accumulate(std::move(t.sum), sum_to_input(std::move(g), shape, dtype, op));
}

Tensor LeafSums::take(const TensorImpl* leaf) {
  size_t at = totals_.size();
  if (auto it = index_.find(leaf); it != index_.end()) {
    at = it->second;
    index_.erase(it);
  } else {
    for (size_t i = 0; i < totals_.size(); ++i)
      if (totals_[i].leaf.get() == leaf) at = i;
  }
  if (at == totals_.size()) return Tensor();
  Total& t = totals_[at];
  reduce_pending(t);
  Tensor sum = std::move(t.sum);
  t.sum = Tensor();
  t.leaf = Ref<TensorImpl>();  // taken: finish() passes over it
  lazy::compute(sum);
  return sum;
}

void LeafSums::reduce_pending(Total& t) {
  if (!t.pending.defined()) return;
  const std::vector<int64_t> axes = unbroadcast_or_throw(t.pending.impl()->shape, t.shape, t.op);
  // Another leaf whose total has these very values (X's, for b in X + b) is computed in the
  // same pass as this reduction: one read of the inputs for both.
  Tensor reduced;
  for (Total& other : totals_)
    if (&other != &t && other.sum.defined() && other.sum.impl()->shape == t.pending.impl()->shape &&
        (reduced = lazy::sum_computing(t.pending, axes, other.sum)).defined())
      break;
  reduced = reduced.defined() ? reduced.reshape(t.shape) : sum_axes_to(t.pending, axes, t.shape);
  t.pending = Tensor();
  t.sum = accumulate(std::move(t.sum), std::move(reduced));
}

std::vector<std::pair<Ref<TensorImpl>, Tensor>> LeafSums::finish() {
  for (Total& t : totals_) reduce_pending(t);
  std::vector<std::pair<Ref<TensorImpl>, Tensor>> out;
  out.reserve(totals_.size());
  for (Total& t : totals_) {
    if (!t.leaf) continue;  // taken
    lazy::compute(t.sum);   // the caller gets values
    out.emplace_back(std::move(t.leaf), std::move(t.sum));
  }
  totals_.clear();
  index_.clear();
  return out;
}

}  // namespace ndgrad
