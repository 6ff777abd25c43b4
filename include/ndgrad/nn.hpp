#pragma once
// Neural-network building blocks: losses, modules, parameter registration, save/load.
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ndgrad/tensor.hpp"

namespace ndgrad::nn {

// Numerically stable (the max is subtracted before exp).
Tensor log_softmax(const Tensor& logits, int64_t axis = -1);
Tensor softmax(const Tensor& logits, int64_t axis = -1);
// logits (B, C) floating, labels (B) i64 (or i32, u8, i8) in [0, C): mean over the batch of
// -log softmax[label]. f16/bf16 logits are computed in f32 and the loss rounded back once.
// Backward is the fused (softmax - onehot) / B.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels_i64);
// mean((prediction - target)^2); the shapes must be equal (no silent broadcast).
Tensor mse_loss(const Tensor& prediction, const Tensor& target);

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Parameters of this module and its submodules, in registration order; names are dotted
  // paths ("0.weight", "encoder.1.bias").
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  void zero_grad();

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // An .npz file keyed by parameter name. save writes a temporary file and renames it over
  // path; load checks every name, shape and dtype before changing any parameter.
  void save(const std::string& path) const;
  void load(const std::string& path);

 protected:
  // Registers t (made to require grad) under name; returns the stored handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// y = x W + b with W of shape (in, out) and b of shape (out) broadcast over rows.
// W ~ U(-sqrt(6/in), sqrt(6/in)) (He/Kaiming uniform, for ReLU), b ~ U(-1/sqrt(in), 1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, uint64_t seed = 0, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  int64_t in_features, out_features;
  Tensor weight, bias;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

// Applies its modules in order; they are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  template <class... Ms,
            class = std::enable_if_t<(sizeof...(Ms) > 0) &&
                                     (std::is_base_of_v<Module, std::decay_t<Ms>> && ...)>>
  explicit Sequential(Ms&&... modules) {
    (push_back(std::make_shared<std::decay_t<Ms>>(std::forward<Ms>(modules))), ...);
  }
  Sequential& push_back(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return modules_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace ndgrad::nn
