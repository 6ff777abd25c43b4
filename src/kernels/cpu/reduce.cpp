// Reductions: the output operand has stride 0 along reduced axes, so one strided loop serves
// every axis choice. When the innermost run is a reduction, it is summed with several
// independent accumulators (fast, and more accurate than one running sum).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/thread_pool.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/fast_math.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/reduce_functors.hpp"
#include "kernels/cpu/strided_loop.hpp"
#include "ndgrad/error.hpp"

namespace ndgrad::kernels {

namespace {

template <class T>
using SumOp = ReduceFunctor<ReduceOp::sum, T>;

template <class T, class Op>
T reduce_run(const char* p, int64_t stride, int64_t n, T init) {
  if constexpr (std::is_floating_point_v<T> && std::is_same_v<Op, SumOp<T>>) {
    if (stride == sizeof(T)) {  // the vectorized loops, cloned per instruction set
      const T* x = reinterpret_cast<const T*>(p);
      if constexpr (std::is_same_v<T, float>)
        return static_cast<float>(init + sum_f32(x, n));
      else
        return init + sum_f64(x, n);
    }
    if constexpr (std::is_same_v<T, float>) {  // strided or broadcast (stride 0): in double
      double r = init;
      for (int64_t i = 0; i < n; ++i) r += *reinterpret_cast<const float*>(p + i * stride);
      return static_cast<float>(r);
    }
  }
  constexpr int kLanes = 8;
  if (stride == sizeof(T) && n >= kLanes) {
    const T* x = reinterpret_cast<const T*>(p);
    T acc[kLanes];
    for (int l = 0; l < kLanes; ++l) acc[l] = x[l];
    int64_t i = kLanes;
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] = Op::combine(acc[l], x[i + l]);
    T r = init;
    for (int l = 0; l < kLanes; ++l) r = Op::combine(r, acc[l]);
    for (; i < n; ++i) r = Op::combine(r, x[i]);
    return r;
  }
  T r = init;
  for (int64_t i = 0; i < n; ++i) r = Op::combine(r, *reinterpret_cast<const T*>(p + i * stride));
  return r;
}

template <class T, class Op>
void reduce_typed(const Dims& shape, const Operand& out, int64_t out_numel, const Operand& in,
                  T identity) {
  T* fill = reinterpret_cast<T*>(out.data);
  for (int64_t i = 0; i < out_numel; ++i) fill[i] = identity;
  int ndim = static_cast<int>(shape.size());
  int64_t so[kMaxDims], si[kMaxDims];
  for (int d = 0; d < ndim; ++d) {
    so[d] = out.strides[d] * static_cast<int64_t>(sizeof(T));
    si[d] = in.strides[d] * static_cast<int64_t>(sizeof(T));
  }
  StridedLoop<2> loop(ndim, shape.data(), {so, si});
  auto body = [&](char* const* p, const int64_t* s, int64_t n) {
    T* o = reinterpret_cast<T*>(p[0]);
    if (s[0] == 0) {
      *o = Op::combine(*o, reduce_run<T, Op>(p[1], s[1], n, identity));
    } else if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
      const T* x = reinterpret_cast<const T*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = Op::combine(o[i], x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        T* oi = reinterpret_cast<T*>(p[0] + i * s[0]);
        *oi = Op::combine(*oi, *reinterpret_cast<const T*>(p[1] + i * s[1]));
      }
    }
  };
  const int threads = get_num_threads();
  if (loop.split_dim() >= 0 || threads <= 1 || loop.total() < 2 * loop.kGrain || loop.ndim() == 0) {
    loop.run_parallel({out.data, in.data}, body);
    return;
  }
  // Every element reduces into the same outputs: each thread reduces a slice of the outermost
  // dim into partial results of its own, which are then combined.
  const int d = loop.ndim() - 1;
  const int64_t chunks = std::min<int64_t>(threads, loop.size(d));
  std::vector<std::vector<T>> partial(chunks, std::vector<T>(out_numel, identity));
  parallel_for(chunks, [&](int64_t c) {
    std::array<char*, 2> base{reinterpret_cast<char*>(partial[c].data()), in.data};
    const int64_t begin = loop.size(d) * c / chunks, end = loop.size(d) * (c + 1) / chunks;
    loop.slice(d, begin, end, base).run(base, body);
  });
  for (const auto& part : partial)
    for (int64_t i = 0; i < out_numel; ++i) fill[i] = Op::combine(fill[i], part[i]);
}

}  // namespace

