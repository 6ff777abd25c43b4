#include "kernels/cpu/fused.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/thread_pool.hpp"
#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/fast_math.hpp"
#include "kernels/cpu/functors.hpp"
#include "kernels/cpu/stream_store.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad::kernels {
namespace {

// One block of values per op (and per leaf that has to be gathered): 4 KiB each, so that a
// typical chain's blocks stay in L1 between its ops.
constexpr int64_t kBlockBytes = 4096;
constexpr int kScratchBlocks = kFusedMaxOps + kFusedMaxLeaves;
// An op that reads an input from memory into a scratch block runs in chunks of this many bytes,
// each after prefetching the same bytes of the next block's input: the loads that miss reach
// memory while the block's other ops run, instead of after them.
constexpr int64_t kPrefetchChunk = 1024;

// The loop nest after dropping size-1 dims and merging adjacent dims that every leaf walks as
// one: usually a single dim, or rows by columns when an operand is broadcast.
struct Plan {
  int nd = 0;
  int nreduced = 0;           // dims made of reduced dims
  bool last_reduced = false;  // the innermost one is
  int64_t size[kFusedMaxDims] = {};
  int64_t stride[kFusedMaxLeaves][kFusedMaxDims] = {};
  int64_t inner() const { return size[nd - 1]; }
  int64_t outer() const {
    int64_t n = 1;
    for (int d = 0; d + 1 < nd; ++d) n *= size[d];
    return n;
  }
};

// Dims before `barrier` are never merged with the ones after it: a reduction's reduced dims are
// the ones before it, or with `trailing` the ones from it on.
Plan make_plan(const FusedProgram& p, int barrier, bool trailing = false) {
  Plan q;
  bool prev_reduced = false;
  for (int d = 0; d < p.ndim; ++d) {
    if (p.shape[d] == 1) continue;
    const bool reduced = trailing ? d >= barrier : d < barrier;
    bool merge = q.nd > 0 && reduced == prev_reduced;
    for (int l = 0; merge && l < p.nleaves; ++l)
      merge = q.stride[l][q.nd - 1] == p.leaf_strides[l][d] * p.shape[d];
    if (merge) {
      q.size[q.nd - 1] *= p.shape[d];
    } else {
      q.size[q.nd++] = p.shape[d];
      q.nreduced += reduced ? 1 : 0;
    }
    for (int l = 0; l < p.nleaves; ++l) q.stride[l][q.nd - 1] = p.leaf_strides[l][d];
    prev_reduced = reduced;
  }
  q.last_reduced = q.nd > 0 && prev_reduced;
  if (q.nd == 0) {  // a single element
    q.nd = 1;
    q.size[0] = 1;
  }
  return q;
}

// A block of n values, or one value repeated (when no operand moves along the block).
template <class T>
struct Val {
  const T* p;
  T s;
};

// Where the program's last op sends its values: stored to out, added to out element by
// element, or summed (returned). The last op runs inside that loop, so a block makes one pass
// less through L1 than computing the values first.
enum class Sink { store, accumulate, sum };

template <class T, Sink S, class A, class B, class F>
[[gnu::always_inline]] inline T sink_loop(A x, B y, T* __restrict out, int64_t n, F f) {
  if constexpr (S == Sink::store) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(x(i), y(i));
    return T(0);
  } else if constexpr (S == Sink::accumulate) {
    for (int64_t i = 0; i < n; ++i) out[i] += f(x(i), y(i));
    return T(0);
  } else {  // in partial sums, as the eager sum: 32 floats or 16 doubles
    return lane_sum<T, 128 / sizeof(T)>(n, [&](int64_t i) { return f(x(i), y(i)); });
  }
}

