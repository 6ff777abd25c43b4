// DLPack: tensors exchanged with PyTorch (and NumPy, JAX, ...) without copies.
//
// The structures below are DLPack's C ABI (version 0.x, the "dltensor" capsule that
// torch.from_dlpack and torch.utils.dlpack read and write), written out here so that no header
// outside Debian's Python packages is needed.
#include "bindings.hpp"

namespace ndgrad::python {

namespace {

struct DLDevice {
  int32_t device_type;  // 1: CPU
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;  // 0: int, 1: uint, 2: float, 4: bfloat, 6: bool
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; null: row-major
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
constexpr int32_t kDLCPU = 1;

DLDataType dl_dtype(DType d) {
  switch (d) {
    case DType::f32:
      return {2, 32, 1};
    case DType::f64:
      return {2, 64, 1};
    case DType::f16:
      return {2, 16, 1};
    case DType::bf16:
      return {4, 16, 1};
    case DType::i64:
      return {0, 64, 1};
    case DType::i32:
      return {0, 32, 1};
    case DType::i8:
      return {0, 8, 1};
    case DType::u8:
      return {1, 8, 1};
    default:
      return {6, 8, 1};  // bool
  }
}

std::optional<DType> from_dl_dtype(DLDataType t) {
  if (t.lanes != 1) return std::nullopt;
  for (DType d : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i64, DType::i32,
                  DType::i8, DType::u8, DType::boolean}) {
    const DLDataType x = dl_dtype(d);
    if (x.code == t.code && x.bits == t.bits) return d;
  }
  return std::nullopt;
}

// What an exported DLManagedTensor owns: a handle on the memory, and its shape and strides.
struct Export {
  Tensor tensor;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed;
};

void delete_export(DLManagedTensor* m) { delete static_cast<Export*>(m->manager_ctx); }

// A capsule nobody consumed is freed with it (the consumer renames it "used_dltensor").
void capsule_destructor(PyObject* capsule) {
  if (!PyCapsule_IsValid(capsule, "dltensor")) return;
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
  if (m && m->deleter) m->deleter(m);
}

py::capsule to_dlpack(const Tensor& t) {
  auto e = std::make_unique<Export>();
  e->tensor = t;
  e->shape = t.shape();
  e->strides = t.strides();
  // PyTorch (1.13) aborts the interpreter on a capsule with a negative stride, and NumPy's own
  // export hands such capsules out too: refused here, as the array API allows (BufferError).
  for (size_t i = 0; i < e->shape.size(); ++i) {
    if (e->strides[i] >= 0) continue;
    if (e->shape[i] > 1)
      throw py::buffer_error("__dlpack__: a view with negative strides " + shape_str(t.strides()) +
                             " cannot be exported (PyTorch has no negative strides); "
                             "t.contiguous() is a copy that can");
    e->strides[i] = 1;  // a size-1 axis: the stride is never used
  }
  void* data = t.numel() == 0 ? nullptr : nogil([&] { return expose_memory(t); });
  DLTensor& d = e->managed.dl_tensor;
  d.data = data;
  d.device = {kDLCPU, 0};
  d.ndim = static_cast<int32_t>(e->shape.size());
  d.dtype = dl_dtype(t.dtype());
  d.shape = e->shape.data();
  d.strides = e->strides.data();
  d.byte_offset = 0;
  e->managed.manager_ctx = e.get();
  e->managed.deleter = &delete_export;
  DLManagedTensor* m = &e.release()->managed;
  PyObject* capsule = PyCapsule_New(m, "dltensor", &capsule_destructor);
  if (!capsule) {
    delete_export(m);
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(capsule);
}

Tensor from_dlpack(py::handle obj) {
  py::object capsule;
  if (PyCapsule_CheckExact(obj.ptr())) {
    capsule = py::reinterpret_borrow<py::object>(obj);
  } else if (py::hasattr(obj, "__dlpack__")) {
    if (py::hasattr(obj, "__dlpack_device__")) {
      py::tuple device = obj.attr("__dlpack_device__")();
      if (py::cast<int>(device[0]) != kDLCPU)
        throw py::value_error("from_dlpack: only CPU tensors can be shared (device type " +
                              py::cast<std::string>(py::str(device[0])) + ")");
    }
    capsule = obj.attr("__dlpack__")();
  } else {
    throw py::type_error("from_dlpack: expected an object with __dlpack__ or a DLPack capsule");
  }
  if (!PyCapsule_IsValid(capsule.ptr(), "dltensor"))
    throw py::value_error("from_dlpack: the capsule was already consumed, or is no DLPack tensor");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  const DLTensor& d = m->dl_tensor;
  if (d.device.device_type != kDLCPU)
    throw py::value_error("from_dlpack: only CPU tensors can be shared");
  std::optional<DType> dtype = from_dl_dtype(d.dtype);
  if (!dtype)
    throw py::type_error("from_dlpack: no ndgrad dtype for DLPack type code " +
                         std::to_string(d.dtype.code) + " with " + std::to_string(d.dtype.bits) +
                         " bits");
  Shape shape(d.shape, d.shape + d.ndim);
  Shape strides(d.ndim);
  if (d.strides) {
    strides.assign(d.strides, d.strides + d.ndim);
  } else {  // row-major
    int64_t s = 1;
    for (int32_t i = d.ndim - 1; i >= 0; --i) {
      strides[i] = s;
      s *= shape[i];
    }
  }
  char* data = static_cast<char*>(d.data) + d.byte_offset;
  // The tensor owns the producer's memory from here: the capsule is marked consumed, and the
  // producer's deleter runs when the last view goes.
  // Some producers' deleters drop Python references (NumPy's): called with the GIL.
  Tensor t = from_blob(data, shape, strides, *dtype, [m] {
    if (!m->deleter || python_exiting()) return;
    PyGILState_STATE state = PyGILState_Ensure();
    m->deleter(m);
    PyGILState_Release(state);
  });
  PyCapsule_SetName(capsule.ptr(), "used_dltensor");
  return t;
}

}  // namespace

void bind_dlpack(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  cls.def(
         "__dlpack__",
         [](const Tensor& t, py::handle stream) {
           (void)stream;  // CPU memory: no stream to synchronize with
           return to_dlpack(t);
         },
         py::arg("stream") = py::none(),
         "A DLPack capsule over the tensor's memory (no copy), for torch.from_dlpack and others.")
      .def("__dlpack_device__", [](const Tensor&) { return py::make_tuple(kDLCPU, 0); });
  m.def("from_dlpack", &from_dlpack, py::arg("obj"),
        "A tensor over the memory of an object with __dlpack__ (a torch.Tensor, a NumPy array) "
        "or of a DLPack capsule: no copy, strides included; the producer's memory stays alive "
        "while the tensor does.");
}

}  // namespace ndgrad::python
