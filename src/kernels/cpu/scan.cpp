// Scans (running sum, product, log-add-exp, max, min) and the stable sort order along one axis
// of a contiguous (outer, n, inner) block: the ops make the block contiguous first, so these
// loops see plain arrays.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#define NDGRAD_SCAN_X86 1
#include <immintrin.h>
#endif

#include "core/thread_pool.hpp"
#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/kernels.hpp"
#include "ndgrad/error.hpp"

namespace ndgrad::kernels {

namespace {

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return v != v;
  else
    return false;
}

// log(e^a + e^b) without overflow; -inf when both are -inf, +inf when either is +inf.
template <class T>
T log_add_exp(T a, T b) {
  if (is_nan(a) || is_nan(b)) return a + b;
  const T m = std::max(a, b);
  if (std::isinf(m)) return m;
  return m + std::log1p(std::exp(-std::fabs(a - b)));
}

// The blocks of cumsum_row_f32 (below) one at a time, from the carry c: the whole row on CPUs
// without AVX2, the last few elements on the others.
void cumsum_row_f32_rest(const float* x, float* y, int64_t n, double c) {
  for (int64_t i = 0; i < n; i += 4) {
    const int64_t m = std::min<int64_t>(4, n - i);
    double v[4] = {};
    for (int64_t j = 0; j < m; ++j) v[j] = x[i + j];
    const double p[4] = {v[0], v[1] + v[0], (v[2] + v[1]) + v[0], (v[3] + v[2]) + (v[1] + v[0])};
    for (int64_t j = 0; j < m; ++j) y[i + j] = static_cast<float>(c + p[j]);
    c += p[3];
  }
}

// Running sums of float32 accumulate in float64 (as libtorch's do), each output rounded once.
// Along a middle axis they add in order; a row runs in blocks of four: the block's own running
// sums (p1 = x1 + x0, p2 = (x2 + x1) + x0, p3 = (x3 + x2) + (x1 + x0)) are added to the carry,
// and the carry takes p3. Every version below adds in exactly this order, so they give the same
// bits (which can differ from the in-order float64 sums' in the last place, rarely); the carry
// is one add a block, where one add an element (a chain of dependent adds) ran at a third of
// the memory's speed. The carry starts at -0.0, so the first output is x0 itself.
// acc[i] += x[i], y[i] = acc[i] rounded: a step of a float32 running sum along a middle axis.
NDGRAD_CLONES void add_rounded(double* __restrict acc, const float* __restrict x,
                               float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(acc[i] += x[i]);
}

// Four such steps over n values, rows stride apart: the sums are loaded and stored once for
// the four.
NDGRAD_CLONES void add_rounded4(double* __restrict acc, const float* __restrict x,
                                float* __restrict y, int64_t n, int64_t stride) {
  for (int64_t i = 0; i < n; ++i) {
    double a = acc[i];
    y[i] = static_cast<float>(a += x[i]);
    y[stride + i] = static_cast<float>(a += x[stride + i]);
    y[2 * stride + i] = static_cast<float>(a += x[2 * stride + i]);
    y[3 * stride + i] = static_cast<float>(acc[i] = a + x[3 * stride + i]);
  }
}

#ifdef NDGRAD_SCAN_X86
// GCC 12 takes the undefined pass-through operands inside some intrinsics for uninitialized reads.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void cumsum_row_f32_avx512(const float* x,
                                                                                 float* y,
                                                                                 int64_t n) {
  const __m512i up1 = _mm512_set_epi64(6, 5, 4, 3, 2, 1, 0, 0);
  const __m512i up2 = _mm512_set_epi64(5, 4, 3, 2, 1, 0, 0, 0);
  const __m512i last_lo = _mm512_set1_epi64(3), last_hi = _mm512_set1_epi64(7);
  __m512d carry = _mm512_set1_pd(-0.0);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
    v = _mm512_mask_add_pd(v, 0xEE, v, _mm512_permutexvar_pd(up1, v));  // within each four
    v = _mm512_mask_add_pd(v, 0xCC, v, _mm512_permutexvar_pd(up2, v));
    const __m512d carry_hi = _mm512_add_pd(carry, _mm512_permutexvar_pd(last_lo, v));
    const __m512d out = _mm512_add_pd(_mm512_mask_blend_pd(0xF0, carry, carry_hi), v);
    _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(out));
    carry = _mm512_add_pd(carry_hi, _mm512_permutexvar_pd(last_hi, v));
  }
  cumsum_row_f32_rest(x + i, y + i, n - i, _mm_cvtsd_f64(_mm512_castpd512_pd128(carry)));
}
[[gnu::target("avx2,fma")]] void cumsum_row_f32_avx2(const float* x, float* y, int64_t n) {
  __m256d carry = _mm256_set1_pd(-0.0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    v = _mm256_blend_pd(v, _mm256_add_pd(v, _mm256_permute4x64_pd(v, 0x90)), 0xE);  // 2,1,0,0
    v = _mm256_blend_pd(v, _mm256_add_pd(v, _mm256_permute4x64_pd(v, 0x40)), 0xC);  // 1,0,0,0
    _mm_storeu_ps(y + i, _mm256_cvtpd_ps(_mm256_add_pd(carry, v)));
    carry = _mm256_add_pd(carry, _mm256_permute4x64_pd(v, 0xFF));
  }
  cumsum_row_f32_rest(x + i, y + i, n - i, _mm256_cvtsd_f64(carry));
}
void cumsum_row_f32_baseline(const float* x, float* y, int64_t n) {
  cumsum_row_f32_rest(x, y, n, -0.0);
}
void cumsum_row_f32(const float* x, float* y, int64_t n) {
  for_cpu(cumsum_row_f32_avx512, cumsum_row_f32_avx2, cumsum_row_f32_baseline)(x, y, n);
}
#pragma GCC diagnostic pop
#else
void cumsum_row_f32(const float* x, float* y, int64_t n) { cumsum_row_f32_rest(x, y, n, -0.0); }
#endif