// f over n elements of a and b into the sink; a scalar result when neither moves (returned
// through *scalar, with nothing written, when S is store into scratch).
template <class T, Sink S, class F>
[[gnu::always_inline]] inline T sink_op(Val<T> a, Val<T> b, T* out, int64_t n, F f) {
  if (a.p && b.p) {
    const T* __restrict x = a.p;
    const T* __restrict y = b.p;
    return sink_loop<T, S>([=](int64_t i) { return x[i]; }, [=](int64_t i) { return y[i]; }, out, n,
                           f);
  }
  if (a.p) {
    const T* __restrict x = a.p;
    const T s = b.s;
    return sink_loop<T, S>([=](int64_t i) { return x[i]; }, [=](int64_t) { return s; }, out, n, f);
  }
  if (b.p) {
    const T* __restrict y = b.p;
    const T s = a.s;
    return sink_loop<T, S>([=](int64_t) { return s; }, [=](int64_t i) { return y[i]; }, out, n, f);
  }
  const T v = f(a.s, b.s);
  if constexpr (S == Sink::sum) {
    return v * static_cast<T>(n);
  } else {
    for (int64_t i = 0; i < n; ++i) S == Sink::store ? out[i] = v : out[i] += v;
    return T(0);
  }
}

template <class T, Sink S>
[[gnu::always_inline]] inline T sink_any(FusedOp op, Val<T> a, Val<T> b, T* out, int64_t n) {
  switch (op) {
#define NDGRAD_UNARY_OP(name, dtypes, domain, fusion, ...)                          \
  NDGRAD_IF_FUSED_##fusion(case FusedOp::name                                       \
                           : return sink_op<T, S>(a, Val<T>{nullptr, T(0)}, out, n, \
                                                  [](T x, T) { return fn::name::apply(x); });)
#define NDGRAD_BINARY_OP(name, dtypes, domain, fusion, ...) \
  NDGRAD_IF_FUSED_##fusion(                                 \
      case FusedOp::name                                    \
      : return sink_op<T, S>(a, b, out, n, [](T x, T y) { return fn::name::apply(x, y); });)
#include "ndgrad/op_table.def"
  }
  return T(0);
}

// An op into a scratch block whose operands include a leaf that the next block reads from
// `ahead` bytes further on (pa, pb: the leaves' next addresses, or null).
template <class T>
[[gnu::always_inline]] inline void store_prefetching(FusedOp op, Val<T> a, Val<T> b, T* out,
                                                     int64_t n, const char* pa, const char* pb) {
  constexpr int64_t kChunk = kPrefetchChunk / sizeof(T);
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t c = std::min(kChunk, n - i);
    for (int64_t byte = 0; byte < c * int64_t(sizeof(T)); byte += 64) {
      if (pa) __builtin_prefetch(pa + byte);
      if (pb) __builtin_prefetch(pb + byte);
    }
    if (pa) pa += kPrefetchChunk;
    if (pb) pb += kPrefetchChunk;
    sink_any<T, Sink::store>(op, a.p ? Val<T>{a.p + i, T(0)} : a, b.p ? Val<T>{b.p + i, T(0)} : b,
                             out + i, c);
  }
}

