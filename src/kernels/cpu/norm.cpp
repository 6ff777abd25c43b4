// Batch and layer normalization as kernels of their own (docs/ARCHITECTURE.md, "Normalization"):
// each group of elements normalized together (a layer_norm row, a batch_norm channel) is one
// task. Its statistics are summed in double (a channel holds up to millions of floats: float
// accumulators would lose digits that libtorch's keep), from data the first pass left in cache:
// the mean, then the centered squares (two passes, no cancellation), then one pass writing
// y = x * scale + shift with the affine folded in. The backward is the closed form: two sums
// over the group (g and g times the centered x), then gx = p g + q x + r with per-group p, q, r.
// In reference mode every loop is the plain formula, element by element.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/reference.hpp"
#include "kernels/cpu/stream_store.hpp"
#include "ndgrad/error.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad::kernels {

namespace {

constexpr int kLanes = 8;  // eight double partial sums, one vector: the same order on every CPU

// Eight elements as doubles (GCC's vector types: each clone below lowers them to its own ISA).
// They never cross a call (the helpers are always inlined): no ABI to warn about.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float F8 __attribute__((vector_size(32), aligned(4)));
typedef double D8 __attribute__((vector_size(64), aligned(8)));
typedef double D8a __attribute__((vector_size(64)));
[[gnu::always_inline]] inline D8a load8(const float* p) {
  return __builtin_convertvector(*reinterpret_cast<const F8*>(p), D8a);
}
[[gnu::always_inline]] inline D8a load8(const double* p) { return *reinterpret_cast<const D8*>(p); }
[[gnu::always_inline]] inline double lanes_sum(D8a v) {
  double s = 0;
  for (int j = 0; j < kLanes; ++j) s += v[j];
  return s;
}

// Adds the sums of g w and of g w (x - mean) over n elements (w null: 1), in double.
template <class T>
[[gnu::always_inline]] inline void grad_sums_impl(const T* g, const T* w, const T* x, int64_t n,
                                                  double mean, double* sg, double* sgx,
                                                  const T* next_g, const T* next_x) {
  D8a a = {}, b = {};
  const D8a m = D8a{} + mean;
  int64_t i = 0;
  if (w)
    for (; i + kLanes <= n; i += kLanes) {
      const D8a gw = load8(g + i) * load8(w + i);
      a += gw;
      b += gw * (load8(x + i) - m);
    }
  else if (next_g)
    for (; i + kLanes <= n; i += kLanes) {
      __builtin_prefetch(next_g + i, 0, 2);
      __builtin_prefetch(next_x + i, 0, 2);
      const D8a gv = load8(g + i);
      a += gv;
      b += gv * (load8(x + i) - m);
    }
  else
    for (; i + kLanes <= n; i += kLanes) {
      const D8a gv = load8(g + i);
      a += gv;
      b += gv * (load8(x + i) - m);
    }
  double s = lanes_sum(a), t = lanes_sum(b);
  for (; i < n; ++i) {
    const double gw = double(g[i]) * (w ? double(w[i]) : 1.0);
    s += gw, t += gw * (double(x[i]) - mean);
  }
  *sg += s;
  *sgx += t;
}
// Adds the sums of p - shift and of its squares to s1 and s2 (one pass, in double: the shift, a
// value of the data, keeps the variance's cancellation harmless), prefetching next's n
// elements (the following strip of a channel; null: none). The prefetches here ask for L2
// (locality 2): a whole strip asked for into L1 (4 KiB, 64 lines, a line every 16 floats)
// overran its miss buffers, and the strips of a channel are 4 KiB pages apart, where the
// hardware prefetcher starts over each time (N1, batch_norm forward + backward of 4M floats,
// 1 thread: 5.7 -> 4.5 ms, 0.56 -> 0.71 of the triad).
template <class T>
[[gnu::always_inline]] inline void shifted_sums_impl(const T* p, int64_t n, double shift,
                                                     const T* next, double* s1, double* s2) {
  D8a a = {}, b = {};
  const D8a k = D8a{} + shift;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    if (next) __builtin_prefetch(next + i, 0, 2);
    const D8a d = load8(p + i) - k;
    a += d;
    b += d * d;
  }
  double u = lanes_sum(a), v = lanes_sum(b);
  for (; i < n; ++i)
    u += double(p[i]) - shift, v += (double(p[i]) - shift) * (double(p[i]) - shift);
  *s1 += u;
  *s2 += v;
}
// float32: sixteen float partial sums over blocks of at most kBlock elements (64 a lane), each
// block's added in double: half the instructions of converting every element, and a block's
// rounding stays near float's own (the statistics' sums over a channel are in double).
constexpr int64_t kBlock = 1024;
typedef float F16 __attribute__((vector_size(64), aligned(4)));
typedef float F16a __attribute__((vector_size(64)));
[[gnu::always_inline]] inline double lanes_sum(F16a v) {
  double s = 0;
  for (int j = 0; j < 16; ++j) s += double(v[j]);
  return s;
}
NDGRAD_CLONES void shifted_sums(const float* p, int64_t n, double shift, const float* next,
                                double* s1, double* s2) {
  const float k = float(shift);  // a value of the data: exact
  double u = 0, v = 0;
  int64_t i = 0;
  while (i + 16 <= n) {
    const int64_t end = std::min(n, i + kBlock);
    F16a a = {}, b = {};
    for (; i + 16 <= end; i += 16) {
      if (next) __builtin_prefetch(next + i, 0, 2);
      const F16a d = *reinterpret_cast<const F16*>(p + i) - k;
      a += d;
      b += d * d;
    }
    u += lanes_sum(a);
    v += lanes_sum(b);
  }
  for (; i < n; ++i)
    u += double(p[i]) - shift, v += (double(p[i]) - shift) * (double(p[i]) - shift);
  *s1 += u;
  *s2 += v;
}
NDGRAD_CLONES void shifted_sums(const double* p, int64_t n, double shift, const double* next,
                                double* s1, double* s2) {
  shifted_sums_impl(p, n, shift, next, s1, s2);
}
// (float32 without w, for batch_norm: float blocks as shifted_sums; m is a float's value)
NDGRAD_CLONES void grad_sums(const float* g, const float* w, const float* x, int64_t n, double m,
                             double* sg, double* sgx, const float* next_g = nullptr,
                             const float* next_x = nullptr) {
  if (w) return grad_sums_impl(g, w, x, n, m, sg, sgx, next_g, next_x);
  const float mf = float(m);
  double u = 0, v = 0;
  int64_t i = 0;
  while (i + 16 <= n) {
    const int64_t end = std::min(n, i + kBlock);
    F16a a = {}, b = {};
    for (; i + 16 <= end; i += 16) {
      if (next_g) __builtin_prefetch(next_g + i, 0, 2), __builtin_prefetch(next_x + i, 0, 2);
      const F16a gv = *reinterpret_cast<const F16*>(g + i);
      a += gv;
      b += gv * (*reinterpret_cast<const F16*>(x + i) - mf);
    }
    u += lanes_sum(a);
    v += lanes_sum(b);
  }
  for (; i < n; ++i) u += double(g[i]), v += double(g[i]) * (double(x[i]) - m);
  *sg += u;
  *sgx += v;
}
NDGRAD_CLONES void grad_sums(const double* g, const double* w, const double* x, int64_t n, double m,
                             double* sg, double* sgx, const double* next_g = nullptr,
                             const double* next_x = nullptr) {
  grad_sums_impl(g, w, x, n, m, sg, sgx, next_g, next_x);
}
// y = x * scale + shift (also gx = g * p + x * q + r).
template <class T>
NDGRAD_CLONES void scale_shift(const T* x, int64_t n, T scale, T shift, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
}
template <class T>
NDGRAD_CLONES void two_scales(const T* g, const T* x, int64_t n, T p, T q, T r, T* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] * p + x[i] * q + r;
}
// A layer_norm row: y = (x - mean) * rstd * w + b, w and b per column (null: 1 and 0).
template <class T>
NDGRAD_CLONES void affine_row(const T* x, int64_t n, T mean, T rstd, const T* w, const T* b, T* y) {
  if (w && b)
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
  else if (w)
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * rstd * w[i];
  else if (b)
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * rstd + b[i];
  else
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * rstd;
}
template <class T, bool kW, bool kAcc>
[[gnu::always_inline]] inline void ln_back_row_impl(const T* x, const T* g, const T* w, int64_t n,
                                                    double m, double rs, bool prefetch_next,
                                                    double* gw_acc, double* gb_acc, double* s_out,
                                                    double* t_out) {
  D8a a = {}, b = {};
  const D8a mv = D8a{} + m, rv = D8a{} + rs;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    if (prefetch_next) __builtin_prefetch(x + n + i, 0, 2), __builtin_prefetch(g + n + i, 0, 2);
    const D8a gv = load8(g + i), xc = load8(x + i) - mv;
    const D8a gwv = kW ? gv * load8(w + i) : gv;
    a += gwv;
    b += gwv * xc;
    if constexpr (kAcc) {
      *reinterpret_cast<D8*>(gw_acc + i) += gv * (xc * rv);
      *reinterpret_cast<D8*>(gb_acc + i) += gv;
    }
  }
  double s = lanes_sum(a), t = lanes_sum(b);
  for (; i < n; ++i) {
    const double gv = double(g[i]), xc = double(x[i]) - m, gwv = kW ? gv * double(w[i]) : gv;
    s += gwv, t += gwv * xc;
    if constexpr (kAcc) gw_acc[i] += gv * (xc * rs), gb_acc[i] += gv;
  }
  *s_out = s;
  *t_out = t;
}
// A layer_norm row's backward sums, in one pass: the row's g and g (x - mean) rstd added to
// gw_acc and gb_acc (doubles; null: neither), s and t the sums of g w and g w (x - mean) (w
// null: 1). prefetch_next: the next row's x and g are asked for meanwhile.
template <class T>
[[gnu::always_inline]] inline void ln_back_row_any(const T* x, const T* g, const T* w, int64_t n,
                                                   double m, double rs, bool next, double* gw_acc,
                                                   double* gb_acc, double* s, double* t) {
  if (w && gw_acc)
    ln_back_row_impl<T, true, true>(x, g, w, n, m, rs, next, gw_acc, gb_acc, s, t);
  else if (w)
    ln_back_row_impl<T, true, false>(x, g, w, n, m, rs, next, gw_acc, gb_acc, s, t);
  else if (gw_acc)
    ln_back_row_impl<T, false, true>(x, g, w, n, m, rs, next, gw_acc, gb_acc, s, t);
  else
    ln_back_row_impl<T, false, false>(x, g, w, n, m, rs, next, gw_acc, gb_acc, s, t);
}
NDGRAD_CLONES void layer_norm_back_sums(const float* x, const float* g, const float* w, int64_t n,
                                        double m, double rs, bool next, double* gw_acc,
                                        double* gb_acc, double* s, double* t) {
  ln_back_row_any(x, g, w, n, m, rs, next, gw_acc, gb_acc, s, t);
}
NDGRAD_CLONES void layer_norm_back_sums(const double* x, const double* g, const double* w,
                                        int64_t n, double m, double rs, bool next, double* gw_acc,
                                        double* gb_acc, double* s, double* t) {
  ln_back_row_any(x, g, w, n, m, rs, next, gw_acc, gb_acc, s, t);
}
// gx = g w p + x q + r along a row (w null: 1).
template <class T>
NDGRAD_CLONES void grad_row(const T* g, const T* w, const T* x, int64_t n, T p, T q, T r, T* gx) {
  if (w)
    for (int64_t k = 0; k < n; ++k) gx[k] = g[k] * w[k] * p + x[k] * q + r;
  else
    for (int64_t k = 0; k < n; ++k) gx[k] = g[k] * p + x[k] * q + r;
}

