// What training from Python needs beyond nn_optim.cpp: RMSprop and Adagrad, the optimizers' and
// schedules' state as Python dicts (PyTorch's layout), OneCycleLR and ReduceLROnPlateau, the
// remaining layers' functions (conv1d, conv_transpose2d, pooling, normalization, embedding), the
// losses with their options, the initializers and gradient clipping.
#include <functional>
#include <map>
#include <string>

#include "bindings.hpp"

namespace ndgrad::python {

namespace {

nn::Reduction reduction_of(const std::string& r, const char* op, bool batchmean_ok = false) {
  if (r == "none") return nn::Reduction::none;
  if (r == "sum") return nn::Reduction::sum;
  if (r == "mean") return nn::Reduction::mean;
  if (r == "batchmean" && batchmean_ok) return nn::Reduction::batchmean;
  throw py::value_error(std::string(op) + ": reduction must be 'none', 'mean' or 'sum'" +
                        (batchmean_ok ? " or 'batchmean'" : "") + ", got '" + r + "'");
}

Tensor f64_scalar(double v) { return full({}, v, DType::f64); }
Tensor i64_scalar(int64_t v) { return full({}, static_cast<double>(v), DType::i64); }

// Splits "a.b.c" at its first dot.
std::pair<std::string, std::string> head(const std::string& key) {
  const size_t dot = key.find('.');
  if (dot == std::string::npos) return {key, ""};
  return {key.substr(0, dot), key.substr(dot + 1)};
}

int64_t index_of(const std::string& s, const char* op) {
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw py::value_error(std::string(op) + ": '" + s + "' is not an index");
}

// The optimizer-wide options that are flags (the state holds them as 0 or 1).
bool flag_option(const std::string& name) {
  return name == "nesterov" || name == "amsgrad" || name == "centered" || name == "decoupled";
}

// The library's flat state ("param_groups.G.lr", "options.eps", "state.K.exp_avg") as PyTorch's
// dict: {"state": {K: {"step": int, name: tensor}}, "param_groups": [{"params": [K...], "lr":
// ..., "eps": ...}]}: as in PyTorch, every group lists the optimizer-wide options too.
py::dict optimizer_state_to_python(const std::map<std::string, Tensor>& flat) {
  std::map<int64_t, py::dict> groups, states;
  std::vector<std::pair<std::string, double>> options;
  for (const auto& [key, t] : flat) {
    if (key.rfind("options.", 0) == 0) {
      options.emplace_back(key.substr(8), t.item());
      continue;
    }
    auto [top, rest] = head(key);
    auto [index, name] = head(rest);
    const int64_t k = index_of(index, "Optimizer.state_dict");
    if (top == "param_groups") {
      py::dict& g = groups[k];
      if (name == "params") {
        py::list ids;
        const Tensor c = t.to(DType::i64).contiguous();
        const int64_t* p = c.data_ptr<int64_t>();
        for (int64_t i = 0; i < c.numel(); ++i) ids.append(p[i]);
        g["params"] = ids;
      } else {
        g[py::str(name)] = t.item();
      }
    } else {
      py::dict& s = states[k];
      if (name == "step")
        s["step"] = static_cast<int64_t>(t.item());
      else
        s[py::str(name)] = t;
    }
  }
  py::list group_list;
  for (auto& [k, g] : groups) {
    for (const auto& [name, value] : options) {
      if (flag_option(name))
        g[py::str(name)] = py::bool_(value != 0);
      else
        g[py::str(name)] = value;
    }
    group_list.append(g);
  }
  py::dict state;
  for (auto& [k, s] : states) state[py::int_(k)] = s;
  py::dict out;
  out["state"] = state;
  out["param_groups"] = group_list;
  return out;
}

std::map<std::string, Tensor> optimizer_state_from_python(py::handle h) {
  const char* op = "Optimizer.load_state_dict";
  if (!py::isinstance<py::dict>(h))
    throw py::type_error(std::string(op) + ": expected a dict with 'state' and 'param_groups'");
  py::dict d = py::reinterpret_borrow<py::dict>(h);
  if (!d.contains("state") || !d.contains("param_groups") || d.size() != 2)
    throw py::value_error(std::string(op) +
                          ": expected exactly the keys 'state' and 'param_groups'");
  std::map<std::string, Tensor> flat;
  int64_t gi = 0;
  for (py::handle g : py::iter(d["param_groups"])) {
    if (!py::isinstance<py::dict>(g))
      throw py::type_error(std::string(op) + ": each of 'param_groups' must be a dict");
    const std::string prefix = "param_groups." + std::to_string(gi++) + ".";
    for (auto item : py::reinterpret_borrow<py::dict>(g)) {
      const std::string key = py::cast<std::string>(py::str(item.first));
      if (key == "params") {
        std::vector<int64_t> ids;
        for (py::handle i : py::iter(item.second)) {
          if (!is_integer(i))
            throw py::type_error(std::string(op) + ": a group's 'params' must be ints");
          ids.push_back(to_int64(i));
        }
        flat[prefix + key] =
            tensor(std::vector<double>(ids.begin(), ids.end()), {int64_t(ids.size())}, DType::i64);
      } else {
        const bool flag = py::isinstance<py::bool_>(item.second);
        if (!flag && !py::isinstance<py::float_>(item.second) && !is_integer(item.second))
          throw py::type_error(std::string(op) + ": a group's '" + key + "' must be a number");
        const double value =
            flag ? (item.second.cast<bool>() ? 1.0 : 0.0) : py::cast<double>(item.second);
        if (key == "lr" || key == "weight_decay" || key == "momentum") {
          flat[prefix + key] = f64_scalar(value);
          continue;
        }
        // An optimizer-wide option: one value in every group.
        auto it = flat.find("options." + key);
        if (it != flat.end() && !(it->second.item() == value))
          throw py::value_error(std::string(op) + ": the groups disagree on '" + key +
                                "', an option of the whole optimizer");
        flat["options." + key] = f64_scalar(value);
      }
    }
  }
  py::handle state = d["state"];
  if (!py::isinstance<py::dict>(state))
    throw py::type_error(std::string(op) + ": 'state' must be a dict");
  for (auto item : py::reinterpret_borrow<py::dict>(state)) {
    if (!is_integer(item.first))
      throw py::type_error(std::string(op) + ": the keys of 'state' must be parameter indices");
    if (!py::isinstance<py::dict>(item.second))
      throw py::type_error(std::string(op) + ": each parameter's state must be a dict");
    const std::string prefix = "state." + std::to_string(to_int64(item.first)) + ".";
    for (auto e : py::reinterpret_borrow<py::dict>(item.second)) {
      const std::string name = py::cast<std::string>(py::str(e.first));
      if (name == "step") {
        if (!is_integer(e.second))
          throw py::type_error(std::string(op) + ": a parameter's 'step' must be an int");
        flat[prefix + name] = i64_scalar(to_int64(e.second));
      } else {
        flat[prefix + name] = to_tensor(e.second);
      }
    }
  }
  return flat;
}

// A schedule's flat state (every entry 0-d but base_lrs) as a dict of ints, floats and lists.
py::dict scheduler_state_to_python(const std::map<std::string, Tensor>& flat) {
  py::dict out;
  for (const auto& [key, t] : flat) {
    if (t.ndim() == 1) {
      py::list l;
      const Tensor c = t.to(DType::f64).contiguous();
      for (int64_t i = 0; i < c.numel(); ++i) l.append(c.data_ptr<double>()[i]);
      out[py::str(key)] = l;
    } else if (t.dtype() == DType::i64) {
      out[py::str(key)] = static_cast<int64_t>(t.item());
    } else {
      out[py::str(key)] = t.item();
    }
  }
  return out;
}

std::map<std::string, Tensor> scheduler_state_from_python(py::handle h) {
  const char* op = "load_state_dict";
  if (!py::isinstance<py::dict>(h)) throw py::type_error(std::string(op) + ": expected a dict");
  std::map<std::string, Tensor> flat;
  for (auto item : py::reinterpret_borrow<py::dict>(h)) {
    const std::string key = py::cast<std::string>(py::str(item.first));
    py::handle v = item.second;
    if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
      std::vector<double> values;
      for (py::handle x : py::iter(v)) values.push_back(py::cast<double>(x));
      flat[key] = tensor(values, {int64_t(values.size())}, DType::f64);
    } else if (is_integer(v)) {
      flat[key] = i64_scalar(to_int64(v));
    } else if (py::isinstance<py::float_>(v)) {
      flat[key] = f64_scalar(py::cast<double>(v));
    } else {
      throw py::type_error(std::string(op) + ": '" + key + "' must be an int, a float or a list");
    }
  }
  return flat;
}

// Attaches f to the bound class cls as method name.
template <class F>
void add_method(py::module_& m, const char* cls, const char* name, F&& f, const char* doc) {
  py::object c = m.attr(cls);
  c.attr(name) = py::cpp_function(std::forward<F>(f), py::name(name), py::is_method(c),
                                  py::sibling(py::getattr(c, name, py::none())), doc);
}

nn::init::FanMode fan_mode(const std::string& mode) {
  if (mode == "fan_in") return nn::init::FanMode::fan_in;
  if (mode == "fan_out") return nn::init::FanMode::fan_out;
  throw py::value_error("mode must be 'fan_in' or 'fan_out', got '" + mode + "'");
}

// a for the gain of a nonlinearity (kaiming_*): leaky_relu's slope; relu is slope 0.
double slope_of(const std::string& nonlinearity, double a) {
  if (nonlinearity == "leaky_relu") return a;
  if (nonlinearity == "relu") return 0.0;
  throw py::value_error("nonlinearity must be 'relu' or 'leaky_relu', got '" + nonlinearity + "'");
}

Tensor& checked(py::handle h, const char* op) {
  if (!py::isinstance<Tensor>(h))
    throw py::type_error(std::string(op) + ": expected a tensor, got a " +
                         py::cast<std::string>(py::str(py::type::handle_of(h).attr("__name__"))));
  return py::cast<Tensor&>(h);
}

}  // namespace

