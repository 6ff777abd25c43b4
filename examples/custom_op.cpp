// A differentiable op the library does not have, written by its user: softplus with a
// numerically stable forward (log(1 + e^x) = max(x, 0) + log(1 + e^-|x|)) and its derivative,
// sigmoid(x). It is checked by gradcheck to first and second order, used in a small model,
// and watched with a gradient hook.
#include <cstdio>

#include "ndgrad/ndgrad.hpp"

namespace nd = ndgrad;

int main() {
  const nd::CustomOp softplus{
      "softplus",
      [](const std::vector<nd::Tensor>& in) {
        const nd::Tensor& x = in[0];
        return nd::relu(x) + nd::log(1.0 + nd::exp(-nd::abs(x)));
      },
      [](const std::vector<nd::Tensor>& in, const nd::Tensor& /*output*/, const nd::Tensor& g) {
        return std::vector<nd::Tensor>{g * nd::sigmoid(in[0])};  // written with ndgrad ops
      }};

  // First order: backward against finite differences.
  const nd::Tensor x = nd::randn({4, 3}, 1, nd::DType::f64);
  const auto f = [&](const std::vector<nd::Tensor>& v) { return softplus({v[0]}) * v[0]; };
  const nd::GradcheckResult first = nd::gradcheck(f, {x});
  std::printf("softplus gradcheck, first order: %s\n", first.ok ? "passed" : "FAILED");

  // Second order: the derivative of the derivative, through create_graph.
  const nd::Tensor u = nd::randn({4, 3}, 2, nd::DType::f64);
  const auto df = [&](const std::vector<nd::Tensor>& v) {
    return nd::grad(softplus({v[0]}), {v[0]}, u, /*create_graph=*/true)[0].sum();
  };
  const nd::GradcheckResult second = nd::gradcheck(df, {x});
  std::printf("softplus gradcheck, second order: %s\n", second.ok ? "passed" : "FAILED");

  // In a model: y = softplus(x W + b), with a hook that reports the gradient reaching W.
  nd::Tensor W = nd::randn({3, 2}, 3, nd::DType::f64).requires_grad_();
  nd::Tensor b = nd::zeros({2}, nd::DType::f64).requires_grad_();
  W.register_hook([](const nd::Tensor& g) {
    std::printf("hook: W's gradient has shape %s, sum %.6f\n", nd::shape_str(g.shape()).c_str(),
                g.sum().item());
    return nd::Tensor();  // keep it
  });
  nd::Tensor y = softplus({nd::matmul(x, W) + b});
  y.mean().backward();
  std::printf("b.grad = %s\n", nd::shape_str(b.grad().shape()).c_str());
  return first.ok && second.ok ? 0 : 1;
}