// f(i) for i in [0, count), items of `size` elements grouped into tasks of at least 16K
// elements: a million rows of three values are not a million tasks (on two threads those ran
// 5x slower than on one).
template <class F>
void for_items(int64_t count, int64_t size, F&& f) {
  const int64_t per = std::max<int64_t>(1, 16384 / std::max<int64_t>(size, 1));
  parallel_for((count + per - 1) / per, [&](int64_t task) {
    for (int64_t i = task * per; i < std::min(count, (task + 1) * per); ++i) f(i);
  });
}

template <class T>
void scan_typed(ScanOp op, int64_t outer, int64_t n, int64_t inner, const T* in, T* out,
                int64_t* indices) {
  if constexpr (std::is_same_v<T, float>) {
    if (op == ScanOp::sum) {  // in float64 (see cumsum_row_f32)
      if (inner == 1) {
        for_items(outer, n, [&](int64_t o) { cumsum_row_f32(in + o * n, out + o * n, n); });
        return;
      }
      // Along a middle axis, up to 32768 columns a task: each row's piece is read in one run
      // (128 KiB; 16 KiB pieces ran 2x slower on a few very long rows) and the float64 sums
      // (256 KiB) stay in the second-level cache however wide the input.
      constexpr int64_t kChunk = 32768;
      const int64_t chunks = (inner + kChunk - 1) / kChunk;
      for_items(outer * chunks, n * std::min(kChunk, inner), [&](int64_t task) {
        const int64_t o = task / chunks, c0 = (task % chunks) * kChunk;
        const int64_t m = std::min(kChunk, inner - c0);
        const float* x = in + o * n * inner + c0;
        float* y = out + o * n * inner + c0;
        std::vector<double> acc(x, x + m);
        std::copy(x, x + m, y);
        int64_t k = 1;
        for (; k + 4 <= n; k += 4) add_rounded4(acc.data(), x + k * inner, y + k * inner, m, inner);
        for (; k < n; ++k) add_rounded(acc.data(), x + k * inner, y + k * inner, m);
      });
      return;
    }
  }
  // Position by position along the axis, each position's `inner` elements side by side in
  // memory: one forward pass whichever the axis (the inner loops vectorize).
  for_items(outer, n * inner, [&](int64_t o) {
    const T* x = in + o * n * inner;
    T* y = out + o * n * inner;
    int64_t* ix = indices ? indices + o * n * inner : nullptr;
    if (inner == 1 && (op == ScanOp::sum || op == ScanOp::prod)) {  // a contiguous row
      T acc = n > 0 ? x[0] : T(0);
      if (n > 0) y[0] = acc;
      for (int64_t k = 1; k < n; ++k)
        y[k] = acc = op == ScanOp::sum ? wrap_add(acc, x[k]) : wrap_mul(acc, x[k]);
      return;
    }
    for (int64_t i = 0; i < inner; ++i) y[i] = x[i];
    if (ix)
      for (int64_t i = 0; i < inner; ++i) ix[i] = 0;
    for (int64_t k = 1; k < n; ++k) {
      const T* xk = x + k * inner;
      const T* prev = y + (k - 1) * inner;
      T* yk = y + k * inner;
      switch (op) {
        case ScanOp::sum:
          for (int64_t i = 0; i < inner; ++i) yk[i] = wrap_add(prev[i], xk[i]);
          break;
        case ScanOp::prod:
          for (int64_t i = 0; i < inner; ++i) yk[i] = wrap_mul(prev[i], xk[i]);
          break;
        case ScanOp::logsumexp:
          for (int64_t i = 0; i < inner; ++i) {
            if constexpr (std::is_floating_point_v<T>)
              yk[i] = log_add_exp(prev[i], xk[i]);
            else
              yk[i] = prev[i];
          }
          break;
        case ScanOp::max:
        case ScanOp::min:
          // libtorch's cummax/cummin: the last of ties, the last NaN once one is met.
          for (int64_t i = 0; i < inner; ++i) {
            const T v = xk[i], acc = prev[i];
            const bool take =
                is_nan(v) || (!is_nan(acc) && (op == ScanOp::max ? v >= acc : v <= acc));
            yk[i] = take ? v : acc;
            if (ix) ix[k * inner + i] = take ? k : ix[(k - 1) * inner + i];
          }
          break;
      }
    }
  });
}

