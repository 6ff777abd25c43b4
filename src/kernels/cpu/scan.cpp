// Scans (running sum, product, log-add-exp, max, min) and the stable sort order along one axis
// of a contiguous (outer, n, inner) block: the ops make the block contiguous first, so these
// loops see plain arrays.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "core/thread_pool.hpp"
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

template <class T>
void scan_typed(ScanOp op, int64_t outer, int64_t n, int64_t inner, const T* in, T* out,
                int64_t* indices) {
  // Position by position along the axis, each position's `inner` elements side by side in
  // memory: one forward pass whichever the axis (the inner loops vectorize).
  parallel_for(outer, [&](int64_t o) {
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

template <class T>
void argsort_typed(int64_t outer, int64_t n, int64_t inner, const T* in, int64_t* out,
                   bool descending, int64_t first) {
  parallel_for(outer * inner, [&](int64_t r) {
    const int64_t o = r / inner, i = r % inner;
    const T* x = in + o * n * inner + i;
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t(0));
    // NaN is the largest value: last ascending, first descending.
    auto less = [x, inner](int64_t a, int64_t b) {
      const T va = x[a * inner], vb = x[b * inner];
      if (is_nan(vb)) return !is_nan(va);
      if (is_nan(va)) return false;
      return va < vb;
    };
    if (first >= 0 && first < n) {
      // Only the first positions in order (topk): a partial sort, ties broken by position so
      // that equal values keep their input order, as the stable sort does.
      const auto mid = order.begin() + first;
      if (descending)
        std::partial_sort(order.begin(), mid, order.end(), [&](int64_t a, int64_t b) {
          return less(b, a) || (!less(a, b) && a < b);
        });
      else
        std::partial_sort(order.begin(), mid, order.end(), [&](int64_t a, int64_t b) {
          return less(a, b) || (!less(b, a) && a < b);
        });
    } else if (descending) {
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return less(b, a); });
    } else {
      std::stable_sort(order.begin(), order.end(), less);
    }
    int64_t* y = out + o * n * inner + i;
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
             bool descending, int64_t first) {
  if (outer * n * inner == 0) return;  // no element (an empty tensor's memory may be null)
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    argsort_typed<T>(outer, n, inner, reinterpret_cast<const T*>(in), out, descending, first);
  });
}

}  // namespace ndgrad::kernels
