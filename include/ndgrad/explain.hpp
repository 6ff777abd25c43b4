#pragma once
// Making broadcasting visible: a step-by-step explanation of NumPy's rules and of the
// reductions backward applies, strict broadcasting scopes, and the backward graph as DOT.
#include <string>
#include <vector>

#include "ndgrad/tensor.hpp"

namespace ndgrad {

struct BroadcastExplanation {
  Shape a, b;                // the operands' shapes
  Shape a_padded, b_padded;  // after padding the shorter one with leading ones
  struct Dim {               // one comparison, from the rightmost axis leftwards
    int64_t axis;            // in the padded shapes, counted from the left
    int64_t a, b, result;
    bool ok;
  };
  std::vector<Dim> dims;  // rightmost first
  bool compatible = false;
  Shape result;               // valid when compatible
  int64_t failing_axis = -1;  // the first (rightmost) axis that fails, else -1
  // Backward: the gradient arrives with the result's shape; for each operand these axes (of the
  // result) are summed, and the first `squeezed` of them are then removed (the padding).
  struct Reduction {
    std::vector<int64_t> summed_axes;
    int64_t squeezed = 0;
  };
  Reduction grad_a, grad_b;
  std::string text;  // the walk-through, as the founding chapter tells it
};

BroadcastExplanation explain_broadcast(const Shape& a, const Shape& b);

// Strict broadcasting, per thread, opt-in per scope. A violation is a ShapeError naming the op,
// both shapes, and the call site. 0-d operands (tensor * 2.0) and explicit broadcast_to are
// always allowed, and so is the broadcasting the library does inside backward and composites.
// matmul's batch dims are checked too; a plain matrix (no batch dims) against a batch is
// allowed, as a 0-d operand is against any shape.
enum class StrictBroadcast {
  off,
  no_rank_promotion,  // (3,4) + (4,) is refused: operands must have equal ranks
  no_implicit,        // every operand must already have the result's shape
};

class StrictBroadcastGuard {
 public:
  explicit StrictBroadcastGuard(StrictBroadcast level = StrictBroadcast::no_implicit);
  ~StrictBroadcastGuard();
  StrictBroadcastGuard(const StrictBroadcastGuard&) = delete;
  StrictBroadcastGuard& operator=(const StrictBroadcastGuard&) = delete;

 private:
  StrictBroadcast previous_;
};

StrictBroadcast strict_broadcast_level();

// Graphviz DOT of the graph recorded behind output: a node per op, each edge labelled with the
// shape that flows along it and, where the engine sums a gradient down to a smaller shape,
// the axes it sums.
std::string to_dot(const Tensor& output);

}  // namespace ndgrad