// The sort order as unsigned integers: a < b as values exactly when key(a) < key(b), with NaN
// the largest (every NaN one key) and -0.0 equal to 0.0, as the comparisons see them. So a
// stable sort of the keys is the stable sort of the values.
template <class T>
struct SortKey {
  using K = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  static K of(T v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v ? 1 : 0;
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<K>(v) ^ (K(1) << (8 * sizeof(K) - 1));
    } else {
      constexpr K sign = K(1) << (8 * sizeof(K) - 1);
      K b;
      std::memcpy(&b, &v, sizeof b);
      b = v == 0 ? K(0) : b;  // -0.0 as 0.0
      const K k = (b & sign) ? ~b : (b | sign);
      return v != v ? ~K(0) : k;
    }
  }
};

// LSD radix sort by bytes: stable, so equal keys keep their order. items[i] holds a key and a
// position; digit(item, p) is the key's byte p. Bytes that every key shares are skipped.
// 256 buckets a pass: few enough write streams for the caches and the TLB (2048 were slower).
template <int kPasses, class Item, class Digit>
void radix_sort(std::vector<Item>& items, Digit digit) {
  constexpr int kBuckets = 256;
  const size_t n = items.size();
  std::vector<uint32_t> count(static_cast<size_t>(kPasses) * kBuckets, 0);
  for (size_t i = 0; i < n; ++i)
    for (int p = 0; p < kPasses; ++p) ++count[p * kBuckets + digit(items[i], p)];
  std::vector<Item> other(n);
  for (int p = 0; p < kPasses; ++p) {
    uint32_t* c = count.data() + p * kBuckets;
    if (c[digit(items[0], p)] == n) continue;  // one digit for all
    uint32_t sum = 0;
    for (int d = 0; d < kBuckets; ++d) {
      const uint32_t here = c[d];
      c[d] = sum;
      sum += here;
    }
    for (size_t i = 0; i < n; ++i) other[c[digit(items[i], p)]++] = items[i];
    items.swap(other);
  }
}

