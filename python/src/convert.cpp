// Conversions between Python objects and tensors, and the memory shared with NumPy.
#include <cstring>

#include "bindings.hpp"

namespace ndgrad::python {

namespace {

// NumPy's scalar types, looked up once (kept for the process: never released at exit).
struct NumpyTypes {
  py::handle bool_, integer, floating, generic, array;
};
const NumpyTypes& numpy_types() {
  static const NumpyTypes types = [] {
    py::module_ np = py::module_::import("numpy");
    auto keep = [&](const char* name) { return py::object(np.attr(name)).release(); };
    return NumpyTypes{keep("bool_"), keep("integer"), keep("floating"), keep("generic"),
                      keep("array")};
  }();
  return types;
}

struct DTypeName {
  DType dtype;
  const char* name;   // NumPy's and PyTorch's
  const char* other;  // the C++ API's short name
};
constexpr DTypeName kNames[] = {
    {DType::f32, "float32", "f32"},    {DType::f64, "float64", "f64"},
    {DType::i64, "int64", "i64"},      {DType::boolean, "bool", "b"},
    {DType::i32, "int32", "i32"},      {DType::u8, "uint8", "u8"},
    {DType::i8, "int8", "i8"},         {DType::f16, "float16", "f16"},
    {DType::bf16, "bfloat16", "bf16"},
};

std::string type_name(py::handle h) { return py::str(py::type::handle_of(h).attr("__name__")); }

// The tensor dtype of a NumPy dtype, if ndgrad has it (native byte order only).
std::optional<DType> from_numpy_dtype(const py::dtype& dt) {
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  const char order = py::cast<std::string>(dt.attr("byteorder"))[0];
  if (order == '>') return std::nullopt;  // big-endian: converted by the caller
  switch (kind) {
    case 'f':
      return size == 4   ? std::optional(DType::f32)
             : size == 8 ? std::optional(DType::f64)
             : size == 2 ? std::optional(DType::f16)
                         : std::nullopt;
    case 'i':
      return size == 8   ? std::optional(DType::i64)
             : size == 4 ? std::optional(DType::i32)
             : size == 1 ? std::optional(DType::i8)
                         : std::nullopt;
    case 'u':
      return size == 1 ? std::optional(DType::u8) : std::nullopt;
    case 'b':
      return DType::boolean;
    default:
      return std::nullopt;
  }
}

[[noreturn]] void unsupported_numpy_dtype(const py::dtype& dt) {
  throw py::type_error("ndgrad has no dtype for NumPy's " + py::cast<std::string>(dt.attr("name")) +
                       " (supported: float32, float64, float16, int64, int32, int8, uint8, bool)");
}

// Gives a NumPy array's reference back when the last tensor over its memory goes. Tensors may be
// dropped on a thread without the GIL (an op's temporaries, a worker thread): the GIL is taken
// then. After the interpreter is gone (static destructors at exit) the reference is left.
std::function<void()> keep_alive(py::handle array) {
  PyObject* obj = array.ptr();
  Py_INCREF(obj);
  return [obj] {
    if (python_exiting()) return;
    PyGILState_STATE state = PyGILState_Ensure();
    Py_DECREF(obj);
    PyGILState_Release(state);
  };
}

// Python number kinds, in promotion order.
enum class Kind { none, boolean, integer, floating };

// The most dimensions a tensor has (the library's kMaxDims).
constexpr size_t kMaxNesting = 32;

// A nested sequence's shape and values, checked for raggedness and element types.
struct Nested {
  Shape shape;
  Kind kind = Kind::none;
  std::vector<double> floats;
  std::vector<int64_t> ints;  // also bools
  bool any_float = false;

  static bool is_sequence(py::handle h) {
    return py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h);
  }

  // The shape from the first elements; walk() checks every element against it.
  void find_shape(py::handle top) {
    py::object h = py::reinterpret_borrow<py::object>(top);
    while (is_sequence(h)) {
      // A list that contains itself nests without end: stopped past what a tensor can have.
      if (shape.size() == kMaxNesting)
        throw py::value_error("tensor: nested sequences deeper than " +
                              std::to_string(kMaxNesting) +
                              " levels (the most dimensions a tensor has; a list that contains "
                              "itself?)");
      const auto n = static_cast<int64_t>(py::len(h));
      shape.push_back(n);
      if (n == 0) break;
      h = h[py::int_(0)];
      if (py::isinstance<py::array>(h) || py::isinstance<Tensor>(h)) h = h.attr("tolist")();
    }
  }

