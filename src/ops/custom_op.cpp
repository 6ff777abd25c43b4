// User-defined ops (CustomOp): a node with one edge per input whose rule is the user's backward.
#include <string>

#include "ops/ops_common.hpp"

namespace ndgrad {

namespace {

struct CustomNode : SavingNode {
  std::string op_name;
  std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&, const Tensor&)> rule;
  std::vector<Tensor> inputs;
  Tensor output;  // without its autograd link (saved_output links it under create_graph)

  const char* name() const override { return op_name.c_str(); }
  int broadcast_core_dims() const override { return 0; }
  void release_saved() override {
    inputs.clear();
    output = Tensor();
  }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& y = saved_output(output, linked);
    std::vector<Tensor> grads = rule(inputs, y, g);
    if (grads.size() != edges.size())
      throw AutogradError(op_name + " backward: returned " + std::to_string(grads.size()) +
                          " gradients for " + std::to_string(edges.size()) + " inputs");
    GradList list;
    list.reserve(grads.size());
    for (size_t i = 0; i < grads.size(); ++i)
      list.emplace_back(needs(i) ? std::move(grads[i]) : Tensor());
    return list;
  }
};

}  // namespace

Tensor CustomOp::operator()(const std::vector<Tensor>& args) const {
  const std::string label = name.empty() ? std::string("custom op") : name;
  if (!forward || !backward) throw ValueError(label + ": both forward and backward must be given");
  for (size_t i = 0; i < args.size(); ++i)
    require_defined_arg(args[i], label.c_str(), ("input " + std::to_string(i)).c_str());
  Tensor out;
  {
    NoGradGuard no_grad;  // the op is recorded once, as a whole
    out = forward(args);
  }
  if (!out.defined()) throw ValueError(label + ": forward returned an undefined tensor");
  out = out.detach();  // a tensor of its own, even when forward returned an input
  std::vector<const Tensor*> ptrs;
  bool records = false;
  for (const Tensor& t : args) {
    ptrs.push_back(&t);
    records = records || records_grad(t);
  }
  if (!records || !is_grad_enabled()) return out;
  auto node = make_ref<CustomNode>();
  node->op_name = label;
  node->rule = backward;
  for (size_t i = 0; i < args.size(); ++i)
    node->inputs.push_back(
        node->save(args[i], "an input"));  // the user's rule may read any of them
  node->output = node->save(out.detach(), "the output");
  attach_node(out, std::move(node), ptrs.data(), ptrs.size());
  return out;
}

}  // namespace ndgrad
