// The graph's data structures: nodes, their edges and saved tensors, what ops record into.
#include "graph/node.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "core/shape.hpp"
#include "graph/grad_mode.hpp"
#include "ndgrad/autograd.hpp"

namespace ndgrad {

Node::~Node() {
  // Children this held the last reference to are taken apart here, one level at a time, and
  // then destroyed with no children left, instead of each destructor recursing down the chain.
  std::vector<Node*> stack;
  for (auto& e : edges)
    if (Node* last = e.fn.release_last()) stack.push_back(last);
  edges.clear();
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    n->release_saved();
    n->grad_buffer = Tensor();
    for (auto& e : n->edges)
      if (Node* last = e.fn.release_last()) stack.push_back(last);
    n->edges.clear();
    refcount::destroy(n);
  }
}

void SavingNode::check_saved_versions() const {
  for (const Saved& s : saved) {
    const uint32_t now = s.impl->storage->version.load(std::memory_order_relaxed);
    if (now == s.version) continue;
    const TensorImpl& t = *s.impl;
    std::string what = std::string(s.role) + " of " + name() + " (shape " + shape_str(t.shape) +
                       ", " + dtype_name(t.dtype) + ")";
    throw AutogradError(std::string("backward through ") + name() + ": " + what +
                        " was saved for backward and has been modified in place since (its "
                        "version was " +
                        std::to_string(s.version) + ", now " + std::to_string(now) +
                        "): the gradient would use the new values. Call backward before writing "
                        "to it (copy_, an optimizer step), or write to a copy");
  }
}

namespace {
// The node whose rule this thread runs, owned by the graph (for saved_output).
thread_local const Ref<Node>* running = nullptr;
}  // namespace

const Ref<Node>* exchange_running_node(const Ref<Node>* node) {
  const Ref<Node>* previous = running;
  running = node;
  return previous;
}

const Tensor& SavingNode::link_output(const Tensor& y, Tensor& holder) const {
  if (!grad_enabled_here() || !running || running->get() != this) return y;
  holder = y.detach();
  holder.impl()->grad_fn = *running;
  holder.impl()->requires_grad = true;
  return holder;
}

namespace {
std::vector<std::string>& op_registry() {
  static std::vector<std::string> names;
  return names;
}
}  // namespace

bool register_op(const char* name) {
  auto& names = op_registry();
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  return true;
}

std::vector<std::string> differentiable_ops() {
  auto names = op_registry();
  std::sort(names.begin(), names.end());
  return names;
}

void attach_node(Tensor& out, Ref<Node> node, std::initializer_list<const Tensor*> inputs) {
  attach_node(out, std::move(node), inputs.begin(), inputs.size());
}

void attach_node(Tensor& out, Ref<Node> node, const Tensor* const* inputs, size_t n) {
  connect_edges(*node, inputs, n);
  adopt(out, std::move(node));
}

void connect_edges(Node& node, const Tensor* const* inputs, size_t n) {
  node.edges.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Tensor* t = inputs[i];
    Node::Edge& e = node.edges.emplace_back();  // built in place: no temporary to move
    e.shape = t->impl()->shape;
    e.dtype = t->impl()->dtype;
    if (records_grad(*t)) {
      if (t->impl()->grad_fn)
        e.fn = t->impl()->grad_fn;
      else
        e.leaf = t->impl();
    }
  }
}

}  // namespace ndgrad
