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

}  // namespace ndgrad
