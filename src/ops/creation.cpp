// Tensor values: creation (tensor, full, zeros, arange, eye, rand, randn), reading them out
// (to_vector, item) and printing. Above the kernels, which fill, convert and copy.
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

// ---- printing, NumPy style ----

namespace {

std::string format_value(double v, DType dtype, int precision) {
  if (dtype == DType::boolean) return v != 0 ? "True" : "False";
  if (!is_floating(dtype)) return std::to_string(kernels::convert_value<int64_t>(v));
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream os;
  if (v == std::floor(v) && std::fabs(v) < 1e16) {
    os << std::fixed << std::setprecision(0) << v << ".";
  } else {
    os << std::setprecision(precision) << v;
  }
  std::string text = os.str();
  if (text.find_first_of(".e") == std::string::npos) text += ".";  // rounded to a whole number
  return text;
}

// Summarizing as NumPy does: past kPrintThreshold elements, each axis longer than
// 2 * kEdgeItems shows its first and last kEdgeItems entries around "...".
constexpr int64_t kPrintThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
// With many axes even the edges multiply (6^ndim): fewer edge items past this many values.
constexpr int64_t kMaxPrinted = int64_t(1) << 16;

// The indices printed along each axis; -1 stands for the elided middle. Empty when even one
// edge item per axis would print more than kMaxPrinted values.
std::vector<std::vector<int64_t>> printed_indices(const Dims& shape) {
  const bool summarize = numel_of(shape) > kPrintThreshold;
  std::vector<int64_t> edge(shape.size(), kEdgeItems);
  auto count = [&] {
    double c = 1;  // a double: 6^32 overflows int64
    for (size_t d = 0; d < shape.size(); ++d)
      c *= summarize && shape[d] > 2 * edge[d] ? 2 * edge[d] : shape[d];
    return c;
  };
  // Fewer edge items, outer axes first, until the values printed are few enough.
  for (int64_t e = kEdgeItems - 1; summarize && e >= 1 && count() > kMaxPrinted; --e)
    for (size_t d = 0; d < shape.size() && count() > kMaxPrinted; ++d) edge[d] = e;
  if (count() > kMaxPrinted) return {};
  std::vector<std::vector<int64_t>> indices(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (summarize && shape[d] > 2 * edge[d]) {
      for (int64_t i = 0; i < edge[d]; ++i) indices[d].push_back(i);
      indices[d].push_back(-1);
      for (int64_t i = shape[d] - edge[d]; i < shape[d]; ++i) indices[d].push_back(i);
    } else {
      for (int64_t i = 0; i < shape[d]; ++i) indices[d].push_back(i);
    }
  }
  return indices;
}

// The printed elements in row-major order, read straight from the strided data: a summarized
// tensor may be a broadcast view far larger than memory.
void gather_printed(const TensorImpl& t, const std::vector<std::vector<int64_t>>& indices,
                    size_t dim, const char* at, std::vector<double>& out) {
  if (dim == indices.size()) {
    kernels::dispatch_storage(t.dtype, [&](auto tag) {
      using T = decltype(tag);
      T v;
      std::memcpy(&v, at, sizeof(T));
      out.push_back(kernels::convert_value<double>(v));
    });
    return;
  }
  const int64_t step = t.strides[dim] * static_cast<int64_t>(itemsize(t.dtype));
  for (int64_t i : indices[dim])
    if (i >= 0) gather_printed(t, indices, dim + 1, at + i * step, out);
}

void print_rec(std::ostream& os, const std::vector<std::string>& cells,
               const std::vector<std::vector<int64_t>>& indices, size_t dim, int64_t& pos,
               size_t width, int indent) {
  const size_t ndim = indices.size();
  if (dim == ndim) {
    std::string c = cells[pos++];
    os << std::string(width - c.size(), ' ') << c;
    return;
  }
  os << "[";
  for (size_t k = 0; k < indices[dim].size(); ++k) {
    if (k) {
      if (dim + 1 == ndim) {
        os << " ";
      } else {
        os << std::string(ndim - dim - 1, '\n') << std::string(indent + dim + 1, ' ');
      }
    }
    if (indices[dim][k] < 0)
      os << "...";
    else
      print_rec(os, cells, indices, dim + 1, pos, width, indent);
  }
  os << "]";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  const TensorImpl& impl = *t.impl();
  os << "tensor(";
  if (numel_of(impl.shape) == 0 && impl.shape.size() > 1) {  // NumPy: array([], shape=...)
    os << "[], shape=" << shape_str(impl.shape) << ", dtype=" << dtype_name(impl.dtype);
    if (t.requires_grad()) os << ", requires_grad=True";
    return os << ")";
  }
  const std::vector<std::vector<int64_t>> indices = printed_indices(impl.shape);
  if (indices.empty() && !impl.shape.empty()) {
    os << "[...], shape=" << shape_str(impl.shape);
  } else {
    std::vector<double> v;
    gather_printed(impl, indices, 0, impl.data(), v);
    std::vector<std::string> cells;
    size_t width = 0;
    int precision =
        static_cast<int>(os.precision() > 0 && os.precision() != 6 ? os.precision() : 4);
    for (double x : v) {
      cells.push_back(format_value(x, impl.dtype, precision));
      width = std::max(width, cells.back().size());
    }
    int64_t pos = 0;
    print_rec(os, cells, indices, 0, pos, width, 7);
  }
  os << ", dtype=" << dtype_name(impl.dtype);
  if (t.requires_grad()) os << ", requires_grad=True";
  return os << ")";
}

}  // namespace ndgrad
