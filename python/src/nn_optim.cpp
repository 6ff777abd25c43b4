// What ndgrad.nn, ndgrad.optim and ndgrad.data use from the library: the fused losses, Linear's
// initialization, the MNIST-format reader, and the optimizers (which update the tensors Python
// holds, in place).
#include "bindings.hpp"

namespace ndgrad::python {

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

// An optimizer's parameters: an iterable of tensors (one group), or of dicts with "params" and
// the group's own "lr", "weight_decay", "momentum" (PyTorch's parameter groups).
std::vector<optim::ParamGroup> param_groups(py::handle params, const char* op) {
  py::list items;
  for (py::handle h : py::iter(params)) items.append(h);
  if (items.size() == 0 || !py::isinstance<py::dict>(items[0]))
    return {optim::ParamGroup(parameter_list(items, op))};
  std::vector<optim::ParamGroup> groups;
  for (py::handle h : items) {
    if (!py::isinstance<py::dict>(h))
      throw py::type_error(std::string(op) + ": parameter groups must all be dicts");
    py::dict d = py::reinterpret_borrow<py::dict>(h);
    if (!d.contains("params"))
      throw py::value_error(std::string(op) + ": a parameter group needs \"params\"");
    py::object ps = d["params"];
    optim::ParamGroup g(py::isinstance<Tensor>(ps) ? std::vector<Tensor>{py::cast<Tensor>(ps)}
                                                   : parameter_list(ps, op));
    for (auto item : d) {
      const std::string key = py::cast<std::string>(item.first);
      if (key == "params") continue;
      const double v = py::cast<double>(item.second);
      if (key == "lr")
        g.lr = v;
      else if (key == "weight_decay")
        g.weight_decay = v;
      else if (key == "momentum")
        g.momentum = v;
      else
        throw py::value_error(std::string(op) +
                              ": a parameter group's options are lr, weight_decay and "
                              "momentum, not \"" +
                              key + "\"");
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

nn::Size2 size2(py::handle h, const char* what) {
  if (is_integer(h)) return nn::Size2(to_int64(h));
  Shape s = to_shape(h);
  if (s.size() != 2) throw py::value_error(std::string(what) + " must be an int or a pair of ints");
  return nn::Size2(s[0], s[1]);
}

std::optional<nn::Size2> optional_size2(py::handle h, const char* what) {
  if (h.is_none()) return std::nullopt;
  return size2(h, what);
}

nn::Padding padding_of(py::handle h) {
  if (py::isinstance<py::str>(h)) {
    const std::string mode = py::cast<std::string>(h);
    return nn::Padding(mode.c_str());
  }
  return nn::Padding(size2(h, "padding"));
}

Tensor optional_tensor(py::handle h) { return h.is_none() ? Tensor() : to_tensor(h); }

py::tuple shape_tuple(const Shape& s) { return py::cast(std::vector<int64_t>(s)); }

namespace {

py::object option(const std::optional<double>& v) {
  return v ? py::object(py::float_(*v)) : py::object(py::none());
}

}  // namespace

void bind_nn_optim(py::module_& m) {
  m.def(
      "_conv2d",
      [](const Tensor& x, const Tensor& weight, py::handle bias, py::handle stride,
         py::handle padding, py::handle dilation, int64_t groups) {
        Tensor b = optional_tensor(bias);
        nn::Size2 s = size2(stride, "stride"), d = size2(dilation, "dilation");
        nn::Padding p = padding_of(padding);
        return nogil([&] { return nn::conv2d(x, weight, b, s, p, d, groups); });
      },
      py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1);
  m.def(
      "_max_pool2d",
      [](const Tensor& x, py::handle kernel_size, py::handle stride, py::handle padding,
         py::handle dilation, bool ceil_mode) {
        nn::Size2 k = size2(kernel_size, "kernel_size"), p = size2(padding, "padding"),
                  d = size2(dilation, "dilation");
        std::optional<nn::Size2> s = optional_size2(stride, "stride");
        return nogil([&] { return nn::max_pool2d(x, k, s, p, d, ceil_mode); });
      },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("ceil_mode") = false);
  m.def(
      "_avg_pool2d",
      [](const Tensor& x, py::handle kernel_size, py::handle stride, py::handle padding,
         bool ceil_mode, bool count_include_pad) {
        nn::Size2 k = size2(kernel_size, "kernel_size"), p = size2(padding, "padding");
        std::optional<nn::Size2> s = optional_size2(stride, "stride");
        return nogil([&] { return nn::avg_pool2d(x, k, s, p, ceil_mode, count_include_pad); });
      },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("ceil_mode") = false, py::arg("count_include_pad") = true);
  m.def(
      "_batch_norm",
      [](const Tensor& x, py::handle running_mean, py::handle running_var, py::handle weight,
         py::handle bias, bool training, double momentum, double eps) {
        Tensor rm = optional_tensor(running_mean), rv = optional_tensor(running_var),
               w = optional_tensor(weight), b = optional_tensor(bias);
        return nogil([&] { return nn::batch_norm(x, rm, rv, w, b, training, momentum, eps); });
      },
      py::arg("x"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
      py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1,
      py::arg("eps") = 1e-5,
      "Normalizes per channel (axis 1): with the batch's statistics in training (updating the "
      "running ones in place), with the running ones otherwise.");
  m.def(
      "_dropout",
      [](const Tensor& x, double p, bool training) {
        return nogil([&] { return nn::dropout(x, p, training); });
      },
      py::arg("x"), py::arg("p") = 0.5, py::arg("training") = true,
      "In training, each element zeroed with probability p and the others scaled by 1 / (1 - p) "
      "(the default generator: ndgrad.manual_seed); x itself otherwise.");
  m.def(
      "_conv2d_init",
      [](int64_t in, int64_t out, py::handle kernel_size, int64_t groups, bool bias, uint64_t seed,
         py::handle dtype) {
        nn::Conv2d layer(in, out, size2(kernel_size, "kernel_size"), 1, 0, 1, groups, bias, seed,
                         to_optional_dtype(dtype).value_or(DType::f32));
        return py::make_tuple(layer.weight,
                              layer.bias.defined() ? py::cast(layer.bias) : py::none());
      },
      "The C++ Conv2d's initial weight (out, in / groups, kh, kw) and bias for a seed.");

  // --- files: NumPy's .npy and .npz ---
  m.def(
      "save",
      [](const std::string& path, py::handle value) {
        if (py::isinstance<py::dict>(value)) {
          std::map<std::string, Tensor> arrays;
          for (auto item : py::reinterpret_borrow<py::dict>(value))
            arrays[py::cast<std::string>(item.first)] = to_tensor(item.second);
          nogil([&] {
            save_npz(path, arrays);
            return 0;
          });
          return;
        }
        Tensor t = to_tensor(value);
        nogil([&] {
          save_npy(path, t);
          return 0;
        });
      },
      py::arg("path"), py::arg("value"),
      "Saves a tensor as .npy, or a dict of tensors (by name) as .npz: NumPy reads both.");
  m.def(
      "load",
      [](const std::string& path) -> py::object {
        const bool npz = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npz") == 0;
        if (npz) {
          std::map<std::string, Tensor> arrays = nogil([&] { return load_npz(path); });
          py::dict d;
          for (auto& [k, v] : arrays) d[py::str(k)] = v;
          return std::move(d);
        }
        return py::cast(nogil([&] { return load_npy(path); }));
      },
      py::arg("path"), "Loads a .npy file as a tensor, or a .npz file as a dict of tensors.");

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
      .def_property_readonly("params", [](const optim::Optimizer& o) { return o.params(); })
      .def_property_readonly(
          "param_groups",
          [](py::object self) {
            auto& groups = self.cast<optim::Optimizer&>().param_groups();
            py::list out;
            for (auto& g : groups)
              out.append(py::cast(&g, py::return_value_policy::reference_internal, self));
            return out;
          },
          "The groups, each settable as PyTorch's: group[\"lr\"] = 0.01 (or group.lr).");
  py::class_<optim::ParamGroup>(m, "ParamGroup")
      .def_readonly("params", &optim::ParamGroup::params)
      .def_property(
          "lr", [](const optim::ParamGroup& g) { return option(g.lr); },
          [](optim::ParamGroup& g, double v) { g.lr = v; })
      .def_property(
          "weight_decay", [](const optim::ParamGroup& g) { return option(g.weight_decay); },
          [](optim::ParamGroup& g, double v) { g.weight_decay = v; })
      .def_property(
          "momentum", [](const optim::ParamGroup& g) { return option(g.momentum); },
          [](optim::ParamGroup& g, double v) { g.momentum = v; })
      .def("__getitem__",
           [](py::object self, const std::string& key) { return self.attr(key.c_str()); })
      .def("__setitem__", [](py::object self, const std::string& key, py::handle v) {
        if (key != "lr" && key != "weight_decay" && key != "momentum") throw py::key_error(key);
        self.attr(key.c_str()) = v;
      });

  py::class_<optim::SGD, optim::Optimizer>(m, "_SGD").def(
      py::init([](py::handle params, double lr, double momentum, double dampening,
                  double weight_decay, bool nesterov) {
        return std::make_unique<optim::SGD>(param_groups(params, "SGD"),
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
      std::vector<optim::ParamGroup> ps = param_groups(params, decoupled ? "AdamW" : "Adam");
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

  // --- learning-rate schedules: each keeps its optimizer alive (py::keep_alive) ---
  py::class_<optim::LRScheduler>(m, "_LRScheduler")
      .def("step", &optim::LRScheduler::step,
           "Advances one epoch (or batch) and sets every group's lr for it.")
      .def_property_readonly("last_epoch", &optim::LRScheduler::last_epoch)
      .def("get_last_lr", &optim::LRScheduler::get_last_lr)
      .def_property_readonly("base_lrs", &optim::LRScheduler::base_lrs);
  py::class_<optim::StepLR, optim::LRScheduler>(m, "_StepLR")
      .def(py::init<optim::Optimizer&, int64_t, double>(), py::keep_alive<1, 2>(),
           py::arg("optimizer"), py::arg("step_size"), py::arg("gamma") = 0.1);
  py::class_<optim::MultiStepLR, optim::LRScheduler>(m, "_MultiStepLR")
      .def(py::init<optim::Optimizer&, std::vector<int64_t>, double>(), py::keep_alive<1, 2>(),
           py::arg("optimizer"), py::arg("milestones"), py::arg("gamma") = 0.1);
  py::class_<optim::ExponentialLR, optim::LRScheduler>(m, "_ExponentialLR")
      .def(py::init<optim::Optimizer&, double>(), py::keep_alive<1, 2>(), py::arg("optimizer"),
           py::arg("gamma"));
  py::class_<optim::CosineAnnealingLR, optim::LRScheduler>(m, "_CosineAnnealingLR")
      .def(py::init<optim::Optimizer&, int64_t, double>(), py::keep_alive<1, 2>(),
           py::arg("optimizer"), py::arg("T_max"), py::arg("eta_min") = 0.0);
  py::class_<optim::CosineWarmupLR, optim::LRScheduler>(m, "_CosineWarmupLR")
      .def(py::init<optim::Optimizer&, int64_t, int64_t, double, double>(), py::keep_alive<1, 2>(),
           py::arg("optimizer"), py::arg("warmup_steps"), py::arg("total_steps"),
           py::arg("eta_min") = 0.0, py::arg("start_factor") = 0.0);
}

}  // namespace ndgrad::python
