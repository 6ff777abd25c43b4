// Optimizers: parameter groups, lazily made per-parameter state, and fused in-place updates on
// contiguous parameters, outside any graph. f16 and bf16 parameters update in f32 (their state
// kept in f32), each step's result rounded once.
#include "ndgrad/optim.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "core/tensor_impl.hpp"
#include "kernels/cpu/kernels.hpp"
#include "ndgrad/autograd.hpp"
#include "optim/state.hpp"

namespace ndgrad::optim {

namespace {

char* bytes(const Tensor& t) { return t.impl()->data(); }

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

// --- Optimizer -----------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<ParamGroup> groups, const char* name, double lr,
                     double weight_decay, double momentum)
    : name_(name), groups_(std::move(groups)) {
  const std::string who = name;
  require(!groups_.empty(), who + ": no parameter groups");
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& g = groups_[gi];
    if (!g.lr) g.lr = lr;
    if (!g.weight_decay) g.weight_decay = weight_decay;
    if (!g.momentum) g.momentum = momentum;
    check_group_options(g, gi);
    for (const Tensor& p : g.params) {
      const std::string which = who + ": parameter " + std::to_string(params_.size());
      require(p.defined(), which + " is undefined");
      require(is_floating(p.dtype()), which + " is not floating");
      // A leaf: a frozen one (requires_grad false) gets no gradient and is skipped (PyTorch's);
      // a computed tensor is not a parameter.
      require(p.is_leaf(), which + " is not a leaf (a computed tensor; pass the parameter itself)");
      require(p.is_contiguous(), which + " is not contiguous");
      for (const Tensor& q : params_)
        require(q.impl() != p.impl(), which + " appears twice (in one group or two)");
      params_.push_back(p);
      group_of_.push_back(gi);
    }
  }
  state_.resize(params_.size());
}

void Optimizer::check_group_options(const ParamGroup& g, size_t index) const {
  const std::string where = std::string(name_) + ": group " + std::to_string(index) + "'s ";
  require(*g.lr >= 0 && std::isfinite(*g.lr), where + "lr must be >= 0, got " + num(*g.lr));
  require(*g.weight_decay >= 0 && std::isfinite(*g.weight_decay),
          where + "weight_decay must be >= 0, got " + num(*g.weight_decay));
  require(*g.momentum >= 0 && *g.momentum < 1,
          where + (has_momentum() ? "momentum" : "momentum (unused)") + " must be in [0, 1), got " +
              num(*g.momentum));
}

void Optimizer::set_lr(double lr) {
  require(lr >= 0 && std::isfinite(lr), std::string(name_) + ": lr must be >= 0, got " + num(lr));
  for (auto& g : groups_) g.lr = lr;
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

char* Optimizer::Update::state(const std::string& name, double fill) {
  auto it = buffers.find(name);
  if (it == buffers.end())
    it = buffers.emplace(name, full(w.shape(), fill, w.dtype()).contiguous()).first;
  return bytes(it->second);
}
char* Optimizer::Update::param() const { return bytes(w); }
const char* Optimizer::Update::grad() const { return bytes(g); }

void Optimizer::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor g = grad_of(params_[i]);
    if (!g.defined()) continue;
    Tensor& p = params_[i];
    const Tensor w = working(p);
    // Updated in place: backward rules that saved it see the change.
    w.impl()->storage->bump_version();
    ParamState& s = state_[i];
    Update u{w, g, groups_[group_of_[i]], s.step + 1, s.buffers};
    update(u);
    ++s.step;
    store_back(p, w);
  }
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  size_t k = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& g = groups_[gi];
    const std::string prefix = "param_groups." + std::to_string(gi) + ".";
    out[prefix + "lr"] = f64_scalar(*g.lr);
    out[prefix + "weight_decay"] = f64_scalar(*g.weight_decay);
    out[prefix + "momentum"] = f64_scalar(*g.momentum);
    std::vector<double> idx;
    for (size_t j = 0; j < g.params.size(); ++j) idx.push_back(double(k++));
    out[prefix + "params"] = tensor(idx, {int64_t(idx.size())}, DType::i64);
  }
  for (const auto& [name, value] : option_values()) out["options." + name] = f64_scalar(value);
  for (size_t i = 0; i < state_.size(); ++i) {
    if (state_[i].step == 0) continue;
    const std::string prefix = "state." + std::to_string(i) + ".";
    out[prefix + "step"] = i64_scalar(state_[i].step);
    for (const auto& [name, t] : state_[i].buffers) out[prefix + name] = t.clone();
  }
  return out;
}