// The program over n consecutive elements of the innermost dim, starting at the leaf pointers
// ptr: every op but the last into scratch blocks, the last into the sink (out). ahead: for each
// leaf, how many bytes further on the next block reads it (null for the last block).
template <class T, Sink S>
[[gnu::always_inline]] inline T eval_block(const FusedProgram& p, const int64_t* step,
                                           const char* const* ptr, const int64_t* ahead, int64_t n,
                                           T* out, T* scratch) {
  constexpr int64_t kPitch = kBlockBytes / sizeof(T);
  Val<T> leaf[kFusedMaxLeaves], val[kFusedMaxOps];
  for (int l = 0; l < p.nleaves; ++l) {
    const T* x = reinterpret_cast<const T*>(ptr[l]);
    if (step[l] == 1) {
      leaf[l] = {x, T(0)};
    } else if (step[l] == 0) {
      leaf[l] = {nullptr, *x};
    } else {
      T* g = scratch + (kFusedMaxOps + l) * kPitch;
      const int64_t s = step[l];
      for (int64_t i = 0; i < n; ++i) g[i] = x[i * s];
      leaf[l] = {g, T(0)};
    }
  }
  auto get = [&](uint8_t v) {
    return (v & FusedProgram::kLeaf) ? leaf[v & ~FusedProgram::kLeaf] : val[v];
  };
  // The next block's address of a contiguous leaf that an op reads here first, else null.
  unsigned prefetched = 0;
  auto next_of = [&](uint8_t v) -> const char* {
    if (!ahead || !(v & FusedProgram::kLeaf)) return nullptr;
    const int l = v & ~FusedProgram::kLeaf;
    if (step[l] != 1 || ahead[l] == 0 || (prefetched & (1u << l))) return nullptr;
    prefetched |= 1u << l;
    return ptr[l] + ahead[l];
  };
  for (int k = 0; k + 1 < p.nops; ++k) {
    const FusedProgram::Op& op = p.ops[k];
    const Val<T> a = get(op.a), b = is_unary(op.op) ? Val<T>{nullptr, T(0)} : get(op.b);
    if (!a.p && !b.p) {  // a value that does not move along the block: computed once
      T one = T(0);
      sink_any<T, Sink::store>(op.op, a, b, &one, 1);
      val[k] = {nullptr, one};
    } else {
      T* dst = scratch + k * kPitch;
      const char* pa = next_of(op.a);
      const char* pb = is_unary(op.op) ? nullptr : next_of(op.b);
      if (pa || pb)
        store_prefetching<T>(op.op, a, b, dst, n, pa, pb);
      else
        sink_any<T, Sink::store>(op.op, a, b, dst, n);
      val[k] = {dst, T(0)};
    }
  }
  const FusedProgram::Op& last = p.ops[p.nops - 1];
  return sink_any<T, S>(last.op, get(last.a),
                        is_unary(last.op) ? Val<T>{nullptr, T(0)} : get(last.b), out, n);
}

template <class T>
[[gnu::always_inline]] inline T eval_any(Sink s, const FusedProgram& p, const int64_t* step,
                                         const char* const* ptr, const int64_t* ahead, int64_t n,
                                         T* out, T* scratch) {
  switch (s) {
    case Sink::store:
      return eval_block<T, Sink::store>(p, step, ptr, ahead, n, out, scratch);
    case Sink::accumulate:
      return eval_block<T, Sink::accumulate>(p, step, ptr, ahead, n, out, scratch);
    case Sink::sum:
      return eval_block<T, Sink::sum>(p, step, ptr, ahead, n, out, scratch);
  }
  return T(0);
}

}  // namespace

// The block evaluator, compiled for AVX-512, AVX2 and baseline x86-64.
NDGRAD_CLONES float fused_block_f32(Sink s, const FusedProgram& p, const int64_t* step,
                                    const char* const* ptr, const int64_t* ahead, int64_t n,
                                    float* out, float* scratch) {
  return eval_any<float>(s, p, step, ptr, ahead, n, out, scratch);
}
NDGRAD_CLONES double fused_block_f64(Sink s, const FusedProgram& p, const int64_t* step,
                                     const char* const* ptr, const int64_t* ahead, int64_t n,
                                     double* out, double* scratch) {
  return eval_any<double>(s, p, step, ptr, ahead, n, out, scratch);
}

namespace {

template <class T>
T block(Sink s, const FusedProgram& p, const int64_t* step, const char* const* ptr,
        const int64_t* ahead, int64_t n, T* out, T* scratch) {
  if constexpr (std::is_same_v<T, float>)
    return fused_block_f32(s, p, step, ptr, ahead, n, out, scratch);
  else
    return fused_block_f64(s, p, step, ptr, ahead, n, out, scratch);
}

// Work items are blocks: item = outer index * blocks per row + block within the row.
template <class T>
struct Blocks {
  static constexpr int64_t kB = kBlockBytes / sizeof(T);  // elements per block
  const FusedProgram& p;
  Plan q;
  int64_t per_row, items;
  int64_t step[kFusedMaxLeaves];

