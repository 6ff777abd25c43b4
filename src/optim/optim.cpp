// SGD and Adam: fused in-place updates on contiguous parameters, outside any graph. f16 and
// bf16 parameters update in f32 (their state kept in f32), each step's result rounded once.
#include "ndgrad/optim.hpp"

#include <cmath>
#include <string>

#include "core/tensor_impl.hpp"
#include "kernels/cpu/kernels.hpp"
#include "ndgrad/autograd.hpp"

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

// The dtype the updates compute in: f32 for f16 and bf16 parameters (and their state).
DType update_dtype(const Tensor& p) { return compute_dtype(p.dtype()); }

// The parameter's gradient as a contiguous buffer of the update dtype, or undefined if it has
// none.
Tensor grad_of(const Tensor& p) {
  Tensor g = p.grad();
  if (!g.defined()) return g;
  if (g.dtype() != update_dtype(p)) g = g.to(update_dtype(p));
  return g.contiguous();
}

// The parameter's values to update in place: p itself, or for f16 and bf16 an f32 copy that
// store_back rounds into p once the update is made.
Tensor working(const Tensor& p) {
  return p.dtype() == update_dtype(p) ? p : p.detach().to(update_dtype(p)).contiguous();
}
void store_back(Tensor& p, const Tensor& w) {
  if (w.impl() == p.impl()) return;
  NoGradGuard no_grad;
  p.copy_(w);  // (bumps p's version: rules that saved it see the change)
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    require(p.defined(), "optimizer: parameter " + std::to_string(i) + " is undefined");
    require(is_floating(p.dtype()),
            "optimizer: parameter " + std::to_string(i) + " is not floating");
    // A leaf: a frozen one (requires_grad false) gets no gradient and is skipped (PyTorch's);
    // a computed tensor is not a parameter.
    require(p.is_leaf(), "optimizer: parameter " + std::to_string(i) +
                             " is not a leaf (a computed tensor; pass the parameter itself)");
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
    const Tensor w = working(p);
    const bool first = momentum > 0 && !velocity_[i].defined();
    if (first) velocity_[i] = empty(p.shape(), update_dtype(p));
    kernels::sgd_update(w.dtype(), p.numel(), written(w), bytes(g),
                        momentum > 0 ? bytes(velocity_[i]) : nullptr, lr, momentum, weight_decay,
                        first);
    store_back(p, w);
  }
}

Adam::Adam(std::vector<Tensor> params, double lr_, double beta1_, double beta2_, double eps_)
    : Optimizer(std::move(params)), lr(lr_), beta1(beta1_), beta2(beta2_), eps(eps_) {
  require(lr > 0 && std::isfinite(lr), "Adam: lr must be positive, got " + std::to_string(lr));
  require(beta1 >= 0 && beta1 < 1, "Adam: beta1 must be in [0, 1), got " + std::to_string(beta1));
  require(beta2 >= 0 && beta2 < 1, "Adam: beta2 must be in [0, 1), got " + std::to_string(beta2));
  require(eps > 0, "Adam: eps must be positive, got " + std::to_string(eps));
  for (const auto& p : params_) {
    m_.push_back(zeros(p.shape(), update_dtype(p)));
    v_.push_back(zeros(p.shape(), update_dtype(p)));
  }
  steps_.assign(params_.size(), 0);
}

void Adam::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor g = grad_of(params_[i]);
    if (!g.defined()) continue;
    Tensor& p = params_[i];
    const Tensor w = working(p);
    kernels::adam_update(w.dtype(), p.numel(), written(w), bytes(g), bytes(m_[i]), bytes(v_[i]), lr,
                         beta1, beta2, eps, ++steps_[i]);
    store_back(p, w);
  }
}

}  // namespace ndgrad::optim
