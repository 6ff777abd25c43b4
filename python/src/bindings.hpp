#pragma once
// The Python module's shared pieces: conversions between Python objects and tensors, and the
// helpers every binding file uses.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <ndgrad/ndgrad.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ndgrad::python {

namespace py = pybind11;

// Whether the interpreter is exiting (or gone). Python then ends a daemon thread that asks for
// the GIL by unwinding its stack (pthread_exit), and an unwinding through a noexcept frame (a
// destructor, the library's) aborts the process: the callbacks that only drop a reference leave
// it, and a thread that needs the GIL back waits for the process to end instead (park).
inline bool python_exiting() { return !Py_IsInitialized() || _Py_IsFinalizing(); }
[[noreturn]] inline void park() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}
// The thread that started the interpreter: it finalizes it too (running __del__ methods then),
// so it is never parked (module.cpp sets it at import).
inline unsigned long main_thread_ident = 0;
// The GIL taken back by a callback (a hook, a custom op) called from the library, or by
// GilRelease: any thread but the main one waits for the end while the interpreter exits.
inline void park_if_python_exiting() {
  if (python_exiting() && PyThread_get_thread_ident() != main_thread_ident) park();
}

// The GIL given up for a scope. Unlike py::gil_scoped_release, taking it back is safe while
// the interpreter exits (see python_exiting); should Python still end the thread there, the
// destructor lets the unwinding through (noexcept(false)).
class GilRelease {
 public:
  GilRelease() : state_(PyEval_SaveThread()) {}
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;
  ~GilRelease() noexcept(false) {
    park_if_python_exiting();
    PyEval_RestoreThread(state_);
  }

 private:
  PyThreadState* state_;
};

// Runs f with the GIL released (the op's arguments are converted already): other Python threads
// go on while a kernel runs. Tensors that f drops may hand NumPy memory back; that path takes
// the GIL itself (convert.cpp).
template <class F>
auto nogil(F&& f) {
  GilRelease release;
  return f();
}

// A dtype as Python sees it: ndgrad.float32, ...; compares equal to its name, its short name
// and the NumPy dtype.
struct PyDType {
  DType dtype;
};

// 'float32', 'float64', 'int64', 'bool', 'int32', 'uint8', 'int8', 'float16', 'bfloat16'.
const char* py_dtype_name(DType dtype);
// A dtype from a PyDType, a name ('float32', 'f32', 'float', 'double', 'long', ...), a NumPy
// dtype or scalar type (np.float32); TypeError for anything else.
DType to_dtype(py::handle h);
std::optional<DType> to_optional_dtype(py::handle h);  // None gives nothing

// The NumPy dtype of a tensor dtype (bf16 has none: TypeError).
py::dtype numpy_dtype(DType dtype);

// A tensor from a Python value: a Tensor (as is, or converted to dtype), a NumPy array (memory
// shared when the dtype is kept and the array is writeable and aligned: from_numpy), a NumPy
// scalar, a bool, int or float, or nested lists/tuples of those. Ragged nesting and other types
// are ValueError and TypeError naming what was found.
Tensor to_tensor(py::handle h, std::optional<DType> dtype = std::nullopt);
// The NumPy array over a tensor's memory (strides included; pending values computed first); it
// keeps the memory alive. bf16 has no NumPy dtype: a float32 copy.
py::array to_numpy(const Tensor& t);
// A tensor over a NumPy array's memory when it can be shared, else over a copy.
Tensor from_numpy(py::handle array);

// One operand of a binary op: a tensor or a Python number (kept as a number, so that it counts
// by its kind as in the C++ API: an int keeps an integer tensor's dtype).
struct Operand {
  enum class Kind { tensor, floating, integer } kind = Kind::tensor;
  Tensor t;
  double d = 0;
  int64_t i = 0;
};
// nullopt when h is not something an operator takes (the operator returns NotImplemented).
std::optional<Operand> to_operand(py::handle h);
// An int as int64, or a ValueError naming its value when it does not fit.
int64_t to_int64(py::handle h);
// Whether h is a Python or NumPy integer (not bool).
bool is_integer(py::handle h);

// Runs f with the GIL released when release is set, else holding it: giving the GIL up and
// taking it back costs about 0.1 us, a third of a small op's whole call from Python.
template <class F>
auto nogil_if(bool release, F&& f) {
  if (!release) return f();
  GilRelease gil;
  return f();
}

// Elements from which an elementwise op runs long enough (microseconds) that other Python
// threads should go on meanwhile.
constexpr int64_t kReleaseElements = int64_t(1) << 14;

