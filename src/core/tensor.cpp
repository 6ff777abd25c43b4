// Tensor memory and inspection: allocation, views, shape and dtype queries (values:
// ops/creation.cpp).
#include <cmath>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/tensor_impl.hpp"

namespace ndgrad {

namespace {

[[noreturn]] void cannot_allocate(const Dims& shape, DType dtype, const char* op) {
  const int64_t n = numel_of(shape);
  std::string bytes =
      n > INT64_MAX / 8 ? std::string("more than 2^63") : std::to_string(n * itemsize(dtype));
  throw MemoryError(std::string(op ? op : "tensor") + ": cannot allocate " + bytes +
                    " bytes for a tensor of shape " + shape_str(shape) + " " + dtype_name(dtype));
}

// A contiguous tensor of a valid shape with n elements.
Tensor allocate_tensor(const Dims& shape, int64_t n, DType dtype, const char* op) {
  if (n > INT64_MAX / 8) cannot_allocate(shape, dtype, op);
  refcount::drain_if_queued();  // objects other threads released; no lock is held here
  auto impl = make_ref<TensorImpl>();
  try {  // inline here: the path of every small op's result
    impl->storage = Storage::allocate(static_cast<size_t>(n * itemsize(dtype)));
  } catch (const MemoryError&) {
    cannot_allocate(shape, dtype, op);
  } catch (const std::bad_alloc&) {
    cannot_allocate(shape, dtype, op);
  }
  impl->shape = shape;
  contiguous_strides_into(shape, impl->strides);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

}  // namespace

Ref<Storage> allocate_storage(const Dims& shape, DType dtype, const char* op, int64_t n,
                              bool reserve) {
  if (n < 0) n = numel_of(shape);
  if (n > INT64_MAX / 8) cannot_allocate(shape, dtype, op);
  refcount::drain_if_queued();
  try {
    const size_t bytes = static_cast<size_t>(n * itemsize(dtype));
    if (!reserve) return Storage::allocate(bytes);
    auto storage = make_ref<Storage>();
    storage->reserve(bytes);
    return storage;
  } catch (const MemoryError&) {
    cannot_allocate(shape, dtype, op);
  } catch (const std::bad_alloc&) {
    cannot_allocate(shape, dtype, op);
  }
}

Tensor make_tensor(const Dims& shape, DType dtype, const char* op) {
  return allocate_tensor(shape, checked_numel(shape, op ? op : "tensor"), dtype, op);
}

Tensor make_tensor_of_valid_shape(const Dims& shape, DType dtype, const char* op, int64_t n) {
  return allocate_tensor(shape, n < 0 ? numel_of(shape) : n, dtype, op);
}

Tensor make_view(const Tensor& t, Dims shape, Dims strides, int64_t offset) {
  // Every op that adds axes to a view (index with new axes, unsqueeze) refuses more than
  // kMaxDims with its own message first; this keeps a missed one from reaching the kernels,
  // which size their loops by kMaxDims.
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw ValueError("a tensor cannot have more than " + std::to_string(kMaxDims) +
                     " dimensions, got " + std::to_string(shape.size()));
  auto impl = make_ref<TensorImpl>();
  impl->storage = t.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = t.impl()->dtype;
  return Tensor(std::move(impl));
}

Tensor from_blob(void* data, const Shape& shape, const Shape& strides, DType dtype,
                 std::function<void()> release) {
  const char* op = "from_blob";
  if (strides.size() != shape.size())
    throw ValueError(std::string(op) + ": " + std::to_string(strides.size()) +
                     " strides for a shape of " + std::to_string(shape.size()) + " dimensions " +
                     shape_str(shape));
  const int64_t n = checked_numel(Dims(shape), op);
  const int64_t size = itemsize(dtype);
  if (n > 0 && data == nullptr)
    throw ValueError(std::string(op) + ": null data for a tensor of shape " + shape_str(shape));
  if (reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(size) != 0)
    throw ValueError(std::string(op) + ": data is not aligned to its " + dtype_name(dtype) +
                     " elements");
  // The storage starts at the lowest element the view reaches (negative strides reach below
  // data) and spans to the highest.
  int64_t low = 0, high = 0;
  if (n > 0)
    for (size_t i = 0; i < shape.size(); ++i) {
      int64_t reach;
      if (__builtin_mul_overflow(strides[i], shape[i] - 1, &reach) ||
          __builtin_add_overflow(reach < 0 ? low : high, reach, reach < 0 ? &low : &high))
        throw ValueError(std::string(op) + ": strides " + shape_str(strides) + " of shape " +
                         shape_str(shape) + " reach past 64 bits");
    }
  int64_t span = 0;
  if (n > 0 && (__builtin_sub_overflow(high, low, &span) || span >= INT64_MAX / size))
    throw ValueError(std::string(op) + ": strides " + shape_str(strides) + " of shape " +
                     shape_str(shape) + " reach past 64 bits");
  auto impl = make_ref<TensorImpl>();
  auto storage = make_ref<Storage>();
  storage->data = n > 0 ? static_cast<char*>(data) + low * size : static_cast<char*>(data);
  storage->nbytes = n > 0 ? static_cast<size_t>((span + 1) * size) : 0;
  storage->capacity = 0;  // never freed or cached here: external_release gives it back
  storage->exposed.store(true, std::memory_order_relaxed);
  storage->external_release =
      new std::function<void()>(std::move(release));  // last: no throw after
  impl->storage = std::move(storage);
  impl->shape = Dims(shape);
  impl->strides = Dims(strides);
  impl->offset = -low;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

void* expose_memory(const Tensor& t) {
  if (!t.defined()) require_defined_arg(t, "expose_memory", "the tensor");
  TensorImpl& impl = *t.impl();
  // Marked first: an op on another thread that starts after this sees the mark.
  impl.storage->exposed.store(true, std::memory_order_release);
  return impl.data();  // a write access: runs what is pending over the memory
}

namespace {

inline void require_defined(const Tensor& t, const char* op) {
  if (!t.defined()) require_defined_arg(t, op, "the tensor");
}

}  // namespace

// ---- inspection ----

Shape Tensor::shape() const {
  require_defined(*this, "shape");
  return impl_->shape;
}
Shape Tensor::strides() const {
  require_defined(*this, "strides");
  return impl_->strides;
}
int64_t Tensor::ndim() const {
  require_defined(*this, "ndim");
  return static_cast<int64_t>(impl_->shape.size());
}
int64_t Tensor::numel() const {
  require_defined(*this, "numel");
  return numel_of(impl_->shape);
}
int64_t Tensor::size(int64_t axis) const {
  require_defined(*this, "size");
  return impl_->shape[normalize_axis(axis, ndim(), "size")];
}
DType Tensor::dtype() const {
  require_defined(*this, "dtype");
  return impl_->dtype;
}
bool Tensor::is_contiguous() const {
  require_defined(*this, "is_contiguous");
  return ndgrad::is_contiguous(impl_->shape, impl_->strides);
}

template <class T>
T* Tensor::data_ptr() const {
  require_defined(*this, "data_ptr");
  constexpr DType want = std::is_same_v<T, float>     ? DType::f32
                         : std::is_same_v<T, double>  ? DType::f64
                         : std::is_same_v<T, int64_t> ? DType::i64
                         : std::is_same_v<T, int32_t> ? DType::i32
                         : std::is_same_v<T, uint8_t> ? DType::u8
                         : std::is_same_v<T, int8_t>  ? DType::i8
                                                      : DType::boolean;
  if (impl_->dtype != want)
    throw DTypeError(std::string("data_ptr: the tensor holds ") + dtype_name(impl_->dtype) +
                     ", not " + dtype_name(want));
  return reinterpret_cast<T*>(impl_->data());
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template int64_t* Tensor::data_ptr<int64_t>() const;
template bool* Tensor::data_ptr<bool>() const;
template int32_t* Tensor::data_ptr<int32_t>() const;
template uint8_t* Tensor::data_ptr<uint8_t>() const;
template int8_t* Tensor::data_ptr<int8_t>() const;

}  // namespace ndgrad
