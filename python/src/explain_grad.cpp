// explain_grad and to_dot's gradient labels, for Python (ndgrad.explain_grad, ndgrad.to_dot).
#include "bindings.hpp"

namespace ndgrad::python {

namespace {}  // namespace

void bind_explain_grad(py::module_& m) {
  py::class_<GradEdge>(m, "GradEdge")
      .def_readonly("step", &GradEdge::step)
      .def_readonly("op", &GradEdge::op)
      .def_readonly("input", &GradEdge::input)
      .def_readonly("rule", &GradEdge::rule)
      .def_property_readonly("upstream_shape",
                             [](const GradEdge& e) { return shape_tuple(e.upstream_shape); })
      .def_property_readonly("rule_shape",
                             [](const GradEdge& e) { return shape_tuple(e.rule_shape); })
      .def_property_readonly("shape", [](const GradEdge& e) { return shape_tuple(e.shape); })
      .def_readonly("summed_axes", &GradEdge::summed_axes)
      .def_readonly("values_summed", &GradEdge::values_summed)
      .def_readonly("scatter_zero", &GradEdge::scatter_zero)
      .def_readonly("scatter_one", &GradEdge::scatter_one)
      .def_readonly("scatter_many", &GradEdge::scatter_many)
      .def_readonly("to_step", &GradEdge::to_step)
      .def_readonly("joins", &GradEdge::joins)
      .def_property_readonly("upstream",
                             [](const GradEdge& e) -> py::object {
                               return e.upstream.defined() ? py::cast(e.upstream) : py::none();
                             })
      .def_property_readonly("grad",
                             [](const GradEdge& e) -> py::object {
                               return e.grad.defined() ? py::cast(e.grad) : py::none();
                             })
      .def("__repr__", [](const GradEdge& e) {
        return "GradEdge(step=" + std::to_string(e.step) + ", op='" + e.op +
               "', input=" + std::to_string(e.input) + ", shape=" + shape_str(e.shape) + ")";
      });
  py::class_<GradExplanation>(m, "GradExplanation")
      .def_property_readonly("loss_shape",
                             [](const GradExplanation& x) { return shape_tuple(x.loss_shape); })
      .def_property_readonly("leaf_shape",
                             [](const GradExplanation& x) { return shape_tuple(x.leaf_shape); })
      .def_readonly("edges", &GradExplanation::edges)
      .def_readonly("paths", &GradExplanation::paths)
      .def_readonly("grad", &GradExplanation::grad)
      .def_readonly("text", &GradExplanation::text)
      .def("__str__", [](const GradExplanation& x) { return x.text; })
      .def("__repr__", [](const GradExplanation& x) {
        return "GradExplanation(" + std::to_string(x.edges.size()) + " edges, " +
               std::to_string(static_cast<long long>(x.paths)) + " paths)";
      });
  m.def(
      "explain_grad",
      [](const Tensor& loss, const Tensor& leaf, const py::object& upstream) {
        const Tensor g = optional_tensor(upstream);
        return nogil([&] { return explain_grad(loss, leaf, g); });
      },
      py::arg("loss"), py::arg("leaf"), py::arg("upstream") = py::none(),
      "The chain rule for one leaf, edge by edge, with the values that flow (runs a backward "
      "pass of its own over the recorded graph; no .grad changes).");
  m.def(
      "_to_dot_gradients",
      [](const Tensor& output, const py::object& upstream) {
        DotOptions options;
        options.gradients = true;
        options.upstream = optional_tensor(upstream);
        return nogil([&] { return to_dot(output, options); });
      },
      py::arg("output"), py::arg("upstream") = py::none());
}

}  // namespace ndgrad::python
