// explain_broadcast and the backward graph as DOT (strict broadcasting: ops/strict.cpp).
#include "ndgrad/explain.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "autograd/grad_trace.hpp"
#include "core/shape.hpp"
#include "graph/node.hpp"

namespace ndgrad {

BroadcastExplanation explain_broadcast(const Shape& a, const Shape& b) {
  BroadcastExplanation e;
  e.a = a;
  e.b = b;
  const size_t n = std::max(a.size(), b.size());
  e.a_padded = Shape(n - a.size(), 1);
  e.a_padded.insert(e.a_padded.end(), a.begin(), a.end());
  e.b_padded = Shape(n - b.size(), 1);
  e.b_padded.insert(e.b_padded.end(), b.begin(), b.end());
  e.compatible = true;
  e.result = Shape(n);
  for (size_t k = n; k-- > 0;) {
    const int64_t da = e.a_padded[k], db = e.b_padded[k];
    const bool ok = da == db || da == 1 || db == 1;
    const int64_t r = da == 1 ? db : da;
    e.dims.push_back({static_cast<int64_t>(k), da, db, r, ok});
    if (!ok && e.compatible) {
      e.compatible = false;
      e.failing_axis = static_cast<int64_t>(k);
    }
    e.result[k] = r;
  }
  std::ostringstream t;
  t << "Broadcasting " << shape_str(a) << " with " << shape_str(b) << "\n\n";
  t << "Step 1: pad the shorter shape with leading ones, so both have " << n << " axes\n";
  t << "  a: " << shape_str(a)
    << (a.size() < n ? " -> " + shape_str(e.a_padded) : std::string(" (unchanged)")) << "\n";
  t << "  b: " << shape_str(b)
    << (b.size() < n ? " -> " + shape_str(e.b_padded) : std::string(" (unchanged)")) << "\n\n";
  t << "Step 2: compare the axes right to left: sizes must be equal, or one of them 1\n";
  for (const auto& d : e.dims) {
    t << "  axis " << d.axis << " (" << d.axis - static_cast<int64_t>(n) << "): " << d.a << " vs "
      << d.b << " -> ";
    if (!d.ok) {
      t << "INCOMPATIBLE: " << d.a << " and " << d.b << " differ and neither is 1\n";
      break;
    }
    if (d.a == d.b)
      t << d.result << " (equal)\n";
    else
      t << d.result << " (" << (d.a == 1 ? "a" : "b") << " is stretched along this axis)\n";
  }
  if (!e.compatible) {
    e.result.clear();
    t << "\nResult: operands could not be broadcast together with shapes " << shape_str(a) << " "
      << shape_str(b) << "\n";
    e.text = t.str();
    return e;
  }
  t << "\nResult shape: " << shape_str(e.result) << "\n\n";
  t << "Backward: the gradient arrives with shape " << shape_str(e.result)
    << "; each operand gets the sum over the axes it was broadcast along\n";
  auto reduction = [&](const Shape& op, const char* name, BroadcastExplanation::Reduction& r) {
    unbroadcast_axes(e.result, op, 0, r.summed_axes, r.squeezed);
    t << "  " << name << " " << shape_str(op) << ": ";
    if (r.summed_axes.empty()) {
      t << "nothing to sum: the gradient already has its shape\n";
      return;
    }
    std::vector<int64_t> kept(r.summed_axes.begin() + r.squeezed, r.summed_axes.end());
    t << "sum over axes " << axes_str(r.summed_axes);
    if (!kept.empty()) t << " (keeping axes " << axes_str(kept) << " as size 1)";
    if (r.squeezed)
      t << ", then drop the " << r.squeezed << " leading padded ax"
        << (r.squeezed == 1 ? "is" : "es");
    t << " -> " << shape_str(op) << "\n";
  };
  reduction(a, "a", e.grad_a);
  reduction(b, "b", e.grad_b);
  e.text = t.str();
  return e;
}

namespace {

// The Frobenius norm, in double, as a label shows it.
std::string norm_text(const Tensor& g) {
  double sum = 0;
  for (double v : g.to_vector()) sum += v * v;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", std::sqrt(sum));
  return buf;
}

}  // namespace

std::string to_dot(const Tensor& output) { return to_dot(output, DotOptions()); }

std::string to_dot(const Tensor& output, const DotOptions& options) {
  require_defined_arg(output, "to_dot", "the output");
  GradTrace trace;
  if (options.gradients) trace = trace_backward(output, options.upstream, "to_dot");
  const std::string seed_norm =
      options.gradients ? "\\n||g|| " + norm_text(options.upstream.defined() ? options.upstream
                                                                             : ones(output.shape()))
                        : "";
  std::ostringstream dot;
  dot << "digraph backward {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=11];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  dot << "  output [label=\"output " << shape_str(output.shape()) << "\", shape=plaintext];\n";
  Node* root = output.impl()->grad_fn.get();
  if (!root) {
    dot << "  leaf0 [label=\"" << (output.requires_grad() ? "leaf " : "constant ")
        << shape_str(output.shape()) << "\", shape=ellipse];\n  leaf0 -> output"
        << (seed_norm.empty() ? "" : " [label=\"" + seed_norm.substr(2) + "\"]") << ";\n}\n";
    return dot.str();
  }
  // Ids in discovery order; a node's output shape is what its consumers' edges record.
  std::map<const Node*, int> ids;
  std::map<const Node*, Shape> out_shape;
  std::map<const TensorImpl*, int> leaves;
  std::vector<const Node*> order{root};
  ids[root] = 0;
  out_shape[root] = output.shape();
  for (size_t i = 0; i < order.size(); ++i)
    for (const auto& e : order[i]->edges)
      if (e.fn && !ids.count(e.fn.get())) {
        ids[e.fn.get()] = static_cast<int>(order.size());
        out_shape[e.fn.get()] = e.shape;
        order.push_back(e.fn.get());
      }
  int constants = 0;
  for (const Node* n : order) {
    const int id = ids[n];
    dot << "  n" << id << " [label=\"" << n->name() << "\", shape=box, style=rounded];\n";
    for (size_t i = 0; i < n->edges.size(); ++i) {
      const Node::Edge& e = n->edges[i];
      std::string source;
      if (e.fn) {
        source = "n" + std::to_string(ids[e.fn.get()]);
      } else if (e.leaf) {
        auto it = leaves.find(e.leaf.get());
        if (it == leaves.end()) {
          it = leaves.emplace(e.leaf.get(), static_cast<int>(leaves.size())).first;
          dot << "  leaf" << it->second << " [label=\"leaf " << shape_str(e.shape);
          auto total = trace.leaf_grads.find(e.leaf.get());
          if (total != trace.leaf_grads.end()) dot << "\\ngrad ||g|| " << norm_text(total->second);
          dot << "\", shape=ellipse];\n";
        }
        source = "leaf" + std::to_string(it->second);
      } else {
        source = "const" + std::to_string(constants++);
        dot << "  " << source << " [label=\"constant " << shape_str(e.shape)
            << "\", shape=plaintext, fontcolor=gray40];\n";
      }
      std::string label = shape_str(e.shape);
      const int core = n->broadcast_core_dims();
      bool summed = false;
      if (core >= 0 && e.active()) {
        int64_t leading = 0;
        std::vector<int64_t> axes;
        if (unbroadcast_axes(out_shape[n], e.shape, core, axes, leading) && !axes.empty()) {
          label += "\\ngrad: sum axes " + axes_str(axes);
          if (leading) label += ", drop " + std::to_string(leading) + " leading";
          summed = true;
        }
      }
      std::string style = e.active() ? "" : ", style=dashed, color=gray60";
      if (options.gradients && e.active()) {
        const GradTrace::EdgeFlow& f = trace.flows[n][i];
        if (!f.summed.defined()) {
          label += "\\nno gradient";
        } else if (summed) {
          label += "\\n||g|| " + norm_text(f.raw) + " summed to " + norm_text(f.summed);
          style = ", color=red3, fontcolor=red3, penwidth=2";
        } else {
          label += "\\n||g|| " + norm_text(f.summed);
        }
      }
      dot << "  " << source << " -> n" << id << " [label=\"" << label << "\"" << style << "];\n";
    }
  }
  dot << "  n0 -> output [label=\"" << shape_str(output.shape()) << seed_norm << "\"];\n}\n";
  return dot.str();
}

}  // namespace ndgrad