// The stable sort order of n keys (key(k) for position k) into y (stride inner): 32-bit keys
// packed above their positions in one 64-bit item, 64-bit keys beside theirs.
template <class K, class Key>
void radix_order(int64_t n, Key key, int64_t* y, int64_t inner) {
  if constexpr (sizeof(K) == 4) {
    std::vector<uint64_t> items(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) items[k] = (uint64_t(key(k)) << 32) | uint64_t(k);
    radix_sort<4>(items, [](uint64_t v, int p) { return unsigned(v >> (32 + 8 * p)) & 255u; });
    for (int64_t k = 0; k < n; ++k) y[k * inner] = static_cast<int64_t>(items[k] & 0xffffffffu);
  } else {
    struct Item {
      uint64_t key;
      int64_t pos;
    };
    std::vector<Item> items(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) items[k] = {key(k), k};
    radix_sort<8>(items, [](const Item& v, int p) { return unsigned(v.key >> (8 * p)) & 255u; });
    for (int64_t k = 0; k < n; ++k) y[k * inner] = items[k].pos;
  }
}

// The first `first` positions of the stable order by key, descending (the largest keys, equal
// keys in position order): a scan that keeps the best `first` seen, touching them only for a
// key above the worst of them (rare after the start on most data), blocks of keys whose
// largest is not above it passed over at once. ordered false: the same positions, unsorted.
template <class T>
void select_first(const T* x, int64_t inner, int64_t n, bool flip, int64_t first, int64_t* y,
                  bool ordered) {
  if (!ordered && first == n) {  // every position: in any order, so in their own
    for (int64_t k = 0; k < n; ++k) y[k * inner] = k;
    return;
  }
  using K = typename SortKey<T>::K;
  struct Entry {
    K key;
    int64_t pos;
  };
  // Better: a larger key, or the same key earlier.
  auto better = [](const Entry& a, const Entry& b) {
    return a.key > b.key || (a.key == b.key && a.pos < b.pos);
  };
  const K mask = flip ? ~K(0) : K(0);
  std::vector<Entry> best;
  best.reserve(static_cast<size_t>(first));
  if (first > 64) {  // many: a selection over all keys
    std::vector<Entry> all(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) all[i] = {K(SortKey<T>::of(x[i * inner]) ^ mask), i};
    std::nth_element(all.begin(), all.begin() + first, all.end(), better);
    best.assign(all.begin(), all.begin() + first);
  } else if (first > 0) {
    int64_t worst = 0;  // best[worst] is the worst kept
    auto find_worst = [&] {
      worst = 0;
      for (int64_t j = 1; j < first; ++j)
        if (better(best[worst], best[j])) worst = j;
    };
    int64_t i = 0;
    for (; i < first; ++i) best.push_back({K(SortKey<T>::of(x[i * inner]) ^ mask), i});
    find_worst();
    constexpr int64_t kBlock = 64;
    K keys[kBlock];
    while (i < n) {
      const int64_t m = std::min(kBlock, n - i);
      K top = 0;
      if (inner == 1) {
        const T* xb = x + i;
        for (int64_t j = 0; j < m; ++j) {
          keys[j] = SortKey<T>::of(xb[j]) ^ mask;
          top = keys[j] > top ? keys[j] : top;
        }
      } else {
        for (int64_t j = 0; j < m; ++j) {
          keys[j] = SortKey<T>::of(x[(i + j) * inner]) ^ mask;
          top = keys[j] > top ? keys[j] : top;
        }
      }
      if (top > best[worst].key)  // a later equal key is never better
        for (int64_t j = 0; j < m; ++j)
          if (keys[j] > best[worst].key) {
            best[worst] = {keys[j], i + j};
            find_worst();
          }
      i += m;
    }
  }
  if (ordered) std::sort(best.begin(), best.end(), better);
  for (int64_t k = 0; k < first; ++k) y[k * inner] = best[static_cast<size_t>(k)].pos;
}

