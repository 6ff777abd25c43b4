// explain_grad: the chain rule for one leaf, edge by edge, with the values that flow; and the
// traced backward pass it shares with to_dot's gradient labels.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "autograd/grad_trace.hpp"
#include "core/shape.hpp"
#include "ndgrad/autograd.hpp"
#include "ndgrad/explain.hpp"
#include "ops/grad_sums.hpp"
#include "ops/strict.hpp"

namespace ndgrad {

GradTrace trace_backward(const Tensor& output, const Tensor& upstream, const char* what) {
  require_defined_arg(output, what, "the output");
  // The rules' own broadcasting, as in the engine: never refused by strict mode or audited.
  StrictExemptScope library_broadcasting;
  Tensor seed = upstream;
  if (!seed.defined()) {
    seed = ones(output.shape(), output.dtype());
  } else if (seed.shape() != output.shape()) {
    throw ShapeError(std::string(what) + ": the upstream gradient's shape " +
                     shape_str(seed.shape()) + " does not match the output's shape " +
                     shape_str(output.shape()));
  }
  if (seed.dtype() != output.dtype()) seed = seed.to(output.dtype());
  GradTrace t;
  Node* root = output.impl()->grad_fn.get();
  if (!root) {
    if (output.requires_grad()) t.leaf_grads[output.impl().get()] = seed;
    return t;
  }
  // Every node reachable from root with the number of edges that lead into it (iterative: a
  // deep chain must not overflow the stack).
  std::map<Node*, int> pending{{root, 0}};
  std::vector<Node*> found{root};
  for (size_t i = 0; i < found.size(); ++i)
    for (const auto& e : found[i]->edges)
      if (e.fn) {
        auto [it, fresh] = pending.emplace(e.fn.get(), 0);
        ++it->second;
        if (fresh) found.push_back(e.fn.get());
      }
  for (Node* n : found) {
    if (n->released)
      throw AutogradError(std::string(what) + ": the graph behind the output was freed by a " +
                          "backward pass (the saved values of " + n->name() + " are gone): call " +
                          what + " before backward, or run backward with retain_graph=true");
    n->check_saved_versions();
  }
  const NoGradGuard no_grad;
  std::map<Node*, Tensor> buffer{{root, seed}};
  std::vector<Node*> ready{root};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    t.order.push_back(n);
    const Tensor g = buffer[n];
    t.upstream[n] = g;
    GradList grads;
    if (g.defined()) grads = n->backward(g);
    auto& flows = t.flows[n];
    flows.resize(n->edges.size());
    for (size_t i = 0; i < n->edges.size(); ++i) {
      const Node::Edge& e = n->edges[i];
      if (e.active() && i < grads.size() && grads[i].defined()) {
        flows[i].raw = grads[i];
        flows[i].summed = sum_to_input(grads[i], e.shape, e.dtype, n->name());
        Tensor& into = e.fn ? buffer[e.fn.get()] : t.leaf_grads[e.leaf.get()];
        into = into.defined() ? into + flows[i].summed : flows[i].summed;
      }
      if (e.fn && --pending[e.fn.get()] == 0) ready.push_back(e.fn.get());
    }
  }
  return t;
}

namespace {

constexpr int64_t kMaxShownValues = 12;

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// The values of a small tensor as NumPy prints them: nested lists; "" for a large one.
std::string values_text(const Tensor& t) {
  if (!t.defined() || t.numel() > kMaxShownValues) return "";
  const std::vector<double> v = t.to_vector();
  const Shape s = t.shape();
  if (s.empty()) return number_text(v[0]);
  std::string out;
  size_t at = 0;
  // Recursion depth is the rank (at most a few axes for 12 elements or fewer).
  auto rec = [&](auto&& self, size_t axis) -> void {
    out += "[";
    for (int64_t i = 0; i < s[axis]; ++i) {
      if (i) out += ", ";
      if (axis + 1 == s.size())
        out += number_text(v[at++]);
      else
        self(self, axis + 1);
    }
    out += "]";
  };
  rec(rec, 0);
  return out;
}

std::string with_values(const Tensor& t) {
  const std::string v = values_text(t);
  return v.empty() ? "" : " = " + v;
}

// Ops whose backward puts g back into zeros of the input's shape at the elements read.
bool scatters(const std::string& op) {
  return op == "index" || op == "take" || op == "masked_select" || op == "diagonal";
}

std::string step_list(const std::vector<int>& steps) {
  std::string s;
  for (size_t i = 0; i < steps.size(); ++i)
    s += (i == 0                  ? ""
          : i + 1 == steps.size() ? " and "
                                  : ", ") +
         ("[" + std::to_string(steps[i]) + "]");
  return s;
}

}  // namespace