template <class T>
void ln_forward(int64_t rows, int64_t n, const T* x, const T* w, const T* b, double eps, T* y,
                T* mean, T* rstd) {
  const bool ref = reference_kernels();
  const bool stream = !ref && rows * n * int64_t(sizeof(T)) >= kStreamBytes;  // y past the caches
  parallel_range(
      rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const T* xr = x + r * n;
          T* yr = y + r * n;
          double m = 0, v = 0;
          if (ref) {
            for (int64_t i = 0; i < n; ++i) m += double(xr[i]);
            m /= double(n);
            for (int64_t i = 0; i < n; ++i) v += (double(xr[i]) - m) * (double(xr[i]) - m);
          } else {
            const double k = double(xr[0]);
            double s1 = 0, s2 = 0;
            shifted_sums(xr, n, k, r + 1 < r1 ? xr + n : nullptr, &s1, &s2);
            m = k + s1 / double(n);
            v = std::max(0.0, s2 - s1 * s1 / double(n));
          }
          const T tm = T(m), trs = T(1.0 / std::sqrt(v / double(n) + eps));
          mean[r] = tm;
          rstd[r] = trs;
          if (ref) {
            for (int64_t i = 0; i < n; ++i) {
              T t = (xr[i] - tm) * trs;
              if (w) t = t * w[i];
              if (b) t = t + b[i];
              yr[i] = t;
            }
          } else {
            write_run(yr, n, stream, [&](T* dst, int64_t i0, int64_t cnt) {
              affine_row(xr + i0, cnt, tm, trs, w ? w + i0 : nullptr, b ? b + i0 : nullptr, dst);
            });
          }
        }
        if (stream) stream_fence();
      });
}

