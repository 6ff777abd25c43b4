#include "kernels/cpu/fast_math.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/clones.hpp"

namespace ndgrad::kernels {

NDGRAD_CLONES void exp_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_f32(x[i]);
}
NDGRAD_CLONES void tanh_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_f32(x[i]);
}
NDGRAD_CLONES void sigmoid_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = sigmoid_f32(x[i]);
}

namespace {
double erfc_libm(double x) { return std::erfc(x); }
float gelu_libm(float x) {
  const double xd = x;
  return x == -INFINITY ? NAN
                        : static_cast<float>(0.5 * xd * erfc_libm(-xd * 0.70710678118654752440));
}
// y = core(x) block by block (vectorized; the cores are defined for every input), then, in a
// block with a lane the core does not cover (past the range reduction's bound, or in erfc's far
// tail), those lanes again with the scalar function. One pass over the input: a block whose
// output overlaps its input (in place, y == x) is first copied aside, 1 KiB in L1. (A first pass
// that only looked for such lanes cost sin 1.3x.) Always inlined into each version: with the
// functions as constants there, their bodies inline and the loop vectorizes (left as a call, gelu's
// took the functions as pointers, element by element: 14x slower than libtorch).
template <class Core, class Lane, class Scalar>
[[gnu::always_inline]] inline void loop_with_fallback(const float* x, float* y, int64_t n,
                                                      Core core, Lane vector_lane, Scalar scalar) {
  constexpr int64_t kBlock = 256;
  float saved[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t m = n - b < kBlock ? n - b : kBlock;
    const float* in = x + b;
    float* out = y + b;
    // In place (or an output starting before the input): the second pass must still see
    // the inputs. (An output starting after an overlapping input is not supported: the
    // previous block would have written over this one's inputs.)
    if (reinterpret_cast<uintptr_t>(in) < reinterpret_cast<uintptr_t>(out + m) &&
        reinterpret_cast<uintptr_t>(out) < reinterpret_cast<uintptr_t>(in + m)) {
      std::copy(in, in + m, saved);
      in = saved;
    }
    int beyond = 0;  // an int: GCC vectorizes its or-reduction, not a bool's
    for (int64_t i = 0; i < m; ++i) {
      const float v = in[i];
      out[i] = core(v);
      beyond |= vector_lane(v) ? 0 : 1;
    }
    if (beyond)
      for (int64_t i = 0; i < m; ++i)
        if (!vector_lane(in[i])) out[i] = scalar(in[i]);
  }
}

// The bodies of the functions that call fma_f/fma_d by name, each compiled three times below.
[[gnu::always_inline]] inline float sin_one(float x) {
  return trig_vector_lane(x) ? sin_f32_core(x) : std::sin(x);
}
[[gnu::always_inline]] inline float cos_one(float x) {
  return trig_vector_lane(x) ? cos_f32_core(x) : std::cos(x);
}
[[gnu::always_inline]] inline float erf_one(float x) { return erf_f32_core(x); }
[[gnu::always_inline]] inline float erfc_one(float x) {
  return erfc_vector_lane(x) ? erfc_f32_core(x) : static_cast<float>(erfc_libm(x));
}
[[gnu::always_inline]] inline float gelu_one(float x) {
  return gelu_vector_lane(x) ? gelu_f32_core(x) : gelu_libm(x);
}
[[gnu::always_inline]] inline void sin_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return sin_f32_core(v); }, [](float v) { return trig_vector_lane(v); },
      [](float v) { return std::sin(v); });
}
[[gnu::always_inline]] inline void cos_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return cos_f32_core(v); }, [](float v) { return trig_vector_lane(v); },
      [](float v) { return std::cos(v); });
}
[[gnu::always_inline]] inline void erf_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = erf_f32_core(x[i]);
}
[[gnu::always_inline]] inline void erfc_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return erfc_f32_core(v); },
      [](float v) { return erfc_vector_lane(v); },
      [](float v) { return static_cast<float>(erfc_libm(v)); });
}
[[gnu::always_inline]] inline void gelu_loop(const float* x, float* y, int64_t n) {
  loop_with_fallback(
      x, y, n, [](float v) { return gelu_f32_core(v); },
      [](float v) { return gelu_vector_lane(v); }, gelu_libm);
}
}  // namespace

// Each compiled for AVX-512, for AVX2 with FMA and for baseline x86-64, picked by cpu().
// (target_clones cannot name AVX2 and FMA together, and its "arch=haswell" clone cannot
// inline functions compiled for the default architecture.) Elsewhere, once.
#if defined(__x86_64__) && defined(__GNUC__)
#define NDGRAD_FMA_VERSIONS(ret, name, body, params, args)                         \
  namespace {                                                                      \
  [[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] ret name##_avx512 params { \
    return body args;                                                              \
  }                                                                                \
  [[gnu::target("avx2,fma")]] ret name##_avx2 params { return body args; }         \
  ret name##_baseline params { return body args; }                                 \
  }                                                                                \
  ret name params {                                                                \
    const CpuFeatures& features = cpu();                                           \
    return features.avx512     ? name##_avx512 args                                \
           : features.avx2_fma ? name##_avx2 args                                  \
                               : name##_baseline args;                             \
  }
