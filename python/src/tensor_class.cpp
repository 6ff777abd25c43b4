// ndgrad.Tensor: inspection, NumPy exchange, operators, indexing, autograd and the methods.
#include <cxxabi.h>

#include <sstream>

#include "bindings.hpp"

namespace ndgrad::python {

namespace {

py::object number_of(const Tensor& t) {
  // Through NumPy's item(): exact for int64 values past 2^53.
  if (is_floating(t.dtype())) return py::float_(nogil([&] { return t.item(); }));
  nogil([&] { return t.item(); });  // the C++ error for a tensor of more than one element
  return to_numpy(t).attr("item")();
}

std::string repr(const Tensor& t) {
  std::string extra;
  if (t.requires_grad()) extra += ", requires_grad=True";
  if (const char* fn = t.grad_fn_name()) extra += std::string(", grad_fn=") + fn;
  // The C++ printing (ndgrad.set_printoptions), with Python's dtype names.
  return nogil([&] { return tensor_repr(t, py_dtype_name(t.dtype()), extra); });
}

// t.item(), t.item(i, j) or t.item((i, j)) (NumPy's): one element as a Python number; negative
// indices count from the end.
py::object item_at(const Tensor& t, const py::args& args) {
  if (args.size() == 0) return number_of(t);
  std::vector<int64_t> index;
  if (args.size() == 1 && !is_integer(args[0]))
    for (py::handle h : py::iterable(args[0])) index.push_back(to_int64(h));
  else
    for (py::handle h : args) index.push_back(to_int64(h));
  const double value = nogil([&] { return t.item(index); });  // checks the index
  if (index.size() == 1 && t.ndim() != 1) {  // a flat index (NumPy's): the same element's place
    int64_t i = index[0], n = t.numel();
    if (i < 0) i += n;
    index.assign(static_cast<size_t>(t.ndim()), 0);
    for (size_t d = index.size(); d-- > 0;) {
      index[d] = i % t.size(static_cast<int64_t>(d));
      i /= t.size(static_cast<int64_t>(d));
    }
  }
  if (is_floating(t.dtype())) return py::float_(value);
  Tensor element = t.detach();
  for (size_t d = 0; d < index.size(); ++d) {
    const int64_t i = index[d], n = element.size(0);
    element = element.select(0, i < 0 ? i + n : i);
  }
  return number_of(element);  // exact for int64 values past 2^53
}

// A binary operator: NotImplemented for an operand it does not take (Python then tries the
// other side, or raises TypeError).
template <class F>
py::object binary_operator(F f, const Tensor& self, py::handle other, bool reflected) {
  std::optional<Operand> o = to_operand(other);
  if (!o) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
  Operand me;
  me.t = self;
  return py::cast(reflected ? call_binary(f, *o, me) : call_binary(f, me, *o));
}

// x op= y: the result written into x's memory (x stays the same object, and a leaf stays a
// leaf). The result's dtype and shape must be x's (NumPy's same-kind rule, strictly).
template <class F>
py::object inplace_operator(F f, Tensor& self, py::handle other) {
  std::optional<Operand> o = to_operand(other);
  if (!o) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
  Operand me;
  me.t = self;
  Tensor r = call_binary(f, me, *o);
  if (r.dtype() != self.dtype())
    throw DTypeError(std::string("in-place operation: the result's dtype ") +
                     py_dtype_name(r.dtype()) + " cannot be stored in a " +
                     py_dtype_name(self.dtype()) + " tensor");
  if (r.shape() != self.shape())
    throw ShapeError("in-place operation: the result's shape " + shape_str(r.shape()) +
                     " is not the tensor's " + shape_str(self.shape()));
  nogil([&] { return self.copy_(r); });
  return py::cast(self);
}

Tensor reshape_args(const Tensor& t, const py::args& args) {
  Shape shape = shape_from_args(args, "reshape");
  return nogil([&] { return t.reshape(shape); });
}

// NumPy's transpose(axes) (all axes reversed without) or PyTorch's transpose(dim0, dim1).
Tensor transpose_args(const Tensor& t, const py::args& args) {
  if (args.size() == 0 || (args.size() == 1 && args[0].is_none()))
    return nogil([&] { return t.T(); });
  if (args.size() == 2 && is_integer(args[0]) && is_integer(args[1])) {
    const int64_t a = to_int64(args[0]), b = to_int64(args[1]);
    return nogil([&] { return t.transpose(a, b); });
  }
  Shape axes = shape_from_args(args, "transpose");
  return nogil([&] { return t.permute(axes); });
}

Tensor squeeze_arg(const Tensor& t, py::handle axis) {
  if (axis.is_none()) {  // every axis of size 1
    Shape kept;
    for (int64_t d : t.shape())
      if (d != 1) kept.push_back(d);
    return nogil([&] { return t.reshape(kept); });
  }
  std::vector<int64_t> axes = to_axes(axis, "squeeze");
  for (size_t i = 0; i < axes.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if ((axes[i] < 0 ? axes[i] + t.ndim() : axes[i]) ==
          (axes[j] < 0 ? axes[j] + t.ndim() : axes[j]))
        throw AxisError("squeeze: axis " + std::to_string(axes[i]) + " is given twice");
  std::sort(axes.begin(), axes.end(), [&](int64_t a, int64_t b) {
    const int64_t n = t.ndim();
    return (a < 0 ? a + n : a) > (b < 0 ? b + n : b);  // from the last, so earlier ones stay put
  });
  Tensor r = t;
  for (int64_t a : axes) {
    const int64_t n = t.ndim();
    const int64_t at = a < 0 ? a + n : a;
    // Axes count in t: removing later axes first keeps the earlier positions valid.
    r = nogil([&] { return r.squeeze(at >= 0 && at < n ? at : a); });
  }
  return r;
}

// keepdims (NumPy) or keepdim (PyTorch); axis (NumPy) or dim (PyTorch).
py::handle pick(py::handle a, py::handle b, const char* na, const char* nb) {
  if (!a.is_none() && !b.is_none())
    throw py::type_error(std::string("give ") + na + " or " + nb + ", not both");
  return a.is_none() ? b : a;
}

// + - * / straight from the type's number slots for the common operands (two tensors, a tensor
// and a Python float or int, either side): pybind11's generic route (the slot's method lookup,
// the dispatcher, its argument casters) cost more than the op itself on small tensors (an 8x8
// add from Python: most of 0.5 us). Every other operand, or a subclass, takes the bound method
// as before; the results, errors and GIL policy are the same.
struct FastArithmetic {
  static inline PyTypeObject* type = nullptr;
  static inline const py::detail::type_info* info = nullptr;
};

// The tensor inside o, when o is exactly a Tensor (not a subclass).
inline const Tensor* exact_tensor(PyObject* o) {
  if (Py_TYPE(o) != FastArithmetic::type) return nullptr;
  auto* inst = reinterpret_cast<py::detail::instance*>(o);
  py::detail::value_and_holder v = inst->get_value_and_holder(FastArithmetic::info, false);
  return v && v.holder_constructed() ? static_cast<const Tensor*>(v.value_ptr()) : nullptr;
}

inline PyObject* wrap(Tensor&& r) {
  return py::detail::type_caster_generic::cast(
             &r, py::return_value_policy::move, py::handle(), FastArithmetic::info,
             [](const void* p) -> void* { return new Tensor(*static_cast<const Tensor*>(p)); },
             [](const void* p) -> void* {
               return new Tensor(std::move(*const_cast<Tensor*>(static_cast<const Tensor*>(p))));
             })
      .ptr();
}

// A Python float or int (not bool) as the C++ API's scalar kinds; false for anything else and
// for ints past int64 (the bound method then gives the error).
struct Number {
  bool floating;
  double d;
  int64_t i;
};
inline bool exact_number(PyObject* o, Number* n) {
  if (PyFloat_CheckExact(o)) {
    *n = {true, PyFloat_AS_DOUBLE(o), 0};
    return true;
  }
  if (PyLong_CheckExact(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
      PyErr_Clear();
      return false;
    }
    *n = {false, 0.0, int64_t(v)};
    return true;
  }
  return false;
}

template <int kOp>
struct FastSlot {
  static inline PyObject* name = nullptr;            // "__add__", ...
  static inline PyObject* reflected_name = nullptr;  // "__radd__", ...

  // The bound methods, as Python's own slot for a class with __add__ and __radd__ does: the
  // left operand's method when it is a tensor, then, on NotImplemented, the right one's
  // reflected method.
  static PyObject* generic(PyObject* a, PyObject* b) {
    if (PyObject_TypeCheck(a, FastArithmetic::type)) {
      PyObject* r = PyObject_CallMethodObjArgs(a, name, b, nullptr);
      if (r != Py_NotImplemented) return r;
      Py_DECREF(r);
    }
    if (PyObject_TypeCheck(b, FastArithmetic::type))
      return PyObject_CallMethodObjArgs(b, reflected_name, a, nullptr);
    Py_RETURN_NOTIMPLEMENTED;
  }

  template <class A, class B>
  static Tensor apply(const A& a, const B& b) {
    if constexpr (kOp == 0) return ndgrad::add(a, b);
    if constexpr (kOp == 1) return ndgrad::sub(a, b);
    if constexpr (kOp == 2) return ndgrad::mul(a, b);
    if constexpr (kOp == 3) return ndgrad::div(a, b);
  }
  template <class A, class B>
  static PyObject* run(bool release, const A& a, const B& b) {
    try {
      return wrap(nogil_if(release, [&] { return apply(a, b); }));
    } catch (abi::__forced_unwind&) {  // Python ending this thread at exit: let it through
      throw;
    } catch (...) {
      return set_python_error();
    }
  }
  static PyObject* slot(PyObject* a, PyObject* b) {
    const Tensor* x = exact_tensor(a);
    const Tensor* y = exact_tensor(b);
    Number n;
    if (x && y) return run(long_elementwise(x, y), *x, *y);
    if (x && exact_number(b, &n))
      return n.floating ? run(long_elementwise(x, nullptr), *x, n.d)
                        : run(long_elementwise(x, nullptr), *x, n.i);
    if (y && exact_number(a, &n))
      return n.floating ? run(long_elementwise(y, nullptr), n.d, *y)
                        : run(long_elementwise(y, nullptr), n.i, *y);
    return generic(a, b);
  }
};

void install_fast_arithmetic(py::class_<Tensor>& cls) {
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  FastArithmetic::type = type;
  FastArithmetic::info = py::detail::get_type_info(typeid(Tensor));
  PyNumberMethods* nb = type->tp_as_number;
  if (!nb || !FastArithmetic::info) return;  // (not as expected: the generic route stays)
  const char* names[4][2] = {{"__add__", "__radd__"},
                             {"__sub__", "__rsub__"},
                             {"__mul__", "__rmul__"},
                             {"__truediv__", "__rtruediv__"}};
  PyObject** slots[4][2] = {{&FastSlot<0>::name, &FastSlot<0>::reflected_name},
                            {&FastSlot<1>::name, &FastSlot<1>::reflected_name},
                            {&FastSlot<2>::name, &FastSlot<2>::reflected_name},
                            {&FastSlot<3>::name, &FastSlot<3>::reflected_name}};
  for (int op = 0; op < 4; ++op)
    for (int side = 0; side < 2; ++side) {
      *slots[op][side] = PyUnicode_InternFromString(names[op][side]);  // kept for good
      if (!*slots[op][side]) throw py::error_already_set();
    }
  nb->nb_add = &FastSlot<0>::slot;
  nb->nb_subtract = &FastSlot<1>::slot;
  nb->nb_multiply = &FastSlot<2>::slot;
  nb->nb_true_divide = &FastSlot<3>::slot;
  PyType_Modified(type);
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::class_<Tensor> cls(m, "Tensor", R"doc(
An n-dimensional array with NumPy broadcasting and reverse-mode autodiff.

Make one with ndgrad.tensor(data), ndgrad.from_numpy(array), zeros, ones, arange, randn, ...
np.asarray(t) shares the tensor's memory.)doc");

  cls.def(py::init([](py::handle data, py::handle dtype, bool requires_grad) {
            // A tensor given: a new handle on its memory, without its history (as for arrays).
            Tensor t =
                py::isinstance<Tensor>(data)
                    ? to_tensor(py::cast(py::cast<Tensor>(data).detach()), to_optional_dtype(dtype))
                    : to_tensor(data, to_optional_dtype(dtype));
            if (requires_grad) t.requires_grad_(true);
            return t;
          }),
          py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);

  // --- inspection ---
  cls.def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("ndim", &Tensor::ndim)
      .def_property_readonly("dtype", [](const Tensor& t) { return PyDType{t.dtype()}; })
      .def_property_readonly("size", &Tensor::numel, "The number of elements (NumPy's size).")
      .def("numel", &Tensor::numel, "The number of elements.")
      .def_property_readonly("itemsize", [](const Tensor& t) { return itemsize(t.dtype()); })
      .def_property_readonly("nbytes",
                             [](const Tensor& t) { return t.numel() * itemsize(t.dtype()); })
      .def_property_readonly(
          "strides",
          [](const Tensor& t) {
            Shape s = t.strides();
            for (auto& x : s) x *= itemsize(t.dtype());
            return py::tuple(py::cast(s));
          },
          "Strides in bytes, as NumPy's.")
      .def(
          "stride", [](const Tensor& t) { return py::tuple(py::cast(t.strides())); },
          "Strides in elements, as PyTorch's.")
      .def("dim", &Tensor::ndim, "The number of axes (PyTorch's name for ndim).")
      .def("is_contiguous", &Tensor::is_contiguous,
           "Whether the elements lie row-major without gaps.")
      .def("item", &item_at,
           "The value of a one-element tensor, or of the element at the given indices "
           "(item(i, j) or item((i, j))), as a Python number.")
      .def(
          "tolist", [](const Tensor& t) { return to_numpy(t).attr("tolist")(); },
          "Nested lists of Python numbers.")
      .def("numpy", &to_numpy, "A NumPy array over the tensor's memory (no copy).")
      .def(
          "__array__",
          [](const Tensor& t, py::handle dtype, py::handle) {
            py::array a = to_numpy(t);
            if (dtype.is_none()) return py::object(a);
            return a.attr("astype")(dtype, py::arg("copy") = false);
          },
          py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("__repr__", &repr)
      .def("__str__", &repr)
      .def("__len__",
           [](const Tensor& t) {
             if (t.ndim() == 0) throw py::type_error("len() of a 0-d tensor");
             return t.shape()[0];
           })
      .def("__iter__",
           [](const Tensor& t) {
             if (t.ndim() == 0) throw py::type_error("iteration over a 0-d tensor");
             py::list rows;
             for (int64_t i = 0; i < t.shape()[0]; ++i) rows.append(py::cast(t[i]));
             return py::iter(rows);
           })
      .def("__bool__",
           [](const Tensor& t) {
             if (t.numel() != 1)
               throw py::value_error("the truth value of a tensor with " +
                                     std::to_string(t.numel()) +
                                     " elements is ambiguous; use .any() or .all()");
             return nogil([&] { return t.item(); }) != 0;
           })
      .def("__float__", [](const Tensor& t) { return nogil([&] { return t.item(); }); })
      .def("__int__", [](const Tensor& t) { return py::int_(number_of(t)); })
      .def("__index__",
           [](const Tensor& t) {
             if (is_floating(t.dtype()) || t.dtype() == DType::boolean)
               throw py::type_error("only integer tensors of one element can be an index");
             return py::int_(number_of(t));
           })
      .def("__hash__", [](py::handle self) { return reinterpret_cast<intptr_t>(self.ptr()); })
      .def("__copy__", [](const Tensor& t) { return t; })
      .def("__deepcopy__", [](const Tensor& t, py::handle) {
        // A leaf with memory of its own (clone() alone would record a graph back to t).
        Tensor c = nogil([&] { return t.detach().clone(); });
        if (t.requires_grad()) c.requires_grad_(true);
        return c;
      });
  // NumPy's ufuncs and binary operators defer to ours (ndarray + tensor is tensor.__radd__).
  cls.attr("__array_ufunc__") = py::none();

  // --- conversions and copies ---
  cls.def(
         "to",
         [](const Tensor& t, py::handle dtype) {
           DType d = to_dtype(dtype);
           return nogil([&] { return t.to(d); });
         },
         "A copy converted to dtype (differentiable between float dtypes).")
      .def(
          "astype",
          [](const Tensor& t, py::handle dtype) {
            DType d = to_dtype(dtype);
            return nogil([&] { return t.to(d); });
          },
          "NumPy's name for to(dtype).")
      .def(
          "float", [](const Tensor& t) { return nogil([&] { return t.to(DType::f32); }); },
          "to(float32).")
      .def(
          "double", [](const Tensor& t) { return nogil([&] { return t.to(DType::f64); }); },
          "to(float64).")
      .def(
          "long", [](const Tensor& t) { return nogil([&] { return t.to(DType::i64); }); },
          "to(int64).")
      .def(
          "int", [](const Tensor& t) { return nogil([&] { return t.to(DType::i32); }); },
          "to(int32).")
      .def(
          "bool", [](const Tensor& t) { return nogil([&] { return t.to(DType::boolean); }); },
          "to(bool): != 0.")
      .def(
          "contiguous", [](const Tensor& t) { return nogil([&] { return t.contiguous(); }); },
          "Itself when contiguous, else a row-major copy.")
      .def(
          "clone", [](const Tensor& t) { return nogil([&] { return t.clone(); }); },
          "A copy in memory of its own (differentiable, as the identity).")
      .def(
          "copy", [](const Tensor& t) { return nogil([&] { return t.clone(); }); },
          "NumPy's name for clone().")
      .def(
          "copy_",
          [](Tensor& t, py::handle src) {
            Tensor s = to_tensor(src);
            nogil([&] { return t.copy_(s); });
            return t;
          },
          "Copies src (broadcast, converted) into this tensor's memory, in place.");

  // --- autograd ---
  cls.def_property(
         "requires_grad", &Tensor::requires_grad, [](Tensor& t, bool on) { t.requires_grad_(on); },
         "Whether gradients flow to this tensor (settable on leaves).")
      .def(
          "requires_grad_", [](Tensor& t, bool on) { return t.requires_grad_(on); },
          py::arg("requires_grad") = true, "Sets requires_grad on a leaf; returns the tensor.")
      .def_property(
          "grad",
          [](const Tensor& t) -> py::object {
            Tensor g = t.grad();
            if (!g.defined()) return py::none();
            return py::cast(g);
          },
          [](Tensor& t, py::handle g) {
            if (!g.is_none())
              throw py::type_error("only `t.grad = None` (clearing the gradient) is supported");
            t.zero_grad();
          },
          "The accumulated gradient (None before any backward).")
      .def("zero_grad", &Tensor::zero_grad, "Clears the accumulated gradient.")
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property_readonly("grad_fn",
                             [](const Tensor& t) -> py::object {
                               const char* name = t.grad_fn_name();
                               if (!name) return py::none();
                               return py::str(name);
                             })
      .def(
          "backward",
          [](const Tensor& t, py::handle gradient, bool retain_graph, bool create_graph) {
            Tensor g = gradient.is_none() ? Tensor() : to_tensor(gradient);
            nogil([&] {
              t.backward(g, retain_graph, create_graph);
              return 0;
            });
          },
          py::arg("gradient") = py::none(), py::arg("retain_graph") = false,
          py::arg("create_graph") = false,
          "Accumulates d(self)/d(leaf) into every leaf's .grad; gradient: the upstream gradient "
          "(needed unless self has one element).")
      .def(
          "register_hook",
          [](const Tensor& t, const py::function& fn) {
            auto held = std::make_shared<HeldCallable>(fn);
            t.register_hook([held](const Tensor& g) -> Tensor {
              park_if_python_exiting();
              py::gil_scoped_acquire gil;  // backward runs with the GIL released
              py::object r = py::reinterpret_borrow<py::function>(held->fn)(g);
              return r.is_none() ? Tensor() : to_tensor(r);
            });
          },
          py::arg("hook"),
          "Calls hook(grad) with this tensor's total gradient in every backward pass; a tensor it "
          "returns (same shape) replaces the gradient.")
      .def("detach", &Tensor::detach, "The same memory, without history.")
      .def(
          "detach_", [](const Tensor& t) { return t.detach(); },
          "detach() (a new handle; the tensor itself is unchanged).");

  // --- operators ---
#define NDGRAD_PY_BINARY(pyname, rpyname, ipyname, fn)                                          \
  cls.def(pyname, [](const Tensor& a, py::handle b) {                                           \
    return binary_operator([](const auto& x, const auto& y) { return fn(x, y); }, a, b, false); \
  });                                                                                           \
  cls.def(rpyname, [](const Tensor& a, py::handle b) {                                          \
    return binary_operator([](const auto& x, const auto& y) { return fn(x, y); }, a, b, true);  \
  });                                                                                           \
  if (ipyname[0] != '\0')                                                                       \
    cls.def(ipyname, [](Tensor& a, py::handle b) {                                              \
      return inplace_operator([](const auto& x, const auto& y) { return fn(x, y); }, a, b);     \
    });
  NDGRAD_PY_BINARY("__add__", "__radd__", "__iadd__", ndgrad::add)
  NDGRAD_PY_BINARY("__sub__", "__rsub__", "__isub__", ndgrad::sub)
  NDGRAD_PY_BINARY("__mul__", "__rmul__", "__imul__", ndgrad::mul)
  NDGRAD_PY_BINARY("__truediv__", "__rtruediv__", "__itruediv__", ndgrad::div)
  NDGRAD_PY_BINARY("__floordiv__", "__rfloordiv__", "__ifloordiv__", ndgrad::floor_divide)
  NDGRAD_PY_BINARY("__mod__", "__rmod__", "__imod__", ndgrad::remainder)
  NDGRAD_PY_BINARY("__pow__", "__rpow__", "__ipow__", ndgrad::pow)
  NDGRAD_PY_BINARY("__and__", "__rand__", "__iand__", ndgrad::bitwise_and)
  NDGRAD_PY_BINARY("__or__", "__ror__", "__ior__", ndgrad::bitwise_or)
  NDGRAD_PY_BINARY("__xor__", "__rxor__", "__ixor__", ndgrad::bitwise_xor)
  NDGRAD_PY_BINARY("__lshift__", "__rlshift__", "__ilshift__", ndgrad::left_shift)
  NDGRAD_PY_BINARY("__rshift__", "__rrshift__", "__irshift__", ndgrad::right_shift)
  // Comparisons: Python reflects them itself (3 < t is t > 3).
#define NDGRAD_PY_COMPARE(pyname, fn)                                                           \
  cls.def(pyname, [](const Tensor& a, py::handle b) {                                           \
    return binary_operator([](const auto& x, const auto& y) { return fn(x, y); }, a, b, false); \
  });
  NDGRAD_PY_COMPARE("__eq__", ndgrad::equal)
  NDGRAD_PY_COMPARE("__ne__", ndgrad::not_equal)
  NDGRAD_PY_COMPARE("__lt__", ndgrad::less)
  NDGRAD_PY_COMPARE("__le__", ndgrad::less_equal)
  NDGRAD_PY_COMPARE("__gt__", ndgrad::greater)
  NDGRAD_PY_COMPARE("__ge__", ndgrad::greater_equal)
#undef NDGRAD_PY_COMPARE
#undef NDGRAD_PY_BINARY
  cls.def("__matmul__",
          [](const Tensor& a, py::handle b) -> py::object {
            std::optional<Operand> o = to_operand(b);
            if (!o || o->kind != Operand::Kind::tensor)
              return py::reinterpret_borrow<py::object>(Py_NotImplemented);
            return py::cast(nogil([&] { return matmul(a, o->t); }));
          })
      .def("__rmatmul__",
           [](const Tensor& a, py::handle b) -> py::object {
             std::optional<Operand> o = to_operand(b);
             if (!o || o->kind != Operand::Kind::tensor)
               return py::reinterpret_borrow<py::object>(Py_NotImplemented);
             return py::cast(nogil([&] { return matmul(o->t, a); }));
           })
      .def("__neg__", [](const Tensor& t) { return nogil([&] { return -t; }); })
      .def("__pos__", [](const Tensor& t) { return t; })
      .def("__abs__", [](const Tensor& t) { return nogil([&] { return abs(t); }); })
      .def("__invert__", [](const Tensor& t) {
        return nogil([&] { return t.dtype() == DType::boolean ? logical_not(t) : bitwise_not(t); });
      });

  // --- indexing ---
  cls.def("__getitem__",
          [](const Tensor& t, py::handle index) {
            std::vector<TensorIndex> idx = to_index(index);
            return nogil([&] { return t.index(idx); });
          })
      .def("__setitem__", [](Tensor& t, py::handle index, py::handle value) {
        std::vector<TensorIndex> idx = to_index(index);
        if (py::isinstance<py::float_>(value)) {
          const double v = py::cast<double>(value);
          nogil([&] { return t.index_put_(idx, v); });
          return;
        }
        Tensor v = to_tensor(value);
        nogil([&] { return t.index_put_(idx, v); });
      });

  // --- shape ops ---
  cls.def("reshape", &reshape_args,
          "reshape(*shape) or reshape(shape); one -1 allowed. A view "
          "when the layout allows, else a copy.")
      .def("view", &reshape_args, "reshape(*shape): a view when the layout allows, else a copy.")
      .def(
          "flatten", [](const Tensor& t) { return nogil([&] { return t.flatten(); }); },
          "The elements as a 1-d tensor (a view when contiguous).")
      .def(
          "ravel", [](const Tensor& t) { return nogil([&] { return t.flatten(); }); },
          "NumPy's name for flatten().")
      .def("transpose", &transpose_args,
           "transpose() reverses the axes, transpose(axes) permutes them (NumPy), "
           "transpose(a, b) swaps two (PyTorch).")
      .def(
          "permute",
          [](const Tensor& t, const py::args& args) {
            Shape axes = shape_from_args(args, "permute");
            return nogil([&] { return t.permute(axes); });
          },
          "A view with the axes in the given order.")
      .def_property_readonly("T", [](const Tensor& t) { return nogil([&] { return t.T(); }); })
      .def_property_readonly("mT", [](const Tensor& t) { return nogil([&] { return t.mT(); }); })
      .def("squeeze", &squeeze_arg, py::arg("axis") = py::none(),
           "Removes the given axes of size 1 (every one when axis is None).")
      .def(
          "unsqueeze",
          [](const Tensor& t, int64_t axis) { return nogil([&] { return t.unsqueeze(axis); }); },
          py::arg("axis"), "A view with a new axis of size 1 at axis.")
      .def(
          "broadcast_to",
          [](const Tensor& t, py::handle shape) {
            Shape s = to_shape(shape);
            return nogil([&] { return t.broadcast_to(s); });
          },
          "A view of this tensor broadcast to shape (stride 0 on the new axes).")
      .def(
          "expand",
          [](const Tensor& t, const py::args& args) {
            Shape s = shape_from_args(args, "expand");
            const Shape own = t.shape();
            // PyTorch's -1: keep that axis' size.
            for (size_t i = 0; i < s.size(); ++i) {
              const size_t lead = s.size() - own.size();
              if (s[i] == -1 && i >= lead) s[i] = own[i - lead];
            }
            return nogil([&] { return t.broadcast_to(s); });
          },
          "PyTorch's expand: broadcast_to, with -1 keeping an axis' size.")
      .def(
          "expand_as",
          [](const Tensor& t, const Tensor& other) {
            return nogil([&] { return t.broadcast_to(other.shape()); });
          },
          "broadcast_to(other.shape).")
      .def(
          "flip",
          [](const Tensor& t, py::handle axis) {
            std::vector<int64_t> axes = to_axes(axis, "flip");
            return nogil([&] { return flip(t, axes); });
          },
          py::arg("axis") = py::none(),
          "A view with the elements reversed along the axes (every axis when None).")
      .def(
          "matmul",
          [](const Tensor& a, const Tensor& b) { return nogil([&] { return matmul(a, b); }); },
          "NumPy's matmul.");

  // --- reductions (NumPy's axis/keepdims, PyTorch's dim/keepdim) ---
#define NDGRAD_PY_REDUCTION(name, expr)                                              \
  cls.def(                                                                           \
      #name,                                                                         \
      [](const Tensor& t, py::handle axis, py::handle keepdims, py::handle dim,      \
         py::handle keepdim) {                                                       \
        std::vector<int64_t> axes = to_axes(pick(axis, dim, "axis", "dim"), #name);  \
        py::handle k = pick(keepdims, keepdim, "keepdims", "keepdim");               \
        const bool keep = !k.is_none() && py::cast<bool>(k);                         \
        return nogil([&] { return expr; });                                          \
      },                                                                             \
      py::arg("axis") = py::none(), py::arg("keepdims") = py::none(), py::kw_only(), \
      py::arg("dim") = py::none(), py::arg("keepdim") = py::none(),                  \
      "The " #name                                                                   \
      " over axis (an int, a tuple, or None: all), keeping the reduced axes as "     \
      "size 1 with keepdims (PyTorch's dim and keepdim work too).");
  NDGRAD_PY_REDUCTION(sum, t.sum(axes, keep))
  NDGRAD_PY_REDUCTION(mean, t.mean(axes, keep))
  NDGRAD_PY_REDUCTION(max, t.max(axes, keep))
  NDGRAD_PY_REDUCTION(min, t.min(axes, keep))
  NDGRAD_PY_REDUCTION(amax, t.max(axes, keep))
  NDGRAD_PY_REDUCTION(amin, t.min(axes, keep))
  NDGRAD_PY_REDUCTION(prod, t.prod(axes, keep))
  NDGRAD_PY_REDUCTION(any, t.any(axes, keep))
  NDGRAD_PY_REDUCTION(all, t.all(axes, keep))
  NDGRAD_PY_REDUCTION(nansum, t.nansum(axes, keep))
  NDGRAD_PY_REDUCTION(nanmean, t.nanmean(axes, keep))
  NDGRAD_PY_REDUCTION(count_nonzero, t.count_nonzero(axes, keep))
  NDGRAD_PY_REDUCTION(logsumexp, t.logsumexp(axes, keep))
#undef NDGRAD_PY_REDUCTION
  // var/std: correction (PyTorch's) or ddof (NumPy's); the default 1 is PyTorch's.
  for (const char* name : {"var", "std"}) {
    const bool is_var = name[0] == 'v';
    cls.def(
        name,
        [is_var](const Tensor& t, py::handle axis, py::handle ddof, py::handle keepdims,
                 py::handle dim, py::handle correction, py::handle keepdim) {
          std::vector<int64_t> axes = to_axes(pick(axis, dim, "axis", "dim"), "var");
          py::handle c = pick(ddof, correction, "ddof", "correction");
          const double corr = c.is_none() ? 1.0 : py::cast<double>(c);
          py::handle k = pick(keepdims, keepdim, "keepdims", "keepdim");
          const bool keep = !k.is_none() && py::cast<bool>(k);
          return nogil(
              [&] { return is_var ? var(t, axes, corr, keep) : ndgrad::std(t, axes, corr, keep); });
        },
        py::arg("axis") = py::none(), py::arg("ddof") = py::none(),
        py::arg("keepdims") = py::none(), py::kw_only(), py::arg("dim") = py::none(),
        py::arg("correction") = py::none(), py::arg("keepdim") = py::none(),
        "Variance (std: its square root) over axis, dividing by n - ddof; the default ddof 1 "
        "is PyTorch's (NumPy's is 0).");
  }
  for (const char* name : {"argmax", "argmin"}) {
    const bool is_max = name[3] == 'm' && name[4] == 'a';
    cls.def(
        name,
        [is_max](const Tensor& t, py::handle axis, bool keepdims, py::handle dim, bool keepdim) {
          py::handle a = pick(axis, dim, "axis", "dim");
          std::optional<int64_t> ax;
          if (!a.is_none()) ax = to_int64(a);
          const bool keep = keepdims || keepdim;
          return nogil([&] { return is_max ? t.argmax(ax, keep) : t.argmin(ax, keep); });
        },
        py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(),
        py::arg("dim") = py::none(), py::arg("keepdim") = false,
        "The int64 index of the first maximum (minimum) along axis; of the flattened tensor "
        "when axis is None.");
  }
  cls.def(
         "cumsum",
         [](const Tensor& t, int64_t axis) { return nogil([&] { return t.cumsum(axis); }); },
         py::arg("axis"), "The running sum along axis.")
      .def(
          "cumprod",
          [](const Tensor& t, int64_t axis) { return nogil([&] { return t.cumprod(axis); }); },
          py::arg("axis"), "The running product along axis.")
      .def(
          "norm",
          [](const Tensor& t, double p, py::handle axis, bool keepdims) {
            std::vector<int64_t> axes = to_axes(axis, "norm");
            return nogil([&] { return t.norm(p, axes, keepdims); });
          },
          py::arg("p") = 2.0, py::arg("axis") = py::none(), py::arg("keepdims") = false,
          "The p-norm over axis (all axes when None).");

  // --- elementwise methods: every unary row of the op table, and the named binary ones ---
#define NDGRAD_UNARY_OP(name, ...)                                                   \
  cls.def(                                                                           \
      #name, [](const Tensor& t) { return nogil([&] { return ndgrad::name(t); }); }, \
      "Elementwise: ndgrad." #name "(self), a row of the library's op table.");
#include <ndgrad/op_table.def>
#define NDGRAD_BINARY_OP(name, ...)                                                                \
  cls.def(                                                                                         \
      #name,                                                                                       \
      [](const Tensor& a, py::handle b) {                                                          \
        return binary_operator([](const auto& x, const auto& y) { return ndgrad::name(x, y); }, a, \
                               b, false);                                                          \
      },                                                                                           \
      "Elementwise with broadcasting: ndgrad." #name "(self, other), an op table row.");
#include <ndgrad/op_table.def>
  cls.def(
      "clamp",
      [](const Tensor& t, py::handle min, py::handle max) {
        auto bound = [](py::handle h) -> std::optional<Operand> {
          if (h.is_none()) return std::nullopt;
          std::optional<Operand> o = to_operand(h);
          if (!o) throw py::type_error("clamp: bounds must be numbers, tensors or None");
          return o;
        };
        std::optional<Operand> lo = bound(min), hi = bound(max);
        const bool tensors =
            (lo && lo->kind == Operand::Kind::tensor) || (hi && hi->kind == Operand::Kind::tensor);
        if (tensors) {
          auto as_tensor = [&](const std::optional<Operand>& o) -> Tensor {
            if (!o) return Tensor();
            if (o->kind == Operand::Kind::tensor) return o->t;
            return o->kind == Operand::Kind::floating ? scalar(o->d) : to_tensor(py::int_(o->i));
          };
          Tensor l = as_tensor(lo), h = as_tensor(hi);
          return nogil([&] { return clamp(t, l, h); });
        }
        auto num = [](const std::optional<Operand>& o) -> std::optional<double> {
          if (!o) return std::nullopt;
          return o->kind == Operand::Kind::floating ? o->d : static_cast<double>(o->i);
        };
        // Integer bounds keep an integer tensor's dtype (the C++ API's integer scalars).
        const bool ints = (!lo || lo->kind == Operand::Kind::integer) &&
                          (!hi || hi->kind == Operand::Kind::integer);
        if (ints && !is_floating(t.dtype())) {
          auto as_i = [](const std::optional<Operand>& o) -> std::optional<int64_t> {
            if (!o) return std::nullopt;
            return o->i;
          };
          std::optional<int64_t> l = as_i(lo), h = as_i(hi);
          return nogil([&] {
            if (l && h) return ndgrad::clamp(t, *l, *h);
            if (l) return ndgrad::clamp(t, *l);
            return ndgrad::clamp(t, std::nullopt, *h);
          });
        }
        std::optional<double> l = num(lo), h = num(hi);
        return nogil([&] { return ndgrad::clamp(t, l, h); });
      },
      py::arg("min") = py::none(), py::arg("max") = py::none(),
      "Values limited to [min, max] (numbers or tensors; either may be None). clip is the same.");
  cls.attr("clip") = cls.attr("clamp");
  install_fast_arithmetic(cls);
}

}  // namespace ndgrad::python
