// gradcheck_broadcasting and broadcast_variants: gradcheck of a Python function over the
// broadcast-compatible variants of its input shapes.
#include "bindings.hpp"

namespace ndgrad::python {

namespace {

py::list shapes_list(const std::vector<Shape>& shapes) {
  py::list out;
  for (const Shape& s : shapes) out.append(shape_tuple(s));
  return out;
}

std::vector<Shape> to_shapes(py::handle h, const char* op) {
  if (py::isinstance<Tensor>(h) || !py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h))
    throw py::type_error(std::string(op) + ": shapes must be a sequence of shapes, one per input");
  std::vector<Shape> out;
  for (py::handle s : h) out.push_back(to_shape(s));
  return out;
}

// Calls f; an ndgrad exception it raises comes back as the library's (the forward's skips the
// variant; the shapes as given must be taken); any other exception propagates.
Tensor call(const py::function& f, const std::vector<Tensor>& xs, const AxesChoice* axes) {
  py::tuple args(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) args[i] = py::cast(xs[i]);
  py::object r;
  try {
    if (axes) {
      py::tuple axis(axes->axes.size());
      for (size_t i = 0; i < axes->axes.size(); ++i) axis[i] = py::int_(axes->axes[i]);
      r = f(*args, py::arg("axis") = axis, py::arg("keepdims") = axes->keepdims);
    } else {
      r = f(*args);
    }
  } catch (py::error_already_set& e) {
    const py::module_ core = py::module_::import("ndgrad._core");
    const std::string what = py::str(e.value());
    if (e.matches(core.attr("ShapeError"))) throw ShapeError(what);
    if (e.matches(core.attr("AxisError"))) throw AxisError(what);
    if (e.matches(core.attr("Error"))) throw Error(what);
    throw;
  }
  if (!py::isinstance<Tensor>(r))
    throw py::type_error("gradcheck_broadcasting: f must return a tensor, got a " +
                         py::cast<std::string>(py::type::handle_of(r).attr("__name__")));
  return py::cast<Tensor>(r);
}

const char* status_name(BroadcastVariantResult::Status s) {
  switch (s) {
    case BroadcastVariantResult::Status::passed:
      return "passed";
    case BroadcastVariantResult::Status::failed:
      return "failed";
    case BroadcastVariantResult::Status::skipped:
      return "skipped";
  }
  return "";
}

}  // namespace

void bind_gradcheck_broadcasting(py::module_& m) {
  using R = BroadcastVariantResult;
  py::class_<R>(m, "BroadcastVariantResult")
      .def_property_readonly("shapes", [](const R& r) { return shapes_list(r.shapes); })
      .def_readonly("kind", &R::kind)
      .def_property_readonly("axis",
                             [](const R& r) -> py::object {
                               if (!r.has_axes) return py::none();
                               return shape_tuple(r.axes.axes);
                             })
      .def_property_readonly("keepdims",
                             [](const R& r) -> py::object {
                               if (!r.has_axes) return py::none();
                               return py::bool_(r.axes.keepdims);
                             })
      .def_property_readonly("status", [](const R& r) { return status_name(r.status); })
      .def_readonly("max_abs_error", &R::max_abs_error)
      .def_readonly("max_rel_error", &R::max_rel_error)
      .def_readonly("failing_inputs", &R::failing_inputs)
      .def_readonly("message", &R::message)
      .def("__repr__", [](const R& r) {
        std::string s = "BroadcastVariantResult(";
        for (size_t i = 0; i < r.shapes.size(); ++i) s += (i ? ", " : "") + shape_str(r.shapes[i]);
        return s + ", " + status_name(r.status) + ", '" + r.kind + "')";
      });
  using G = GradcheckBroadcastingResult;
  py::class_<G>(m, "GradcheckBroadcastingResult")
      .def_readonly("ok", &G::ok)
      .def_readonly("variants", &G::variants)
      .def_readonly("passed", &G::passed)
      .def_readonly("failed", &G::failed)
      .def_readonly("skipped", &G::skipped)
      .def_readonly("left_out", &G::left_out)
      .def_readonly("report", &G::report)
      .def("__bool__", [](const G& r) { return r.ok; })
      .def("__repr__", [](const G& r) {
        return std::string("GradcheckBroadcastingResult(ok=") + (r.ok ? "True" : "False") +
               ", passed=" + std::to_string(r.passed) + ", failed=" + std::to_string(r.failed) +
               ", skipped=" + std::to_string(r.skipped) + ")";
      });
  m.def(
      "gradcheck_broadcasting",
      [](const py::function& f, py::handle shapes, py::handle axes, double eps, double atol,
         double rtol, size_t max_variants, uint64_t seed) {
        const std::vector<Shape> ss = to_shapes(shapes, "gradcheck_broadcasting");
        GradcheckBroadcastingOptions o;
        o.eps = eps;
        o.atol = atol;
        o.rtol = rtol;
        o.max_variants = max_variants;
        o.seed = seed;
        // f is Python: the GIL stays held (ops inside f release it themselves).
        if (axes.is_none())
          return gradcheck_broadcasting(
              [&](const std::vector<Tensor>& xs) { return call(f, xs, nullptr); }, ss, o);
        if (!py::isinstance<py::sequence>(axes) || py::isinstance<py::str>(axes))
          throw py::type_error(
              "gradcheck_broadcasting: axes must be a sequence of axes sets (ints or sequences of "
              "ints)");
        std::vector<std::vector<int64_t>> sets;
        for (py::handle a : axes) sets.push_back(to_shape(a));  // an int or a sequence of ints
        return gradcheck_broadcasting(
            [&](const std::vector<Tensor>& xs, const AxesChoice& a) { return call(f, xs, &a); }, ss,
            sets, o);
      },
      py::arg("f"), py::arg("shapes"), py::arg("axes") = py::none(), py::arg("eps") = 1e-6,
      py::arg("atol") = 1e-5, py::arg("rtol") = 1e-3, py::arg("max_variants") = 64,
      py::arg("seed") = 0,
      R"doc(gradcheck of f over the broadcast-compatible variants of its input shapes.

shapes: one shape per input. The variants: the shapes as given, with distinct sizes per axis
position and with every size equal (the (3,3,3) trap), then size-1 axes, size-1 axes crossed
between two inputs and dropped leading axes, deduplicated, at most max_variants checks. Each
variant gets random float64 inputs and each input is checked on its own by gradcheck.
With axes (a list of axes sets, each an int or a sequence of ints naming axes of the given
shapes' broadcast result), f is called as f(*inputs, axis=tuple, keepdims=bool), each set spelled
non-negative and negative, keepdims both ways. A variant whose forward raises an ndgrad error
(ShapeError, AxisError, ...) is skipped; an ndgrad error in backward fails it. The result is
truthy when no variant fails; .report lists the failing variants (shapes, the failing inputs,
their errors) and the skipped ones.)doc");
  m.def(
      "broadcast_variants",
      [](py::handle shapes, size_t max_variants) {
        py::list out;
        for (const ShapeVariant& v :
             broadcast_variants(to_shapes(shapes, "broadcast_variants"), max_variants))
          out.append(py::make_tuple(shapes_list(v.shapes), v.kind));
        return out;
      },
      py::arg("shapes"), py::arg("max_variants") = 1024,
      "The shape variants gradcheck_broadcasting checks: a list of (shapes, kind).");
}

}  // namespace ndgrad::python
