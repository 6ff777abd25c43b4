#pragma once
// Making broadcasting visible: a step-by-step explanation of NumPy's rules and of the
// reductions backward applies, strict broadcasting scopes, and the backward graph as DOT.
#include <cstdint>
#include <memory>
#include <optional>
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
  warn,  // as no_implicit, but a warning on stderr (once per call site and op) and the op runs
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

// Broadcast audit: while a BroadcastAudit is alive, every implicit broadcast on any thread is
// recorded instead of refused (the same broadcasts no_implicit refuses: 0-d operands, a plain
// matrix against matmul's batch, broadcast_to and the library's own broadcasting inside backward
// and composites are not recorded). Records are grouped by call site (the innermost frame
// outside the library and the standard library), op and shapes. A backward pass run while an
// audit is alive also records, per leaf, over how many values each gradient element was summed.
// NDGRAD_BROADCAST_AUDIT=1 audits the whole process and prints the report to stderr at exit;
// NDGRAD_BROADCAST_AUDIT=PATH writes it to that file.
struct BroadcastRecord {
  std::string op;
  std::vector<Shape> operands;                  // 2 (3 for where; matmul: the batch dims)
  Shape result;                                 // the broadcast shape (matmul: the batch dims)
  std::vector<std::vector<int64_t>> stretched;  // per operand: the result's axes it was
                                                // stretched along (extent 1 or absent -> n > 1)
  std::string call_site;  // file:line (in function), or function+offset without -g
  int64_t count = 0;      // how many times this site broadcast these shapes
  // An outer-product broadcast (is_outer_product_broadcast), as (n,1) with (n,) -> (n,n).
  bool suspicious = false;
};

// The broadcast that is most often a mistake: two operands with the same number of elements,
// both stretched, into a result at least twice as large as the largest operand ((n,1) with
// (n,) -> (n,n), meant elementwise). A column plus a row of other lengths is not flagged.
bool is_outer_product_broadcast(const std::vector<Shape>& operands, const Shape& result);

// A leaf is told apart by its address and shape; the audit holds no tensor, so a leaf freed and
// made again with the same shape at the same address (a fresh input each step) counts as one.
struct LeafSummation {
  const void* leaf = nullptr;  // the leaf's implementation's address, for matching
  Shape shape;
  struct Contribution {
    std::string op;      // the op whose gradient reached the leaf
    Shape gradient;      // the gradient's shape before it was summed to the leaf's
    int64_t factor = 1;  // values summed into each element: numel(gradient) / numel(shape)
    int64_t count = 1;   // how many times backward delivered this (op, gradient, factor)
  };
  std::vector<Contribution> contributions;  // distinct ones, in the order first delivered
  int64_t max_factor() const;
  bool of(const Tensor& t) const;  // whether this is t's (its address and shape)
};

class BroadcastAudit {
 public:
  BroadcastAudit();
  ~BroadcastAudit();
  BroadcastAudit(const BroadcastAudit&) = delete;
  BroadcastAudit& operator=(const BroadcastAudit&) = delete;

  std::vector<BroadcastRecord> records() const;              // in the order first seen
  std::vector<LeafSummation> leaves() const;                 // in the order first reached
  std::optional<LeafSummation> leaf(const Tensor& t) const;  // t's, if backward reached it
  std::string report() const;  // records grouped per call site, then leaves
  void clear();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Front ends name their own language's call site (the Python module: the Python file:line).
// The hook returns "" where it has none; nullptr removes it.
using CallSiteHook = std::string (*)();
void set_call_site_hook(CallSiteHook hook);

// Graphviz DOT of the graph recorded behind output: a node per op, each edge labelled with the
// shape that flows along it and, where the engine sums a gradient down to a smaller shape,
// the axes it sums.
std::string to_dot(const Tensor& output);

// to_dot with gradients: it runs a backward pass of its own over the graph (which must still be
// there: before backward, or after backward with retain_graph), seeded with upstream (ones of
// output's shape when undefined), and labels each edge with ||g||, the Frobenius norm of the
// gradient that edge hands to its input (after any broadcast sum). Edges where broadcasting was
// undone are drawn bold red, with the norm before and after the sum. No .grad changes, no hook
// runs.
struct DotOptions {
  bool gradients = false;
  Tensor upstream;
};
std::string to_dot(const Tensor& output, const DotOptions& options);

// The backward rule of a recorded op, in NumPy notation, for its input `input` ("" for an op
// with none, as a user's CustomOp). The op table's rows give their derivative column itself;
// every other op has a line in src/autograd/backward_rules.cpp (a test checks each has one).
std::string backward_rule(const std::string& op, size_t input = 0);

// The chain rule for one leaf, edge by edge: every edge on every path from loss to leaf, in
// the order backward runs them. Like to_dot with gradients, it runs a pass of its own over the
// recorded graph (which must still be there), seeded with upstream (ones when undefined); no
// .grad changes and no hook runs.
struct GradEdge {
  int step = 0;          // 1-based, in the order backward runs them
  std::string op;        // the op whose rule runs
  size_t input = 0;      // which of the op's inputs the gradient goes to
  std::string rule;      // backward_rule(op, input)
  Shape upstream_shape;  // g: the gradient of the op's output
  Shape rule_shape;      // the shape the rule gives (the broadcast shape, for broadcasting ops)
  Shape shape;           // the input's shape
  std::vector<int64_t> summed_axes;  // axes of rule_shape summed to undo broadcasting
  int64_t values_summed = 1;         // values summed into each element there
  // Indexing ops (index, take, masked_select, diagonal): how many elements of the input get
  // no element of g, exactly one, several (accumulated); -1 for other ops.
  int64_t scatter_zero = -1, scatter_one = -1, scatter_many = -1;
  int to_step = 0;  // the step that runs the input's op next, 0 when the input is the leaf
  int joins = 1;    // how many edges on the paths carry a gradient into the same input
  Tensor upstream;  // the values: g, and what this edge adds to the input's gradient
  Tensor grad;
};
struct GradExplanation {
  Shape loss_shape, leaf_shape;
  std::vector<GradEdge> edges;
  double paths = 0;  // distinct paths from loss to leaf
  Tensor grad;       // the leaf's total gradient: what backward(upstream) adds to leaf.grad()
  std::string text;
};
GradExplanation explain_grad(const Tensor& loss, const Tensor& leaf,
                             const Tensor& upstream = Tensor());

}  // namespace ndgrad