template <class T>
void ln_backward(int64_t rows, int64_t n, const T* x, const T* w, const T* mean, const T* rstd,
                 const T* gy, T* gx, T* gw, T* gb) {
  const bool ref = reference_kernels();
  // Rows in blocks, each with its own double sums of gw and gb, added in block order.
  const bool cols = gw || gb;
  const int64_t blocks =
      std::max<int64_t>(1, std::min<int64_t>(rows, cols ? get_num_threads() : rows));
  std::vector<double> acc(cols ? static_cast<size_t>(blocks * 2 * n) : 0, 0.0);
  const bool stream = !ref && rows * n * int64_t(sizeof(T)) >= kStreamBytes;
  parallel_range(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      double* ga = cols ? acc.data() + blk * 2 * n : nullptr;  // both sums when either is asked
      double* ba = cols ? acc.data() + blk * 2 * n + n : nullptr;
      const int64_t r0 = rows * blk / blocks, r1 = rows * (blk + 1) / blocks;
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = x + r * n;
        const T* g = gy + r * n;
        if (!ref) {
          const double m = double(mean[r]), rs = double(rstd[r]);
          double s = 0, t = 0;
          layer_norm_back_sums(xr, g, w, n, m, rs, r + 1 < r1, ga, ba, &s, &t);
          if (!gx) continue;
          // gx = rstd (g w - mean(g w) - xhat mean(g w xhat)) = rstd g w + q x + r.
          const double q = -rs * rs * rs * t / double(n), c = -rs * s / double(n) - q * m;
          write_run(gx + r * n, n, stream, [&](T* dst, int64_t i0, int64_t cnt) {
            grad_row(g + i0, w ? w + i0 : nullptr, xr + i0, cnt, rstd[r], T(q), T(c), dst);
          });
          continue;
        }
        const double m = double(mean[r]), rs = double(rstd[r]);
        double s = 0, t = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double xh = (double(xr[i]) - m) * rs, gwi = double(g[i]) * (w ? double(w[i]) : 1.0);
          s += gwi;
          t += gwi * xh;
          if (ga) ga[i] += double(g[i]) * xh;
          if (ba) ba[i] += double(g[i]);
        }
        if (gx)
          for (int64_t i = 0; i < n; ++i) {
            const double xh = (double(xr[i]) - m) * rs,
                         gwi = double(g[i]) * (w ? double(w[i]) : 1.0);
            gx[r * n + i] = T(rs * (gwi - s / double(n) - xh * t / double(n)));
          }
      }
    }
    if (stream) stream_fence();
  });
  if (!cols) return;
  for (int64_t i = 0; i < n; ++i) {
    double sw = 0, sb = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      sw += acc[static_cast<size_t>(blk * 2 * n + i)];
      sb += acc[static_cast<size_t>(blk * 2 * n + n + i)];
    }
    if (gw) gw[i] = T(sw);
    if (gb) gb[i] = T(sb);
  }
}