  Blocks(const FusedProgram& prog, int barrier, bool trailing = false)
      : p(prog), q(make_plan(prog, barrier, trailing)) {
    per_row = (q.inner() + kB - 1) / kB;
    items = q.outer() * per_row;
    for (int l = 0; l < p.nleaves; ++l) step[l] = q.stride[l][q.nd - 1];
  }

  // The leaf pointers of an item.
  void locate(int64_t item, const char** ptr) const {
    const int64_t row = item / per_row, start = item % per_row * kB;
    for (int l = 0; l < p.nleaves; ++l) {
      int64_t off = start * step[l], rest = row;
      for (int d = q.nd - 2; d >= 0; --d) {
        off += rest % q.size[d] * q.stride[l][d];
        rest /= q.size[d];
      }
      ptr[l] = p.leaf_data[l] + off * static_cast<int64_t>(sizeof(T));
    }
  }

  // f(first element's linear index, count, leaf pointers, the next item's distance from them
  // in bytes (null for the last item), scratch) for items [begin, end).
  template <class F>
  void run(int64_t begin, int64_t end, F&& f) const {
    // 64-byte aligned: a misaligned block splits every vector load and store across lines.
    std::vector<T> buffer(kScratchBlocks * kB + 64 / sizeof(T));
    T* scratch = reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(buffer.data()) + 63) / 64 * 64);
    const char* ptr[kFusedMaxLeaves];
    const char* next[kFusedMaxLeaves];
    int64_t ahead[kFusedMaxLeaves];
    if (begin < end) locate(begin, ptr);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t row = item / per_row, start = item % per_row * kB;
      const int64_t n = std::min(kB, q.inner() - start);
      const bool more = item + 1 < end;
      if (more) {
        locate(item + 1, next);
        for (int l = 0; l < p.nleaves; ++l) ahead[l] = next[l] - ptr[l];
      }
      f(row * q.inner() + start, n, ptr, more ? ahead : nullptr, scratch);
      if (more) std::copy(next, next + p.nleaves, ptr);
    }
  }

  // Splits the items into one contiguous range per thread above a grain size and calls
  // f(part, begin, end); returns the number of parts. With whole_rows, the ranges hold whole
  // rows of the plan (a row's blocks on one thread).
  template <class F>
  int64_t split(F&& f, bool whole_rows = false) const {
    const int64_t unit = whole_rows ? per_row : 1, units = items / unit;
    const int64_t elems = items * kB;
    int64_t parts = std::min<int64_t>({get_num_threads(), elems / (int64_t(1) << 16), 64});
    parts = std::max<int64_t>(1, std::min(parts, units));
    if (parts == 1) {
      f(0, 0, items);
      return 1;
    }
    parallel_for(
        parts, [&](int64_t t) { f(t, units * t / parts * unit, units * (t + 1) / parts * unit); });
    return parts;
  }
};

// Writes a block's n values to out + at (streamed past the caches when stream), calling
// then(values, first, count) on each piece while it is in L1.
template <class T, class F>
void write_block(const Blocks<T>& b, T* out, int64_t at, int64_t n, const char* const* ptr,
                 const int64_t* ahead, T* scratch, bool stream, F&& then) {
  write_run(out + at, n, stream, [&](T* dst, int64_t first, int64_t count) {
    const char* moved[kFusedMaxLeaves];
    for (int l = 0; l < b.p.nleaves; ++l)
      moved[l] = ptr[l] + first * b.step[l] * static_cast<int64_t>(sizeof(T));
    block<T>(Sink::store, b.p, b.step, moved, ahead, count, dst, scratch);
    then(dst, first, count);
  });
}

template <class T>
bool streamed(const FusedProgram& p) {
  return p.numel() * static_cast<int64_t>(sizeof(T)) >= kStreamBytes;
}

// How many values a sum over the leading `reduced` dims keeps.
int64_t kept_by(const FusedProgram& p, int reduced) {
  int64_t kept = 1;
  for (int d = reduced; d < p.ndim; ++d) kept *= p.shape[d];
  return kept;
}

