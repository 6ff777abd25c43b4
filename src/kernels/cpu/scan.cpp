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
  parallel_for(outer, [&](int64_t o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* x = in + o * n * inner + i;
      T* y = out + o * n * inner + i;
      int64_t* ix = indices ? indices + o * n * inner + i : nullptr;
      if (n == 0) continue;
      T acc = x[0];
      int64_t at = 0;
      y[0] = acc;
      if (ix) ix[0] = 0;
      for (int64_t k = 1; k < n; ++k) {
        const T v = x[k * inner];
        switch (op) {
          case ScanOp::sum:
            acc = wrap_add(acc, v);
            break;
          case ScanOp::prod:
            acc = wrap_mul(acc, v);
            break;
          case ScanOp::logsumexp:
            if constexpr (std::is_floating_point_v<T>) acc = log_add_exp(acc, v);
            break;
          case ScanOp::max:
          case ScanOp::min:
            // libtorch's cummax/cummin: the last of ties, the last NaN once one is met.
            if (is_nan(v) || (!is_nan(acc) && (op == ScanOp::max ? v >= acc : v <= acc))) {
              acc = v;
              at = k;
            }
            break;
        }
        y[k * inner] = acc;
        if (ix) ix[k * inner] = at;
      }
    }
  });
}

template <class T>
void argsort_typed(int64_t outer, int64_t n, int64_t inner, const T* in, int64_t* out,
                   bool descending) {
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
    if (descending)
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return less(b, a); });
    else
      std::stable_sort(order.begin(), order.end(), less);
    int64_t* y = out + o * n * inner + i;
    for (int64_t k = 0; k < n; ++k) y[k * inner] = order[static_cast<size_t>(k)];
  });
}

}  // namespace

void scan(ScanOp op, DType dtype, int64_t outer, int64_t n, int64_t inner, const char* in,
          char* out, int64_t* indices) {
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
             bool descending) {
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    argsort_typed<T>(outer, n, inner, reinterpret_cast<const T*>(in), out, descending);
  });
}

}  // namespace ndgrad::kernels
