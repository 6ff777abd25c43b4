// The backward engine: iterative topological order by dependency counts, accumulation when a
// tensor is used more than once, and the single place where broadcasting is undone.
#include "autograd/engine.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/shape.hpp"
#include "graph/grad_mode.hpp"
#include "graph/node.hpp"
#include "ndgrad/autograd.hpp"
#include "ops/grad_sums.hpp"
#include "ops/ops_common.hpp"
#include "ops/strict.hpp"

namespace ndgrad {

namespace {

std::atomic<uint64_t> stamp_counter{0};

// A leaf's .grad is read and replaced under one of these locks (chosen by the leaf's address),
// so that backward passes on several threads may accumulate into the same parameters. Never
// two at once: each is held for one leaf's read, update or computation only. A leaf used k
// times in a graph takes its lock k times per backward, almost always uncontended: a flag
// (two atomic operations) instead of a mutex (~60 instructions a pair), yielding while taken.
class GradLock {
 public:
  void lock() {
    while (held_.exchange(true, std::memory_order_acquire))
      while (held_.load(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock() { held_.store(false, std::memory_order_release); }

 private:
  alignas(64) std::atomic<bool> held_{false};
};
GradLock& grad_lock(const TensorImpl* leaf) {
  static std::array<GradLock, 64> locks;
  return locks[(reinterpret_cast<uintptr_t>(leaf) / alignof(TensorImpl)) % locks.size()];
}

// g after each hook in turn; a hook's result must keep g's shape.
Tensor run_hooks(const std::vector<GradHook>& hooks, Tensor g, const char* whose) {
  // By index, over the hooks there were: a hook may register another (the vector grows).
  for (size_t i = 0, n = hooks.size(); i < n; ++i) {
    const GradHook hook = hooks[i];
    Tensor r = hook(g);
    if (!r.defined()) continue;
    if (r.impl()->shape != g.impl()->shape)
      throw AutogradError(std::string("a gradient hook on ") + whose + " returned shape " +
                          shape_str(r.impl()->shape) + " for a gradient of shape " +
                          shape_str(g.impl()->shape));
    g = r.impl()->dtype == g.impl()->dtype ? std::move(r) : r.to(g.impl()->dtype);
  }
  return g;
}

// Whether nothing else holds t or its memory (another handle, a view): a gradient handed to the
// caller must not change when another tensor is written.
bool unshared(const Tensor& t) { return t.impl().unique() && t.impl()->storage.unique(); }
// Replaces t by a copy when anything else holds its memory; t is unchanged if the copy fails.
void make_owned(Tensor& t) {
  if (!unshared(t)) t = copy_of(t);
}

// Any leaf has ever had a post-accumulate hook: until then, passes skip counting the edges
// into leaves.
std::atomic<bool> post_hooks_registered{false};

// Gives a leaf its total gradient of the pass: to the hooks, then to grad()'s results or added
// to .grad (then the post-accumulate hooks run). What is handed out owns its memory: a gradient
// must not change when another tensor is written.
void deliver_one(const Ref<TensorImpl>& leaf, Tensor g,
                 const std::unordered_map<const TensorImpl*, size_t>& capture_leaf,
                 std::vector<Tensor>* results, bool create_graph) {
  if (leaf->hooks) g = run_hooks(*leaf->hooks, std::move(g), "a leaf");
  if (results) {
    Tensor& r = (*results)[capture_leaf.at(leaf.get())];
    r = accumulate(std::move(r), std::move(g));
    make_owned(r);
    return;
  }
  {
    std::lock_guard<GradLock> lock(grad_lock(leaf.get()));
    const refcount::DrainHold hold;  // no queued destructors run under the lock
    if (leaf->grad.defined()) {
      leaf->grad = accumulate(std::move(leaf->grad), std::move(g));  // records under create_graph
    } else {
      // Never a stride-0 view; without create_graph, no history. g's own handle goes first, so
      // that a total nothing else holds is not copied.
      Tensor value = create_graph ? std::move(g) : g.detach();
      g = Tensor();
      leaf->grad = value.contiguous();
      value = Tensor();
      make_owned(leaf->grad);
    }
  }
  if (leaf->post_hooks) {
    const Tensor self(leaf);
    // By index, over the hooks there were: a hook may register another.
    for (size_t i = 0, n = leaf->post_hooks->size(); i < n; ++i) {
      const PostAccumulateGradHook hook = (*leaf->post_hooks)[i];
      hook(self);
    }
  }
}

void deliver(std::vector<std::pair<Ref<TensorImpl>, Tensor>> totals,
             const std::unordered_map<const TensorImpl*, size_t>& capture_leaf,
             std::vector<Tensor>* results, bool create_graph) {
  for (auto& [leaf, g] : totals)
    deliver_one(leaf, std::move(g), capture_leaf, results, create_graph);
}

// The callbacks queued (queue_callback) for each backward pass running on this thread.
thread_local std::vector<std::vector<std::function<void()>>*> pass_callbacks;

// While alive: the callbacks queued for this pass go to its list; run() runs them.
class CallbackScope {
 public:
  CallbackScope() { pass_callbacks.push_back(&list_); }
  ~CallbackScope() {
    if (!popped_) pass_callbacks.pop_back();
  }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
  // The pass is done: its callbacks run in order (one may queue another, run after it).
  void run() {
    pass_callbacks.pop_back();
    popped_ = true;
    for (size_t i = 0; i < list_.size(); ++i) {
      pass_callbacks.push_back(&list_);  // a callback's queue_callback goes to this pass
      struct Pop {
        ~Pop() { pass_callbacks.pop_back(); }
      } pop;
      const std::function<void()> f = std::move(list_[i]);
      f();
    }
  }

 private:
  std::vector<std::function<void()>> list_;
  bool popped_ = false;
};

// The passes running on this thread, innermost last. A rule or a hook may run a pass of its own
// (reentrant backward): over a graph of its own (recomputing, as checkpointing does) or over
// nodes of a pass that is running, whose bookkeeping it sets aside and gives back when it ends.
thread_local std::vector<uint64_t> running_passes;

struct SetAside {
  Node* node;
  uint64_t stamp;
  int pending;
  Tensor grad_buffer;
};

// Makes n a node of the pass `stamp`, setting aside what a running (outer) pass keeps on it.
// outer: the passes running on this thread (null when none: the thread_local is read once).
void claim(Node* n, uint64_t stamp, std::vector<SetAside>& aside,
           const std::vector<uint64_t>* outer) {
  if (outer && std::find(outer->begin(), outer->end(), n->visit_stamp) != outer->end())
    aside.push_back({n, n->visit_stamp, n->pending, std::move(n->grad_buffer)});
  n->visit_stamp = stamp;
  n->pending = 0;
}

// Nodes reachable from root, each with the number of edges that lead into it; refuses a graph
// whose saved values were freed or written in place before any rule runs.
std::vector<const Ref<Node>*> discover(const Ref<Node>& root, uint64_t stamp,
                                       std::vector<SetAside>& aside) {
  std::vector<const Ref<Node>*> nodes;
  nodes.reserve(64);  // one allocation for most graphs, not one per doubling
  nodes.push_back(&root);
  // This pass is running_passes' last entry (a node being claimed never carries its stamp yet);
  // the others are outer passes on this thread, which most backward calls do not have.
  const std::vector<uint64_t>* outer = running_passes.size() > 1 ? &running_passes : nullptr;
  claim(root.get(), stamp, aside, outer);
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node* n = nodes[i]->get();
    if (n->released)
      throw AutogradError(std::string("backward through ") + n->name() +
                          " a second time: its saved values were freed by the first backward; "
                          "pass retain_graph=true to the first one");
    n->check_saved_versions();
    for (auto& e : n->edges) {
      if (!e.fn) continue;
      if (e.fn->visit_stamp != stamp) {
        claim(e.fn.get(), stamp, aside, outer);
        nodes.push_back(&e.fn);
      }
      ++e.fn->pending;
    }
  }
  return nodes;
}

// One pass's hold on its nodes: discovered on construction; on any exit, no node keeps a
// gradient alive, no rule is "running", and an outer pass gets back what was set aside.
class Pass {
 public:
  explicit Pass(const Ref<Node>& root) {
    running_passes.push_back(stamp_);
    running_ = exchange_running_node(nullptr);
    try {
      nodes = discover(root, stamp_, aside_);
    } catch (...) {
      restore();
      throw;
    }
  }
  ~Pass() { restore(); }
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;

  std::vector<const Ref<Node>*> nodes;

 private:
  void restore() {
    for (const auto* n : nodes) (*n)->grad_buffer = Tensor();
    for (auto it = aside_.rbegin(); it != aside_.rend(); ++it) {
      it->node->visit_stamp = it->stamp;
      it->node->pending = it->pending;
      it->node->grad_buffer = std::move(it->grad_buffer);
    }
    running_passes.pop_back();
    exchange_running_node(running_);
  }
  const uint64_t stamp_ = ++stamp_counter;
  std::vector<SetAside> aside_;
  const Ref<Node>* running_ = nullptr;
};

}  // namespace

// Reverse topological order by dependency counts: a node's rule runs once every gradient bound
// for its output has been added up; each gradient is summed to its input's shape and added to
// what that input has. inputs/results: grad()'s captured tensors (.grad is then left alone).
void run_backward(const Tensor& root, const Tensor& root_grad, bool retain_graph, bool create_graph,
                  const std::vector<Tensor>* inputs, std::vector<Tensor>* results) {
  GradModeScope mode(create_graph);
  StrictExemptScope exempt;  // backward rules broadcast by design
  // A recorded backward refers back to the forward graph (saved outputs come back linked to
  // their nodes): it is kept, so that the gradients can be differentiated again.
  retain_graph = retain_graph || create_graph;
  std::unordered_map<const Node*, size_t> capture_node;
  std::unordered_map<const TensorImpl*, size_t> capture_leaf;
  if (inputs) {
    results->assign(inputs->size(), Tensor());
    for (size_t i = 0; i < inputs->size(); ++i) {
      const auto& impl = (*inputs)[i].impl();
      if (impl->grad_fn)
        capture_node[impl->grad_fn.get()] = i;
      else
        capture_leaf[impl.get()] = i;
    }
  }
  CallbackScope callbacks;
  LeafSums leaves(!create_graph && !inputs);
  auto to_leaf = [&](const Ref<TensorImpl>& leaf, Tensor g, const Dims& shape, DType dtype,
                     const char* op) {
    if (inputs && !capture_leaf.count(leaf.get())) return;
    if (broadcast_audit_on()) audit_leaf_sum(leaf.get(), shape, g.impl()->shape, op);
    leaves.add(leaf, std::move(g), shape, dtype, op);
  };
  const Ref<Node>& root_fn = root.impl()->grad_fn;
  if (!root_fn) {
    to_leaf(root.impl(), root_grad, root.impl()->shape, root.impl()->dtype, "backward");
    deliver(leaves.finish(), capture_leaf, results, create_graph);
    return callbacks.run();
  }
  Pass pass(root_fn);
  const std::vector<const Ref<Node>*>& nodes = pass.nodes;
  // Leaves with post-accumulate hooks, each with the edges into it that have yet to run: when
  // the last has, its total is final and is delivered then, in the middle of the pass.
  std::unordered_map<const TensorImpl*, int> eager;
  if (!inputs && post_hooks_registered.load(std::memory_order_relaxed))
    for (const auto* n : nodes)
      for (const auto& e : (*n)->edges)
        if (!e.fn && e.leaf && e.leaf->post_hooks) ++eager[e.leaf.get()];
  root_fn->grad_buffer = root_grad;
  std::vector<const Ref<Node>*> ready{&root_fn};
  while (!ready.empty()) {
    const Ref<Node>& owner = *ready.back();
    ready.pop_back();
    Node* n = owner.get();
    Tensor g = std::move(n->grad_buffer);
    if (g.defined() && n->hooks) g = run_hooks(*n->hooks, std::move(g), n->name());
    if (g.defined() && inputs && capture_node.count(n)) (*results)[capture_node[n]] = g;
    GradList grads;
    if (g.defined()) {
      if (n->released)  // by a pass that a rule or hook of this one ran over its nodes
        throw AutogradError(std::string("backward through ") + n->name() +
                            ": a backward pass run inside this one freed its saved values; pass "
                            "retain_graph=true to the inner one");
      exchange_running_node(&owner);  // for SavingNode::saved_output
      grads = n->backward(g);
    }
    for (size_t i = 0; i < n->edges.size(); ++i) {
      const Node::Edge& e = n->edges[i];
      const bool flows = e.active() && i < grads.size() && grads[i].defined();
      if (e.fn) {
        if (flows)
          e.fn->grad_buffer =
              accumulate(std::move(e.fn->grad_buffer),
                         sum_to_input(std::move(grads[i]), e.shape, e.dtype, n->name()));
        if (--e.fn->pending == 0) ready.push_back(&e.fn);
      } else if (e.leaf) {
        if (flows) to_leaf(e.leaf, std::move(grads[i]), e.shape, e.dtype, n->name());
        if (!eager.empty()) {
          auto it = eager.find(e.leaf.get());
          if (it != eager.end() && --it->second == 0) {
            Tensor total = leaves.take(e.leaf.get());
            if (total.defined())
              deliver_one(e.leaf, std::move(total), capture_leaf, results, create_graph);
          }
        }
      }
    }
    if (!retain_graph) {
      n->release_saved();
      n->released = true;
    }
  }
  for (const auto* node : nodes) (*node)->grad_buffer = Tensor();  // may share memory with totals
  deliver(leaves.finish(), capture_leaf, results, create_graph);
  if (results)
    for (Tensor& r : *results)
      if (r.defined()) {
        (void)r.impl()->read_data();  // values now, not a deferred computation
        make_owned(r);
      }
  callbacks.run();
}

void queue_callback(std::function<void()> callback) {
  if (pass_callbacks.empty())
    throw AutogradError("queue_callback: no backward pass is running on this thread");
  if (!callback) throw ValueError("queue_callback: the callback is empty");
  pass_callbacks.back()->push_back(std::move(callback));
}

// ---- the autograd half of Tensor's interface ----

Tensor& Tensor::requires_grad_(bool on) {
  if (!impl_)
    throw AutogradError(std::string("requires_grad_: the tensor is undefined") + kUndefinedCause);
  if (impl_->grad_fn && !on)
    throw AutogradError("requires_grad_(false) on a tensor produced by " +
                        std::string(impl_->grad_fn->name()) + "; use detach() instead");
  if (on && !is_floating(impl_->dtype))
    throw DTypeError(std::string("requires_grad_: only floating tensors can require grad, got ") +
                     dtype_name(impl_->dtype));
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }
bool Tensor::is_leaf() const { return !impl_ || !impl_->grad_fn; }
const char* Tensor::grad_fn_name() const {
  return impl_ && impl_->grad_fn ? impl_->grad_fn->name() : nullptr;
}

void Tensor::register_hook(GradHook hook) const {
  if (!impl_)
    throw AutogradError(std::string("register_hook: the tensor is undefined") + kUndefinedCause);
  if (!impl_->requires_grad)
    throw AutogradError(
        "register_hook: the tensor does not require grad, so no gradient reaches it");
  if (!hook) throw ValueError("register_hook: the hook is empty");
  auto& list = impl_->grad_fn ? impl_->grad_fn->hooks : impl_->hooks;
  if (!list) list = std::make_unique<std::vector<GradHook>>();
  list->push_back(std::move(hook));
}

void Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const {
  if (!impl_)
    throw AutogradError(std::string("register_post_accumulate_grad_hook: the tensor is undefined") +
                        kUndefinedCause);
  if (impl_->grad_fn)
    throw AutogradError(std::string("register_post_accumulate_grad_hook: the tensor is produced "
                                    "by ") +
                        impl_->grad_fn->name() + ", not a leaf: only leaves accumulate a .grad");
  if (!impl_->requires_grad)
    throw AutogradError(
        "register_post_accumulate_grad_hook: the tensor does not require grad, so no gradient "
        "reaches it");
  if (!hook) throw ValueError("register_post_accumulate_grad_hook: the hook is empty");
  if (!impl_->post_hooks)
    impl_->post_hooks = std::make_unique<std::vector<PostAccumulateGradHook>>();
  impl_->post_hooks->push_back(std::move(hook));
  post_hooks_registered.store(true, std::memory_order_relaxed);
}

Tensor Tensor::grad() const {
  if (!impl_) return Tensor();
  std::lock_guard<GradLock> lock(grad_lock(impl_.get()));
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& g) const {
  if (!impl_)
    throw AutogradError(std::string("set_grad: the tensor is undefined") + kUndefinedCause);
  Tensor value;
  if (g.defined()) {
    if (g.impl()->shape != impl_->shape)
      throw ShapeError("set_grad: a gradient of shape " + shape_str(g.impl()->shape) +
                       " for a tensor of shape " + shape_str(impl_->shape));
    if (g.impl()->dtype != impl_->dtype)
      throw DTypeError(std::string("set_grad: a gradient of dtype ") + dtype_name(g.impl()->dtype) +
                       " for a tensor of dtype " + dtype_name(impl_->dtype));
    value = g.detach();
  }
  std::lock_guard<GradLock> lock(grad_lock(impl_.get()));
  const refcount::DrainHold hold;
  std::swap(value, impl_->grad);  // the old one is freed after the lock is released
}

void Tensor::zero_grad() {
  if (!impl_) return;
  Tensor old;  // freed after the lock is released
  std::lock_guard<GradLock> lock(grad_lock(impl_.get()));
  std::swap(old, impl_->grad);
}

Tensor Tensor::detach() const {
  if (!impl_) return Tensor();
  auto impl = make_ref<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

void Tensor::backward() const { backward(Tensor()); }

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  if (!impl_)
    throw AutogradError(std::string("backward: the tensor is undefined") + kUndefinedCause);
  if (!impl_->requires_grad)
    throw AutogradError(
        "backward: the tensor does not require grad and has no grad_fn (no input of the ops that "
        "produced it had requires_grad_() set)");
  Tensor g;
  if (!gradient.defined()) {  // as backward(): ones, for a one-element tensor
    if (numel() != 1)
      throw AutogradError(
          "backward: grad can be implicitly created only for one-element outputs; "
          "this tensor has shape " +
          shape_str(impl_->shape) + ": pass a gradient of that shape");
    g = ones(impl_->shape, impl_->dtype);
  } else if (gradient.impl()->shape != impl_->shape) {
    throw AutogradError("backward: the gradient's shape " + shape_str(gradient.impl()->shape) +
                        " does not match the tensor's shape " + shape_str(impl_->shape));
  } else {
    g = gradient.impl()->dtype == impl_->dtype ? gradient : gradient.to(impl_->dtype);
  }
  run_backward(*this, g, retain_graph, create_graph, nullptr, nullptr);
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output, bool create_graph) {
  if (!output.defined())
    throw AutogradError(std::string("grad: the output is undefined") + kUndefinedCause);
  if (!output.requires_grad())
    throw AutogradError("grad: the output does not require grad and has no grad_fn");
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      throw AutogradError("grad: input " + std::to_string(i) + " is undefined" + kUndefinedCause);
    else if (!inputs[i].requires_grad())
      throw AutogradError("grad: input " + std::to_string(i) + " does not require grad");
  Tensor g = grad_output;
  if (!g.defined()) {
    if (output.numel() != 1)
      throw AutogradError("grad: grad_output is required for an output of shape " +
                          shape_str(output.shape()));
    g = ones(output.shape(), output.dtype());
  } else if (g.shape() != output.shape()) {
    throw AutogradError("grad: grad_output's shape " + shape_str(g.shape()) +
                        " does not match the output's shape " + shape_str(output.shape()));
  }
  if (g.dtype() != output.dtype()) g = g.to(output.dtype());
  std::vector<Tensor> results;
  run_backward(output, g, create_graph, create_graph, &inputs, &results);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!results[i].defined()) results[i] = zeros_like(inputs[i]);
  return results;
}

}  // namespace ndgrad
