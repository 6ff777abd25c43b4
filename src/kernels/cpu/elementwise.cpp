// Elementwise kernels: each is a scalar functor run by one strided loop, with a contiguous
// fast path the compiler can vectorize.
#include <array>
#include <cmath>
#include <type_traits>

#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/fast_math.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/stream_store.hpp"
#include "kernels/cpu/strided_loop.hpp"
#include "ndgrad/error.hpp"

namespace ndgrad::kernels {

namespace {

// The loop over shape with each operand's strides in bytes (written into storage).
template <int N>
StridedLoop<N> make_loop(const Dims& shape, const std::array<const Operand*, N>& ops,
                         std::array<int64_t, kLoopMaxDims * N>& storage) {
  const int ndim = static_cast<int>(shape.size());
  std::array<const int64_t*, N> strides;
  for (int k = 0; k < N; ++k) {
    int64_t* s = storage.data() + k * kLoopMaxDims;
    const int64_t size = itemsize(ops[k]->dtype);
    for (int d = 0; d < ndim; ++d) s[d] = ops[k]->strides[d] * size;
    strides[k] = s;
  }
  return StridedLoop<N>(ndim, shape.data(), strides);
}

// A small operation whose output is contiguous and whose inputs are each contiguous in the
// same order or one broadcast value runs as a single flat run, without building a loop: most
// of the kernel's cost on small tensors. steps gets each operand's byte stride (its item size
// or 0; item: the item sizes), n the element count. Too small to split over threads or to stream.
template <int N>
bool flat_run(const Dims& shape, const std::array<const Operand*, N>& ops,
              const std::array<int64_t, N>& item, std::array<int64_t, N>& steps, int64_t& n) {
  const int64_t* size = shape.data();
  unsigned moving = (1u << N) - 1, fixed = moving;  // bit k: operand k walks / stays put
  int64_t count = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (size[d] == 1) continue;
    if (size[d] == 0 || count >= StridedLoop<N>::kGrain) return false;
    for (int k = 0; k < N; ++k) {
      const int64_t st = ops[k]->strides[d];
      if (st != count) moving &= ~(1u << k);
      if (st != 0) fixed &= ~(1u << k);
    }
    count *= size[d];
  }
  if (count >= StridedLoop<N>::kGrain || !(moving & 1u) || ((moving | fixed) != (1u << N) - 1))
    return false;
  for (int k = 0; k < N; ++k) steps[k] = (moving >> k) & 1u ? item[k] : 0;
  n = count;
  return true;
}

// Whether an op writing total elements of size bytes to out streams its stores: a large output
// that no input shares memory with (an in-place update has its lines in cache already).
bool streams(int64_t total, size_t size, const Operand& out,
             std::initializer_list<const Operand*> inputs) {
  if (total * static_cast<int64_t>(size) < kStreamBytes) return false;
  for (const Operand* in : inputs)
    if (in->data == out.data) return false;
  return true;
}

// What each thread does after its share of a kernel that may have streamed.
auto fence_if(bool stream) {
  return [stream] {
    if (stream) stream_fence();
  };
}

// out = op(in) elementwise. Contiguous runs go through block(x, dst, count), by default a plain
// loop over op; the vectorized transcendentals pass their own loops.
template <class R, class T, class Op, class Block>
void run_unary(const Dims& shape, const FlatRun* flat, const Operand& out, const Operand& in, Op op,
               Block block) {
  bool stream = false;
  auto body = [&](char* const* p, const int64_t* s, int64_t n) {
    R* o = reinterpret_cast<R*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    if (s[0] == sizeof(R) && s[1] == sizeof(T)) {
      write_run(o, n, stream, [&](R* d, int64_t b, int64_t c) { block(x + b, d, c); });
    } else if (s[0] == sizeof(R) && s[1] == 0) {  // a broadcast value: materializing a gradient
      fill_run(o, n, R(op(*x)), stream);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<R*>(p[0] + i * s[0]) = op(*reinterpret_cast<const T*>(p[1] + i * s[1]));
    }
  };
  std::array<int64_t, 2> steps;
  int64_t count;
  if (flat) {
    steps = {sizeof(R), flat->a_step * int64_t(sizeof(T))};
    count = flat->n;
  }
  if (flat || flat_run<2>(shape, {&out, &in}, {sizeof(R), sizeof(T)}, steps, count)) {
    char* const p[2] = {out.data, in.data};
    return body(p, steps.data(), count);
  }
  std::array<int64_t, kLoopMaxDims * 2> st;
  auto loop = make_loop<2>(shape, {&out, &in}, st);
  stream = streams(loop.total(), sizeof(R), out, {&in});
  loop.run_parallel({out.data, in.data}, body, fence_if(stream));
}

template <class R, class T, class Op>
void run_unary(const Dims& shape, const FlatRun* flat, const Operand& out, const Operand& in,
               Op op) {
  run_unary<R, T>(shape, flat, out, in, op, [op](const T* x, R* d, int64_t c) {
    for (int64_t i = 0; i < c; ++i) d[i] = op(x[i]);
  });
}

template <class R, class T, class Op>
void run_binary(const Dims& shape, const FlatRun* flat, const Operand& out, const Operand& a,
                const Operand& b, Op op) {
  bool stream = false;
  auto body = [&](char* const* p, const int64_t* s, int64_t n) {
    R* o = reinterpret_cast<R*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    constexpr int64_t r = sizeof(R), t = sizeof(T);
    if (s[0] == r && s[1] == t && s[2] == t) {
      write_run(o, n, stream, [&](R* d, int64_t b, int64_t c) {
        for (int64_t i = 0; i < c; ++i) d[i] = op(x[b + i], y[b + i]);
      });
    } else if (s[0] == r && s[1] == t && s[2] == 0) {
      const T yv = *y;
      write_run(o, n, stream, [&](R* d, int64_t b, int64_t c) {
        for (int64_t i = 0; i < c; ++i) d[i] = op(x[b + i], yv);
      });
    } else if (s[0] == r && s[1] == 0 && s[2] == t) {
      const T xv = *x;
      write_run(o, n, stream, [&](R* d, int64_t b, int64_t c) {
        for (int64_t i = 0; i < c; ++i) d[i] = op(xv, y[b + i]);
      });
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<R*>(p[0] + i * s[0]) = op(*reinterpret_cast<const T*>(p[1] + i * s[1]),
                                                    *reinterpret_cast<const T*>(p[2] + i * s[2]));
    }
  };
  std::array<int64_t, 3> steps;
  int64_t count;
  if (flat) {
    steps = {sizeof(R), flat->a_step * int64_t(sizeof(T)), flat->b_step * int64_t(sizeof(T))};
    count = flat->n;
  }
  if (flat || flat_run<3>(shape, {&out, &a, &b}, {sizeof(R), sizeof(T), sizeof(T)}, steps, count)) {
    char* const p[3] = {out.data, a.data, b.data};
    return body(p, steps.data(), count);
  }
  std::array<int64_t, kLoopMaxDims * 3> st;
  auto loop = make_loop<3>(shape, {&out, &a, &b}, st);
  stream = streams(loop.total(), sizeof(R), out, {&a, &b});
  loop.run_parallel({out.data, a.data, b.data}, body, fence_if(stream));
}

// NumPy's floor division (//). Integers: the quotient rounded toward -inf; division by 0
// gives 0 (NumPy's result, there with a warning) rather than a SIGFPE, and INT64_MIN // -1
// wraps to INT64_MIN. Floats: NumPy's npy_divmod, exact where floor(a / b) is not (a / b
// rounds up to an integer); b == 0 gives a / b (inf or NaN).
template <class T>
T floor_div_value(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    if (y == 0) return T(0);
    if (y == -1) return wrap_neg(x);  // INT64_MIN / -1 overflows
    const T q = x / y;
    return (x % y != 0 && ((x < 0) != (y < 0))) ? T(q - 1) : q;
  } else {
    if (y == 0) return x / y;
    const T mod = std::fmod(x, y);
    T div = (x - mod) / y;
    if (mod != 0 && ((y < 0) != (mod < 0))) div -= T(1);
    if (div == 0) return std::copysign(T(0), x / y);
    T floor_div = std::floor(div);
    if (div - floor_div > T(0.5)) floor_div += T(1);
    return floor_div;
  }
}