// Channel c of x (batch, channels, inner): the strips x + (b * channels + c) * inner.
template <class T>
void bn_forward(const NormGeometry& geo, const T* x, const T* w, const T* b, double eps,
                bool training, T* y, T* mean, T* rstd, T* var) {
  const bool ref = reference_kernels();
  const int64_t B = geo.batch, C = geo.channels, L = geo.inner, n = B * L;
  const bool stream = !ref && B * C * L * int64_t(sizeof(T)) >= kStreamBytes;  // past the caches
  parallel_range(
      C, std::max<int64_t>(1, 32768 / std::max<int64_t>(n, 1)), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          if (training) {
            double m = 0, v = 0;
            if (ref) {
              for (int64_t bi = 0; bi < B; ++bi)
                for (int64_t i = 0; i < L; ++i) m += double(x[(bi * C + c) * L + i]);
              m /= double(n);
              for (int64_t bi = 0; bi < B; ++bi)
                for (int64_t i = 0; i < L; ++i) {
                  const double d = double(x[(bi * C + c) * L + i]) - m;
                  v += d * d;
                }
              v /= double(n);
            } else {
              const double k = double(x[c * L]);
              double s1 = 0, s2 = 0;
              for (int64_t bi = 0; bi < B; ++bi)
                shifted_sums(x + (bi * C + c) * L, L, k,
                             bi + 1 < B ? x + ((bi + 1) * C + c) * L : nullptr, &s1, &s2);
              m = k + s1 / double(n);
              v = std::max(0.0, s2 - s1 * s1 / double(n)) / double(n);
            }
            mean[c] = T(m);
            var[c] = T(v);
            rstd[c] = T(1.0 / std::sqrt(v + eps));
          }
          const T tm = mean[c], trs = rstd[c];
          const T wc = w ? w[c] : T(1), bc = b ? b[c] : T(0);
          // y = (x - mean) rstd w + b = x scale + shift.
          const T scale = trs * wc, shift = T(double(bc) - double(tm) * double(trs) * double(wc));
          for (int64_t bi = 0; bi < B; ++bi) {
            const T* p = x + (bi * C + c) * L;
            T* q = y + (bi * C + c) * L;
            if (ref) {
              for (int64_t i = 0; i < L; ++i) {
                T t = (p[i] - tm) * trs;
                if (w) t = t * wc;
                if (b) t = t + bc;
                q[i] = t;
              }
            } else {
              write_run(q, L, stream, [&](T* dst, int64_t i0, int64_t cnt) {
                scale_shift(p + i0, cnt, scale, shift, dst);
              });
            }
          }
        }
        if (stream) stream_fence();
      });
}

