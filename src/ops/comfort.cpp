// Conveniences over the core ops: tensors from C++ vectors and braced lists, from_blob over
// contiguous memory, reading one element, and the in-place operators (+= -= *= /=).
#include <cstring>
#include <string>

#include "ndgrad/autograd.hpp"
#include "ndgrad/tensor.hpp"

namespace ndgrad {

namespace {

template <class T>
Tensor from_values(const std::vector<T>& values, DType dtype) {
  Tensor t = empty({static_cast<int64_t>(values.size())}, dtype);
  if constexpr (std::is_same_v<T, bool>) {
    bool* out = t.data_ptr<bool>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  } else {
    if (!values.empty()) std::memcpy(t.data_ptr<T>(), values.data(), values.size() * sizeof(T));
  }
  return t;
}

}  // namespace

Tensor tensor(const std::vector<float>& values) { return from_values(values, DType::f32); }
Tensor tensor(const std::vector<double>& values) { return from_values(values, DType::f64); }
Tensor tensor(const std::vector<int32_t>& values) { return from_values(values, DType::i32); }
Tensor tensor(const std::vector<int64_t>& values) { return from_values(values, DType::i64); }
Tensor tensor(const std::vector<bool>& values) { return from_values(values, DType::boolean); }
Tensor tensor(const std::vector<int8_t>& values) { return from_values(values, DType::i8); }
Tensor tensor(const std::vector<uint8_t>& values) { return from_values(values, DType::u8); }

namespace detail {
size_t check_rows(const std::vector<size_t>& lengths, const char* what) {
  for (size_t i = 1; i < lengths.size(); ++i)
    if (lengths[i] != lengths[0])
      throw ValueError(std::string("tensor: a ragged nested list: ") + what + " " +
                       std::to_string(i) + " has " + std::to_string(lengths[i]) + " elements, " +
                       what + " 0 has " + std::to_string(lengths[0]));
  return lengths.empty() ? 0 : lengths[0];
}
}  // namespace detail

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void()> release) {
  Shape strides(shape.size());
  uint64_t stride = 1;  // wraps only for a shape from_blob refuses (too many elements)
  for (size_t d = shape.size(); d-- > 0;) {
    strides[d] = static_cast<int64_t>(stride);
    stride *= static_cast<uint64_t>(shape[d]);
  }
  return from_blob(data, shape, strides, dtype, std::move(release));
}

namespace {

// NumPy's item(i) on a tensor of other than one axis: i is a flat (row-major) index.
std::vector<int64_t> unravel_flat_index(int64_t i, const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  if (i < -n || i >= n)
    throw IndexError("item: flat index " + std::to_string(i) +
                     " is out of bounds for a tensor of " + std::to_string(n) +
                     " elements, shape " + shape_str(s));
  if (i < 0) i += n;
  std::vector<int64_t> index(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    index[d] = i % s[d];
    i /= s[d];
  }
  return index;
}

}  // namespace

double Tensor::item(const std::vector<int64_t>& flat_or_index) const {
  if (!defined()) throw ValueError("item: the tensor is undefined");
  const Shape s = shape();
  const std::vector<int64_t> index = flat_or_index.size() == 1 && s.size() != 1
                                         ? unravel_flat_index(flat_or_index[0], s)
                                         : flat_or_index;
  if (index.size() != s.size())
    throw IndexError("item: " + std::to_string(index.size()) + " indices for a tensor of shape " +
                     shape_str(s) + " (one per axis)");
  Tensor element = detach();
  for (size_t d = 0; d < s.size(); ++d) {
    const int64_t i = index[d];
    if (i < -s[d] || i >= s[d])
      throw IndexError("item: index " + std::to_string(i) + " is out of bounds for axis " +
                       std::to_string(d) + " with size " + std::to_string(s[d]));
    element = element.select(0, i < 0 ? i + s[d] : i);
  }
  return element.item();
}

namespace {

template <class F>
Tensor& in_place(Tensor& a, const char* symbol, const Tensor& b, F op) {
  const std::string name = std::string("operator") + symbol;
  if (!a.defined() || !b.defined())
    throw ValueError(name + ": " + (a.defined() ? "the right side" : "the tensor") +
                     " is undefined");
  if (is_grad_enabled() && a.requires_grad())
    throw AutogradError(name +
                        ": in-place write into a tensor that requires grad while grad mode is on; "
                        "wrap it in a NoGradGuard");
  if (is_grad_enabled() && b.requires_grad())
    throw AutogradError(name +
                        ": the right side requires grad and an in-place write is not recorded; "
                        "write a = a " +
                        std::string(symbol, 1) + " b for a differentiable result");
  const Shape as = a.shape(), bs = b.shape();
  bool fits = bs.size() <= as.size();
  for (size_t k = 1; fits && k <= bs.size(); ++k)
    fits = bs[bs.size() - k] == 1 || bs[bs.size() - k] == as[as.size() - k];
  if (!fits)
    throw ShapeError(name + ": the right side's shape " + shape_str(bs) +
                     " does not broadcast to the tensor's shape " + shape_str(as));
  Tensor r;
  {
    NoGradGuard no_grad;
    r = op(a, b);
  }
  if (r.dtype() != a.dtype())
    throw DTypeError(name + ": the result's dtype " + dtype_name(r.dtype()) +
                     " cannot be stored in the " + dtype_name(a.dtype()) + " tensor");
  NoGradGuard no_grad;  // the checks above are copy_'s own, against a's requires_grad
  a.copy_(r);
  return a;
}

}  // namespace

#define NDGRAD_INPLACE_OPERATOR(symbol, binary)                                          \
  Tensor& operator symbol##=(Tensor& a, const Tensor& b) {                               \
    return in_place(a, #symbol "=", b,                                                   \
                    [](const Tensor& x, const Tensor& y) { return x binary y; });        \
  }                                                                                      \
  Tensor& operator symbol##=(Tensor& a, double b) {                                      \
    if (!a.defined()) throw ValueError("operator" #symbol "=: the tensor is undefined"); \
    return in_place(a, #symbol "=", scalar(0, a.dtype()),                                \
                    [b](const Tensor& x, const Tensor&) { return x binary b; });         \
  }                                                                                      \
  Tensor& operator symbol##=(Tensor& a, int64_t b) {                                     \
    if (!a.defined()) throw ValueError("operator" #symbol "=: the tensor is undefined"); \
    return in_place(a, #symbol "=", scalar(0, a.dtype()),                                \
                    [b](const Tensor& x, const Tensor&) { return x binary b; });         \
  }
NDGRAD_INPLACE_OPERATOR(+, +)
NDGRAD_INPLACE_OPERATOR(-, -)
NDGRAD_INPLACE_OPERATOR(*, *)
NDGRAD_INPLACE_OPERATOR(/, /)
#undef NDGRAD_INPLACE_OPERATOR

}  // namespace ndgrad
