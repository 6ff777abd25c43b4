#pragma once
// Gradient mode, the functional autograd forms, and gradient checking.
#include <functional>
#include <string>
#include <vector>

#include "ndgrad/tensor.hpp"

namespace ndgrad {

// RAII: while alive, no graph is recorded on this thread.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// RAII: while alive, grad mode on this thread is `enabled`; the previous mode comes back after.
// AutoGradMode(true) inside a backward rule or hook records a graph there (rules run without
// one unless create_graph), e.g. to recompute a forward and differentiate it (checkpointing).
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled);
  ~AutoGradMode();
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool previous_;
};

// Whether ops on this thread record a graph now.
bool is_grad_enabled();

// Runs callback once the backward pass running on this thread (the innermost, when a rule or
// hook runs one of its own) has delivered every gradient and run every hook; callbacks run in
// the order queued, and one may queue another. Not run when the pass fails. For a hook that
// starts work the pass's end must wait for (data-parallel gradient reduction). AutogradError
// outside a backward pass.
void queue_callback(std::function<void()> callback);

// A differentiable op defined by the user (as libtorch's autograd::Function or JAX's custom_vjp):
// its result takes part in backward, grad(), create_graph, explain/to_dot and gradcheck like a
// built-in op's.
//   forward(inputs) computes the output; it runs without recording a graph.
//   backward(inputs, output, grad) returns one gradient per input (an undefined Tensor: none),
//   each in the input's shape or in a shape that broadcasts to it (the engine sums it down).
//   Written with ndgrad ops it is differentiable itself: create_graph records it, so second
//   derivatives work. Inputs it reads and the output are checked for in-place writes as for
//   built-in ops.
// Any number of inputs; those that are not floating or do not require grad get no gradient.
struct CustomOp {
  std::string name;
  std::function<Tensor(const std::vector<Tensor>& inputs)> forward;
  std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, const Tensor& output,
                                    const Tensor& grad)>
      backward;
  // Runs forward and records the op. ValueError for an undefined input or a missing callable;
  // AutogradError (naming the op) when backward returns the wrong number of gradients or one
  // whose shape cannot be summed to its input's.
  Tensor operator()(const std::vector<Tensor>& inputs) const;
};

// Names of every op with a backward rule, sorted (each op's graph node has one of them).
std::vector<std::string> differentiable_ops();

// Gradients of output with respect to inputs, without touching any .grad().
// grad_output defaults to 1 for a one-element output. An input the output does not depend on
// gets zeros. The graph is kept when create_graph is true.
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output = Tensor(), bool create_graph = false);

// The "full form" derivative of f at x: shape f(x).shape() ++ x.shape(). MemoryError, before
// allocating, when that would have more than 2^26 entries.
Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x);

// An element passes when |backward - fd| <= atol + rtol * |fd|, fd being its central finite
// difference. A NaN or inf anywhere (in f(inputs), at a probe x +- eps, or in backward) fails
// the check and makes both errors NaN: never 0 for a failing check.
struct GradcheckResult {
  bool ok;
  double max_abs_error;  // the largest |backward - fd| over all checked elements
  // The largest |backward - fd| / |fd| among the elements whose absolute error exceeds atol (0
  // when none does; a zero fd counts as 1e-300): how far off the elements that matter are.
  double max_rel_error;
  // One line per input, then up to 8 lines per input for elements with a NaN or inf (with the
  // reason: "f is nan when this element moves by -eps", "backward gives nan") and up to 8 for
  // plain mismatches; output elements where f(inputs) is NaN or inf come first (they are left
  // out of the other comparisons).
  std::string report;
};

// Compares backward() with central finite differences in float64, for every element of every
// floating input, under a random upstream gradient. f is called twice per element, so at most
// 65,536 floating input elements in all and outputs of at most 2^24 elements are checked;
// more is a ValueError, raised before f is called.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, double eps = 1e-6, double atol = 1e-5,
                          double rtol = 1e-3);

// ---- gradcheck over broadcast-compatible variants of the input shapes ----