template <class T>
void bn_backward(const NormGeometry& geo, const T* x, const T* w, const T* mean, const T* rstd,
                 const T* gy, bool training, T* gx, T* gw, T* gb) {
  const bool ref = reference_kernels();
  const int64_t B = geo.batch, C = geo.channels, L = geo.inner, n = B * L;
  const bool stream = !ref && B * C * L * int64_t(sizeof(T)) >= kStreamBytes;  // past the caches
  parallel_range(
      C, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const double m = double(mean[c]), rs = double(rstd[c]), wc = w ? double(w[c]) : 1.0;
          double sg = 0, sgx = 0;  // sum of g, of g (x - mean)
          if (training || gw || gb)
            for (int64_t bi = 0; bi < B; ++bi) {
              const T* g = gy + (bi * C + c) * L;
              const T* p = x + (bi * C + c) * L;
              if (ref)
                for (int64_t i = 0; i < L; ++i)
                  sg += double(g[i]), sgx += double(g[i]) * (double(p[i]) - m);
              else
                grad_sums(g, static_cast<const T*>(nullptr), p, L, m, &sg, &sgx,
                          bi + 1 < B ? g + C * L : nullptr, bi + 1 < B ? p + C * L : nullptr);
            }
          if (gw) gw[c] = T(sgx * rs);
          if (gb) gb[c] = T(sg);
          if (!gx) continue;
          // training: gx = w rstd (g - sg / n - (x - mean) rstd^2 sgx / n) = p g + q x + r;
          // evaluation (constant statistics): gx = w rstd g.
          const double pc = wc * rs, qc = training ? -pc * rs * rs * sgx / double(n) : 0.0;
          const double rc = training ? -pc * sg / double(n) - qc * m : 0.0;
          for (int64_t bi = 0; bi < B; ++bi) {
            const T* g = gy + (bi * C + c) * L;
            const T* p = x + (bi * C + c) * L;
            T* o = gx + (bi * C + c) * L;
            if (ref)
              for (int64_t i = 0; i < L; ++i) {
                const double xh = (double(p[i]) - m) * rs;
                o[i] = T(training
                             ? wc * rs * (double(g[i]) - sg / double(n) - xh * sgx * rs / double(n))
                             : wc * rs * double(g[i]));
              }
            else
              write_run(o, L, stream, [&](T* dst, int64_t i0, int64_t cnt) {
                two_scales(g + i0, p + i0, cnt, T(pc), T(qc), T(rc), dst);
              });
          }
        }
        if (stream) stream_fence();
      });
}