void bind_training(py::module_& m) {
  // --- optimizers ---
  py::class_<optim::RMSprop, optim::Optimizer>(m, "_RMSprop")
      .def(py::init([](py::handle params, double lr, double alpha, double eps, double weight_decay,
                       double momentum, bool centered) {
             return std::make_unique<optim::RMSprop>(param_groups(params, "RMSprop"),
                                                     optim::RMSpropOptions(lr)
                                                         .alpha(alpha)
                                                         .eps(eps)
                                                         .weight_decay(weight_decay)
                                                         .momentum(momentum)
                                                         .centered(centered));
           }),
           py::arg("params"), py::arg("lr") = 1e-2, py::arg("alpha") = 0.99, py::arg("eps") = 1e-8,
           py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("centered") = false);
  py::class_<optim::Adagrad, optim::Optimizer>(m, "_Adagrad")
      .def(py::init([](py::handle params, double lr, double lr_decay, double weight_decay,
                       double initial_accumulator_value, double eps) {
             return std::make_unique<optim::Adagrad>(
                 param_groups(params, "Adagrad"),
                 optim::AdagradOptions(lr)
                     .lr_decay(lr_decay)
                     .weight_decay(weight_decay)
                     .initial_accumulator_value(initial_accumulator_value)
                     .eps(eps));
           }),
           py::arg("params"), py::arg("lr") = 1e-2, py::arg("lr_decay") = 0.0,
           py::arg("weight_decay") = 0.0, py::arg("initial_accumulator_value") = 0.0,
           py::arg("eps") = 1e-10);
  add_method(
      m, "_Optimizer", "state_dict",
      [](const optim::Optimizer& o) { return optimizer_state_to_python(o.state_dict()); },
      "{'state': {index: {'step': int, name: tensor}}, 'param_groups': [{'params': [index...], "
      "'lr': float, ...}]}: PyTorch's layout, the tensors copies.");
  add_method(
      m, "_Optimizer", "load_state_dict",
      [](optim::Optimizer& o, py::handle state) {
        o.load_state_dict(optimizer_state_from_python(state));
      },
      "Restores a state_dict(): everything checked first (a ValueError naming the entry), then "
      "copied.");
  add_method(
      m, "_Optimizer", "_flat_state_dict", [](const optim::Optimizer& o) { return o.state_dict(); },
      "The library's flat state (names to tensors): what a checkpoint file holds.");
  add_method(
      m, "_Optimizer", "_load_flat_state_dict",
      [](optim::Optimizer& o, const std::map<std::string, Tensor>& s) { o.load_state_dict(s); },
      "Restores _flat_state_dict().");

  add_method(
      m, "_Optimizer", "_check_flat_state_dict",
      [](const optim::Optimizer& o, const std::map<std::string, Tensor>& s) {
        o.check_state_dict(s);
      },
      "load_state_dict's checks of a flat state alone (a ValueError), changing nothing.");
  // --- schedules ---
  py::class_<optim::OneCycleLR, optim::LRScheduler>(m, "_OneCycleLR")
      .def(
          py::init([](optim::Optimizer& o, double max_lr, int64_t total_steps, double pct_start,
                      const std::string& anneal_strategy, bool cycle_momentum, double base_momentum,
                      double max_momentum, double div_factor, double final_div_factor,
                      bool three_phase) {
            if (anneal_strategy != "cos" && anneal_strategy != "linear")
              throw py::value_error("OneCycleLR: anneal_strategy must be 'cos' or 'linear', got '" +
                                    anneal_strategy + "'");
            return std::make_unique<optim::OneCycleLR>(o,
                                                       optim::OneCycleOptions(max_lr, total_steps)
                                                           .pct_start(pct_start)
                                                           .cos_anneal(anneal_strategy == "cos")
                                                           .cycle_momentum(cycle_momentum)
                                                           .base_momentum(base_momentum)
                                                           .max_momentum(max_momentum)
                                                           .div_factor(div_factor)
                                                           .final_div_factor(final_div_factor)
                                                           .three_phase(three_phase));
          }),
          py::keep_alive<1, 2>(), py::arg("optimizer"), py::arg("max_lr"), py::arg("total_steps"),
          py::arg("pct_start") = 0.3, py::arg("anneal_strategy") = "cos",
          py::arg("cycle_momentum") = true, py::arg("base_momentum") = 0.85,
          py::arg("max_momentum") = 0.95, py::arg("div_factor") = 25.0,
          py::arg("final_div_factor") = 1e4, py::arg("three_phase") = false);
  add_method(
      m, "_LRScheduler", "state_dict",
      [](const optim::LRScheduler& s) { return scheduler_state_to_python(s.state_dict()); },
      "{'last_epoch': int, 'base_lrs': [float...]}: the schedule, not the groups' lr.");
  add_method(
      m, "_LRScheduler", "load_state_dict",
      [](optim::LRScheduler& s, py::handle state) {
        s.load_state_dict(scheduler_state_from_python(state));
      },
      "Restores a state_dict() (checked first: a ValueError naming the entry).");
  py::class_<optim::ReduceLROnPlateau>(m, "_ReduceLROnPlateau")
      .def(py::init([](optim::Optimizer& o, const std::string& mode, double factor,
                       int64_t patience, double threshold, const std::string& threshold_mode,
                       int64_t cooldown, double min_lr, double eps) {
             if (mode != "min" && mode != "max")
               throw py::value_error("ReduceLROnPlateau: mode must be 'min' or 'max', got '" +
                                     mode + "'");
             if (threshold_mode != "rel" && threshold_mode != "abs")
               throw py::value_error(
                   "ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got '" +
                   threshold_mode + "'");
             return std::make_unique<optim::ReduceLROnPlateau>(
                 o, optim::ReduceLROnPlateauOptions()
                        .mode_max(mode == "max")
                        .factor(factor)
                        .patience(patience)
                        .threshold(threshold)
                        .threshold_rel(threshold_mode == "rel")
                        .cooldown(cooldown)
                        .min_lr(min_lr)
                        .eps(eps));
           }),
           py::keep_alive<1, 2>(), py::arg("optimizer"), py::arg("mode") = "min",
           py::arg("factor") = 0.1, py::arg("patience") = 10, py::arg("threshold") = 1e-4,
           py::arg("threshold_mode") = "rel", py::arg("cooldown") = 0, py::arg("min_lr") = 0.0,
           py::arg("eps") = 1e-8)
      .def("step", &optim::ReduceLROnPlateau::step, py::arg("metrics"),
           "Records one epoch's metric; lowers the lr after patience epochs without improvement.")
      .def_property_readonly("best", &optim::ReduceLROnPlateau::best)
      .def_property_readonly("num_bad_epochs", &optim::ReduceLROnPlateau::num_bad_epochs)
      .def_property_readonly("last_epoch", &optim::ReduceLROnPlateau::last_epoch)
      .def("get_last_lr", &optim::ReduceLROnPlateau::get_last_lr)
      .def(
          "state_dict",
          [](const optim::ReduceLROnPlateau& s) {
            return scheduler_state_to_python(s.state_dict());
          },
          "{'last_epoch', 'best', 'num_bad_epochs', 'cooldown_counter'}.")
      .def(
          "load_state_dict",
          [](optim::ReduceLROnPlateau& s, py::handle state) {
            s.load_state_dict(scheduler_state_from_python(state));
          },
          "Restores a state_dict() (checked first).");

  // The library's flat state of a schedule (what a checkpoint file holds), for either kind.
  add_method(
      m, "_LRScheduler", "_flat_state_dict",
      [](const optim::LRScheduler& s) { return s.state_dict(); }, "The flat state.");
  add_method(
      m, "_LRScheduler", "_load_flat_state_dict",
      [](optim::LRScheduler& s, const std::map<std::string, Tensor>& st) { s.load_state_dict(st); },
      "Restores _flat_state_dict().");
  add_method(
      m, "_LRScheduler", "_check_flat_state_dict",
      [](const optim::LRScheduler& s, const std::map<std::string, Tensor>& st) {
        s.check_state_dict(st);
      },
      "The checks alone.");
  add_method(
      m, "_ReduceLROnPlateau", "_flat_state_dict",
      [](const optim::ReduceLROnPlateau& s) { return s.state_dict(); }, "The flat state.");
  add_method(
      m, "_ReduceLROnPlateau", "_load_flat_state_dict",
      [](optim::ReduceLROnPlateau& s, const std::map<std::string, Tensor>& st) {
        s.load_state_dict(st);
      },
      "Restores _flat_state_dict().");
  add_method(
      m, "_ReduceLROnPlateau", "_check_flat_state_dict",
      [](const optim::ReduceLROnPlateau& s, const std::map<std::string, Tensor>& st) {
        s.check_state_dict(st);
      },
      "The checks alone.");

  // --- layers' functions ---
  m.def(
      "_conv1d",
      [](const Tensor& x, const Tensor& weight, py::handle bias, int64_t stride, py::handle padding,
         int64_t dilation, int64_t groups) {
        Tensor b = optional_tensor(bias);
        nn::Padding p =
            py::isinstance<py::str>(padding) ? padding_of(padding) : nn::Padding(to_int64(padding));
        return nogil([&] { return nn::conv1d(x, weight, b, stride, p, dilation, groups); });
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
      "x (B, C, L), weight (O, C / groups, k): the cross-correlation along one axis.");
  m.def(
      "_conv_transpose2d",
      [](const Tensor& x, const Tensor& weight, py::handle bias, py::handle stride,
         py::handle padding, py::handle output_padding, int64_t groups, py::handle dilation) {
        Tensor b = optional_tensor(bias);
        nn::Size2 s = size2(stride, "stride"), p = size2(padding, "padding"),
                  op = size2(output_padding, "output_padding"), d = size2(dilation, "dilation");
        return nogil([&] { return nn::conv_transpose2d(x, weight, b, s, p, op, groups, d); });
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1,
      py::arg("dilation") = 1,
      "x (B, C, H, W), weight (C, O / groups, kh, kw): conv2d's gradient as a layer.");
  m.def(
      "_adaptive_avg_pool2d",
      [](const Tensor& x, py::handle output_size) {
        nn::Size2 s = size2(output_size, "output_size");
        return nogil([&] { return nn::adaptive_avg_pool2d(x, s); });
      },
      py::arg("input"), py::arg("output_size"));
  m.def(
      "_max_pool1d",
      [](const Tensor& x, int64_t k, std::optional<int64_t> stride, int64_t padding,
         int64_t dilation, bool ceil_mode) {
        return nogil([&] { return nn::max_pool1d(x, k, stride, padding, dilation, ceil_mode); });
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(),
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("ceil_mode") = false);
  m.def(
      "_avg_pool1d",
      [](const Tensor& x, int64_t k, std::optional<int64_t> stride, int64_t padding, bool ceil_mode,
         bool count_include_pad) {
        return nogil(
            [&] { return nn::avg_pool1d(x, k, stride, padding, ceil_mode, count_include_pad); });
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(),
      py::arg("padding") = 0, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true);
  m.def(
      "_layer_norm",
      [](const Tensor& x, py::handle normalized_shape, py::handle weight, py::handle bias,
         double eps) {
        Shape s = is_integer(normalized_shape) ? Shape{to_int64(normalized_shape)}
                                               : to_shape(normalized_shape);
        Tensor w = optional_tensor(weight), b = optional_tensor(bias);
        return nogil([&] { return nn::layer_norm(x, s, w, b, eps); });
      },
      py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(),
      py::arg("bias") = py::none(), py::arg("eps") = 1e-5);
  m.def(
      "_group_norm",
      [](const Tensor& x, int64_t num_groups, py::handle weight, py::handle bias, double eps) {
        Tensor w = optional_tensor(weight), b = optional_tensor(bias);
        return nogil([&] { return nn::group_norm(x, num_groups, w, b, eps); });
      },
      py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(),
      py::arg("bias") = py::none(), py::arg("eps") = 1e-5);
  m.def(
      "_embedding",
      [](py::handle indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
        Tensor i = to_tensor(indices);
        return nogil([&] { return nn::embedding(i, weight, padding_idx); });
      },
      py::arg("input"), py::arg("weight"), py::arg("padding_idx") = py::none());

  // --- losses: reduction 'none', 'mean' or 'sum' ---
  m.def(
      "_nll_loss",
      [](const Tensor& x, py::handle target, py::handle weight, int64_t ignore_index,
         const std::string& reduction) {
        Tensor t = to_tensor(target), w = optional_tensor(weight);
        nn::Reduction r = reduction_of(reduction, "nll_loss");
        return nogil([&] { return nn::nll_loss(x, t, w, ignore_index, r); });
      },
      py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
      py::arg("ignore_index") = -100, py::arg("reduction") = "mean");
  m.def(
      "_cross_entropy_full",
      [](const Tensor& x, py::handle target, py::handle weight, int64_t ignore_index,
         const std::string& reduction, double label_smoothing) {
        Tensor t = to_tensor(target), w = optional_tensor(weight);
        nn::Reduction r = reduction_of(reduction, "cross_entropy");
        return nogil([&] { return nn::cross_entropy(x, t, w, ignore_index, label_smoothing, r); });
      },
      py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
      py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
      py::arg("label_smoothing") = 0.0);
  m.def(
      "_binary_cross_entropy",
      [](const Tensor& x, py::handle target, py::handle weight, const std::string& reduction) {
        Tensor t = to_tensor(target), w = optional_tensor(weight);
        nn::Reduction r = reduction_of(reduction, "binary_cross_entropy");
        return nogil([&] { return nn::binary_cross_entropy(x, t, w, r); });
      },
      py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
      py::arg("reduction") = "mean");
  m.def(
      "_binary_cross_entropy_with_logits",
      [](const Tensor& x, py::handle target, py::handle weight, const std::string& reduction,
         py::handle pos_weight) {
        Tensor t = to_tensor(target), w = optional_tensor(weight), pw = optional_tensor(pos_weight);
        nn::Reduction r = reduction_of(reduction, "binary_cross_entropy_with_logits");
        return nogil([&] { return nn::binary_cross_entropy_with_logits(x, t, w, pw, r); });
      },
      py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
      py::arg("reduction") = "mean", py::arg("pos_weight") = py::none());
  m.def(
      "_mse_loss_full",
      [](const Tensor& x, py::handle target, const std::string& reduction) {
        Tensor t = to_tensor(target);
        nn::Reduction r = reduction_of(reduction, "mse_loss");
        return nogil([&] { return nn::mse_loss(x, t, r); });
      },
      py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  m.def(
      "_l1_loss",
      [](const Tensor& x, py::handle target, const std::string& reduction) {
        Tensor t = to_tensor(target);
        nn::Reduction r = reduction_of(reduction, "l1_loss");
        return nogil([&] { return nn::l1_loss(x, t, r); });
      },
      py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  m.def(
      "_smooth_l1_loss",
      [](const Tensor& x, py::handle target, const std::string& reduction, double beta) {
        Tensor t = to_tensor(target);
        nn::Reduction r = reduction_of(reduction, "smooth_l1_loss");
        return nogil([&] { return nn::smooth_l1_loss(x, t, r, beta); });
      },
      py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", py::arg("beta") = 1.0);
  m.def(
      "_huber_loss",
      [](const Tensor& x, py::handle target, const std::string& reduction, double delta) {
        Tensor t = to_tensor(target);
        nn::Reduction r = reduction_of(reduction, "huber_loss");
        return nogil([&] { return nn::huber_loss(x, t, r, delta); });
      },
      py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", py::arg("delta") = 1.0);
  m.def(
      "_kl_div",
      [](const Tensor& x, py::handle target, const std::string& reduction, bool log_target) {
        Tensor t = to_tensor(target);
        nn::Reduction r = reduction_of(reduction, "kl_div", true);
        return nogil([&] { return nn::kl_div(x, t, r, log_target); });
      },
      py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
      py::arg("log_target") = false);

  // --- initializers (in place, not recorded; seed None: the default generator) ---
  auto gen = [](py::handle seed, Generator& own) -> Generator* {
    if (seed.is_none()) return nullptr;
    own = Generator(py::cast<uint64_t>(seed));
    return &own;
  };
  m.def(
      "_init",
      [gen](const std::string& kind, py::handle t, double a, double b, const std::string& mode,
            py::handle seed) -> py::object {
        Tensor& x = checked(t, "nn.init");
        Generator own;
        Generator* g = gen(seed, own);
        const nn::init::FanMode fm = fan_mode(mode);
        using Init = std::function<void()>;
        const std::map<std::string, Init> inits = {
            {"zeros", [&] { nn::init::zeros_(x); }},
            {"ones", [&] { nn::init::ones_(x); }},
            {"constant", [&] { nn::init::constant_(x, a); }},
            {"uniform", [&] { nn::init::uniform_(x, a, b, g); }},
            {"normal", [&] { nn::init::normal_(x, a, b, g); }},
            {"xavier_uniform", [&] { nn::init::xavier_uniform_(x, a, g); }},
            {"xavier_normal", [&] { nn::init::xavier_normal_(x, a, g); }},
            {"kaiming_uniform", [&] { nn::init::kaiming_uniform_(x, a, fm, g); }},
            {"kaiming_normal", [&] { nn::init::kaiming_normal_(x, a, fm, g); }},
            {"orthogonal", [&] { nn::init::orthogonal_(x, a, g); }},
        };
        auto it = inits.find(kind);
        if (it == inits.end()) throw py::value_error("nn.init: no initializer '" + kind + "'");
        nogil([&] {
          it->second();
          return 0;
        });
        return py::reinterpret_borrow<py::object>(t);
      },
      py::arg("kind"), py::arg("tensor"), py::arg("a") = 0.0, py::arg("b") = 0.0,
      py::arg("mode") = "fan_in", py::arg("seed") = py::none());
  m.def("_kaiming_slope", &slope_of);

  // --- the default generator's position (a checkpoint saves it) ---
  m.def(
      "_default_generator_state",
      [] {
        const Generator::State s = default_generator().get_state();
        return py::make_tuple(s.seed, s.offset);
      },
      "(seed, offset): the default generator's key and the blocks it has used.");
  m.def(
      "_set_default_generator_state",
      [](uint64_t seed, uint64_t offset) {
        default_generator().set_state({seed, offset});
      },
      py::arg("seed"), py::arg("offset"), "Puts the default generator back at a saved position.");

  // --- a generator of a layer's own (Dropout(seed=)): its position saved by checkpoints ---
  py::class_<Generator>(m, "_Generator")
      .def(py::init<uint64_t>(), py::arg("seed"))
      .def("get_state",
           [](const Generator& g) {
             const Generator::State s = g.get_state();
             return py::make_tuple(s.seed, s.offset);
           })
      .def("set_state", [](Generator& g, uint64_t seed, uint64_t offset) {
        g.set_state({seed, offset});
      });
  m.def(
      "_dropout_with",
      [](const Tensor& x, double p, bool training, Generator& g) {
        return nogil([&] { return nn::dropout(x, p, training, &g); });
      },
      py::arg("x"), py::arg("p"), py::arg("training"), py::arg("generator"));

  // --- gradient clipping ---
  m.def(
      "_clip_grad_norm_",
      [](py::handle params, double max_norm, double norm_type) {
        std::vector<Tensor> ps;
        if (py::isinstance<Tensor>(params))
          ps.push_back(py::cast<Tensor>(params));
        else
          ps = parameter_list(params, "clip_grad_norm_");
        return nogil([&] { return nn::clip_grad_norm_(ps, max_norm, norm_type); });
      },
      py::arg("parameters"), py::arg("max_norm"), py::arg("norm_type") = 2.0);
  m.def(
      "_clip_grad_value_",
      [](py::handle params, double clip_value) {
        std::vector<Tensor> ps;
        if (py::isinstance<Tensor>(params))
          ps.push_back(py::cast<Tensor>(params));
        else
          ps = parameter_list(params, "clip_grad_value_");
        nogil([&] {
          nn::clip_grad_value_(ps, clip_value);
          return 0;
        });
      },
      py::arg("parameters"), py::arg("clip_value"));
}

}  // namespace ndgrad::python