  void walk(py::handle h, size_t depth, std::string& where) {
    if (py::isinstance<py::array>(h) || py::isinstance<Tensor>(h)) {
      py::object list = h.attr("tolist")();
      walk(list, depth, where);
      return;
    }
    if (depth < shape.size()) {
      if (!is_sequence(h) || static_cast<int64_t>(py::len(h)) != shape[depth])
        throw py::value_error(
            "tensor: ragged nested sequence: the element at " + (where.empty() ? "top" : where) +
            " has " +
            (is_sequence(h) ? std::to_string(py::len(h)) + " elements" : "no elements (a number)") +
            " where the first element at that depth has " + std::to_string(shape[depth]));
      const size_t keep = where.size();
      int64_t i = 0;
      for (py::handle e : h) {
        where += "[" + std::to_string(i++) + "]";
        walk(e, depth + 1, where);
        where.resize(keep);
      }
      return;
    }
    if (is_sequence(h))
      throw py::value_error("tensor: ragged nested sequence: the element at " + where +
                            " is a sequence where the first element at that depth is a number");
    add_number(h, where);
  }

  void add_number(py::handle h, const std::string& where) {
    if (py::isinstance<py::bool_>(h) || py::isinstance(h, numpy_types().bool_)) {
      kind = std::max(kind, Kind::boolean);
      ints.push_back(py::cast<bool>(h) ? 1 : 0);
      floats.push_back(ints.back());
    } else if (is_integer(h)) {
      kind = std::max(kind, Kind::integer);
      ints.push_back(to_int64(h));
      floats.push_back(static_cast<double>(ints.back()));
    } else if (py::isinstance<py::float_>(h) || py::isinstance(h, numpy_types().floating)) {
      kind = Kind::floating;
      floats.push_back(py::cast<double>(h));
      ints.push_back(0);
    } else {
      throw py::type_error("tensor: cannot make a tensor element of a " + type_name(h) +
                           (where.empty() ? std::string() : " (at " + where + ")") +
                           ": elements must be bool, int or float");
    }
  }
};

Tensor filled_ints(const Shape& shape, const std::vector<int64_t>& values, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (dtype == DType::boolean) {
    bool* p = t.data_ptr<bool>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = values[i] != 0;
  } else {
    std::memcpy(t.data_ptr<int64_t>(), values.data(), values.size() * sizeof(int64_t));
  }
  return t;
}

}  // namespace

const char* py_dtype_name(DType dtype) {
  for (const auto& n : kNames)
    if (n.dtype == dtype) return n.name;
  return "unknown";
}

DType to_dtype(py::handle h) {
  if (py::isinstance<PyDType>(h)) return py::cast<PyDType>(h).dtype;
  if (py::isinstance<py::str>(h)) {
    const std::string s = py::cast<std::string>(h);
    for (const auto& n : kNames)
      if (s == n.name || s == n.other) return n.dtype;
    if (s == "float" || s == "float_") return DType::f32;  // PyTorch's default float
    if (s == "double") return DType::f64;
    if (s == "long" || s == "int") return DType::i64;
    if (s == "half") return DType::f16;
    if (s == "bool_") return DType::boolean;
    throw py::type_error(
        "unknown dtype '" + s +
        "' (float32, float64, int64, bool, int32, uint8, int8, float16, bfloat16)");
  }
  if (h.is(py::type::of(py::float_()))) return DType::f32;
  if (h.is(py::type::of(py::int_()))) return DType::i64;
  if (h.is(py::type::of(py::bool_()))) return DType::boolean;
  // A NumPy dtype, or anything np.dtype() takes (np.float32, 'f4').
  py::dtype dt;
  try {
    dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(h));
  } catch (py::error_already_set&) {
    throw py::type_error("not a dtype: a " + type_name(h));
  }
  if (auto d = from_numpy_dtype(dt)) return *d;
  unsupported_numpy_dtype(dt);
}

std::optional<DType> to_optional_dtype(py::handle h) {
  if (h.is_none()) return std::nullopt;
  return to_dtype(h);
}

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return py::dtype("float32");
    case DType::f64:
      return py::dtype("float64");
    case DType::i64:
      return py::dtype("int64");
    case DType::boolean:
      return py::dtype("bool");
    case DType::i32:
      return py::dtype("int32");
    case DType::u8:
      return py::dtype("uint8");
    case DType::i8:
      return py::dtype("int8");
    case DType::f16:
      return py::dtype("float16");
    default:
      throw py::type_error("NumPy has no bfloat16 dtype");
  }
}

