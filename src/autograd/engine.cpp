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
#include "ops/lazy.hpp"
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

// The one place where broadcasting is undone: every gradient arriving at an input is summed
// over the axes the op broadcast it along, back to the input's shape.
// Takes g by value: a gradient that needs no change is passed on without a handle copy.
// companions: leaves whose pending gradient may have g's very values (X's, for b in X + b);
// the first that does is computed in the same pass as the sum (one read of the inputs).
Tensor reduce_to_input(Tensor g, const Node::Edge& e, const char* op,
                       const std::vector<std::shared_ptr<TensorImpl>>* companions = nullptr) {
  if (g.impl()->shape != e.shape) {
    const Dims& gs = g.impl()->shape;
    std::vector<int64_t> axes;
    int64_t leading;
    const bool ok = unbroadcast_axes(gs, e.shape, 0, axes, leading);
    if (!ok)
      throw AutogradError(std::string(op) + " backward: a gradient of shape " + shape_str(gs) +
                          " cannot be summed to the input's shape " + shape_str(e.shape));
    Tensor sum;
    if (companions)
      for (const auto& leaf : *companions) {
        if (leaf == e.leaf) continue;
        std::lock_guard<GradLock> lock(grad_lock(leaf.get()));
        if (leaf->grad.defined() && leaf->grad.impl()->shape == gs &&
            (sum = lazy::sum_computing(g, axes, leaf->grad)).defined())
          break;
      }
    g = sum.defined() ? sum.reshape(e.shape) : sum_axes_to(g, axes, e.shape);
  }
  if (g.impl()->dtype != e.dtype) g = g.to(e.dtype);
  return g;
}

