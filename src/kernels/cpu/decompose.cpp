#include "kernels/cpu/decompose.hpp"

#include <dlfcn.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/reference.hpp"

namespace ndgrad::kernels {

namespace {

// LAPACK's Fortran interface (32-bit integers, as Debian's OpenBLAS; the trailing lengths of
// character arguments, which C implementations ignore).
template <class T>
struct Lapack {
  using Getrf = void (*)(const int*, const int*, T*, const int*, int*, int*);
  using Getrs = void (*)(const char*, const int*, const int*, const T*, const int*, const int*, T*,
                         const int*, int*, size_t);
  using Potrf = void (*)(const char*, const int*, T*, const int*, int*, size_t);
  using Trtrs = void (*)(const char*, const char*, const char*, const int*, const int*, const T*,
                         const int*, T*, const int*, int*, size_t, size_t, size_t);
  Getrf getrf = nullptr;
  Getrs getrs = nullptr;
  Potrf potrf = nullptr;
  Trtrs trtrs = nullptr;
  bool loaded() const { return getrf && getrs && potrf && trtrs; }
};

template <class T>
Lapack<T> load_lapack() {
  Lapack<T> l;
  if (!blas().handle) return l;
  const char p = sizeof(T) == 8 ? 'd' : 's';
  auto sym = [&](const char* name) {
    return dlsym(blas().handle, (std::string(1, p) + name).c_str());
  };
  l.getrf = reinterpret_cast<typename Lapack<T>::Getrf>(sym("getrf_"));
  l.getrs = reinterpret_cast<typename Lapack<T>::Getrs>(sym("getrs_"));
  l.potrf = reinterpret_cast<typename Lapack<T>::Potrf>(sym("potrf_"));
  l.trtrs = reinterpret_cast<typename Lapack<T>::Trtrs>(sym("trtrs_"));
  return l;
}

// LAPACK for a matrix of order n, when it is there and worth a call, admitted for as long as
// `call` lives.
template <class T>
const Lapack<T>* lapack(BlasCall& call, int64_t n) {
  static const Lapack<T> l = load_lapack<T>();
  if (n < kLapackMin || n > (int64_t(1) << 30) || !l.loaded() || reference_kernels() ||
      !call.begin())
    return nullptr;
  return &l;
}

// b (n x k, row-major) to column-major and back: LAPACK's right-hand sides.
template <class T>
std::vector<T> to_columns(int64_t n, int64_t k, const T* b) {
  std::vector<T> c(static_cast<size_t>(n * k));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) c[static_cast<size_t>(j * n + i)] = b[i * k + j];
  return c;
}
template <class T>
void from_columns(int64_t n, int64_t k, const std::vector<T>& c, T* b) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) b[i * k + j] = c[static_cast<size_t>(j * n + i)];
}

}  // namespace

// A row-major matrix is its transpose in LAPACK's column-major view: A^T = P L U from getrf,
// then getrs with 'T' solves A X = B.
template <class T>
int64_t lu_solve_in_place(int64_t n, int64_t k, T* a, T* b) {
  BlasCall call;
  if (const Lapack<T>* l = lapack<T>(call, n)) {
    const int ni = static_cast<int>(n), ki = static_cast<int>(k);
    std::vector<int> ipiv(static_cast<size_t>(n));
    int info = 0;
    l->getrf(&ni, &ni, a, &ni, ipiv.data(), &info);
    if (info > 0) return info;
    if (k == 0) return 0;
    std::vector<T> c = to_columns(n, k, b);
    l->getrs("T", &ni, &ki, a, &ni, ipiv.data(), c.data(), &ni, &info, 1);
    from_columns(n, k, c, b);
    return 0;
  }
  std::vector<int64_t> piv(static_cast<size_t>(n));
  int64_t swaps = 0;
  if (const int64_t s = lu_factor(n, a, piv.data(), &swaps)) return s;
  lu_solve(n, k, a, piv.data(), b);
  return 0;
}

template <class T>
int64_t lu_sign_log(int64_t n, T* a, T* sign, T* logabs) {
  int64_t swaps = 0, singular = 0;
  BlasCall call;
  if (const Lapack<T>* l = lapack<T>(call, n)) {  // det(A^T) = det(A)
    const int ni = static_cast<int>(n);
    std::vector<int> ipiv(static_cast<size_t>(n));
    int info = 0;
    l->getrf(&ni, &ni, a, &ni, ipiv.data(), &info);
    singular = info;
    for (int64_t i = 0; i < n; ++i) swaps += ipiv[static_cast<size_t>(i)] != i + 1;
  } else {
    std::vector<int64_t> piv(static_cast<size_t>(n));
    singular = lu_factor(n, a, piv.data(), &swaps);
  }
  T s = swaps % 2 ? T(-1) : T(1), log_sum = 0;
  for (int64_t i = 0; i < n && !singular; ++i) {
    const T d = a[i * n + i];
    if (d < 0) s = -s;
    log_sum += std::log(std::fabs(d));
  }
  *sign = singular ? T(0) : s;
  *logabs = singular ? -std::numeric_limits<T>::infinity() : log_sum;
  return singular;
}

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
  BlasCall call;
  if (const Lapack<T>* l = lapack<T>(call, n)) {
    // Column-major upper U with A = U^T U is, read row-major, the lower L with A = L L^T.
    const int ni = static_cast<int>(n);
    int info = 0;
    l->potrf("U", &ni, a, &ni, &info, 1);
    if (info > 0) return info;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = i + 1; c < n; ++c) a[i * n + c] = T(0);
    return 0;
  }
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
  BlasCall call;
  if (const Lapack<T>* l = lapack<T>(call, n); l && k > 0) {
    // Row-major t is column-major t^T, whose triangle is the other one: solve with 'T'.
    const int ni = static_cast<int>(n), ki = static_cast<int>(k);
    int info = 0;
    std::vector<T> c = to_columns(n, k, b);
    l->trtrs(upper ? "L" : "U", "T", unit ? "U" : "N", &ni, &ki, t, &ni, c.data(), &ni, &info, 1, 1,
             1);
    from_columns(n, k, c, b);
    return;
  }
  // Substitution from the row whose solution needs no other: the first (lower) or last (upper).
  for (int64_t step = 0; step < n; ++step) {
    const int64_t i = upper ? n - 1 - step : step;
    T* bi = b + i * k;
    for (int64_t j = upper ? i + 1 : 0, end = upper ? n : i; j < end; ++j) {
      const T f = t[i * n + j];
      if (f == T(0)) continue;
      const T* bj = b + j * k;
      for (int64_t c = 0; c < k; ++c) bi[c] -= f * bj[c];
    }
    if (!unit)
      for (int64_t c = 0; c < k; ++c) bi[c] /= t[i * n + i];
  }
}

#define NDGRAD_DECOMPOSE(T)                                                  \
  template int64_t lu_solve_in_place<T>(int64_t, int64_t, T*, T*);           \
  template int64_t lu_sign_log<T>(int64_t, T*, T*, T*);                      \
  template int64_t lu_factor<T>(int64_t, T*, int64_t*, int64_t*);            \
  template void lu_solve<T>(int64_t, int64_t, const T*, const int64_t*, T*); \
  template int64_t cholesky<T>(int64_t, T*);                                 \
  template void triangular_solve<T>(int64_t, int64_t, const T*, T*, bool, bool);
NDGRAD_DECOMPOSE(float)
NDGRAD_DECOMPOSE(double)
#undef NDGRAD_DECOMPOSE

}  // namespace ndgrad::kernels