bool is_integer(py::handle h) {
  if (py::isinstance<py::bool_>(h)) return false;
  if (PyLong_Check(h.ptr())) return true;
  return py::isinstance(h, numpy_types().integer);
}

int64_t to_int64(py::handle h) {
  int overflow = 0;
  py::int_ i = py::reinterpret_borrow<py::object>(h);  // NumPy integers convert through __index__
  const long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow != 0)
    throw py::value_error("the integer " + py::cast<std::string>(py::str(h)) +
                          " does not fit in int64");
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

Tensor from_numpy(py::handle h) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error("from_numpy: expected a numpy.ndarray, got a " + type_name(h));
  py::array a = py::reinterpret_borrow<py::array>(h);
  py::dtype dt = a.dtype();
  std::optional<DType> dtype = from_numpy_dtype(dt);
  if (!dtype && py::cast<std::string>(dt.attr("byteorder")) == ">") {
    a = a.attr("astype")(dt.attr("newbyteorder")("="));  // a native copy
    dt = a.dtype();
    dtype = from_numpy_dtype(dt);
  }
  if (!dtype) unsupported_numpy_dtype(dt);
  const int64_t size = itemsize(*dtype);
  const int flags = py::detail::array_proxy(a.ptr())->flags;
  bool shareable = (flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_) &&
                   (flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_);
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    if (a.strides(i) % size != 0) shareable = false;
  // A read-only array (np.broadcast_to's, a buffer of bytes) is never written through: copied,
  // as are unaligned ones and strides between elements.
  if (!shareable) a = py::array(numpy_types().array(a, py::arg("copy") = true));
  Shape shape(a.shape(), a.shape() + a.ndim());
  Shape strides(a.ndim());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) strides[i] = a.strides(i) / size;
  void* data = a.size() == 0 ? nullptr : const_cast<void*>(a.data());
  std::function<void()> release = keep_alive(a);
  try {
    return from_blob(data, shape, strides, *dtype, release);
  } catch (...) {
    release();  // from_blob took nothing: the reference is ours to drop
    throw;
  }
}

py::array to_numpy(const Tensor& t) {
  if (t.dtype() == DType::bf16) return to_numpy(nogil([&] { return t.to(DType::f32); }));
  py::dtype dt = numpy_dtype(t.dtype());
  const Shape shape = t.shape();
  Shape strides = t.strides();
  const int64_t size = itemsize(t.dtype());
  if (t.numel() == 0) return py::array(dt, shape);
  for (auto& s : strides) s *= size;
  void* data = nogil([&] { return expose_memory(t); });
  // The capsule holds a handle: the memory lives while the array does, whatever happens to t.
  py::capsule owner(new Tensor(t), [](void* p) { delete static_cast<Tensor*>(p); });
  py::array a(dt, shape, strides, data, owner);
  // A broadcast view repeats elements: read-only, as NumPy's broadcast_to.
  bool repeats = false;
  for (size_t i = 0; i < shape.size(); ++i) repeats |= strides[i] == 0 && shape[i] > 1;
  if (repeats)
    py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

Tensor to_tensor(py::handle h, std::optional<DType> dtype) {
  auto convert = [&](Tensor t) {
    if (dtype && t.dtype() != *dtype) return nogil([&] { return t.to(*dtype); });
    return t;
  };
  if (py::isinstance<Tensor>(h)) return convert(py::cast<Tensor>(h));
  if (py::isinstance<py::array>(h)) return convert(from_numpy(h));
  if (py::isinstance(h, numpy_types().generic)) {  // a NumPy scalar: a 0-d array of its dtype
    py::array a = numpy_types().array(h);
    return convert(from_numpy(a));
  }
  Nested nested;
  nested.find_shape(h);
  std::string where;
  nested.walk(h, 0, where);
  if (nested.kind == Kind::none) nested.kind = Kind::floating;  // [] as PyTorch: float32
  Tensor t;
  switch (nested.kind) {
    case Kind::boolean:
      t = filled_ints(nested.shape, nested.ints, DType::boolean);
      break;
    case Kind::integer:
      t = filled_ints(nested.shape, nested.ints, DType::i64);
      break;
    default:
      // Through f64, so that each value is rounded once to the dtype asked for.
      t = tensor(std::move(nested.floats), nested.shape, dtype ? *dtype : DType::f64);
      if (!dtype) return nogil([&] { return t.to(DType::f32); });
      return t;
  }
  return convert(t);
}

std::optional<Operand> to_operand(py::handle h) {
  Operand o;
  if (py::detail::make_caster<Tensor> tensor; tensor.load(h, false)) {  // (one type lookup)
    o.t = py::detail::cast_op<const Tensor&>(tensor);
    return o;
  }
  if (py::isinstance<py::bool_>(h) || py::isinstance(h, numpy_types().bool_)) {
    o.kind = Operand::Kind::integer;  // bool counts as an integer scalar (t + True is t + 1)
    o.i = py::cast<bool>(h) ? 1 : 0;
    return o;
  }
  if (is_integer(h)) {
    o.kind = Operand::Kind::integer;
    o.i = to_int64(h);
    return o;
  }
  if (py::isinstance<py::float_>(h) || py::isinstance(h, numpy_types().floating)) {
    o.kind = Operand::Kind::floating;
    o.d = py::cast<double>(h);
    return o;
  }
  if (py::isinstance<py::array>(h) || py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h)) {
    o.t = to_tensor(h);
    return o;
  }
  return std::nullopt;
}