// A set of input shapes derived from the given ones, and how (for reports): "as given",
// "distinct sizes" (each non-1 size replaced by a size of its own per axis position counted
// from the right: 4, 3, 2, 5, ...), "equal sizes" (every non-1 size 3: the (3,3,3) trap),
// "input 1 axis 0 -> 1" (a size-1 axis), "input 0 axes 1 -> 1, input 1 axis 0 -> 1" (size-1
// axes crossed between two inputs, as (3,1) with (1,4)), "input 1 drops 2 leading axes".
struct ShapeVariant {
  std::vector<Shape> shapes;
  std::string kind;
};

// Shape variants of `shapes` (one per input), deduplicated, at most max_variants: first the
// given shapes and their distinct-size and equal-size forms, then, derived from each of those,
// size-1 axes, crossed size-1 axes and dropped leading axes, taken in turn from each kind so
// that a small cap still has all of them. When the given shapes broadcast together, only the
// variants that still do are kept; otherwise (matmul-like operands) every variant is, and f
// decides. ValueError for a negative size or max_variants 0.
std::vector<ShapeVariant> broadcast_variants(const std::vector<Shape>& shapes,
                                             size_t max_variants = 1024);

// Every tuple of `arity` shapes drawn from candidates (repeats allowed) that broadcasts
// together, in lexicographic order of the candidates' positions.
std::vector<std::vector<Shape>> broadcasting_combinations(const std::vector<Shape>& candidates,
                                                          size_t arity);

// The axes and keepdims a variant hands to an f that takes axes.
struct AxesChoice {
  std::vector<int64_t> axes;
  bool keepdims = false;
};

struct GradcheckBroadcastingOptions {
  double eps = 1e-6, atol = 1e-5, rtol = 1e-3;  // as gradcheck's
  // Checks in all (shape variants times axes choices), in the order broadcast_variants gives;
  // the rest are counted as left out.
  size_t max_variants = 64;
  uint64_t seed = 0;  // for the random inputs
  // Makes input i of a variant (float64). Default: normal values at least 0.2 away from 0.
  std::function<Tensor(const Shape& shape, size_t input, uint64_t seed)> make_input;
};

struct BroadcastVariantResult {
  enum class Status { passed, failed, skipped };
  std::vector<Shape> shapes;
  std::string kind;  // as ShapeVariant's
  bool has_axes = false;
  AxesChoice axes;  // when has_axes
  Status status = Status::passed;
  double max_abs_error = 0;  // over every input (NaN where non-finite; 0 when skipped)
  double max_rel_error = 0;
  std::vector<size_t> failing_inputs;  // the inputs whose gradient is wrong
  // failed: gradcheck's report for each failing input, or the error backward raised;
  // skipped: the error f's forward raised.
  std::string message;
};

struct GradcheckBroadcastingResult {
  bool ok;  // no variant failed
  std::vector<BroadcastVariantResult> variants;
  size_t passed = 0, failed = 0, skipped = 0, left_out = 0;  // left out: past max_variants
  // A summary line, then each failing variant (shapes, kind, axes, the inputs that fail and
  // their error, gradcheck's report indented), then each skipped one with f's error.
  std::string report;
};

// gradcheck (central differences, float64, random inputs and a random upstream gradient) of f
// over broadcast_variants(shapes), each input on its own so that a failure names its input. A
// variant whose forward raises an ndgrad::Error (ShapeError, AxisError, ...) is skipped, listed
// with it; one in backward (AutogradError for a gradient of the wrong shape, ...) fails it. The
// shapes as given must be accepted: f's error there propagates, naming gradcheck_broadcasting.
GradcheckBroadcastingResult gradcheck_broadcasting(
    const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Shape>& shapes,
    const GradcheckBroadcastingOptions& options = {});

// The form for an f that takes axes (a reduction, softmax, ...): each set in `axes` names axes
// of the given shapes' broadcast result (rank R); a variant of rank R' gets the same axes
// counted from the end, and each set is handed to f spelled four ways: non-negative in the
// given order with keepdims false, negative in reverse order with keepdims true, negative with
// false, non-negative with true. A set naming an axis a variant lacks is left out for it.
// AxisError for an axis outside [-R, R).
GradcheckBroadcastingResult gradcheck_broadcasting(
    const std::function<Tensor(const std::vector<Tensor>&, const AxesChoice&)>& f,
    const std::vector<Shape>& shapes, const std::vector<std::vector<int64_t>>& axes,
    const GradcheckBroadcastingOptions& options = {});

}  // namespace ndgrad
