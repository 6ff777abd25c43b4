// The module ndgrad._core: exceptions, dtypes, and the pieces the other files bind.
#include <memory>

#include "bindings.hpp"
#include "ndgrad/threads.hpp"
#include "ndgrad/version.hpp"

namespace ndgrad::python {

namespace {

// The exception classes, made once and kept for the process (never released at exit).
struct Errors {
  PyObject *error, *shape, *index, *axis, *autograd, *dtype, *io, *value, *linalg, *memory;
};
Errors errors;

PyObject* new_error(py::module_& m, const char* name, std::initializer_list<PyObject*> bases,
                    const char* doc) {
  py::tuple tuple(bases.size());
  size_t i = 0;
  for (PyObject* b : bases) tuple[i++] = py::handle(b);
  const std::string qualified = std::string("ndgrad.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, tuple.ptr(), nullptr);
  if (!cls) throw py::error_already_set();
  m.add_object(name, py::handle(cls));  // the module holds a reference; errors keeps another
  Py_INCREF(cls);
  return cls;
}

// The C++ advice in a message, as Python spells it.
std::string in_python_terms(std::string message) {
  static const std::pair<const char*, const char*> kSpellings[] = {
      {"a NoGradGuard", "`with ndgrad.no_grad():`"},
      {"retain_graph=true", "retain_graph=True"},
      {"create_graph=true", "create_graph=True"},
      {"DType::f32", "ndgrad.float32"},
      {"DType::f64", "ndgrad.float64"},
      {"DType::i64", "ndgrad.int64"},
      {"DType::boolean", "ndgrad.bool"},
      {"DType::i32", "ndgrad.int32"},
      {"DType::u8", "ndgrad.uint8"},
      {"DType::i8", "ndgrad.int8"},
      {"DType::f16", "ndgrad.float16"},
      {"DType::bf16", "ndgrad.bfloat16"},
  };
  for (const auto& [cpp, python] : kSpellings) {
    const std::string from = cpp, to = python;
    for (size_t at = message.find(from); at != std::string::npos;
         at = message.find(from, at + to.size()))
      message.replace(at, from.size(), to);
  }
  return message;
}

}  // namespace

void register_errors(py::module_& m) {
  errors.error = new_error(m, "Error", {PyExc_Exception}, "The base of every error ndgrad raises.");
  errors.shape = new_error(m, "ShapeError", {errors.error, PyExc_ValueError},
                           "Incompatible shapes (broadcasting, matmul, reshape, ...).");
  errors.index = new_error(m, "IndexError", {errors.error, PyExc_IndexError},
                           "An index outside its axis, too many indices, two ellipses.");
  errors.axis = new_error(m, "AxisError", {errors.error, PyExc_IndexError, PyExc_ValueError},
                          "An axis outside [-ndim, ndim) or given twice (like numpy.AxisError).");
  errors.autograd = new_error(m, "AutogradError", {errors.error, PyExc_RuntimeError},
                              "Misuse of autograd (backward twice, a non-scalar output, ...).");
  errors.dtype = new_error(m, "DTypeError", {errors.error, PyExc_TypeError},
                           "An operation applied to a dtype it does not support.");
  errors.io = new_error(m, "IOError", {errors.error, PyExc_OSError}, "File loading and saving.");
  errors.value =
      new_error(m, "ValueError", {errors.error, PyExc_ValueError}, "A bad argument value.");
  errors.linalg = new_error(m, "LinAlgError", {errors.error, PyExc_ValueError},
                            "A matrix that cannot be factored (singular, not definite).");
  errors.memory = new_error(m, "MemoryError", {errors.error, PyExc_MemoryError},
                            "Memory that cannot be had (names the call, shape and bytes).");
  py::register_exception_translator(raise_python_error);
}

void raise_python_error(std::exception_ptr p) {
  {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ShapeError& e) {
      PyErr_SetString(errors.shape, in_python_terms(e.what()).c_str());
    } catch (const AxisError& e) {
      PyErr_SetString(errors.axis, in_python_terms(e.what()).c_str());
    } catch (const IndexError& e) {
      PyErr_SetString(errors.index, in_python_terms(e.what()).c_str());
    } catch (const AutogradError& e) {
      PyErr_SetString(errors.autograd, in_python_terms(e.what()).c_str());
    } catch (const DTypeError& e) {
      PyErr_SetString(errors.dtype, in_python_terms(e.what()).c_str());
    } catch (const IOError& e) {
      PyErr_SetString(errors.io, in_python_terms(e.what()).c_str());
    } catch (const LinAlgError& e) {
      PyErr_SetString(errors.linalg, in_python_terms(e.what()).c_str());
    } catch (const MemoryError& e) {
      PyErr_SetString(errors.memory, in_python_terms(e.what()).c_str());
    } catch (const ValueError& e) {
      PyErr_SetString(errors.value, in_python_terms(e.what()).c_str());
    } catch (const Error& e) {
      PyErr_SetString(errors.error, in_python_terms(e.what()).c_str());
    } catch (const py::cast_error& e) {
      // An argument converted inside a binding (py::cast): a wrong type, as Python's TypeError
      // (pybind11 raises its RuntimeError).
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  }
}

PyObject* set_python_error() noexcept {
  try {
    raise_python_error(std::current_exception());  // the library's errors
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
  return nullptr;
}

void bind_dtype(py::module_& m) {
  py::class_<PyDType>(m, "dtype", "A tensor's element type: ndgrad.float32, ndgrad.int64, ...")
      .def(py::init([](py::handle h) { return PyDType{to_dtype(h)}; }), py::arg("spec"),
           "A dtype from a name ('float32', 'f32', 'double', ...), a NumPy dtype or type.")
      .def_property_readonly("name", [](PyDType d) { return py_dtype_name(d.dtype); })
      .def_property_readonly("itemsize", [](PyDType d) { return itemsize(d.dtype); })
      .def_property_readonly("is_floating_point", [](PyDType d) { return is_floating(d.dtype); })
      .def_property_readonly(
          "numpy", [](PyDType d) { return numpy_dtype(d.dtype); },
          "The NumPy dtype (TypeError for bfloat16, which NumPy lacks).")
      .def("__repr__", [](PyDType d) { return std::string("ndgrad.") + py_dtype_name(d.dtype); })
      .def("__str__", [](PyDType d) { return py_dtype_name(d.dtype); })
      .def("__hash__", [](PyDType d) { return py::hash(py::str(py_dtype_name(d.dtype))); })
      .def("__eq__",
           [](PyDType d, py::handle other) {
             try {
               return to_dtype(other) == d.dtype;
             } catch (py::error_already_set&) {
               return false;
             } catch (py::type_error&) {
               return false;
             }
           })
      .def("__ne__", [](PyDType d, py::handle other) {
        try {
          return to_dtype(other) != d.dtype;
        } catch (py::error_already_set&) {
          return true;
        } catch (py::type_error&) {
          return true;
        }
      });
  for (DType d : {DType::f32, DType::f64, DType::i64, DType::boolean, DType::i32, DType::u8,
                  DType::i8, DType::f16, DType::bf16})
    m.attr(py_dtype_name(d)) = PyDType{d};
  m.attr("bool_") = PyDType{DType::boolean};
}

namespace {

// Grad mode for a `with` block: the mode asked for while inside, the previous one after.
class GradModeScope {
 public:
  explicit GradModeScope(bool enabled) : enabled_(enabled) {}
  void enter() {
    if (mode_) throw py::value_error("this grad-mode context is already entered");
    mode_ = std::make_unique<AutoGradMode>(enabled_);
  }
  void exit() { mode_.reset(); }

 private:
  bool enabled_;
  std::unique_ptr<AutoGradMode> mode_;
};

// Strict broadcasting for a `with` block, on this thread; re-entrant (a stack of guards).
class StrictScope {
 public:
  explicit StrictScope(const std::string& level) {
    if (level == "no_implicit")
      level_ = StrictBroadcast::no_implicit;
    else if (level == "no_rank_promotion")
      level_ = StrictBroadcast::no_rank_promotion;
    else if (level == "warn")
      level_ = StrictBroadcast::warn;
    else if (level == "off")
      level_ = StrictBroadcast::off;
    else
      throw py::value_error(
          "strict_broadcast: level must be 'no_implicit', "
          "'no_rank_promotion', 'warn' or 'off', got '" +
          level + "'");
  }
  void enter() { guards_.push_back(std::make_unique<StrictBroadcastGuard>(level_)); }
  void exit() {
    if (!guards_.empty()) guards_.pop_back();
  }

 private:
  StrictBroadcast level_;
  std::vector<std::unique_ptr<StrictBroadcastGuard>> guards_;
};

}  // namespace

}  // namespace ndgrad::python

PYBIND11_MODULE(_core, m) {
  using namespace ndgrad::python;
  m.doc() = "ndgrad's C++ core: tensors with NumPy broadcasting and reverse-mode autodiff.";
  m.attr("__version__") = ndgrad::version();  // the library's, from project(VERSION) in CMake
  main_thread_ident = pybind11::cast<unsigned long>(
      pybind11::module_::import("threading").attr("main_thread")().attr("ident"));
  register_errors(m);
  bind_dtype(m);
  bind_tensor(m);
  bind_functions(m);
  bind_nn_optim(m);
  bind_dlpack(m);
  bind_training(m);
  bind_math(m);
  bind_gradcheck_broadcasting(m);
  bind_printing(m);
  bind_explain_grad(m);
  bind_audit(m);

  pybind11::class_<GradModeScope>(m, "_GradModeScope")
      .def(pybind11::init<bool>())
      .def("__enter__", [](GradModeScope& s) { s.enter(); })
      .def("__exit__", [](GradModeScope& s, pybind11::args) {
        s.exit();
        return false;
      });
  pybind11::class_<StrictScope>(m, "strict_broadcast",
                                R"doc(Strict broadcasting inside a with block.

level 'no_implicit' (default): every operand must already have the result's shape;
'no_rank_promotion': operands must have equal ranks; 'warn': as 'no_implicit', but a warning on
stderr (once per call site and op) and the op runs; 'off'. A refused op raises ShapeError naming
the shapes and the Python file and line. 0-d operands, explicit broadcast_to, and the library's
own broadcasting (backward, composites) are always allowed.)doc")
      .def(pybind11::init<const std::string&>(), pybind11::arg("level") = "no_implicit")
      .def("__enter__",
           [](pybind11::object self) {
             self.cast<StrictScope&>().enter();
             return self;
           })
      .def("__exit__", [](StrictScope& s, pybind11::args) {
        s.exit();
        return false;
      });
  m.def("is_grad_enabled", &ndgrad::is_grad_enabled,
        "Whether ops on this thread record a graph now.");
  m.def(
      "set_num_threads",
      [](int n) {
        GilRelease release;  // (the workers start here)
        ndgrad::set_num_threads(n);
      },
      pybind11::arg("n"),
      "Use n threads (1 to 1024) in large kernels and BLAS; ValueError outside that range, "
      "MemoryError when the system cannot start the workers (the previous count stays).");
  m.def("get_num_threads", &ndgrad::get_num_threads,
        "How many threads large kernels use (the hardware's unless set_num_threads said).");
}
