// SGD and Adam: fused in-place updates on contiguous parameters, outside any graph.
#include "ndgrad/optim.hpp"

#include <cmath>
#include <string>

#include "core/tensor_impl.hpp"
#include "kernels/cpu/kernels.hpp"

namespace ndgrad::optim {

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw ValueError(message);
}

char* bytes(const Tensor& t) { return t.impl()->data(); }
// A parameter about to be updated in place: backward rules that saved it see the change.
char* written(const Tensor& p) {
  p.impl()->storage->bump_version();
  return bytes(p);
}

// The parameter's gradient as a contiguous buffer of its dtype, or undefined if it has none.
Tensor grad_of(const Tensor& p) {
  Tensor g = p.grad();
  if (!g.defined()) return g;
  if (g.dtype() != p.dtype()) g = g.to(p.dtype());
  return g.contiguous();
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    require(p.defined(), "optimizer: parameter " + std::to_string(i) + " is undefined");
    require(is_floating(p.dtype()),
            "optimizer: parameter " + std::to_string(i) + " is not floating");
    if (is_storage_only(p.dtype()))
      throw DTypeError("optimizer: parameter " + std::to_string(i) + " is " +
                       dtype_name(p.dtype()) +
                       ", a storage dtype the updates do not compute in; keep f32 parameters "
                       "and convert them with .to() in the forward pass");
    require(p.requires_grad() && p.is_leaf(),
            "optimizer: parameter " + std::to_string(i) + " is not a leaf that requires grad");
    require(p.is_contiguous(), "optimizer: parameter " + std::to_string(i) + " is not contiguous");
  }
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

SGD::SGD(std::vector<Tensor> params, double lr_, double momentum_, double weight_decay_)
    : Optimizer(std::move(params)), lr(lr_), momentum(momentum_), weight_decay(weight_decay_) {
  require(lr > 0 && std::isfinite(lr), "SGD: lr must be positive, got " + std::to_string(lr));
  require(momentum >= 0 && momentum < 1,
          "SGD: momentum must be in [0, 1), got " + std::to_string(momentum));
  require(weight_decay >= 0, "SGD: weight_decay must be >= 0, got " + std::to_string(weight_decay));
  velocity_.resize(params_.size());
}

void SGD::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor g = grad_of(params_[i]);
    if (!g.defined()) continue;
    Tensor& p = params_[i];
    const bool first = momentum > 0 && !velocity_[i].defined();
    if (first) velocity_[i] = empty(p.shape(), p.dtype());
    kernels::sgd_update(p.dtype(), p.numel(), written(p), bytes(g),
                        momentum > 0 ? bytes(velocity_[i]) : nullptr, lr, momentum, weight_decay,
                        first);
  }
}

Adam::Adam(std::vector<Tensor> params, double lr_, double beta1_, double beta2_, double eps_)
    : Optimizer(std::move(params)), lr(lr_), beta1(beta1_), beta2(beta2_), eps(eps_) {
  require(lr > 0 && std::isfinite(lr), "Adam: lr must be positive, got " + std::to_string(lr));
  require(beta1 >= 0 && beta1 < 1, "Adam: beta1 must be in [0, 1), got " + std::to_string(beta1));
  require(beta2 >= 0 && beta2 < 1, "Adam: beta2 must be in [0, 1), got " + std::to_string(beta2));
  require(eps > 0, "Adam: eps must be positive, got " + std::to_string(eps));
  for (const auto& p : params_) {
    m_.push_back(zeros(p.shape(), p.dtype()));
    v_.push_back(zeros(p.shape(), p.dtype()));
  }
  steps_.assign(params_.size(), 0);
}

void Adam::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor g = grad_of(params_[i]);
    if (!g.defined()) continue;
    Tensor& p = params_[i];
    kernels::adam_update(p.dtype(), p.numel(), written(p), bytes(g), bytes(m_[i]), bytes(v_[i]), lr,
                         beta1, beta2, eps, ++steps_[i]);
  }
}

}  // namespace ndgrad::optim