template <class T>
const T* cp(const char* p) {
  return reinterpret_cast<const T*>(p);
}
template <class T>
T* mp(char* p) {
  return reinterpret_cast<T*>(p);
}

}  // namespace

void layer_norm_forward(DType dtype, int64_t rows, int64_t n, const char* x, const char* w,
                        const char* b, double eps, char* y, char* mean, char* rstd) {
  dispatch_f32_f64(dtype, "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    ln_forward<T>(rows, n, cp<T>(x), cp<T>(w), cp<T>(b), eps, mp<T>(y), mp<T>(mean), mp<T>(rstd));
  });
}

void layer_norm_backward(DType dtype, int64_t rows, int64_t n, const char* x, const char* w,
                         const char* mean, const char* rstd, const char* gy, char* gx, char* gw,
                         char* gb) {
  dispatch_f32_f64(dtype, "layer_norm backward", [&](auto tag) {
    using T = decltype(tag);
    ln_backward<T>(rows, n, cp<T>(x), cp<T>(w), cp<T>(mean), cp<T>(rstd), cp<T>(gy), mp<T>(gx),
                   mp<T>(gw), mp<T>(gb));
  });
}

void batch_norm_forward(DType dtype, const NormGeometry& geo, const char* x, const char* w,
                        const char* b, double eps, bool training, char* y, char* mean, char* rstd,
                        char* var) {
  dispatch_f32_f64(dtype, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    bn_forward<T>(geo, cp<T>(x), cp<T>(w), cp<T>(b), eps, training, mp<T>(y), mp<T>(mean),
                  mp<T>(rstd), mp<T>(var));
  });
}

void batch_norm_backward(DType dtype, const NormGeometry& geo, const char* x, const char* w,
                         const char* mean, const char* rstd, const char* gy, bool training,
                         char* gx, char* gw, char* gb) {
  dispatch_f32_f64(dtype, "batch_norm backward", [&](auto tag) {
    using T = decltype(tag);
    bn_backward<T>(geo, cp<T>(x), cp<T>(w), cp<T>(mean), cp<T>(rstd), cp<T>(gy), training,
                   mp<T>(gx), mp<T>(gw), mp<T>(gb));
  });
}

}  // namespace ndgrad::kernels
