// Module functions: factories, the op table's elementwise functions, joining, linear algebra
// and the functional autograd forms.
#include "bindings.hpp"

namespace ndgrad::python {

namespace {

// What a Python function called by the library returned, which must be a tensor: a TypeError
// naming what it was otherwise (a failed cast is pybind11's RuntimeError, naming nothing).
Tensor returned_tensor(const py::object& r, const char* op) {
  if (!py::isinstance<Tensor>(r))
    throw py::type_error(std::string(op) + ": f must return a tensor, got a " +
                         py::cast<std::string>(py::type::handle_of(r).attr("__name__")));
  return py::cast<Tensor>(r);
}

std::vector<Tensor> to_tensors(py::handle seq, const char* op) {
  if (py::isinstance<Tensor>(seq) || !py::isinstance<py::sequence>(seq))
    throw py::type_error(std::string(op) + ": expected a sequence of tensors");
  std::vector<Tensor> out;
  for (py::handle h : seq) out.push_back(to_tensor(h));
  return out;
}

Tensor finish(Tensor t, bool requires_grad) {
  if (requires_grad) t.requires_grad_(true);
  return t;
}

// The dtype of full()'s value when none is given: bool, int64 or float32 (PyTorch's).
DType dtype_of_value(py::handle v) {
  if (py::isinstance<py::bool_>(v)) return DType::boolean;
  if (is_integer(v)) return DType::i64;
  return DType::f32;
}

// Operands of a module function: numbers stay numbers (their kind decides the dtype).
Operand operand(py::handle h, const char* op) {
  std::optional<Operand> o = to_operand(h);
  if (!o)
    throw py::type_error(std::string(op) + ": expected a tensor, array, list or number, got a " +
                         py::cast<std::string>(py::str(py::type::handle_of(h).attr("__name__"))));
  return *o;
}

Tensor as_tensor_operand(const Operand& o) {
  if (o.kind == Operand::Kind::tensor) return o.t;
  if (o.kind == Operand::Kind::floating) return scalar(o.d);
  return to_tensor(py::int_(o.i));
}

constexpr const char* kUnaryDoc =
    "Elementwise: a row of the library's op table (include/ndgrad/op_table.def gives its dtype "
    "rule and its derivative; docs/API.md the conventions). x: a tensor, array, list or number.";
constexpr const char* kBinaryDoc =
    "Elementwise with NumPy broadcasting: a row of the library's op table. A Python int counts as "
    "an integer scalar and a float as a floating one (i + 2 keeps int64, i * 2.5 is float32).";

}  // namespace

void bind_functions(py::module_& m) {
  // --- construction ---
  m.def(
      "tensor",
      [](py::handle data, py::handle dtype, bool requires_grad) {
        // A tensor given: a new handle on its memory, without its history (as for arrays), so
        // that requires_grad here leaves the original alone.
        if (py::isinstance<Tensor>(data)) {
          Tensor d = py::cast<Tensor>(data).detach();
          return finish(to_tensor(py::cast(d), to_optional_dtype(dtype)), requires_grad);
        }
        return finish(to_tensor(data, to_optional_dtype(dtype)), requires_grad);
      },
      py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      R"doc(A tensor from nested lists of numbers, a number, a NumPy array or a tensor.

Lists: float32 for floats (int64 for ints, bool for bools) unless dtype says otherwise. A NumPy
array of a supported dtype is shared, not copied (as from_numpy), when dtype is None or its own;
so is a tensor's memory (a new tensor without its history).)doc");
  m.def("from_numpy", &from_numpy, py::arg("array"),
        R"doc(A tensor over a NumPy array's memory (strides included; the array stays alive).

Shared for float32, float64, float16, int64, int32, int8, uint8 and bool arrays that are
writeable and aligned. Read-only arrays are copied (never written through), as are unaligned
ones; other dtypes are a TypeError.)doc");
  m.def(
      "zeros",
      [](const py::args& shape, py::handle dtype, bool requires_grad) {
        DType d = to_optional_dtype(dtype).value_or(DType::f32);
        return finish(zeros(shape_from_args(shape, "zeros"), d), requires_grad);
      },
      py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      "zeros(*shape): float32 unless dtype says otherwise.");
  m.def(
      "ones",
      [](const py::args& shape, py::handle dtype, bool requires_grad) {
        DType d = to_optional_dtype(dtype).value_or(DType::f32);
        return finish(ones(shape_from_args(shape, "ones"), d), requires_grad);
      },
      py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      "ones(*shape): float32 unless dtype says otherwise.");
  m.def(
      "empty",
      [](const py::args& shape, py::handle dtype) {
        return empty(shape_from_args(shape, "empty"),
                     to_optional_dtype(dtype).value_or(DType::f32));
      },
      py::kw_only(), py::arg("dtype") = py::none(), "empty(*shape): uninitialized values.");
  m.def(
      "full",
      [](py::handle shape, py::handle value, py::handle dtype, bool requires_grad) {
        DType d = dtype.is_none() ? dtype_of_value(value) : to_dtype(dtype);
        Shape s = to_shape(shape);
        if (is_integer(value) && !is_floating(d)) {  // exact for int64 values past 2^53
          Tensor v = to_tensor(value);
          return finish(nogil([&] { return v.to(d).broadcast_to(s).clone(); }), requires_grad);
        }
        return finish(full(s, py::cast<double>(value), d), requires_grad);
      },
      py::arg("shape"), py::arg("fill_value"), py::arg("dtype") = py::none(),
      py::arg("requires_grad") = false,
      "full(shape, value): the dtype of value (bool, int64, float32) unless dtype says otherwise.");
  m.def(
      "arange",
      [](py::object start, py::object stop, py::object step, py::handle dtype, bool requires_grad) {
        if (stop.is_none()) {
          stop = start;
          start = py::int_(0);
        }
        if (step.is_none()) step = py::int_(1);
        const bool ints = is_integer(start) && is_integer(stop) && is_integer(step);
        DType d = dtype.is_none() ? (ints ? DType::i64 : DType::f32) : to_dtype(dtype);
        Tensor t;
        if (ints) {
          const int64_t a = to_int64(start), b = to_int64(stop), s = to_int64(step);
          if (s == 0) throw ValueError("arange: step must not be 0");
          const int64_t n = std::max<int64_t>(0, (b - a + s + (s > 0 ? -1 : 1)) / s);
          t = arange(n, DType::i64) * s + a;
        } else {
          const double a = py::cast<double>(start), b = py::cast<double>(stop),
                       s = py::cast<double>(step);
          if (s == 0) throw ValueError("arange: step must not be 0");
          const double count = std::ceil((b - a) / s);
          const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
          t = arange(n, DType::f64) * s + a;
        }
        return finish(t.dtype() == d ? t : t.to(d), requires_grad);
      },
      py::arg("start"), py::arg("stop") = py::none(), py::arg("step") = py::none(), py::kw_only(),
      py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      "arange(stop) or arange(start, stop, step): int64 for integer arguments, else float32.");
  m.def(
      "eye",
      [](int64_t n, py::handle dtype, bool requires_grad) {
        return finish(eye(n, to_optional_dtype(dtype).value_or(DType::f32)), requires_grad);
      },
      py::arg("n"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      "The n x n identity matrix.");
  for (const char* name : {"randn", "rand"}) {
    const bool normal = name[4] == 'n';
    m.def(
        name,
        [normal](const py::args& shape, py::handle seed, py::handle dtype, bool requires_grad) {
          Shape s = shape_from_args(shape, normal ? "randn" : "rand");
          DType d = to_optional_dtype(dtype).value_or(DType::f32);
          Tensor t;
          if (seed.is_none())  // the default generator (ndgrad.manual_seed)
            t = nogil([&] { return normal ? randn(s, d) : rand(s, d); });
          else {
            const uint64_t sd = py::cast<uint64_t>(seed);
            t = nogil([&] { return normal ? randn(s, sd, d) : rand(s, sd, d); });
          }
          return finish(t, requires_grad);
        },
        py::kw_only(), py::arg("seed") = py::none(), py::arg("dtype") = py::none(),
        py::arg("requires_grad") = false,
        normal ? "N(0, 1) values: from the default generator, or a stream of their own with seed="
               : "U[0, 1) values: from the default generator, or a stream of their own with seed=");
  }
  m.def(
      "manual_seed", [](uint64_t seed) { manual_seed(seed); }, py::arg("seed"),
      "Seeds the default generator.");

  // --- the op table: each unary row a function of one operand, each binary row of two ---
#define NDGRAD_UNARY_OP(name, ...)                     \
  m.def(                                               \
      #name,                                           \
      [](py::handle x) {                               \
        Tensor t = to_tensor(x);                       \
        return nogil([&] { return ndgrad::name(t); }); \
      },                                               \
      py::arg("x"), kUnaryDoc);
#include <ndgrad/op_table.def>
#define NDGRAD_BINARY_OP(name, ...)                                                         \
  m.def(                                                                                    \
      #name,                                                                                \
      [](py::handle a, py::handle b) {                                                      \
        return call_binary([](const auto& x, const auto& y) { return ndgrad::name(x, y); }, \
                           operand(a, #name), operand(b, #name));                           \
      },                                                                                    \
      py::arg("a"), py::arg("b"), kBinaryDoc);
#include <ndgrad/op_table.def>
  m.def(
      "where",
      [](py::handle condition, py::handle a, py::handle b) {
        Tensor c = to_tensor(condition);
        Operand x = operand(a, "where"), y = operand(b, "where");
        using K = Operand::Kind;
        if (x.kind != K::tensor && y.kind != K::tensor)
          x.t = as_tensor_operand(x), x.kind = K::tensor;
        if (x.kind == K::tensor && y.kind == K::tensor)
          return nogil([&] { return where(c, x.t, y.t); });
        if (x.kind == K::tensor)
          return nogil(
              [&] { return y.kind == K::floating ? where(c, x.t, y.d) : where(c, x.t, y.i); });
        return nogil(
            [&] { return x.kind == K::floating ? where(c, x.d, y.t) : where(c, x.i, y.t); });
      },
      py::arg("condition"), py::arg("x"), py::arg("y"),
      "x where condition holds, else y (NumPy broadcasting; numbers allowed).");
  m.def(
      "leaky_relu",
      [](const Tensor& t, double slope) { return nogil([&] { return leaky_relu(t, slope); }); },
      py::arg("x"), py::arg("negative_slope") = 0.01, "x for x > 0, negative_slope x otherwise.");
  m.def(
      "elu", [](const Tensor& t, double alpha) { return nogil([&] { return elu(t, alpha); }); },
      py::arg("x"), py::arg("alpha") = 1.0, "x for x > 0, alpha (e^x - 1) otherwise.");
  m.def(
      "hardtanh",
      [](const Tensor& t, double lo, double hi) {
        return nogil([&] { return hardtanh(t, lo, hi); });
      },
      py::arg("x"), py::arg("min_val") = -1.0, py::arg("max_val") = 1.0,
      "x clamped to [min_val, max_val].");
  m.def(
      "gelu",
      [](const Tensor& t, const std::string& approximate) {
        return nogil([&] { return gelu(t, approximate); });
      },
      py::arg("x"), py::arg("approximate") = "none");
  m.def(
      "softmax",
      [](const Tensor& t, int64_t axis) { return nogil([&] { return nn::softmax(t, axis); }); },
      py::arg("x"), py::arg("axis") = -1, "exp(x) / sum(exp(x)) along axis, computed stably.");
  m.def(
      "log_softmax",
      [](const Tensor& t, int64_t axis) { return nogil([&] { return nn::log_softmax(t, axis); }); },
      py::arg("x"), py::arg("axis") = -1, "log(softmax(x)) along axis, computed stably.");

  // --- linear algebra ---
  m.def(
      "matmul",
      [](py::handle a, py::handle b) {
        Tensor x = to_tensor(a), y = to_tensor(b);
        return nogil([&] { return matmul(x, y); });
      },
      py::arg("a"), py::arg("b"), "NumPy's matmul: 1-d operands promoted, batch axes broadcast.");
  m.def(
      "dot", [](const Tensor& a, const Tensor& b) { return nogil([&] { return dot(a, b); }); },
      "NumPy's dot.");
  m.def(
      "inner", [](const Tensor& a, const Tensor& b) { return nogil([&] { return inner(a, b); }); },
      "The product summed over the last axes.");
  m.def(
      "outer", [](const Tensor& a, const Tensor& b) { return nogil([&] { return outer(a, b); }); },
      "The outer product of both flattened.");
  m.def(
      "einsum",
      [](const std::string& subscripts, const py::args& operands) {
        std::vector<Tensor> ts;
        for (py::handle h : operands) ts.push_back(to_tensor(h));
        return nogil([&] { return einsum(subscripts, ts); });
      },
      "einsum(subscripts, *operands): NumPy's subscripts, contracted through the GEMM.");

  // --- joining, splitting, selecting ---
  for (const char* name : {"concatenate", "cat"})
    m.def(
        name,
        [](py::handle tensors, int64_t axis) {
          std::vector<Tensor> ts = to_tensors(tensors, "concatenate");
          return nogil([&] { return cat(ts, axis); });
        },
        py::arg("tensors"), py::arg("axis") = 0,
        "Tensors joined along an existing axis (dtypes promoted).");
  m.def(
      "stack",
      [](py::handle tensors, int64_t axis) {
        std::vector<Tensor> ts = to_tensors(tensors, "stack");
        return nogil([&] { return stack(ts, axis); });
      },
      py::arg("tensors"), py::arg("axis") = 0, "Tensors of one shape joined along a new axis.");
  m.def(
      "split",
      [](const Tensor& t, py::handle size, int64_t axis) {
        if (is_integer(size)) {
          const int64_t s = to_int64(size);
          return nogil([&] { return split(t, s, axis); });
        }
        Shape sizes = to_shape(size);
        return nogil([&] { return split(t, sizes, axis); });
      },
      py::arg("x"), py::arg("split_size_or_sections"), py::arg("axis") = 0,
      "PyTorch's split: pieces of a size, or of the given sizes.");
  m.def(
      "chunk",
      [](const Tensor& t, int64_t chunks, int64_t axis) {
        return nogil([&] { return chunk(t, chunks, axis); });
      },
      py::arg("x"), py::arg("chunks"), py::arg("axis") = 0,
      "At most `chunks` pieces of ceil(size / chunks) along axis (views).");
  m.def(
      "tril", [](const Tensor& t, int64_t k) { return nogil([&] { return tril(t, k); }); },
      py::arg("x"), py::arg("k") = 0,
      "The lower triangle of the last two axes (j - i <= k), zeros elsewhere.");
  m.def(
      "triu", [](const Tensor& t, int64_t k) { return nogil([&] { return triu(t, k); }); },
      py::arg("x"), py::arg("k") = 0,
      "The upper triangle of the last two axes (j - i >= k), zeros elsewhere.");
  m.def(
      "moveaxis",
      [](const Tensor& t, int64_t source, int64_t destination) {
        return nogil([&] { return moveaxis(t, source, destination); });
      },
      "A view with axis source moved to destination.");
  m.def(
      "swapaxes",
      [](const Tensor& t, int64_t a, int64_t b) {
        return nogil([&] { return swapaxes(t, a, b); });
      },
      "A view with two axes swapped.");
  m.def(
      "take",
      [](const Tensor& t, py::handle indices) {
        Tensor i = to_tensor(indices);
        return nogil([&] { return take(t, i); });
      },
      "Elements at flat positions (in the indices' shape).");
  m.def(
      "take_along_axis",
      [](const Tensor& t, py::handle indices, int64_t axis) {
        Tensor i = to_tensor(indices);
        return nogil([&] { return take_along_axis(t, i, axis); });
      },
      py::arg("x"), py::arg("indices"), py::arg("axis"),
      "NumPy's take_along_axis: indices broadcast with x.");
  m.def(
      "nonzero", [](const Tensor& t) { return nogil([&] { return nonzero(t); }); },
      "The (count, ndim) int64 coordinates of the non-zero elements.");
  m.def(
      "masked_select",
      [](const Tensor& t, py::handle mask) {
        Tensor k = to_tensor(mask);
        return nogil([&] { return masked_select(t, k); });
      },
      "The elements where the (broadcast) mask is true, as a 1-d tensor.");
  m.def(
      "broadcast_shapes",
      [](py::handle a, py::handle b) {
        return py::tuple(py::cast(broadcast_shapes(to_shape(a), to_shape(b))));
      },
      "The shape two shapes broadcast to (ShapeError when they do not).");
  m.def(
      "sum_to",
      [](const Tensor& t, py::handle shape) {
        Shape s = to_shape(shape);
        return nogil([&] { return sum_to(t, s); });
      },
      py::arg("x"), py::arg("shape"),
      "The sum over the axes a broadcast to t's shape added: what undoes broadcasting.");

  // --- functional autograd ---
  m.def(
      "grad",
      [](py::handle outputs, py::handle inputs, py::handle grad_outputs, bool create_graph) {
        Tensor out;
        if (py::isinstance<Tensor>(outputs)) {
          out = py::cast<Tensor>(outputs);
        } else {
          std::vector<Tensor> outs = to_tensors(outputs, "grad");
          if (outs.size() != 1) throw py::value_error("grad: exactly one output is supported");
          out = outs[0];
        }
        const bool single = py::isinstance<Tensor>(inputs);
        std::vector<Tensor> ins =
            single ? std::vector<Tensor>{py::cast<Tensor>(inputs)} : to_tensors(inputs, "grad");
        Tensor g;
        if (!grad_outputs.is_none()) {
          if (py::isinstance<py::list>(grad_outputs) || py::isinstance<py::tuple>(grad_outputs)) {
            std::vector<Tensor> gs = to_tensors(grad_outputs, "grad");
            if (gs.size() != 1) throw py::value_error("grad: one grad_output per output");
            g = gs[0];
          } else {
            g = to_tensor(grad_outputs);
          }
        }
        std::vector<Tensor> r = nogil([&] { return grad(out, ins, g, create_graph); });
        return py::tuple(py::cast(r));
      },
      py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs") = py::none(),
      py::arg("create_graph") = false,
      R"doc(Gradients of one output with respect to inputs, as a tuple (no .grad is touched).

grad_outputs: the upstream gradient (needed unless the output has one element). The graph is
kept (and the gradients differentiable) with create_graph=True.)doc");
  m.def(
      "jacobian",
      [](const py::function& f, const Tensor& x) {
        // f is Python: the GIL stays held (ops inside f release it themselves).
        return jacobian([&](const Tensor& v) { return returned_tensor(f(v), "jacobian"); }, x);
      },
      py::arg("f"), py::arg("x"),
      "The full-form derivative of f at x: shape f(x).shape + x.shape.");

  py::class_<CustomOp>(m, "CustomOp", R"doc(A differentiable op written in Python.

CustomOp(name, forward, backward): forward(*inputs) returns the output (run without recording a
graph); backward(inputs, output, grad) returns one gradient per input (a tensor in the input's
shape or one that broadcasts to it, or None). Written with ndgrad ops, backward is itself
differentiable (create_graph works). Call the op on tensors: op(x, y).)doc")
      .def(
          py::init([](std::string name, const py::function& forward, const py::function& backward) {
            auto f = std::make_shared<HeldCallable>(forward);
            auto b = std::make_shared<HeldCallable>(backward);
            CustomOp op;
            op.name = std::move(name);
            op.forward = [f](const std::vector<Tensor>& xs) {
              park_if_python_exiting();
              py::gil_scoped_acquire gil;
              py::tuple args(xs.size());
              for (size_t i = 0; i < xs.size(); ++i) args[i] = py::cast(xs[i]);
              return to_tensor(py::reinterpret_borrow<py::function>(f->fn)(*args));
            };
            op.backward = [b](const std::vector<Tensor>& xs, const Tensor& out, const Tensor& g) {
              park_if_python_exiting();
              py::gil_scoped_acquire gil;
              py::object r = py::reinterpret_borrow<py::function>(b->fn)(py::cast(xs), out, g);
              std::vector<Tensor> grads;
              if (py::isinstance<Tensor>(r)) {
                grads.push_back(py::cast<Tensor>(r));
                return grads;
              }
              for (py::handle h : py::iter(r))
                grads.push_back(h.is_none() ? Tensor() : to_tensor(h));
              return grads;
            };
            return op;
          }),
          py::arg("name"), py::arg("forward"), py::arg("backward"))
      .def_readonly("name", &CustomOp::name)
      .def("__call__", [](const CustomOp& op, const py::args& inputs) {
        std::vector<Tensor> xs;
        for (py::handle h : inputs) xs.push_back(to_tensor(h));
        return nogil([&] { return op(xs); });
      });

  m.def(
      "to_dot", [](const Tensor& output) { return to_dot(output); }, py::arg("output"),
      "Graphviz DOT of the graph behind output: a node per op, edges labelled with shapes and "
      "the axes a gradient is summed over.");
  m.def(
      "explain_broadcast",
      [](py::handle a, py::handle b) { return explain_broadcast(to_shape(a), to_shape(b)).text; },
      py::arg("a"), py::arg("b"),
      "NumPy's broadcasting rules walked through for two shapes, and the sums backward applies.");

  py::class_<GradcheckResult>(m, "GradcheckResult")
      .def_readonly("ok", &GradcheckResult::ok)
      .def_readonly("max_abs_error", &GradcheckResult::max_abs_error)
      .def_readonly("max_rel_error", &GradcheckResult::max_rel_error)
      .def_readonly("report", &GradcheckResult::report)
      .def("__bool__", [](const GradcheckResult& r) { return r.ok; })
      .def("__repr__", [](const GradcheckResult& r) {
        return std::string("GradcheckResult(ok=") + (r.ok ? "True" : "False") +
               ", max_abs_error=" + std::to_string(r.max_abs_error) +
               ", max_rel_error=" + std::to_string(r.max_rel_error) + ")";
      });
  m.def(
      "gradcheck",
      [](const py::function& f, py::handle inputs, double eps, double atol, double rtol) {
        std::vector<Tensor> ins = py::isinstance<Tensor>(inputs)
                                      ? std::vector<Tensor>{py::cast<Tensor>(inputs)}
                                      : to_tensors(inputs, "gradcheck");
        return gradcheck(
            [&](const std::vector<Tensor>& xs) {
              py::tuple args(xs.size());
              for (size_t i = 0; i < xs.size(); ++i) args[i] = py::cast(xs[i]);
              return returned_tensor(f(*args), "gradcheck");
            },
            ins, eps, atol, rtol);
      },
      py::arg("f"), py::arg("inputs"), py::arg("eps") = 1e-6, py::arg("atol") = 1e-5,
      py::arg("rtol") = 1e-3,
      R"doc(Compares backward() with central finite differences in float64 under a random
upstream gradient. f(*inputs) must return a tensor. The result is truthy when the check passes;
its report names the elements that fail.)doc");
}

}  // namespace ndgrad::python