#else
#define NDGRAD_FMA_VERSIONS(ret, name, body, params, args) \
  ret name params { return body args; }
#endif
NDGRAD_FMA_VERSIONS(float, sin_f32, sin_one, (float x), (x))
NDGRAD_FMA_VERSIONS(float, cos_f32, cos_one, (float x), (x))
NDGRAD_FMA_VERSIONS(float, erf_f32, erf_one, (float x), (x))
NDGRAD_FMA_VERSIONS(float, erfc_f32, erfc_one, (float x), (x))
NDGRAD_FMA_VERSIONS(float, gelu_f32, gelu_one, (float x), (x))
NDGRAD_FMA_VERSIONS(void, sin_f32_loop, sin_loop, (const float* x, float* y, int64_t n), (x, y, n))
NDGRAD_FMA_VERSIONS(void, cos_f32_loop, cos_loop, (const float* x, float* y, int64_t n), (x, y, n))
NDGRAD_FMA_VERSIONS(void, erf_f32_loop, erf_loop, (const float* x, float* y, int64_t n), (x, y, n))
NDGRAD_FMA_VERSIONS(void, erfc_f32_loop, erfc_loop, (const float* x, float* y, int64_t n),
                    (x, y, n))
NDGRAD_FMA_VERSIONS(void, gelu_f32_loop, gelu_loop, (const float* x, float* y, int64_t n),
                    (x, y, n))
#undef NDGRAD_FMA_VERSIONS
#define NDGRAD_F32_LOOP(name)                                               \
  NDGRAD_CLONES void name##_f32_loop(const float* x, float* y, int64_t n) { \
    for (int64_t i = 0; i < n; ++i) y[i] = name##_f32(x[i]);                \
  }
NDGRAD_F32_LOOP(floor)
NDGRAD_F32_LOOP(ceil)
NDGRAD_F32_LOOP(nearbyint)
NDGRAD_F32_LOOP(trunc)
NDGRAD_F32_LOOP(frac)
#undef NDGRAD_F32_LOOP

NDGRAD_CLONES double sum_f32(const float* x, int64_t n) {
  constexpr int64_t kBlock = int64_t(1) << 14;  // 512 terms a lane: exact for small integers
  double total = 0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const float* b = x + start;
    total += lane_sum<float, 32>(std::min(kBlock, n - start), [b](int64_t i) { return b[i]; });
  }
  return total;
}
NDGRAD_CLONES double sum_f64(const double* x, int64_t n) {
  return lane_sum<double, 16>(n, [x](int64_t i) { return x[i]; });
}

namespace {

// Merges a block of nb values (mean mb, M2 qb) into na values (mean ma, M2 qa).
inline void merge_moments(double na, double& ma, double& qa, double nb, double mb, double qb) {
  const double n = na + nb, d = mb - ma;
  ma += d * (nb / n);
  qa += qb + d * d * (na * nb / n);
}

// The mean and M2 of m values stride apart in two passes, the mean then the deviations: for a
// block whose shifted squares overflowed (d = x - one of the values can reach the block's whole
// spread, twice the largest deviation from the mean: float64 blocks spread past 1.3e154).
template <class T>
inline void two_pass_block(const T* b, int64_t m, int64_t stride, double* mean, double* m2) {
  double sum = 0;
  for (int64_t i = 0; i < m; ++i) sum += static_cast<double>(b[i * stride]);
  const double mu = sum / double(m);
  double q = 0;
  for (int64_t i = 0; i < m; ++i) {
    const double d = static_cast<double>(b[i * stride]) - mu;
    q += d * d;
  }
  *mean = mu;
  *m2 = q;
}

// Rows take one pass per block: the sums of d and d^2 for d = x - (the block's first value),
// as columns do below, in 32 double lanes (four AVX-512 registers a sum, so the adds overlap).
// (Two passes, the block's mean then its deviations, cost 1.4x the time.) One read stream from
// memory is latency-bound below the bandwidth: a prefetch 1024 values ahead makes it 1.3x faster.
template <class T>
[[gnu::always_inline]] inline void var_row_t(const T* x, int64_t n, double* mean, double* m2) {
  constexpr int64_t kBlock = 4096;
  constexpr int kLanes = 32;
  // Block means are kept relative to x[0] (K): merging subtracts them, and absolute means
  // far larger than the spread would lose the low bits of each block's offset.
  const double K = n > 0 ? static_cast<double>(x[0]) : 0.0;
  double ma = 0, qa = 0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t m = std::min(kBlock, n - start);
    const T* b = x + start;
    const double k = static_cast<double>(b[0]);
    double s1[kLanes] = {}, s2[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= m; i += kLanes) {
      for (int l = 0; l < kLanes; l += 64 / int(sizeof(T))) __builtin_prefetch(b + i + l + 1024);
      for (int l = 0; l < kLanes; ++l) {
        const double d = static_cast<double>(b[i + l]) - k;
        s1[l] += d;
        s2[l] += d * d;
      }
    }
    double t1 = 0, t2 = 0;
    for (int l = 0; l < kLanes; ++l) {
      t1 += s1[l];
      t2 += s2[l];
    }
    for (; i < m; ++i) {
      const double d = static_cast<double>(b[i]) - k;
      t1 += d;
      t2 += d * d;
    }
    const double db = t1 / double(m);
    double mb = (k - K) + db, qb = t2 - t1 * db;
    if (std::isinf(t2)) {
      two_pass_block(b, m, 1, &mb, &qb);
      mb -= K;
    }
    if (start == 0) {
      ma = mb;
      qa = qb;
    } else {
      merge_moments(double(start), ma, qa, double(m), mb, qb);
    }
  }
  *mean = K + ma;
  *m2 = qa;
}

