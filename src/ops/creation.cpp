// Tensor values: creation (tensor, full, zeros, arange, eye, rand, randn), reading them out
// (to_vector, item); printing is printing.cpp. Above the kernels, which fill, convert and copy.
#include <cmath>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/tensor_impl.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/kernels.hpp"
#include "ndgrad/memory.hpp"

namespace ndgrad {

namespace {

inline void require_defined(const Tensor& t, const char* op) {
  if (!t.defined()) require_defined_arg(t, op, "the tensor");
}

// A tensor of shape whose i-th value (row-major) is value(i), converted to dtype: computed in
// chunks, so that no buffer of the whole tensor's doubles is ever needed.
template <class F>
Tensor generate(const Shape& shape, DType dtype, const char* op, F value) {
  Tensor t = make_tensor(shape, dtype, op);
  const int64_t n = t.numel();
  constexpr int64_t kChunk = 4096;  // even: randn draws its normals in pairs
  double buf[kChunk];
  const int64_t one = 1;
  char* dst = t.impl()->data();
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t len = std::min(kChunk, n - start);
    value(start, len, buf);
    const Dims flat{len};
    kernels::copy(flat, {dst + start * itemsize(dtype), &one, dtype},
                  {reinterpret_cast<char*>(buf), &one, DType::f64});
  }
  return t;
}

Tensor from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype,
                    const char* op) {
  return generate(shape, dtype, op, [&](int64_t start, int64_t len, double* out) {
    std::memcpy(out, values.data() + start, static_cast<size_t>(len) * sizeof(double));
  });
}

}  // namespace

Tensor tensor(std::vector<double> values, Shape shape, DType dtype) {
  int64_t n = checked_numel(shape, "tensor");
  if (n != static_cast<int64_t>(values.size()))
    throw ShapeError("tensor: " + std::to_string(values.size()) + " values cannot fill shape " +
                     shape_str(shape) + " (" + std::to_string(n) + " elements)");
  return from_doubles(values, shape, dtype, "tensor");
}

Tensor scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor empty(Shape shape, DType dtype) { return make_tensor(shape, dtype, "empty"); }

Tensor full(Shape shape, double value, DType dtype) {
  Tensor t = make_tensor(shape, dtype, "full");
  kernels::fill(t.impl()->data(), dtype, t.numel(), value);
  return t;
}

Tensor zeros(Shape shape, DType dtype) { return full(std::move(shape), 0.0, dtype); }
Tensor ones(Shape shape, DType dtype) { return full(std::move(shape), 1.0, dtype); }
Tensor zeros_like(const Tensor& t) {
  require_defined(t, "zeros_like");
  return zeros(t.shape(), t.dtype());
}
Tensor ones_like(const Tensor& t) {
  require_defined(t, "ones_like");
  return ones(t.shape(), t.dtype());
}

Tensor arange(int64_t n, DType dtype) {
  if (n < 0) throw ValueError("arange: n must be >= 0, got " + std::to_string(n));
  return generate({n}, dtype, "arange", [](int64_t start, int64_t len, double* out) {
    for (int64_t i = 0; i < len; ++i) out[i] = static_cast<double>(start + i);
  });
}

Tensor eye(int64_t n, DType dtype) {
  if (n < 0) throw ValueError("eye: n must be >= 0, got " + std::to_string(n));
  Tensor t = make_tensor({n, n}, dtype, "eye");  // checks n * n first
  char* p = t.impl()->data();
  const size_t item = itemsize(dtype);
  kernels::fill(p, dtype, n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) kernels::fill(p + (i * n + i) * item, dtype, 1, 1.0);
  return t;
}

Tensor rand(Shape shape, uint64_t seed, DType dtype) {
  SplitMix64 rng{seed};
  // f32: rounding could reach 1.0; keep the interval half-open.
  const double top = dtype == DType::f32    ? std::nextafter(1.0f, 0.0f)
                     : dtype == DType::f16  ? 1.0 - 0x1p-11
                     : dtype == DType::bf16 ? 1.0 - 0x1p-8
                                            : 1.0;
  return generate(shape, dtype, "rand", [&](int64_t, int64_t len, double* out) {
    for (int64_t i = 0; i < len; ++i) out[i] = std::min(rng.uniform(), top);
  });
}

Tensor randn(Shape shape, uint64_t seed, DType dtype) {
  SplitMix64 rng{seed};
  return generate(shape, dtype, "randn", [&](int64_t, int64_t len, double* out) {
    for (int64_t i = 0; i < len; i += 2) {  // Box-Muller: two normals per two uniforms
      double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
      double r = std::sqrt(-2.0 * std::log(u1));
      out[i] = r * std::cos(2 * M_PI * u2);
      if (i + 1 < len) out[i + 1] = r * std::sin(2 * M_PI * u2);
    }
  });
}

std::vector<double> Tensor::to_vector() const {
  require_defined(*this, "to_vector");
  const int64_t n = numel();
  std::vector<double> out;
  try {
    if (static_cast<uint64_t>(n) > max_buffer_bytes() / sizeof(double)) throw std::bad_alloc();
    out.resize(static_cast<size_t>(n));
  } catch (const std::exception&) {  // bad_alloc, or length_error past the vector's limit
    throw MemoryError("to_vector: cannot allocate " + std::to_string(n) +
                      " doubles for a tensor of shape " + shape_str(impl_->shape));
  }
  Shape flat_strides = contiguous_strides(impl_->shape);
  kernels::copy(impl_->shape,
                {reinterpret_cast<char*>(out.data()), flat_strides.data(), DType::f64},
                {impl_->data(), impl_->strides.data(), impl_->dtype});
  return out;
}

double Tensor::item() const {
  require_defined(*this, "item");
  if (numel() != 1)
    throw ValueError(
        "item: only one-element tensors can be converted to a scalar; this one has "
        "shape " +
        shape_str(impl_->shape));
  return to_vector()[0];
}

}  // namespace ndgrad