template <class T>
void argsort_typed(int64_t outer, int64_t n, int64_t inner, const T* in, int64_t* out,
                   bool descending, int64_t first, bool ordered) {
  parallel_for(outer * inner, [&](int64_t r) {
    const int64_t o = r / inner, i = r % inner;
    const T* x = in + o * n * inner + i;
    int64_t* y = out + o * n * inner + i;
    if (first >= 0 && (first < n || !ordered)) {
      // Only the first positions in order (topk): ties in input order, as the stable sort.
      // Descending wants the largest keys; ascending the largest of the flipped keys.
      return select_first(x, inner, n, !descending, first, y, ordered);
    }
    using K = typename SortKey<T>::K;
    if (n >= 256 && n < (int64_t(1) << 32)) {
      // The keys' radix sort (descending: of the flipped keys, still stable).
      const K mask = descending ? ~K(0) : K(0);
      return radix_order<K>(
          n, [&](int64_t k) { return K(SortKey<T>::of(x[k * inner]) ^ mask); }, y, inner);
    }
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t(0));
    // NaN is the largest value: last ascending, first descending.
    auto less = [x, inner](int64_t a, int64_t b) {
      const T va = x[a * inner], vb = x[b * inner];
      if (is_nan(vb)) return !is_nan(va);
      if (is_nan(va)) return false;
      return va < vb;
    };
    if (descending)
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return less(b, a); });
    else
      std::stable_sort(order.begin(), order.end(), less);
    for (int64_t k = 0; k < n; ++k) y[k * inner] = order[static_cast<size_t>(k)];
  });
}

}  // namespace

void scan(ScanOp op, DType dtype, int64_t outer, int64_t n, int64_t inner, const char* in,
          char* out, int64_t* indices) {
  if (outer * n * inner == 0) return;  // no element (an empty tensor's memory may be null)
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw DTypeError(std::string("internal: no scan kernel for ") + dtype_name(dtype));
    } else {
      scan_typed<T>(op, outer, n, inner, reinterpret_cast<const T*>(in), reinterpret_cast<T*>(out),
                    indices);
    }
  });
}

void argsort(DType dtype, int64_t outer, int64_t n, int64_t inner, const char* in, int64_t* out,
             bool descending, int64_t first, bool ordered) {
  if (outer * n * inner == 0) return;  // no element (an empty tensor's memory may be null)
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    argsort_typed<T>(outer, n, inner, reinterpret_cast<const T*>(in), out, descending, first,
                     ordered);
  });
}

void linear_recurrence(DType dtype, int64_t outer, int64_t n, int64_t inner, const char* a,
                       const char* b, char* out) {
  if (outer == 0 || n == 0 || inner == 0) return;  // (empty: the data may be null)
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    parallel_for(outer, [&](int64_t o) {
      const int64_t base = o * n * inner;
      const T* A = reinterpret_cast<const T*>(a) + base;
      const T* B = reinterpret_cast<const T*>(b) + base;
      T* Y = reinterpret_cast<T*>(out) + base;
      for (int64_t i = 0; i < inner; ++i) Y[i] = B[i];
      for (int64_t k = 1; k < n; ++k) {
        const T* ak = A + k * inner;
        const T* bk = B + k * inner;
        const T* prev = Y + (k - 1) * inner;
        T* yk = Y + k * inner;
        for (int64_t i = 0; i < inner; ++i) yk[i] = ak[i] * prev[i] + bk[i];
      }
    });
  });
}

}  // namespace ndgrad::kernels