void Optimizer::check_state_dict(const std::map<std::string, Tensor>& state) const {
  const std::string who = std::string(name_) + "::load_state_dict";
  StateReader r(state, who);
  size_t k = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const std::string prefix = "param_groups." + std::to_string(gi) + ".";
    ParamGroup g(groups_[gi].params);
    g.lr = r.f64(prefix + "lr");
    g.weight_decay = r.f64(prefix + "weight_decay");
    g.momentum = r.f64(prefix + "momentum");
    try {
      check_group_options(g, gi);
    } catch (const ValueError& e) {
      throw ValueError(who + ": " + e.what());
    }
    // (held: a strided entry's contiguous copy must outlive v)
    const Tensor idx =
        r.get(prefix + "params", DType::i64, Shape{int64_t(g.params.size())}).contiguous();
    const int64_t* v = idx.data_ptr<int64_t>();
    for (size_t j = 0; j < g.params.size(); ++j, ++k)
      if (v[j] != int64_t(k))
        throw ValueError(who + ": '" + prefix + "params' names other parameters than group " +
                         std::to_string(gi) + "'s (" + std::to_string(g.params.size()) +
                         " parameters from " + std::to_string(k - j) + ")");
  }
  require(!r.has("param_groups." + std::to_string(groups_.size()) + ".lr"),
          who + ": the state has more parameter groups than the optimizer's " +
              std::to_string(groups_.size()));
  const std::vector<std::string> names = state_names();
  const std::vector<std::pair<std::string, double>> options = option_values();
  for (const auto& [key, t] : state) {
    if (key.rfind("param_groups.", 0) == 0) {
      r.expect_used(key);
      continue;
    }
    if (key.rfind("options.", 0) == 0) {
      const std::string name = key.substr(8);
      auto it = std::find_if(options.begin(), options.end(),
                             [&](const auto& o) { return o.first == name; });
      require(it != options.end(), who + ": unexpected entry '" + key + "' (" + name_ +
                                       " has no option '" + name + "')");
      const double saved = r.f64(key);
      if (!(saved == it->second))
        throw ValueError(who + ": '" + key + "' is " + num(saved) + ", this " + name_ + "'s is " +
                         num(it->second) + " (make the optimizer with the saved options)");
      continue;
    }
    require(key.rfind("state.", 0) == 0, who + ": unexpected entry '" + key + "'");
    const size_t dot = key.find('.', 6);
    const std::string index = key.substr(6, dot == std::string::npos ? dot : dot - 6);
    // Decimal as state_dict writes it: "01" would name parameter 1 beside "1".
    require(dot != std::string::npos && !index.empty() &&
                index.find_first_not_of("0123456789") == std::string::npos && index.size() < 10 &&
                (index.size() == 1 || index[0] != '0'),
            who + ": unexpected entry '" + key + "'");
    const size_t i = std::stoul(index);
    require(i < params_.size(), who + ": '" + key + "' is for parameter " + index +
                                    ", the optimizer has " + std::to_string(params_.size()));
    const std::string name = key.substr(dot + 1);
    const Tensor& p = params_[i];
    if (name == "step") {
      const Tensor s = r.get(key, DType::i64, Shape{});
      const int64_t steps = s.contiguous().data_ptr<int64_t>()[0];
      // (the next update's number, steps + 1, must be an int64)
      require(steps > 0 && steps < std::numeric_limits<int64_t>::max(),
              who + ": '" + key + "' must be positive and below 2^63 - 1");
      for (const std::string& needed : required_state_names())
        require(r.has("state." + index + "." + needed), who + ": '" + key + "' without 'state." +
                                                            index + "." + needed + "' (" + name_ +
                                                            "'s update reads it)");
    } else {
      require(std::find(names.begin(), names.end(), name) != names.end(),
              who + ": unexpected entry '" + key + "' (" + name_ + " keeps no '" + name + "')");
      r.get(key, update_dtype(p), p.shape());
      require(r.has("state." + index + ".step"),
              who + ": '" + key + "' without 'state." + index + ".step'");
    }
  }
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  check_state_dict(state);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const std::string prefix = "param_groups." + std::to_string(gi) + ".";
    groups_[gi].lr = state.at(prefix + "lr").item();
    groups_[gi].weight_decay = state.at(prefix + "weight_decay").item();
    groups_[gi].momentum = state.at(prefix + "momentum").item();
  }
  std::vector<ParamState> fresh(params_.size());
  for (const auto& [key, t] : state) {
    if (key.rfind("state.", 0) != 0) continue;
    const size_t dot = key.find('.', 6);
    const size_t i = std::stoul(key.substr(6, dot - 6));
    const std::string name = key.substr(dot + 1);
    if (name == "step")
      fresh[i].step = t.contiguous().data_ptr<int64_t>()[0];
    else
      fresh[i].buffers[name] = t.clone();
  }
  state_ = std::move(fresh);
}