// Sums over the leading dims: f(acc, at, n, ptr, ahead, scratch) runs on every block with acc
// its thread's own `kept` partial sums, and the threads' sums are added into sums in thread
// order. fence: each thread's part ends with a fence for its streamed stores.
template <class T, class F>
void sum_leading_parts(const Blocks<T>& b, int64_t kept, bool fence, T* sums, F&& f) {
  std::vector<std::vector<T>> part(std::min<int64_t>(64, std::max(1, get_num_threads())));
  const int64_t parts = b.split([&](int64_t t, int64_t begin, int64_t end) {
    std::vector<T>& acc = part[t];
    acc.assign(kept, T(0));
    b.run(begin, end,
          [&](int64_t at, int64_t n, const char* const* ptr, const int64_t* ahead, T* scratch) {
            f(acc.data(), at, n, ptr, ahead, scratch);
          });
    if (fence) stream_fence();
  });
  for (int64_t j = 0; j < kept; ++j) sums[j] = T(0);
  for (int64_t t = 0; t < parts; ++t)
    for (int64_t j = 0; j < kept; ++j) sums[j] += part[t][j];
}

template <class T>
void materialize_t(const FusedProgram& p, T* out) {
  const Blocks<T> b(p, 0);
  const bool stream = streamed<T>(p);
  b.split([&](int64_t, int64_t begin, int64_t end) {
    b.run(begin, end,
          [&](int64_t at, int64_t n, const char* const* ptr, const int64_t* ahead, T* scratch) {
            write_block(b, out, at, n, ptr, ahead, scratch, stream,
                        [](const T*, int64_t, int64_t) {});
          });
    if (stream) stream_fence();
  });
}

template <class T>
double sum_all_t(const FusedProgram& p) {
  const Blocks<T> b(p, 0);
  double part[64] = {};
  const int64_t parts = b.split([&](int64_t t, int64_t begin, int64_t end) {
    double acc = 0;
    b.run(begin, end,
          [&](int64_t, int64_t n, const char* const* ptr, const int64_t* ahead, T* scratch) {
            acc += static_cast<double>(
                block<T>(Sink::sum, p, b.step, ptr, ahead, n, nullptr, scratch));
          });
    part[t] = acc;
  });
  double total = 0;
  for (int64_t t = 0; t < parts; ++t) total += part[t];
  return total;
}

template <class T>
void sum_leading_t(const FusedProgram& p, int reduced, T* out) {
  const int64_t kept = kept_by(p, reduced);
  if (kept == 1) {  // every kept dim has size 1: the innermost dims are reduced ones
    *out = static_cast<T>(sum_all_t<T>(p));
    return;
  }
  const Blocks<T> b(p, reduced);
  sum_leading_parts(
      b, kept, false, out,
      [&](T* acc, int64_t at, int64_t n, const char* const* ptr, const int64_t* ahead, T* scratch) {
        // The plan keeps the reduced dims apart: a block lies within one row of kept values.
        block<T>(Sink::accumulate, p, b.step, ptr, ahead, n, acc + at % kept, scratch);
      });
}

// Whether the trailing `reduced` dims merge into the plan's innermost one (one run per output
// value).
bool trailing_one_run(const Plan& q) { return q.last_reduced && q.nreduced == 1; }

// Sums over the trailing `reduced` dims into out (one value per index of the leading dims, in
// their row-major order); trailing_one_run holds. Each row's blocks are summed as fused_sum_all
// sums blocks (in the dtype, then in double).
template <class T>
void sum_trailing_t(const FusedProgram& p, int reduced, T* out) {
  const Blocks<T> b(p, p.ndim - reduced, true);
  const int64_t inner = b.q.inner();
  // Whole rows per part, so that no two threads add to one value.
  b.split(
      [&](int64_t, int64_t begin, int64_t end) {
        int64_t row = begin / b.per_row;
        double acc = 0;
        b.run(begin, end,
              [&](int64_t at, int64_t n, const char* const* ptr, const int64_t* ahead, T* scratch) {
                if (at / inner != row) {
                  out[row] = static_cast<T>(acc);
                  acc = 0;
                  row = at / inner;
                }
                acc += static_cast<double>(
                    block<T>(Sink::sum, p, b.step, ptr, ahead, n, nullptr, scratch));
              });
        if (end > begin) out[row] = static_cast<T>(acc);
      },
      true);
}

