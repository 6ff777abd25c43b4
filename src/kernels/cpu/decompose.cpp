#include "kernels/cpu/decompose.hpp"

#include <cmath>
#include <utility>

namespace ndgrad::kernels {

template <class T>
int64_t lu_factor(int64_t n, T* a, int64_t* piv, int64_t* swaps) {
  int64_t singular = 0;
  *swaps = 0;
  for (int64_t j = 0; j < n; ++j) {
    int64_t p = j;
    for (int64_t i = j + 1; i < n; ++i)
      if (std::fabs(a[i * n + j]) > std::fabs(a[p * n + j])) p = i;
    piv[j] = p;
    if (p != j) {
      ++*swaps;
      for (int64_t c = 0; c < n; ++c) std::swap(a[j * n + c], a[p * n + c]);
    }
    const T pivot = a[j * n + j];
    if (pivot == T(0)) {
      if (!singular) singular = j + 1;
      continue;
    }
    for (int64_t i = j + 1; i < n; ++i) {
      T* row = a + i * n;
      const T f = row[j] / pivot;
      row[j] = f;
      const T* top = a + j * n;
      for (int64_t c = j + 1; c < n; ++c) row[c] -= f * top[c];
    }
  }
  return singular;
}

template <class T>
void lu_solve(int64_t n, int64_t k, const T* lu, const int64_t* piv, T* b) {
  for (int64_t j = 0; j < n; ++j)
    if (piv[j] != j)
      for (int64_t c = 0; c < k; ++c) std::swap(b[j * k + c], b[piv[j] * k + c]);
  triangular_solve(n, k, lu, b, /*upper=*/false, /*unit=*/true);
  triangular_solve(n, k, lu, b, /*upper=*/true, /*unit=*/false);
}

template <class T>
int64_t cholesky(int64_t n, T* a) {
  for (int64_t j = 0; j < n; ++j) {
    T d = a[j * n + j];
    for (int64_t c = 0; c < j; ++c) d -= a[j * n + c] * a[j * n + c];
    if (!(d > T(0))) return j + 1;  // also NaN
    const T l = std::sqrt(d);
    a[j * n + j] = l;
    for (int64_t i = j + 1; i < n; ++i) {
      T s = a[i * n + j];
      for (int64_t c = 0; c < j; ++c) s -= a[i * n + c] * a[j * n + c];
      a[i * n + j] = s / l;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = i + 1; c < n; ++c) a[i * n + c] = T(0);
  return 0;
}

template <class T>
void triangular_solve(int64_t n, int64_t k, const T* t, T* b, bool upper, bool unit) {
  if (!upper) {
    for (int64_t i = 0; i < n; ++i) {
      T* bi = b + i * k;
      for (int64_t j = 0; j < i; ++j) {
        const T f = t[i * n + j];
        if (f == T(0)) continue;
        const T* bj = b + j * k;
        for (int64_t c = 0; c < k; ++c) bi[c] -= f * bj[c];
      }
      if (!unit)
        for (int64_t c = 0; c < k; ++c) bi[c] /= t[i * n + i];
    }
  } else {
    for (int64_t i = n - 1; i >= 0; --i) {
      T* bi = b + i * k;
      for (int64_t j = i + 1; j < n; ++j) {
        const T f = t[i * n + j];
        if (f == T(0)) continue;
        const T* bj = b + j * k;
        for (int64_t c = 0; c < k; ++c) bi[c] -= f * bj[c];
      }
      if (!unit)
        for (int64_t c = 0; c < k; ++c) bi[c] /= t[i * n + i];
    }
  }
}

#define NDGRAD_DECOMPOSE(T)                                                  \
  template int64_t lu_factor<T>(int64_t, T*, int64_t*, int64_t*);            \
  template void lu_solve<T>(int64_t, int64_t, const T*, const int64_t*, T*); \
  template int64_t cholesky<T>(int64_t, T*);                                 \
  template void triangular_solve<T>(int64_t, int64_t, const T*, T*, bool, bool);
NDGRAD_DECOMPOSE(float)
NDGRAD_DECOMPOSE(double)
#undef NDGRAD_DECOMPOSE

}  // namespace ndgrad::kernels