std::vector<int64_t> to_axes(py::handle axis, const char* op) {
  if (axis.is_none()) return {};
  if (is_integer(axis)) return {to_int64(axis)};
  if (py::isinstance<py::sequence>(axis) && !py::isinstance<py::str>(axis)) {
    std::vector<int64_t> axes;
    for (py::handle a : axis) {
      if (!is_integer(a))
        throw py::type_error(std::string(op) + ": axes must be integers, got a " + type_name(a));
      axes.push_back(to_int64(a));
    }
    if (axes.empty())
      throw py::value_error(std::string(op) +
                            ": axis=() (reducing over no axes) is not supported; "
                            "axis=None reduces over all axes");
    return axes;
  }
  throw py::type_error(std::string(op) + ": axis must be None, an int or a tuple of ints, got a " +
                       type_name(axis));
}

Shape to_shape(py::handle h) {
  if (is_integer(h)) return {to_int64(h)};
  if (py::isinstance<Tensor>(h) || !py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h))
    throw py::type_error("a shape must be an int or a sequence of ints, got a " + type_name(h));
  Shape shape;
  for (py::handle d : h) {
    if (!is_integer(d))
      throw py::type_error("a shape's sizes must be integers, got a " + type_name(d));
    shape.push_back(to_int64(d));
  }
  return shape;
}

Shape shape_from_args(const py::args& args, const char* op) {
  if (args.size() == 1 && !is_integer(args[0])) return to_shape(args[0]);
  Shape shape;
  for (py::handle d : args) {
    if (!is_integer(d))
      throw py::type_error(std::string(op) + ": sizes must be integers, got a " + type_name(d));
    shape.push_back(to_int64(d));
  }
  return shape;
}

namespace {

std::optional<int64_t> slice_part(py::handle v) {
  if (v.is_none()) return std::nullopt;
  if (!is_integer(v) && !py::hasattr(v, "__index__"))
    throw py::type_error("slice indices must be integers or None, got a " + type_name(v));
  return to_int64(v);
}

TensorIndex to_index_entry(py::handle h) {
  if (h.is_none()) return NewAxis;
  if (h.is(py::ellipsis())) return Ellipsis;
  if (py::isinstance<py::slice>(h)) {
    const int64_t step = h.attr("step").is_none() ? 1 : to_int64(h.attr("step"));
    return Slice(slice_part(h.attr("start")), slice_part(h.attr("stop")), step);
  }
  if (is_integer(h)) return to_int64(h);
  if (py::isinstance<Tensor>(h)) return py::cast<Tensor>(h);
  if (py::isinstance<py::bool_>(h) || py::isinstance(h, numpy_types().bool_))
    return to_tensor(h);  // a 0-d mask: a new axis of size 1 or 0
  if (py::isinstance<py::array>(h) || py::isinstance<py::list>(h)) {
    Tensor t = to_tensor(h);
    if (is_floating(t.dtype()) && t.numel() == 0) t = t.to(DType::i64);  // x[[]]: NumPy's too
    return t;
  }
  throw py::type_error(
      "only integers, slices, Ellipsis, None, integer or bool tensors (arrays, "
      "lists) are valid indices, got a " +
      type_name(h));
}

}  // namespace

std::vector<TensorIndex> to_index(py::handle h) {
  std::vector<TensorIndex> entries;
  if (py::isinstance<py::tuple>(h)) {
    for (py::handle e : h) entries.push_back(to_index_entry(e));
  } else {
    entries.push_back(to_index_entry(h));
  }
  return entries;
}

}  // namespace ndgrad::python