// Reached only when no case above took the op for this dtype: the ops check dtypes first, so
// this is a missing kernel, never a silently unwritten result.
[[noreturn]] void no_kernel(const char* kind, int op, DType dtype) {
  throw DTypeError(std::string("internal: no ") + kind + " kernel for op " + std::to_string(op) +
                   " on " + dtype_name(dtype));
}

template <class T>
T sigmoid_of(T x) {
  // Two branches so that exp never overflows.
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

template <class T>
void unary_typed(UnaryOp op, const Dims& shape, const FlatRun* flat, const Operand& out,
                 const Operand& in) {
  switch (op) {
    case UnaryOp::neg:
      return run_unary<T, T>(shape, flat, out, in, [](T x) { return wrap_neg(x); });
    case UnaryOp::abs:
      return run_unary<T, T>(shape, flat, out, in, [](T x) { return x < 0 ? wrap_neg(x) : x; });
    // NaN passes through sign and relu, as in NumPy (a comparison alone would make it 0).
    case UnaryOp::sign:
      return run_unary<T, T>(shape, flat, out, in,
                             [](T x) { return x != x ? x : T((T(0) < x) - (x < T(0))); });
    case UnaryOp::relu:
      return run_unary<T, T>(shape, flat, out, in,
                             [](T x) { return (x > T(0) || x != x) ? x : T(0); });
    default:
      break;
  }
  if constexpr (std::is_same_v<T, float>) {  // vectorized float32 transcendentals
    void (*loop)(const float*, float*, int64_t) = op == UnaryOp::exp       ? exp_f32_loop
                                                  : op == UnaryOp::tanh    ? tanh_f32_loop
                                                  : op == UnaryOp::sigmoid ? sigmoid_f32_loop
                                                                           : nullptr;
    float (*one)(float) = op == UnaryOp::exp    ? exp_f32
                          : op == UnaryOp::tanh ? tanh_f32
                                                : sigmoid_f32;
    if (loop) return run_unary<float, float>(shape, flat, out, in, one, loop);
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::exp:
        return run_unary<T, T>(shape, flat, out, in, [](T x) { return std::exp(x); });
      case UnaryOp::log:
        return run_unary<T, T>(shape, flat, out, in, [](T x) { return std::log(x); });
      case UnaryOp::sqrt:
        return run_unary<T, T>(shape, flat, out, in, [](T x) { return std::sqrt(x); });
      case UnaryOp::tanh:
        return run_unary<T, T>(shape, flat, out, in, [](T x) { return std::tanh(x); });
      case UnaryOp::sigmoid:
        return run_unary<T, T>(shape, flat, out, in, sigmoid_of<T>);
      default:
        break;
    }
  }
  no_kernel("unary", static_cast<int>(op), in.dtype);
}

