// Modules: parameter registration, traversal, save/load, and the standard layers.
#include <cmath>
#include <set>

#include "core/tensor_impl.hpp"
#include "ndgrad/autograd.hpp"
#include "ndgrad/io.hpp"
#include "ndgrad/nn.hpp"

namespace ndgrad::nn {

void Module::check_name(const std::string& what, const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos)
    throw ValueError(what + ": bad name '" + name + "' (empty or containing '.')");
  for (const auto* list : {&params_, &buffers_})
    for (const auto& [n, _] : *list)
      if (n == name) throw ValueError(what + ": '" + name + "' is registered already");
  for (const auto& [n, _] : children_)
    if (n == name) throw ValueError(what + ": '" + name + "' is registered already");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  if (!t.defined()) throw ValueError("register_parameter: '" + name + "' is undefined");
  check_name("register_parameter", name);
  if (!t.requires_grad()) t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  if (!t.defined()) throw ValueError("register_buffer: '" + name + "' is undefined");
  check_name("register_buffer", name);
  if (t.requires_grad()) t = t.detach();
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  if (!module) throw ValueError("register_module: '" + name + "' is null");
  check_name("register_module", name);
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
                     bool buffers) const {
  for (const auto& [name, t] : buffers ? buffers_ : params_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, buffers);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out, false);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out, true);
  return out;
}

std::vector<Tensor> Module::buffers() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_buffers()) out.push_back(t);
  return out;
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : named_parameters()) state[name] = t.detach();
  for (const auto& [name, t] : named_buffers()) state[name] = t.detach();
  return state;
}

namespace {

// Every entry of state checked against the module's (what names the caller, where the source;
// E the error type) before anything is written, then copied.
template <class E>
void check_entries(const Module& module, const std::map<std::string, Tensor>& state,
                   const std::string& what, const std::string& where) {
  std::vector<std::pair<std::string, Tensor>> own = module.named_parameters();
  for (auto& b : module.named_buffers()) own.push_back(b);
  std::set<std::string> expected;
  for (const auto& [name, t] : own) {
    expected.insert(name);
    auto it = state.find(name);
    if (it == state.end() || !it->second.defined())
      throw E(what + ": " + where + " has no entry '" + name + "'");
    if (it->second.shape() != t.shape())
      throw E(what + ": '" + name + "' in " + where + " has shape " +
              shape_str(it->second.shape()) + ", the module expects " + shape_str(t.shape()));
    if (it->second.dtype() != t.dtype())
      throw E(what + ": '" + name + "' in " + where + " is " + dtype_name(it->second.dtype()) +
              ", the module expects " + dtype_name(t.dtype()));
  }
  for (const auto& [name, _] : state)
    if (!expected.count(name))
      throw E(what + ": " + where + " has an entry '" + name + "' that the module does not");
}

template <class E>
void load_checked(const Module& module, const std::map<std::string, Tensor>& state,
                  const std::string& what, const std::string& where) {
  check_entries<E>(module, state, what, where);
  std::vector<std::pair<std::string, Tensor>> own = module.named_parameters();
  for (auto& b : module.named_buffers()) own.push_back(b);
  NoGradGuard no_grad;
  for (const auto& [name, t] : own) {
    Tensor dst = t;
    dst.copy_(state.at(name));
  }
}

}  // namespace

void Module::load_state_dict(const std::map<std::string, Tensor>& state) {
  load_checked<ValueError>(*this, state, "Module::load_state_dict", "the state");
}

void Module::check_state_dict(const std::map<std::string, Tensor>& state) const {
  check_entries<ValueError>(*this, state, "Module::load_state_dict", "the state");
}

std::vector<std::pair<std::string, Generator*>> Module::named_generators() {
  std::vector<std::pair<std::string, Generator*>> out = own_generators();
  for (const auto& [name, child] : children_)
    for (auto& [n, g] : child->named_generators()) out.emplace_back(name + "." + n, g);
  return out;
}

void Module::walk(const std::string& prefix,
                  const std::function<void(const Module&, const std::string&, const std::string&,
                                           const Tensor&)>& f) const {
  for (const auto* list : {&params_, &buffers_})
    for (const auto& [name, t] : *list) f(*this, name, prefix + name, t);
  for (const auto& [name, child] : children_) child->walk(prefix + name + ".", f);
}

std::map<std::string, Tensor> Module::torch_state_dict() const {
  std::map<std::string, Tensor> out;
  walk("",
       [&](const Module& owner, const std::string& name, const std::string& path, const Tensor& t) {
         out[path] = owner.torch_layout(name, t.detach(), true).contiguous();
       });
  return out;
}

void Module::load_torch_state_dict(const std::map<std::string, Tensor>& state) {
  std::map<std::string, Tensor> ours = state;  // entries the module lacks stay, to be named
  walk("",
       [&](const Module& owner, const std::string& name, const std::string& path, const Tensor&) {
         auto it = ours.find(path);
         if (it != ours.end() && it->second.defined())
           it->second = owner.torch_layout(name, it->second, false);
       });
  load_state_dict(ours);
}

void Module::save(const std::string& path) const { save_npz(path, state_dict()); }

void Module::load(const std::string& path) {
  load_checked<IOError>(*this, load_npz(path), "Module::load", "'" + path + "'");
}

Linear::Linear(int64_t in, int64_t out, uint64_t seed, DType dtype)
    : in_features(in), out_features(out) {
  if (in <= 0 || out <= 0)
    throw ValueError("Linear: in_features and out_features must be positive, got " +
                     std::to_string(in) + " and " + std::to_string(out));
  if (!is_floating(dtype)) throw DTypeError("Linear: parameters must be f32 or f64");
  const double w_bound = std::sqrt(6.0 / static_cast<double>(in));
  const double b_bound = 1.0 / std::sqrt(static_cast<double>(in));
  Tensor w = (rand({in, out}, seed, DType::f64) * (2 * w_bound) - w_bound).to(dtype);
  Tensor b = (rand({out}, seed ^ 0x5bd1e995u, DType::f64) * (2 * b_bound) - b_bound).to(dtype);
  weight = register_parameter("weight", w);
  bias = register_parameter("bias", b);
}

Tensor Linear::forward(const Tensor& x) {
  require_defined_arg(x, "Linear", "the input");
  if (x.ndim() < 1 || x.shape().back() != in_features)
    throw ShapeError("Linear: expected inputs with " + std::to_string(in_features) +
                     " features in the last axis, got shape " + shape_str(x.shape()));
  Tensor xw = matmul(x, weight);
  return xw + bias.broadcast_to(xw.shape());  // explicit: allowed under strict broadcasting
}

Tensor Linear::torch_layout(const std::string& name, const Tensor& t, bool) const {
  return name == "weight" && t.ndim() == 2 ? t.mT() : t;  // (a transpose both ways)
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

Sequential& Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : modules_) h = m->forward(h);
  return h;
}

}  // namespace ndgrad::nn
