#pragma once
// A backward pass that keeps what flows along every edge, for explain_grad and to_dot with
// gradients: the textbook loop (topological order, each node's rule, the sum down to each
// input's shape) over a recorded graph it leaves as it found it.
#include <map>
#include <vector>

#include "graph/node.hpp"

namespace ndgrad {

struct GradTrace {
  struct EdgeFlow {
    Tensor raw;     // the rule's result for this input (the broadcast shape, for broadcasting ops)
    Tensor summed;  // summed down to the input's shape: what the input receives along this edge
  };
  std::vector<const Node*> order;                      // the order the rules run in
  std::map<const Node*, Tensor> upstream;              // each node's total output gradient
  std::map<const Node*, std::vector<EdgeFlow>> flows;  // per node, per edge
  std::map<const TensorImpl*, Tensor> leaf_grads;      // each leaf's total
};

// Runs the pass from output's node, seeded with upstream (output's shape; ones when undefined),
// without grad mode and without touching .grad or running hooks. AutogradError naming `what`
// when the graph was freed by a backward pass without retain_graph, or a saved tensor was
// written in place since.
GradTrace trace_backward(const Tensor& output, const Tensor& upstream, const char* what);

}  // namespace ndgrad