// g after each hook in turn; a hook's result must keep g's shape.
Tensor run_hooks(const std::vector<GradHook>& hooks, Tensor g, const char* whose) {
  for (const GradHook& hook : hooks) {
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
bool unshared(const Tensor& t) {
  return t.impl().use_count() == 1 && t.impl()->storage.use_count() == 1;
}
// Replaces t by a copy when anything else holds its memory; t is unchanged if the copy fails.
void make_owned(Tensor& t) {
  if (!unshared(t)) t = copy_of(t);
}

// acc + g. Without create_graph, an accumulator that nothing else references (no other
// handle, no view of its storage) of the result's shape is added to in place.
// A pending (lazy) gradient is added lazily instead: the sum is computed once, at the end.
Tensor add_grads(Tensor acc, Tensor g) {
  if (!acc.defined()) return g;
  if (!is_grad_enabled() && (lazy::pending(acc) || lazy::pending(g))) return acc + g;
  const auto& impl = acc.impl();
  if (!is_grad_enabled() && impl.use_count() == 1 && impl->storage.use_count() == 1 &&
      impl->shape == g.impl()->shape && impl->dtype == g.impl()->dtype && acc.is_contiguous()) {
    add_into(acc, g);
    return acc;
  }
  return acc + g;
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& root_grad, bool retain_graph, bool create_graph,
                  const std::vector<Tensor>* inputs, std::vector<Tensor>* results) {
  GradModeScope mode(create_graph);
  StrictExemptScope exempt;  // backward rules broadcast by design

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

  // Leaves whose gradient is pending (lazy): computed at the end, so that backward() leaves
  // values in .grad, as its callers (and their timings) expect.
  std::vector<std::shared_ptr<TensorImpl>> lazy_grads;
  // Leaves given a gradient by this pass where they had none: it may be the very tensor the
  // caller passed in, or one the op handed to several inputs (add's), so at the end each is
  // made a buffer of its own unless nothing else holds its memory.
  std::vector<std::shared_ptr<TensorImpl>> fresh_grads;
  auto finish = [&] {
    for (const auto& leaf : lazy_grads) {
      std::lock_guard<GradLock> lock(grad_lock(leaf.get()));
      lazy::compute(leaf->grad);
    }
    if (results)
      for (Tensor& r : *results)
        if (r.defined()) {
          lazy::compute(r);
          make_owned(r);
        }
    for (const auto& leaf : fresh_grads) {
      std::lock_guard<GradLock> lock(grad_lock(leaf.get()));
      if (leaf->grad.defined()) make_owned(leaf->grad);
    }
  };

  // Leaves with hooks: their gradient is summed over the pass, and the hooks see the total.
  std::vector<std::pair<std::shared_ptr<TensorImpl>, Tensor>> hooked;
  auto deliver_leaf = [&](const std::shared_ptr<TensorImpl>& leaf, Tensor g, bool hooks_ran) {
    if (leaf->hooks && !hooks_ran) {
      for (auto& [l, sum] : hooked)
        if (l == leaf) {
          sum = add_grads(std::move(sum), std::move(g));
          return;
        }
      hooked.emplace_back(leaf, std::move(g));
      return;
    }
    if (!inputs && lazy::pending(g)) lazy_grads.push_back(leaf);
    if (inputs) {
      auto it = capture_leaf.find(leaf.get());
      if (it != capture_leaf.end())
        (*results)[it->second] = add_grads(std::move((*results)[it->second]), std::move(g));
      return;
    }
    // Stored gradients are contiguous buffers, never stride-0 views; without create_graph
    // they carry no history (grad mode is off here, so the sum records nothing).
    std::lock_guard<GradLock> lock(grad_lock(leaf.get()));
    if (!leaf->grad.defined()) {
      // A gradient nothing else holds stays so: the list (and its allocation) is for the rest.
      if (!unshared(g)) fresh_grads.push_back(leaf);
      leaf->grad = (create_graph ? g : g.detach()).contiguous();
    } else {
      // Moved out, so that an unshared buffer is added to in place; records nothing unless
      // create_graph.
      leaf->grad = add_grads(std::move(leaf->grad), std::move(g));
    }
  };

  // Pending (lazy) gradients bound for a leaf that has to be summed down to the leaf's shape:
  // added up first (lazily, one program) and reduced once at the end, so that a leaf used by
  // several broadcasting ops (b in (X + b) * (X + b)) costs one pass over their inputs, not one
  // per use. Only without create_graph and without captured inputs (grad()).
  struct Deferred {
    Node::Edge edge;  // the leaf, with its shape and dtype
    Tensor sum;       // in the ops' broadcast shape
    const char* op;
  };
  std::vector<Deferred> deferred;
  auto defer = [&](const Node::Edge& e, Tensor g, const char* op) {
    if (inputs || create_graph || !lazy::pending(g) || g.impl()->shape == e.shape ||
        g.impl()->dtype != e.dtype)
      return Tensor(std::move(g));
    for (Deferred& d : deferred)
      if (d.edge.leaf == e.leaf && d.sum.impl()->shape == g.impl()->shape) {
        d.sum = d.sum + g;
        return Tensor();
      }
    deferred.push_back({Node::Edge{nullptr, e.leaf, e.shape, e.dtype}, std::move(g), op});
    return Tensor();
  };
  // A leaf whose pending gradient has the very values being summed down (X's, for b in X + b)
  // gets them computed in the same pass (reduce_to_input's companions).
  auto deliver_deferred = [&] {
    for (Deferred& d : deferred)
      deliver_leaf(d.edge.leaf, reduce_to_input(std::move(d.sum), d.edge, d.op, &lazy_grads),
                   false);
    deferred.clear();
  };

  auto deliver_hooked = [&] {
    for (auto& [leaf, sum] : hooked)
      deliver_leaf(leaf, run_hooks(*leaf->hooks, sum, "a leaf"), true);
    hooked.clear();
  };

  const std::shared_ptr<Node>& root_fn = root.impl()->grad_fn;
  if (!root_fn) {
    deliver_leaf(root.impl(), root_grad, false);
    deliver_hooked();
    finish();
    return;
  }

  // Discover the graph and count, for each node, how many edges lead into it. Nodes are held
  // by the graph (root's grad_fn, the edges) for the whole pass.
  const uint64_t stamp = ++stamp_counter;
  std::vector<const std::shared_ptr<Node>*> visited{&root_fn};
  root_fn->visit_stamp = stamp;
  root_fn->pending = 0;
  for (size_t i = 0; i < visited.size(); ++i) {
    Node* n = visited[i]->get();
    if (n->released)
      throw AutogradError(std::string("backward through ") + n->name() +
                          " a second time: its saved values were freed by the first backward; "
                          "pass retain_graph=true to the first one");
    n->check_saved_versions();  // before any rule runs: a refused pass changes nothing
    for (auto& e : n->edges) {
      Node* c = e.fn.get();
      if (!c) continue;
      if (c->visit_stamp != stamp) {
        c->visit_stamp = stamp;
        c->pending = 0;
        visited.push_back(&e.fn);
      }
      ++c->pending;
    }
  }

  struct ClearBuffers {  // on any exit, no node keeps a gradient alive
    std::vector<const std::shared_ptr<Node>*>& nodes;
    void release() {
      for (const auto* n : nodes) (*n)->grad_buffer = Tensor();
      nodes.clear();
    }
    ~ClearBuffers() { release(); }
  } clear{visited};
  struct Running {  // the node whose rule runs, for SavingNode::saved_output
    const std::shared_ptr<Node>* saved = exchange_running_node(nullptr);
    ~Running() { exchange_running_node(saved); }
  } restore_running;

  root_fn->grad_buffer = root_grad;
  std::vector<const std::shared_ptr<Node>*> ready{&root_fn};
  while (!ready.empty()) {
    const std::shared_ptr<Node>& owner = *ready.back();
    Node* n = owner.get();
    ready.pop_back();
    Tensor g = std::move(n->grad_buffer);
    n->grad_buffer = Tensor();
    if (inputs && g.defined()) {
      auto it = capture_node.find(n);
      if (it != capture_node.end()) (*results)[it->second] = g;
    }
    GradList grads;
    if (g.defined() && n->hooks) g = run_hooks(*n->hooks, std::move(g), n->name());
    if (g.defined()) {
      exchange_running_node(&owner);
      grads = n->backward(g);
    }
    for (size_t i = 0; i < n->edges.size(); ++i) {
      const Node::Edge& e = n->edges[i];
      bool flows = e.active() && i < grads.size() && grads[i].defined();
      if (flows && !e.fn) {
        grads[i] = defer(e, std::move(grads[i]), n->name());
        flows = grads[i].defined();
      }
      Tensor gi = flows ? reduce_to_input(std::move(grads[i]), e, n->name()) : Tensor();
      if (e.fn) {
        Node* c = e.fn.get();
        if (flows) c->grad_buffer = add_grads(std::move(c->grad_buffer), std::move(gi));
        if (--c->pending == 0) ready.push_back(&e.fn);
      } else if (flows) {
        deliver_leaf(e.leaf, std::move(gi), false);
      }
    }
    if (!retain_graph) {
      n->release_saved();
      n->released = true;
    }
  }
  deliver_deferred();
  deliver_hooked();
  clear.release();  // the nodes' buffers may share memory with the gradients handed out
  finish();
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

Tensor Tensor::grad() const {
  if (!impl_) return Tensor();
  std::lock_guard<GradLock> lock(grad_lock(impl_.get()));
  return impl_->grad;
}

void Tensor::zero_grad() {
  if (!impl_) return;
  Tensor old;  // freed after the lock is released
  std::lock_guard<GradLock> lock(grad_lock(impl_.get()));
  std::swap(old, impl_->grad);
}

Tensor Tensor::detach() const {
  if (!impl_) return Tensor();
  auto impl = pool::make_shared<TensorImpl>();
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