// --- SGD -----------------------------------------------------------------------------------

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions o)
    : Optimizer(std::move(groups), "SGD", o.lr(), o.weight_decay(), o.momentum()), options(o) {
  require(o.dampening() >= 0 && o.dampening() <= 1,
          "SGD: dampening must be in [0, 1], got " + num(o.dampening()));
  if (o.nesterov())
    for (const auto& g : param_groups())
      require(*g.momentum > 0 && o.dampening() == 0,
              "SGD: nesterov needs momentum > 0 and dampening 0 in every group");
}
SGD::SGD(std::vector<Tensor> params, SGDOptions o) : SGD(std::vector<ParamGroup>{params}, o) {}
SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay)
    : SGD(std::vector<ParamGroup>{params},
          SGDOptions(lr).momentum(momentum).weight_decay(weight_decay)) {}

void SGD::update(Update& u) {
  const double mu = *u.group.momentum;
  const bool first = mu > 0 && !u.has("momentum_buffer");
  kernels::sgd_update(u.w.dtype(), u.numel(), u.param(), u.grad(),
                      mu > 0 ? u.state("momentum_buffer") : nullptr, *u.group.lr, mu,
                      options.dampening(), *u.group.weight_decay, options.nesterov(), first);
}

// --- Adam, AdamW ---------------------------------------------------------------------------

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o, const char* name, bool decoupled)
    : Optimizer(std::move(groups), name, o.lr(), o.weight_decay(), o.beta1()),
      options(o),
      decoupled_(decoupled) {
  const std::string who = name;
  require(o.beta2() >= 0 && o.beta2() < 1,
          who + ": beta2 must be in [0, 1), got " + num(o.beta2()));
  require(o.eps() > 0, who + ": eps must be positive, got " + num(o.eps()));
}
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o)
    : Adam(std::move(groups), o, "Adam", false) {}
Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Adam(std::vector<ParamGroup>{params}, o) {}
Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps)
    : Adam(std::vector<ParamGroup>{params}, AdamOptions(lr).beta1(beta1).beta2(beta2).eps(eps)) {}

void Adam::update(Update& u) {
  char* m = u.state("exp_avg");
  char* v = u.state("exp_avg_sq");
  char* vmax = options.amsgrad() ? u.state("max_exp_avg_sq") : nullptr;
  kernels::adam_update(u.w.dtype(), u.numel(), u.param(), u.grad(), m, v, vmax, *u.group.lr,
                       *u.group.momentum, options.beta2(), options.eps(), *u.group.weight_decay,
                       decoupled_, u.step);
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions o)
    : Adam(std::move(groups), o, "AdamW", true) {}
AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : AdamW(std::vector<ParamGroup>{params}, o) {}

// --- RMSprop, Adagrad ----------------------------------------------------------------------

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions o)
    : Optimizer(std::move(groups), "RMSprop", o.lr(), o.weight_decay(), o.momentum()), options(o) {
  require(o.alpha() >= 0 && o.alpha() <= 1,
          "RMSprop: alpha must be in [0, 1], got " + num(o.alpha()));
  require(o.eps() > 0, "RMSprop: eps must be positive, got " + num(o.eps()));
}
RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions o)
    : RMSprop(std::vector<ParamGroup>{params}, o) {}

void RMSprop::update(Update& u) {
  const double mu = *u.group.momentum;
  char* s = u.state("square_avg");
  char* a = options.centered() ? u.state("grad_avg") : nullptr;
  char* b = mu > 0 ? u.state("momentum_buffer") : nullptr;
  kernels::rmsprop_update(u.w.dtype(), u.numel(), u.param(), u.grad(), s, a, b, *u.group.lr,
                          options.alpha(), options.eps(), *u.group.weight_decay, mu);
}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions o)
    : Optimizer(std::move(groups), "Adagrad", o.lr(), o.weight_decay(), 0), options(o) {
  require(o.lr_decay() >= 0, "Adagrad: lr_decay must be >= 0, got " + num(o.lr_decay()));
  require(
      o.initial_accumulator_value() >= 0,
      "Adagrad: initial_accumulator_value must be >= 0, got " + num(o.initial_accumulator_value()));
  require(o.eps() > 0, "Adagrad: eps must be positive, got " + num(o.eps()));
}
Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions o)
    : Adagrad(std::vector<ParamGroup>{params}, o) {}

void Adagrad::update(Update& u) {
  const double clr = *u.group.lr / (1 + double(u.step - 1) * options.lr_decay());
  char* s = u.state("sum", options.initial_accumulator_value());
  kernels::adagrad_update(u.w.dtype(), u.numel(), u.param(), u.grad(), s, clr, options.eps(),
                          *u.group.weight_decay);
}

}  // namespace ndgrad::optim
