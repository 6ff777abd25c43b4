// What ndgrad.nn, ndgrad.optim and ndgrad.data use from the library: the fused losses, Linear's
// initialization, the MNIST-format reader, and the optimizers (which update the tensors Python
// holds, in place).
#include "bindings.hpp"

namespace ndgrad::python {

namespace {

std::vector<Tensor> parameter_list(py::handle params, const char* op) {
  std::vector<Tensor> out;
  for (py::handle h : py::iter(params)) {
    if (!py::isinstance<Tensor>(h))
      throw py::type_error(std::string(op) + ": parameters must be tensors, got a " +
                           py::cast<std::string>(py::str(py::type::handle_of(h).attr("__name__"))));
    out.push_back(py::cast<Tensor>(h));
  }
  if (out.empty()) throw py::value_error(std::string(op) + ": got an empty parameter list");
  return out;
}

}  // namespace

void bind_nn_optim(py::module_& m) {
  m.def(
      "_cross_entropy",
      [](const Tensor& logits, const Tensor& labels) {
        return nogil([&] { return nn::cross_entropy(logits, labels); });
      },
      "The mean cross-entropy of logits (B, C) against integer labels (B,); backward fused.");
  m.def("_mse_loss", [](const Tensor& prediction, const Tensor& target) {
    return nogil([&] { return nn::mse_loss(prediction, target); });
  });
  m.def(
      "_linear_init",
      [](int64_t in, int64_t out, uint64_t seed, py::handle dtype) {
        DType d = to_optional_dtype(dtype).value_or(DType::f32);
        nn::Linear layer(in, out, seed, d);
        return py::make_tuple(layer.weight, layer.bias);
      },
      "The C++ Linear's initial weight (in, out) and bias (out,) for a seed.");

  m.def(
      "_load_mnist_like",
      [](const std::string& dir, bool train) {
        data::Dataset d = nogil([&] { return data::load_mnist_like(dir, train); });
        return py::make_tuple(d.images, d.labels);
      },
      py::arg("dir"), py::arg("train"));
  m.def(
      "randperm",
      [](int64_t n, py::handle seed) {
        if (seed.is_none()) return nogil([&] { return randperm(n); });
        Generator g(py::cast<uint64_t>(seed));
        return nogil([&] { return g.permutation(n); });
      },
      py::arg("n"), py::kw_only(), py::arg("seed") = py::none(),
      "0..n-1 in a random order (int64): from the default generator, or from a seed's own.");

  py::class_<optim::Optimizer>(m, "_Optimizer")
      .def(
          "step",
          [](optim::Optimizer& o) {
            nogil([&] {
              o.step();
              return 0;
            });
          },
          "Updates every parameter that has a gradient, in place.")
      .def("zero_grad", &optim::Optimizer::zero_grad, "Clears every parameter's gradient.")
      .def_property("lr", &optim::Optimizer::lr, &optim::Optimizer::set_lr,
                    "The first group's learning rate; setting it sets every group's.")
      .def_property_readonly("params", [](const optim::Optimizer& o) { return o.params(); });
  py::class_<optim::SGD, optim::Optimizer>(m, "_SGD").def(
      py::init([](py::handle params, double lr, double momentum, double dampening,
                  double weight_decay, bool nesterov) {
        return std::make_unique<optim::SGD>(parameter_list(params, "SGD"),
                                            optim::SGDOptions(lr)
                                                .momentum(momentum)
                                                .dampening(dampening)
                                                .weight_decay(weight_decay)
                                                .nesterov(nesterov));
      }),
      py::arg("params"), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
      py::arg("weight_decay") = 0.0, py::arg("nesterov") = false);
  for (const char* name : {"_Adam", "_AdamW"}) {
    const bool decoupled = name[5] == 'W';
    auto make = [decoupled](py::handle params, double lr, std::pair<double, double> betas,
                            double eps, py::handle weight_decay,
                            bool amsgrad) -> std::unique_ptr<optim::Adam> {
      optim::AdamOptions o(lr);
      o.beta1(betas.first).beta2(betas.second).eps(eps).amsgrad(amsgrad);
      o.weight_decay(weight_decay.is_none() ? (decoupled ? 1e-2 : 0.0)
                                            : py::cast<double>(weight_decay));
      std::vector<Tensor> ps = parameter_list(params, decoupled ? "AdamW" : "Adam");
      if (decoupled) return std::make_unique<optim::AdamW>(std::move(ps), optim::AdamWOptions(o));
      return std::make_unique<optim::Adam>(std::move(ps), o);
    };
    if (decoupled)
      py::class_<optim::AdamW, optim::Adam>(m, name).def(
          py::init([make](py::handle p, double lr, std::pair<double, double> b, double eps,
                          py::handle wd, bool ams) {
            return std::unique_ptr<optim::AdamW>(
                static_cast<optim::AdamW*>(make(p, lr, b, eps, wd, ams).release()));
          }),
          py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999),
          py::arg("eps") = 1e-8, py::arg("weight_decay") = py::none(), py::arg("amsgrad") = false);
    else
      py::class_<optim::Adam, optim::Optimizer>(m, name).def(
          py::init(make), py::arg("params"), py::arg("lr") = 1e-3,
          py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
          py::arg("weight_decay") = py::none(), py::arg("amsgrad") = false);
  }
}

}  // namespace ndgrad::python