template <class T>
void binary_typed(BinaryOp op, const Dims& shape, const FlatRun* flat, const Operand& out,
                  const Operand& a, const Operand& b) {
  switch (op) {
    case BinaryOp::eq:
      return run_binary<bool, T>(shape, flat, out, a, b, [](T x, T y) { return x == y; });
    case BinaryOp::ne:
      return run_binary<bool, T>(shape, flat, out, a, b, [](T x, T y) { return x != y; });
    case BinaryOp::lt:
      return run_binary<bool, T>(shape, flat, out, a, b, [](T x, T y) { return x < y; });
    case BinaryOp::le:
      return run_binary<bool, T>(shape, flat, out, a, b, [](T x, T y) { return x <= y; });
    case BinaryOp::gt:
      return run_binary<bool, T>(shape, flat, out, a, b, [](T x, T y) { return x > y; });
    case BinaryOp::ge:
      return run_binary<bool, T>(shape, flat, out, a, b, [](T x, T y) { return x >= y; });
    default:
      break;
  }
  if constexpr (!std::is_same_v<T, bool>) {
    switch (op) {
      case BinaryOp::add:
        return run_binary<T, T>(shape, flat, out, a, b, [](T x, T y) { return wrap_add(x, y); });
      case BinaryOp::sub:
        return run_binary<T, T>(shape, flat, out, a, b, [](T x, T y) { return wrap_sub(x, y); });
      case BinaryOp::mul:
        return run_binary<T, T>(shape, flat, out, a, b, [](T x, T y) { return wrap_mul(x, y); });
      case BinaryOp::div:
        // The ops never divide integers with div (`/` converts them to a floating dtype); were
        // it asked to, floor division cannot trap.
        return run_binary<T, T>(shape, flat, out, a, b, [](T x, T y) {
          if constexpr (std::is_integral_v<T>)
            return floor_div_value(x, y);
          else
            return T(x / y);
        });
      case BinaryOp::floor_div:
        return run_binary<T, T>(shape, flat, out, a, b, floor_div_value<T>);
      case BinaryOp::pow:
        return run_binary<T, T>(shape, flat, out, a, b, [](T x, T y) {
          if constexpr (std::is_integral_v<T>)
            return convert_value<T>(std::pow(static_cast<double>(x), static_cast<double>(y)));
          else
            return T(std::pow(x, y));
        });
      case BinaryOp::tanh_grad:
        return run_binary<T, T>(shape, flat, out, a, b,
                                [](T y, T g) { return T(g * (T(1) - y * y)); });
      case BinaryOp::sigmoid_grad:
        return run_binary<T, T>(shape, flat, out, a, b,
                                [](T y, T g) { return T(g * (y * (T(1) - y))); });
      case BinaryOp::relu_grad:  // relu passes NaN through, and g with it (as PyTorch)
        return run_binary<T, T>(shape, flat, out, a, b,
                                [](T x, T g) { return x <= T(0) ? T(0) : g; });
      case BinaryOp::maximum:  // NaN wins, as in NumPy
        return run_binary<T, T>(shape, flat, out, a, b,
                                [](T x, T y) { return (x > y || x != x) ? x : y; });
      case BinaryOp::minimum:
        return run_binary<T, T>(shape, flat, out, a, b,
                                [](T x, T y) { return (x < y || x != x) ? x : y; });
      default:
        break;
    }
  }
  no_kernel("binary", static_cast<int>(op), a.dtype);
}

}  // namespace

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge;
}