// Whether an elementwise op over these operands (broadcast together) reaches kReleaseElements:
// the broadcast result's size, whatever the operands' own.
inline bool long_elementwise(const Tensor* a, const Tensor* b) {
  const Shape empty;
  const Shape& sa = a && a->defined() ? a->shape() : empty;
  const Shape& sb = b && b->defined() ? b->shape() : empty;
  int64_t n = 1;
  for (size_t i = 0; i < std::max(sa.size(), sb.size()); ++i) {
    const int64_t da = i < sa.size() ? sa[sa.size() - 1 - i] : 1;
    const int64_t db = i < sb.size() ? sb[sb.size() - 1 - i] : 1;
    n *= std::max<int64_t>(std::max(da, db), 1);
    if (n >= kReleaseElements) return true;
  }
  return false;
}

// Calls f(a, b) with the operands' C++ types (Tensor, double, int64_t), the GIL released when
// the result is large (long_elementwise). Two numbers: the first becomes a 0-d tensor.
template <class F>
Tensor call_binary(F&& f, const Operand& a, const Operand& b) {
  using K = Operand::Kind;
  const bool release =
      long_elementwise(a.kind == K::tensor ? &a.t : nullptr, b.kind == K::tensor ? &b.t : nullptr);
  auto with_b = [&](const auto& x) -> Tensor {
    switch (b.kind) {
      case K::tensor:
        return nogil_if(release, [&] { return f(x, b.t); });
      case K::floating:
        return nogil_if(release, [&] { return f(x, b.d); });
      default:
        return nogil_if(release, [&] { return f(x, b.i); });
    }
  };
  switch (a.kind) {
    case K::tensor:
      return with_b(a.t);
    case K::floating:
      if (b.kind == K::tensor) return nogil_if(release, [&] { return f(a.d, b.t); });
      return with_b(scalar(a.d));
    default:
      if (b.kind == K::tensor) return nogil_if(release, [&] { return f(a.i, b.t); });
      return with_b(to_tensor(py::int_(a.i)));
  }
}

// Axes of a reduction: None (all), an int or a sequence of ints. An empty sequence is a
// ValueError (NumPy reduces over no axes there; the C++ API reads {} as all axes).
std::vector<int64_t> to_axes(py::handle axis, const char* op);
// A shape from a tuple/list of ints, or from *args (several ints, or one sequence).
Shape to_shape(py::handle h);
Shape shape_from_args(const py::args& args, const char* op);
// An index expression (t[...]) as the C++ API's entries.
std::vector<TensorIndex> to_index(py::handle h);

// A Python callable held by the library (a hook in a graph): released with the GIL, from
// whichever thread drops the graph; left alone once the interpreter is gone.
struct HeldCallable {
  PyObject* fn;
  explicit HeldCallable(py::handle f) : fn(f.inc_ref().ptr()) {}
  HeldCallable(const HeldCallable&) = delete;
  HeldCallable& operator=(const HeldCallable&) = delete;
  ~HeldCallable() {
    if (python_exiting()) return;
    PyGILState_STATE state = PyGILState_Ensure();
    Py_DECREF(fn);
    PyGILState_Release(state);
  }
};

// The Python exception classes (module.cpp registers them).
void register_errors(py::module_& m);
// Sets the Python exception for a C++ one the library threw (rethrows any other).
void raise_python_error(std::exception_ptr p);
// Inside a catch: the Python exception for the exception being handled, whatever it is; returns
// nullptr, a C-API function's failure (for code outside pybind11's dispatch).
PyObject* set_python_error() noexcept;
void bind_dtype(py::module_& m);
void bind_tensor(py::module_& m);
void bind_functions(py::module_& m);
void bind_nn_optim(py::module_& m);
void bind_dlpack(py::module_& m);  // after bind_tensor

// Shared by the nn/optim binding files (nn_optim.cpp defines them). A parameter list: an
// iterable of tensors (TypeError otherwise, ValueError when empty); an optimizer's parameters: an
// iterable of tensors or of dicts with "params" and the group's lr, weight_decay, momentum.
std::vector<Tensor> parameter_list(py::handle params, const char* op);
std::vector<optim::ParamGroup> param_groups(py::handle params, const char* op);
// An int or a pair of ints (what: the argument's name, for the ValueError); None gives nothing.
nn::Size2 size2(py::handle h, const char* what);
std::optional<nn::Size2> optional_size2(py::handle h, const char* what);
// A convolution's padding: an int, a pair, or "same" / "valid".
nn::Padding padding_of(py::handle h);
// None gives an undefined tensor.
Tensor optional_tensor(py::handle h);
// A shape as a tuple of ints (nn_optim.cpp).
py::tuple shape_tuple(const Shape& s);

void bind_training(py::module_& m);
void bind_math(py::module_& m);
void bind_gradcheck_broadcasting(py::module_& m);  // gradcheck_broadcasting.cpp
void bind_printing(py::module_& m);
void bind_explain_grad(py::module_& m);
void bind_audit(py::module_& m);  // broadcast_audit, and the Python call site (audit_bindings.cpp)

}  // namespace ndgrad::python