// Both at once: each block's values are written out (streamed when large) and added to the
// sums over the leading dims while they are in L1. The same blocks, parts and order of additions
// as sum_leading_t; the values added are the rounded results (sum_leading_t's last op may be
// contracted into its addition).
template <class T>
void materialize_sum_leading_t(const FusedProgram& p, int reduced, T* out, T* sums) {
  const int64_t kept = kept_by(p, reduced);
  if (kept == 1) {
    materialize_t(p, out);
    *sums = static_cast<T>(sum_all_t<T>(p));
    return;
  }
  const Blocks<T> b(p, reduced);
  const bool stream = streamed<T>(p);
  sum_leading_parts(
      b, kept, stream, sums,
      [&](T* acc, int64_t at, int64_t n, const char* const* ptr, const int64_t* ahead, T* scratch) {
        write_block(b, out, at, n, ptr, ahead, scratch, stream,
                    [&](const T* values, int64_t first, int64_t count) {
                      add_to(acc + (at + first) % kept, values, count, false);
                    });
      });
}

}  // namespace

void fused_materialize_sum_leading(const FusedProgram& p, char* out, int reduced, char* sums) {
  if (p.dtype == DType::f32)
    materialize_sum_leading_t(p, reduced, reinterpret_cast<float*>(out),
                              reinterpret_cast<float*>(sums));
  else
    materialize_sum_leading_t(p, reduced, reinterpret_cast<double*>(out),
                              reinterpret_cast<double*>(sums));
}

bool same_program(const FusedProgram& p, const FusedProgram& q) {
  if (p.dtype != q.dtype || p.ndim != q.ndim || p.nleaves != q.nleaves || p.nops != q.nops)
    return false;
  const size_t dims = sizeof(int64_t) * static_cast<size_t>(p.ndim);
  if (std::memcmp(p.shape, q.shape, dims) != 0) return false;
  for (int l = 0; l < p.nleaves; ++l)
    if (p.leaf_data[l] != q.leaf_data[l] ||
        std::memcmp(p.leaf_strides[l], q.leaf_strides[l], dims) != 0)
      return false;
  for (int k = 0; k < p.nops; ++k) {
    const FusedProgram::Op &a = p.ops[k], &b = q.ops[k];
    if (a.op != b.op || a.a != b.a || (!is_unary(a.op) && a.b != b.b)) return false;
  }
  return true;
}

void fused_materialize(const FusedProgram& p, char* out) {
  if (p.dtype == DType::f32)
    materialize_t(p, reinterpret_cast<float*>(out));
  else
    materialize_t(p, reinterpret_cast<double*>(out));
}

double fused_sum_all(const FusedProgram& p) {
  return p.dtype == DType::f32 ? sum_all_t<float>(p) : sum_all_t<double>(p);
}

bool fused_sum_trailing_fits(const FusedProgram& p, int reduced) {
  return trailing_one_run(make_plan(p, p.ndim - reduced, true));
}

void fused_sum_trailing(const FusedProgram& p, int reduced, char* out) {
  if (p.dtype == DType::f32)
    sum_trailing_t(p, reduced, reinterpret_cast<float*>(out));
  else
    sum_trailing_t(p, reduced, reinterpret_cast<double*>(out));
}

void fused_sum_leading(const FusedProgram& p, int reduced, char* out) {
  if (p.dtype == DType::f32)
    sum_leading_t(p, reduced, reinterpret_cast<float*>(out));
  else
    sum_leading_t(p, reduced, reinterpret_cast<double*>(out));
}

}  // namespace ndgrad::kernels
