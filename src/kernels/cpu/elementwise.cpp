// Elementwise kernels: each is a scalar functor run by one strided loop, with a contiguous
// fast path the compiler can vectorize.
#include <array>
#include <cmath>
#include <type_traits>

#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/fast_math.hpp"
#include "kernels/cpu/functors.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/reference.hpp"
#include "kernels/cpu/stream_store.hpp"
#include "kernels/cpu/strided_loop.hpp"
#include "ndgrad/error.hpp"

namespace ndgrad::kernels {

namespace {

// The loop over shape with each operand's strides in bytes (written into storage).
template <int N>
StridedLoop<N> make_loop(const Dims& shape, const std::array<const Operand*, N>& ops,
                         std::array<int64_t, kMaxDims * N>& storage) {
  const int ndim = static_cast<int>(shape.size());
  std::array<const int64_t*, N> strides;
  for (int k = 0; k < N; ++k) {
    int64_t* s = storage.data() + k * kMaxDims;
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
      write_run(
          o, n, stream, [&](R* d, int64_t b, int64_t c) { block(x + b, d, c); }, x);
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
  std::array<int64_t, kMaxDims * 2> st;
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
      write_run(
          o, n, stream,
          [&](R* d, int64_t b, int64_t c) {
            for (int64_t i = 0; i < c; ++i) d[i] = op(x[b + i], y[b + i]);
          },
          x, y);
    } else if (s[0] == r && s[1] == t && s[2] == 0) {
      const T yv = *y;
      write_run(
          o, n, stream,
          [&](R* d, int64_t b, int64_t c) {
            for (int64_t i = 0; i < c; ++i) d[i] = op(x[b + i], yv);
          },
          x);
    } else if (s[0] == r && s[1] == 0 && s[2] == t) {
      const T xv = *x;
      write_run(
          o, n, stream,
          [&](R* d, int64_t b, int64_t c) {
            for (int64_t i = 0; i < c; ++i) d[i] = op(xv, y[b + i]);
          },
          y);
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
  std::array<int64_t, kMaxDims * 3> st;
  auto loop = make_loop<3>(shape, {&out, &a, &b}, st);
  stream = streams(loop.total(), sizeof(R), out, {&a, &b});
  loop.run_parallel({out.data, a.data, b.data}, body, fence_if(stream));
}

// Reached only when no case above took the op for this dtype: the ops check dtypes first, so
// this is a missing kernel, never a silently unwritten result.
[[noreturn]] void no_kernel(const char* kind, const char* op, DType dtype) {
  throw DTypeError(std::string("internal: no ") + kind + " kernel for " + op + " on " +
                   dtype_name(dtype));
}

// An op's name for an error, also for a value outside the enum.
template <class Op>
const char* name_of(Op op) {
  const int i = static_cast<int>(op);
  if constexpr (std::is_same_v<Op, UnaryOp>)
    return i < kNumUnaryOps ? kUnaryOps[i].name : "an unknown unary op";
  else
    return i < kNumBinaryOps ? kBinaryOps[i].name : "an unknown binary op";
}

// Whether a kernel of element type T exists for an op with this dtype rule.
template <class T>
constexpr bool admits(DTypeRule rule) {
  if (rule == DTypeRule::comparison || rule == DTypeRule::predicate) return true;
  if (rule == DTypeRule::floating || rule == DTypeRule::floating_promote)  // (ints: converted)
    return std::is_floating_point_v<T>;
  if (rule == DTypeRule::integral) return std::is_integral_v<T>;  // bool included
  return !std::is_same_v<T, bool>;
}

template <class F, class = void>
struct has_vec_f32 : std::false_type {};
template <class F>
struct has_vec_f32<F, std::void_t<decltype(F::vec_f32)>> : std::true_type {};

// The result's element type is the functor's: T, or bool for a predicate.
template <class F, class T>
void run_unary_fn(const Dims& shape, const FlatRun* flat, const Operand& out, const Operand& in) {
  if constexpr (std::is_same_v<T, float> && has_vec_f32<F>::value) {
    if (!reference_kernels())
      return run_unary<float, float>(shape, flat, out, in, F::f32, F::vec_f32);
  }
  run_unary<decltype(F::apply(T())), T>(shape, flat, out, in, [](T x) { return F::apply(x); });
}

template <class T>
void unary_typed(UnaryOp op, const Dims& shape, const FlatRun* flat, const Operand& out,
                 const Operand& in) {
  switch (op) {
#define NDGRAD_UNARY_OP(name, dtypes, ...)                    \
  case UnaryOp::name:                                         \
    if constexpr (admits<T>(DTypeRule::dtypes))               \
      return run_unary_fn<fn::name, T>(shape, flat, out, in); \
    break;
#include "ndgrad/op_table.def"
  }
  no_kernel("unary", name_of(op), in.dtype);
}

template <class T>
void binary_typed(BinaryOp op, const Dims& shape, const FlatRun* flat, const Operand& out,
                  const Operand& a, const Operand& b) {
  switch (op) {
#define NDGRAD_BINARY_OP(name, dtypes, ...)                                        \
  case BinaryOp::name:                                                             \
    if constexpr (admits<T>(DTypeRule::dtypes))                                    \
      return run_binary<decltype(fn::name::apply(T(), T())), T>(                   \
          shape, flat, out, a, b, [](T x, T y) { return fn::name::apply(x, y); }); \
    break;
#include "ndgrad/op_table.def"
  }
  no_kernel("binary", name_of(op), a.dtype);
}

// A flat run of a unary op: a contiguous input (step 1) or one value (step 0). Both flat loops
// are compiled for each instruction set (NDGRAD_CLONES): the small ops' loops run 8 or 16
// floats a step instead of 4.
template <class F, class T>
NDGRAD_CLONES void flat_unary_loop(char* out, const char* in, const FlatRun& run) {
  using R = decltype(F::apply(T()));
  R* o = reinterpret_cast<R*>(out);
  const T* x = reinterpret_cast<const T*>(in);
  const int64_t n = run.n;
  if (run.a_step == 0) {  // (the vectorized loop's own one-element form, as run_unary uses)
    R v;
    if constexpr (std::is_same_v<T, float> && has_vec_f32<F>::value)
      v = F::f32(*x);
    else
      v = F::apply(*x);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  } else if constexpr (std::is_same_v<T, float> && has_vec_f32<F>::value) {
    F::vec_f32(x, o, n);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = F::apply(x[i]);
  }
}

// A flat run of a binary op: each input contiguous (step 1) or one value (step 0).
template <class F, class T>
NDGRAD_CLONES void flat_binary_loop(char* out, const char* a, const char* b, const FlatRun& run) {
  using R = decltype(F::apply(T(), T()));
  R* o = reinterpret_cast<R*>(out);
  const T* x = reinterpret_cast<const T*>(a);
  const T* y = reinterpret_cast<const T*>(b);
  const int64_t n = run.n;
  if (run.a_step && run.b_step) {
    for (int64_t i = 0; i < n; ++i) o[i] = F::apply(x[i], y[i]);
  } else if (run.a_step) {
    const T yv = *y;
    for (int64_t i = 0; i < n; ++i) o[i] = F::apply(x[i], yv);
  } else if (run.b_step) {
    const T xv = *x;
    for (int64_t i = 0; i < n; ++i) o[i] = F::apply(xv, y[i]);
  } else {
    const R v = F::apply(*x, *y);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

template <class F, class T, DTypeRule rule>
constexpr FlatUnaryFn unary_entry() {
  if constexpr (admits<T>(rule))
    return &flat_unary_loop<F, T>;
  else
    return nullptr;
}
template <class F, class T, DTypeRule rule>
constexpr FlatBinaryFn binary_entry() {
  if constexpr (admits<T>(rule))
    return &flat_binary_loop<F, T>;
  else
    return nullptr;
}

}  // namespace

// Indexed by op, then by DType (f32, f64, i64, bool: the enum's order).
static_assert(static_cast<int>(DType::f32) == 0 && static_cast<int>(DType::f64) == 1 &&
                  static_cast<int>(DType::i64) == 2 && static_cast<int>(DType::boolean) == 3,
              "the flat-run tables follow DType's order");
namespace detail {
constexpr FlatUnaryFn kFlatUnary[kNumUnaryOps][kFlatDTypes] = {
#define NDGRAD_UNARY_OP(name, dtypes, ...)              \
  {unary_entry<fn::name, float, DTypeRule::dtypes>(),   \
   unary_entry<fn::name, double, DTypeRule::dtypes>(),  \
   unary_entry<fn::name, int64_t, DTypeRule::dtypes>(), \
   unary_entry<fn::name, bool, DTypeRule::dtypes>()},
#include "ndgrad/op_table.def"
};
constexpr FlatBinaryFn kFlatBinary[kNumBinaryOps][kFlatDTypes] = {
#define NDGRAD_BINARY_OP(name, dtypes, ...)              \
  {binary_entry<fn::name, float, DTypeRule::dtypes>(),   \
   binary_entry<fn::name, double, DTypeRule::dtypes>(),  \
   binary_entry<fn::name, int64_t, DTypeRule::dtypes>(), \
   binary_entry<fn::name, bool, DTypeRule::dtypes>()},
#include "ndgrad/op_table.def"
};
}  // namespace detail

void unary(UnaryOp op, const Dims& shape, Operand out, Operand in, const FlatRun* flat) {
  dispatch_dtype(in.dtype, [&](auto tag) { unary_typed<decltype(tag)>(op, shape, flat, out, in); });
}

static_assert(kFlatMax <= StridedLoop<3>::kGrain, "a flat run is one thread's");

void binary(BinaryOp op, const Dims& shape, Operand out, Operand a, Operand b,
            const FlatRun* flat) {
  dispatch_dtype(a.dtype,
                 [&](auto tag) { binary_typed<decltype(tag)>(op, shape, flat, out, a, b); });
}

void where(const Dims& shape, Operand out, Operand cond, Operand a, Operand b) {
  dispatch_bytes(out.dtype, [&](auto tag) {  // elements chosen, not computed: any dtype
    using T = decltype(tag);
    std::array<int64_t, kMaxDims * 4> st;
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
  dispatch_storage(out.dtype, [&](auto otag) {
    using R = decltype(otag);
    dispatch_storage(in.dtype, [&](auto itag) {
      using T = decltype(itag);
      run_unary<R, T>(shape, nullptr, out, in, [](T x) { return convert_value<R>(x); });
    });
  });
}

void fill(char* data, DType dtype, int64_t n, double value) {
  dispatch_storage(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T v = convert_value<T>(value);
    const bool stream = n * static_cast<int64_t>(sizeof(T)) >= kStreamBytes;
    fill_run(reinterpret_cast<T*>(data), n, v, stream);
    fence_if(stream)();
  });
}

}  // namespace ndgrad::kernels