void unary(UnaryOp op, const Dims& shape, Operand out, Operand in, const FlatRun* flat) {
  dispatch_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>)
      unary_typed<T>(op, shape, flat, out, in);
    else
      no_kernel("unary", static_cast<int>(op), in.dtype);
  });
}

static_assert(kFlatMax <= StridedLoop<3>::kGrain, "a flat run is one thread's");

void binary(BinaryOp op, const Dims& shape, Operand out, Operand a, Operand b,
            const FlatRun* flat) {
  dispatch_dtype(a.dtype,
                 [&](auto tag) { binary_typed<decltype(tag)>(op, shape, flat, out, a, b); });
}

void where(const Dims& shape, Operand out, Operand cond, Operand a, Operand b) {
  dispatch_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    std::array<int64_t, kLoopMaxDims * 4> st;
    auto loop = make_loop<4>(shape, {&out, &cond, &a, &b}, st);
    loop.run_parallel({out.data, cond.data, a.data, b.data},
                      [&](char* const* p, const int64_t* s, int64_t n) {
                        constexpr int64_t t = sizeof(T);
                        T* o = reinterpret_cast<T*>(p[0]);
                        const bool* c = reinterpret_cast<const bool*>(p[1]);
                        const T* x = reinterpret_cast<const T*>(p[2]);
                        const T* y = reinterpret_cast<const T*>(p[3]);
                        if (s[0] == t && s[1] == 1 && s[2] == t && s[3] == 0) {  // relu's backward
                          const T yv = *y;
                          for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? x[i] : yv;
                        } else if (s[0] == t && s[1] == 1 && s[2] == t && s[3] == t) {
                          for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? x[i] : y[i];
                        } else {
                          for (int64_t i = 0; i < n; ++i)
                            *reinterpret_cast<T*>(p[0] + i * s[0]) =
                                *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                    ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                    : *reinterpret_cast<const T*>(p[3] + i * s[3]);
                        }
                      });
  });
}

void copy(const Dims& shape, Operand out, Operand in) {
  dispatch_dtype(out.dtype, [&](auto otag) {
    using R = decltype(otag);
    dispatch_dtype(in.dtype, [&](auto itag) {
      using T = decltype(itag);
      run_unary<R, T>(shape, nullptr, out, in, [](T x) { return convert_value<R>(x); });
    });
  });
}

void fill(char* data, DType dtype, int64_t n, double value) {
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T v = convert_value<T>(value);
    const bool stream = n * static_cast<int64_t>(sizeof(T)) >= kStreamBytes;
    fill_run(reinterpret_cast<T*>(data), n, v, stream);
    fence_if(stream)();
  });
}

}  // namespace ndgrad::kernels
