#pragma once
// A recorded op in the backward graph.
#include <memory>
#include <vector>

#include "core/inline_list.hpp"
#include "core/tensor_impl.hpp"
#include "graph/grad_mode.hpp"

namespace ndgrad {

// Inputs a node keeps inline; more (concatenate, user-defined ops) go to a heap block.
constexpr size_t kInlineEdges = 2;

// The gradients a backward rule returns, one per edge.
using GradList = InlineList<Tensor, kInlineEdges>;

struct Node : Counted {
  // Where the gradient of one input goes: the node that produced it, or the leaf itself.
  struct Edge {
    Ref<Node> fn;
    Ref<TensorImpl> leaf;
    Dims shape;  // the input's shape: the engine sums incoming gradients to it
    DType dtype = DType::f32;
    bool active() const { return fn != nullptr || leaf != nullptr; }
  };

  // One per differentiable input, in the op's argument order.
  InlineList<Edge, kInlineEdges> edges;

  bool released = false;  // saved tensors freed by a backward without retain_graph
  // Hooks on the output's gradient (Tensor::register_hook on a non-leaf), run in order before
  // this node's rule; null when none (most nodes).
  std::unique_ptr<std::vector<GradHook>> hooks;

  // Engine bookkeeping for one backward pass.
  uint64_t visit_stamp = 0;
  int pending = 0;
  Tensor grad_buffer;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Tears down the graph behind this node iteratively, so a million-op chain cannot
  // overflow the stack.
  ~Node() override;

  virtual const char* name() const = 0;
  // Gradients for each edge, in the shape of the op's broadcast operands (the engine sums
  // them down to each input's shape). An undefined tensor means no gradient flows there.
  virtual GradList backward(const Tensor& grad) = 0;
  // Drops saved tensors.
  virtual void release_saved() {}
  // AutogradError naming the op and the tensor when a tensor it saved for backward was written
  // in place since (SavingNode); called for every node of a pass before any rule runs.
  virtual void check_saved_versions() const {}
  // How this op's gradients relate to its inputs' shapes: -1, they arrive already in each
  // input's shape; otherwise they arrive in the output's (broadcast) shape, apart from this many
  // trailing core dims (0 for elementwise ops, 2 for matmul), and the engine sums them down.
  virtual int broadcast_core_dims() const { return -1; }

  bool needs(size_t i) const { return i < edges.size() && edges[i].active(); }
};

// A node whose backward reads tensors a user could write in place (its inputs, its output):
// it records each one's version when saving it, and refuses to run once one changed (the
// gradient would be computed from the new values). Nodes that save nothing stay smaller.
struct SavingNode : Node {
  struct Saved {
    const TensorImpl* impl;  // kept alive by the node's own saved Tensor until release_saved
    uint32_t version;
    const char* role;  // "the first operand", "the output", ...
  };
  InlineList<Saved, 3> saved;

  // The op's output as a rule reads it: saved without its autograd link (no reference cycle),
  // and under create_graph given back as a view whose grad_fn is this node, so that a
  // derivative written with the output reaches the input in second derivatives. holder keeps
  // that view alive.
  const Tensor& saved_output(const Tensor& y, Tensor& holder) const {
    return y.defined() ? link_output(y, holder) : y;
  }
  const Tensor& link_output(const Tensor& y, Tensor& holder) const;

  // Records t's version; returns t, for `node->a = node->save(a, "the first operand")`.
  const Tensor& save(const Tensor& t, const char* role) {
    if (t.defined())
      saved.emplace_back(
          Saved{t.impl().get(), t.impl()->storage->version.load(std::memory_order_relaxed), role});
    return t;
  }
  void check_saved_versions() const override;
};

// Sets the node whose rule the engine runs on this thread (for SavingNode::saved_output, which
// links a saved output back to it); returns the previous one.
const Ref<Node>* exchange_running_node(const Ref<Node>* node);

// Every node type registers its name once, so tests can demand a gradient check per op.
bool register_op(const char* name);
template <class N>
struct OpRegistration {
  static inline const bool registered = register_op(N::kName);
};
#define NDGRAD_OP_NAME(str)                 \
  static constexpr const char* kName = str; \
  const char* name() const override { return kName; }

// Whether t takes part in autograd (requires grad, as a leaf or through its history).
inline bool records_grad(const Tensor& t) { return t.defined() && t.impl()->requires_grad; }

// Connects an op's output to a new node of type N when grad mode is on and any input requires
// grad; returns the node (owned by out) so the caller can save what backward needs, or null
// otherwise.
template <class N>
N* record(Tensor& out, std::initializer_list<const Tensor*> inputs);

// Hands node to out (as its grad_fn) with one edge per input.
void attach_node(Tensor& out, Ref<Node> node, std::initializer_list<const Tensor*> inputs);
// The same for any number of inputs.
void attach_node(Tensor& out, Ref<Node> node, const Tensor* const* inputs, size_t n);
// Whether grad mode is on and any input records grad: whether an op records a node.
inline bool any_records_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled_here()) return false;
  for (const Tensor* t : inputs)
    if (records_grad(*t)) return true;
  return false;
}
// attach_node in two steps, for an op whose result may reuse an input's tensor: prepare builds
// the node with its edges (null when nothing records), adopt makes it out's grad_fn.
void connect_edges(Node& node, const Tensor* const* inputs, size_t n);
inline void adopt(Tensor& out, Ref<Node> node) {
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
}
template <class N>
Ref<N> prepare(std::initializer_list<const Tensor*> inputs) {
  (void)OpRegistration<N>::registered;
  if (!any_records_grad(inputs)) return nullptr;
  auto node = make_ref<N>();
  connect_edges(*node, inputs.begin(), inputs.size());
  return node;
}

template <class N>
N* record(Tensor& out, std::initializer_list<const Tensor*> inputs) {
  (void)OpRegistration<N>::registered;
  if (!any_records_grad(inputs)) return nullptr;
  auto node = make_ref<N>();
  N* raw = node.get();
  attach_node(out, std::move(node), inputs);
  return raw;
}

// A backward rule's result, built from its arguments by moving (or copying lvalues) each into
// place: a braced list would copy every gradient once more, each copy a reference-count
// increment and decrement.
template <class... T>
GradList grad_list(T&&... grads) {
  GradList list;
  list.reserve(sizeof...(T));
  (list.emplace_back(std::forward<T>(grads)), ...);
  return list;
}

}  // namespace ndgrad
