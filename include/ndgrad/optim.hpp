#pragma once
// Optimizers. step() updates parameters in place without recording a graph.
#include <vector>

#include "ndgrad/tensor.hpp"

namespace ndgrad::optim {

class Optimizer {
 public:
  // params: leaf tensors (floating, contiguous); a frozen one (requires_grad false) gets no
  // gradient, and step() skips it, as any parameter without one.
  explicit Optimizer(std::vector<Tensor> params);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();  // clears every parameter's gradient
  const std::vector<Tensor>& params() const { return params_; }

 protected:
  std::vector<Tensor> params_;
};

// p -= lr * v, v = momentum * v + (g + weight_decay * p)   (v = g on the first step)
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double weight_decay = 0);
  void step() override;
  double lr, momentum, weight_decay;

 private:
  std::vector<Tensor> velocity_;
};

// Adam with bias correction.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8);
  void step() override;
  double lr, beta1, beta2, eps;

 private:
  std::vector<Tensor> m_, v_;
  std::vector<int64_t> steps_;  // per parameter: one without a gradient does not advance
};

}  // namespace ndgrad::optim