void reduce(ReduceOp op, const Dims& shape, Operand out, int64_t out_numel, Operand in) {
  dispatch_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      switch (op) {  // every row of the table; no default
#define NDGRAD_REDUCTION_OP(name, ...)                                   \
  case ReduceOp::name: {                                                 \
    using F = ReduceFunctor<ReduceOp::name, T>;                          \
    return reduce_typed<T, F>(shape, out, out_numel, in, F::identity()); \
  }
#include "ndgrad/op_table.def"
      }
    }
    // Reached only for a bool input (the ops reduce bools as i64) or a value outside the
    // enum: an error, never a silently unwritten result.
    throw DTypeError(std::string("internal: no reduction kernel ") +
                     std::to_string(static_cast<int>(op)) + " for " + dtype_name(in.dtype));
  });
}

void variance(DType dtype, int64_t outer, int64_t n, int64_t inner, const char* in, char* out,
              double divisor) {
  if (outer * inner == 0) return;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* x = reinterpret_cast<const T*>(in);
    T* y = reinterpret_cast<T*>(out);
    if (inner == 1) {
      parallel_for(outer, [&](int64_t o) {
        double mean, m2;
        var_row(x + o * n, n, &mean, &m2);
        y[o] = static_cast<T>(m2 / divisor);
      });
      return;
    }
    // Whole rows where there are several blocks to share out: each read is a row's contiguous
    // columns (pieces of rows, one a page, ran 1.2x slower from memory: the prefetcher starts
    // again at each page). A single block shares its columns out among the threads.
    // (4096 columns at a time: the moments' buffers stay small however wide the input.)
    auto columns = [&](int64_t o, int64_t c0, int64_t c1) {
      constexpr int64_t kChunk = 4096;
      std::vector<double> mean(static_cast<size_t>(std::min(kChunk, c1 - c0))), m2(mean.size());
      for (int64_t a = c0; a < c1; a += kChunk) {
        const int64_t b = std::min(c1, a + kChunk);
        var_cols(x + o * n * inner + a, n, b - a, inner, mean.data(), m2.data());
        for (int64_t c = a; c < b; ++c) y[o * inner + c] = static_cast<T>(m2[c - a] / divisor);
      }
    };
    if (outer == 1)
      parallel_range(inner, 256, [&](int64_t c0, int64_t c1) { columns(0, c0, c1); });
    else
      parallel_for(outer, [&](int64_t o) { columns(o, 0, inner); });
  };
  if (dtype == DType::f32)
    run(float());
  else if (dtype == DType::f64)
    run(double());
  else
    throw DTypeError(std::string("internal: no variance kernel for ") + dtype_name(dtype));
}

void arg_reduce(bool is_max, const Dims& shape, Operand out, Operand in, int64_t axis_size,
                int64_t axis_stride) {
  dispatch_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    int ndim = static_cast<int>(shape.size());
    int64_t so[kMaxDims], si[kMaxDims];
    for (int d = 0; d < ndim; ++d) {
      so[d] = out.strides[d] * 8;
      si[d] = in.strides[d] * static_cast<int64_t>(sizeof(T));
    }
    const int64_t step = axis_stride * static_cast<int64_t>(sizeof(T));
    StridedLoop<2> loop(ndim, shape.data(), {so, si});
    loop.run({out.data, in.data}, [&](char* const* p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const char* x = p[1] + i * s[1];
        T best = *reinterpret_cast<const T*>(x);
        int64_t best_j = 0;
        for (int64_t j = 1; j < axis_size && best == best; ++j) {  // stops at the first NaN
          T v = *reinterpret_cast<const T*>(x + j * step);
          if ((is_max ? v > best : v < best) || v != v) {
            best = v;
            best_j = j;
          }
        }
        *reinterpret_cast<int64_t*>(p[0] + i * s[0]) = best_j;
      }
    });
  });
}

}  // namespace ndgrad::kernels