// Columns take one pass per block of rows: sums of d and d^2 for d = x - (the block's first
// row), which gives the block's mean and M2 = sum d^2 - (sum d)^2 / m. The shift is one of the
// block's values, so m (mean - shift)^2 <= m M2 and the subtraction loses at most log2(m) bits
// of double's 53. (Two passes over each block cost a second read from L2: about 1.5x slower.)
template <class T>
[[gnu::always_inline]] inline void var_cols_t(const T* x, int64_t rows, int64_t cols,
                                              int64_t stride, double* mean, double* m2) {
  constexpr int64_t kRows = 64;  // a block: 64 rows of up to 1024 columns, in L2
  double k[kVarCols], s1[kVarCols], s2[kVarCols];
  // mean[c] holds the mean relative to the first row's value (K, in k_first) until the end,
  // as var_row_t keeps it.
  double k_first[kVarCols];
  for (int64_t c = 0; c < cols; ++c) {
    mean[c] = m2[c] = 0;
    k_first[c] = rows > 0 ? static_cast<double>(x[c]) : 0.0;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const int64_t m = std::min(kRows, rows - r0);
    const T* b = x + r0 * stride;
    for (int64_t c = 0; c < cols; ++c) {
      k[c] = static_cast<double>(b[c]);
      s1[c] = s2[c] = 0;
    }
    int64_t r = 0;
    for (; r + 8 <= m; r += 8) {    // eight rows a sweep: eight read streams, and the sums are
      const T* p = b + r * stride;  // loaded and stored once
      for (int64_t c = 0; c < cols; ++c) {
        double t1 = 0, t2 = 0;
        for (int j = 0; j < 8; ++j) {
          const double d = static_cast<double>(p[j * stride + c]) - k[c];
          t1 += d;
          t2 += d * d;
        }
        s1[c] += t1;
        s2[c] += t2;
      }
    }
    for (; r < m; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(b[r * stride + c]) - k[c];
        s1[c] += d;
        s2[c] += d * d;
      }
    for (int64_t c = 0; c < cols; ++c) {
      const double db = s1[c] / double(m);
      double mb = (k[c] - k_first[c]) + db, qb = s2[c] - s1[c] * db;
      if (std::isinf(s2[c])) {
        two_pass_block(b + c, m, stride, &mb, &qb);
        mb -= k_first[c];
      }
      if (r0 == 0) {
        mean[c] = mb;
        m2[c] = qb;
      } else {
        merge_moments(double(r0), mean[c], m2[c], double(m), mb, qb);
      }
    }
  }
  for (int64_t c = 0; c < cols; ++c) mean[c] += k_first[c];
}

template <class T>
[[gnu::always_inline]] inline void add_loop(T* __restrict acc, const T* __restrict v, int64_t n,
                                            bool subtract) {
  if (subtract)
    for (int64_t i = 0; i < n; ++i) acc[i] -= v[i];
  else
    for (int64_t i = 0; i < n; ++i) acc[i] += v[i];
}
}  // namespace

NDGRAD_CLONES void var_row(const float* x, int64_t n, double* mean, double* m2) {
  var_row_t(x, n, mean, m2);
}
NDGRAD_CLONES void var_row(const double* x, int64_t n, double* mean, double* m2) {
  var_row_t(x, n, mean, m2);
}
NDGRAD_CLONES void var_cols(const float* x, int64_t rows, int64_t cols, int64_t stride,
                            double* mean, double* m2) {
  var_cols_t(x, rows, cols, stride, mean, m2);
}
NDGRAD_CLONES void var_cols(const double* x, int64_t rows, int64_t cols, int64_t stride,
                            double* mean, double* m2) {
  var_cols_t(x, rows, cols, stride, mean, m2);
}

NDGRAD_CLONES void add_to(float* acc, const float* v, int64_t n, bool subtract) {
  add_loop(acc, v, n, subtract);
}
NDGRAD_CLONES void add_to(double* acc, const double* v, int64_t n, bool subtract) {
  add_loop(acc, v, n, subtract);
}

}  // namespace ndgrad::kernels