GradExplanation explain_grad(const Tensor& loss, const Tensor& leaf, const Tensor& upstream) {
  require_defined_arg(loss, "explain_grad", "the loss");
  require_defined_arg(leaf, "explain_grad", "the leaf");
  if (leaf.impl()->grad_fn)
    throw ValueError(std::string("explain_grad: the second argument is the result of ") +
                     leaf.impl()->grad_fn->name() +
                     ", not a leaf; pass a tensor made with requires_grad_()");
  if (!leaf.requires_grad())
    throw ValueError(
        "explain_grad: the leaf does not require grad: call requires_grad_() on it before "
        "computing the loss");
  if (!loss.requires_grad())
    throw ValueError("explain_grad: the loss does not require grad: no gradient flows from it");
  GradTrace t = trace_backward(loss, upstream, "explain_grad");
  const TensorImpl* target = leaf.impl().get();

  GradExplanation x;
  x.loss_shape = loss.shape();
  x.leaf_shape = leaf.shape();
  // How many paths lead from each node to the leaf: in reverse order, every input is done first.
  std::map<const Node*, double> paths;
  for (auto it = t.order.rbegin(); it != t.order.rend(); ++it) {
    double p = 0;
    for (const auto& e : (*it)->edges)
      p += e.leaf.get() == target ? 1 : e.fn ? paths[e.fn.get()] : 0;
    paths[*it] = p;
  }
  auto on_path = [&](const Node::Edge& e) {
    return e.leaf.get() == target || (e.fn && paths[e.fn.get()] > 0);
  };
  const Node* root = loss.impl()->grad_fn.get();
  x.paths = root ? paths[root] : loss.impl().get() == target ? 1 : 0;
  auto total = t.leaf_grads.find(target);
  x.grad = total != t.leaf_grads.end() ? total->second : zeros_like(leaf);

  // The edges on the paths, in the order their rules run; where each one's gradient goes.
  std::map<const Node*, int> first_step;
  std::map<const void*, std::vector<int>> into;  // a node or the leaf: the steps feeding it
  std::vector<Tensor> raws;                      // per edge, the rule's result
  for (const Node* n : t.order) {
    if (paths[n] == 0) continue;
    for (size_t i = 0; i < n->edges.size(); ++i) {
      const Node::Edge& e = n->edges[i];
      if (!on_path(e)) continue;
      GradEdge g;
      g.step = static_cast<int>(x.edges.size()) + 1;
      if (!first_step.count(n)) first_step[n] = g.step;
      g.op = n->name();
      g.input = i;
      g.rule = backward_rule(g.op, i);
      g.upstream = t.upstream[n];
      g.upstream_shape = g.upstream.defined() ? g.upstream.shape() : Shape();
      g.shape = e.shape;
      const GradTrace::EdgeFlow& f = t.flows[n][i];
      g.grad = f.summed;
      raws.push_back(f.raw);
      if (f.raw.defined()) {
        g.rule_shape = f.raw.shape();
        int64_t leading = 0;
        if (g.rule_shape != g.shape &&
            unbroadcast_axes(g.rule_shape, g.shape, 0, g.summed_axes, leading) &&
            f.summed.numel() > 0)
          g.values_summed = f.raw.numel() / f.summed.numel();
        if (scatters(g.op)) {
          const NoGradGuard no_grad;
          GradList counts = const_cast<Node*>(n)->backward(ones_like(g.upstream));
          g.scatter_zero = g.scatter_one = g.scatter_many = 0;
          if (i < counts.size() && counts[i].defined())
            for (double c : counts[i].to_vector())
              ++(c == 0 ? g.scatter_zero : c == 1 ? g.scatter_one : g.scatter_many);
        }
      }
      into[e.fn ? static_cast<const void*>(e.fn.get()) : target].push_back(g.step);
      x.edges.push_back(std::move(g));
    }
  }
  {  // where each edge's gradient goes, and how many edges on the paths go there too
    size_t k = 0;
    for (const Node* n : t.order) {
      if (paths[n] == 0) continue;
      for (const auto& e : n->edges) {
        if (!on_path(e)) continue;
        GradEdge& g = x.edges[k++];
        const void* dest = e.fn ? static_cast<const void*>(e.fn.get()) : target;
        g.joins = static_cast<int>(into[dest].size());
        g.to_step = e.fn ? first_step[e.fn.get()] : 0;
      }
    }
  }

  std::ostringstream s;
  s << "The gradient of the loss " << shape_str(x.loss_shape) << " with respect to the leaf "
    << shape_str(x.leaf_shape) << ", by the chain rule\n";
  s << "Seed: g = " << (upstream.defined() ? "the given upstream gradient" : "ones")
    << " of the loss's shape " << shape_str(x.loss_shape)
    << with_values(upstream.defined() ? upstream : ones(x.loss_shape)) << "\n";
  if (x.paths == 0) {
    s << "No path leads from the loss to the leaf: its gradient is zero.\n";
    x.text = s.str();
    return x;
  }
  if (!root) {
    s << "The loss is the leaf itself: its gradient is the seed.\n";
    x.text = s.str();
    return x;
  }
  s << x.edges.size() << " edge" << (x.edges.size() == 1 ? "" : "s") << " on " << x.paths << " path"
    << (x.paths == 1 ? "" : "s") << ", in the order backward runs them (g: the "
    << "gradient of the op's output; values shown for tensors of at most " << kMaxShownValues
    << " elements)\n";
  int last_announced = 0;
  for (const GradEdge& g : x.edges) {
    s << "\n[" << g.step << "] " << g.op << ", input " << g.input << ": "
      << shape_str(g.upstream_shape) << " -> " << shape_str(g.shape) << "\n";
    if (g.step != last_announced) {
      // A node's first step: say where its g came from when several paths join there.
      std::vector<int> from;
      for (const GradEdge& h : x.edges)
        if (h.to_step == g.step) from.push_back(h.step);
      if (from.size() > 1)
        s << "    paths join here: g is the sum of the gradients from steps " << step_list(from)
          << "\n";
    }
    last_announced = g.step;
    s << "    rule: " << (g.rule.empty() ? "(user-defined backward)" : g.rule) << "\n";
    if (!g.upstream.defined()) {
      s << "    no gradient reaches this op\n";
      continue;
    }
    s << "    g " << shape_str(g.upstream_shape) << with_values(g.upstream) << "\n";
    if (!g.grad.defined()) {
      s << "    no gradient flows to this input\n";
      continue;
    }
    if (g.rule_shape != g.shape)
      s << "    the rule gives " << shape_str(g.rule_shape) << with_values(raws[g.step - 1])
        << "\n";
    if (!g.summed_axes.empty())
      s << "    broadcast undone: the input " << shape_str(g.shape) << " was stretched to "
        << shape_str(g.rule_shape) << " in the forward pass, so its gradient is summed over axis"
        << (g.summed_axes.size() == 1 ? " " : "es ") << axes_str(g.summed_axes) << ": "
        << g.values_summed << " value" << (g.values_summed == 1 ? "" : "s")
        << " added into each element\n";
    if (g.scatter_zero >= 0) {
      const int64_t n = g.scatter_zero + g.scatter_one + g.scatter_many;
      s << "    scatter: g " << shape_str(g.upstream_shape) << " goes back into zeros of shape "
        << shape_str(g.shape) << " at the elements read: " << g.scatter_zero << " of " << n
        << " receive zero, " << g.scatter_one << " receive one element of g, " << g.scatter_many
        << " accumulate several\n";
    }
    s << "    gives " << shape_str(g.shape) << with_values(g.grad) << "\n";
    if (g.to_step)
      s << "    -> flows into step [" << g.to_step << "]\n";
    else
      s << "    -> the leaf"
        << (g.joins > 1 ? " (one of " + std::to_string(g.joins) + " contributions, added)" : "")
        << "\n";
  }
  std::vector<int> to_leaf;
  for (const GradEdge& g : x.edges)
    if (g.to_step == 0) to_leaf.push_back(g.step);
  s << "\nThe leaf's gradient " << shape_str(x.leaf_shape);
  if (to_leaf.size() > 1)
    s << ": the sum of steps " << step_list(to_leaf) << " (paths join at the leaf: gradients add)";
  s << with_values(x.grad);
  s << "\n";
  x.text = s.str();
  return x;
}

}  // namespace ndgrad
