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

// Whether ops on this thread record a graph now.
bool is_grad_enabled();

// Names of every op with a backward rule, sorted (each op's graph node has one of them).
std::vector<std::string> differentiable_ops();

// Gradients of output with respect to inputs, without touching any .grad().
// grad_output defaults to 1 for a one-element output. An input the output does not depend on
// gets zeros. The graph is kept when create_graph is true.
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output = Tensor(), bool create_graph = false);

// The "full form" derivative of f at x: shape f(x).shape() ++ x.shape().
Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x);

struct GradcheckResult {
  bool ok;
  double max_abs_error;
  double max_rel_error;
  std::string report;
};

// Compares backward() with central finite differences in float64, for every element of every
// floating input, under a random upstream gradient.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, double eps = 1e-6, double atol = 1e-5,
                          double rtol = 1e-3);

}  // namespace ndgrad
