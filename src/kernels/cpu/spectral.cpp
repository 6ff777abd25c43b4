// QR, the symmetric eigendecomposition and the SVD over a batch (decompose.hpp): LAPACK's
// geqrf/orgqr, syevd and gesdd (gesvd when gesdd does not converge) from kLapackMin on;
// Householder reflections, cyclic Jacobi and one-sided Jacobi below it and in reference mode.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/decompose.hpp"
#include "kernels/cpu/reference.hpp"

namespace ndgrad::kernels {

namespace {

// LAPACK's Fortran interface (32-bit integers; the trailing lengths of character arguments).
template <class T>
struct Spectral {
  using Geqrf = void (*)(const int*, const int*, T*, const int*, T*, T*, const int*, int*);
  using Orgqr = void (*)(const int*, const int*, const int*, T*, const int*, const T*, T*,
                         const int*, int*);
  using Syevd = void (*)(const char*, const char*, const int*, T*, const int*, T*, T*, const int*,
                         int*, const int*, int*, size_t, size_t);
  using Gesdd = void (*)(const char*, const int*, const int*, T*, const int*, T*, T*, const int*,
                         T*, const int*, T*, const int*, int*, int*, size_t);
  using Gesvd = void (*)(const char*, const char*, const int*, const int*, T*, const int*, T*, T*,
                         const int*, T*, const int*, T*, const int*, int*, size_t, size_t);
  Geqrf geqrf = nullptr;
  Orgqr orgqr = nullptr;
  Syevd syevd = nullptr;
  Gesdd gesdd = nullptr;
  Gesvd gesvd = nullptr;
};

template <class T>
Spectral<T> load_spectral() {
  Spectral<T> l;
  if (!blas().handle) return l;
  const char p = sizeof(T) == 8 ? 'd' : 's';
  auto sym = [&](const char* name) {
    return dlsym(blas().handle, (std::string(1, p) + name).c_str());
  };
  l.geqrf = reinterpret_cast<typename Spectral<T>::Geqrf>(sym("geqrf_"));
  l.orgqr = reinterpret_cast<typename Spectral<T>::Orgqr>(sym("orgqr_"));
  l.syevd = reinterpret_cast<typename Spectral<T>::Syevd>(sym("syevd_"));
  l.gesdd = reinterpret_cast<typename Spectral<T>::Gesdd>(sym("gesdd_"));
  l.gesvd = reinterpret_cast<typename Spectral<T>::Gesvd>(sym("gesvd_"));
  return l;
}

// LAPACK for matrices whose larger side is `size`, when it is there and worth a call.
template <class T>
const Spectral<T>* spectral(BlasCall& call, int64_t size, int64_t other) {
  static const Spectral<T> l = load_spectral<T>();
  if (size < kLapackMin || size > (int64_t(1) << 30) || other > (int64_t(1) << 30) ||
      reference_kernels() || !call.begin())
    return nullptr;
  return &l;
}

template <class T>
int lwork_of(T query) {
  return std::max(1, static_cast<int>(query) + 1);
}

constexpr int kMaxSweeps = 80;

template <class T>
bool all_finite(int64_t size, const T* a) {
  for (int64_t i = 0; i < size; ++i)
    if (!std::isfinite(a[i])) return false;
  return true;
}

// ---- QR ----

// Householder QR in place as LAPACK's geqr2 (its dlarfg's signs): r on and above the diagonal,
// the reflectors' vectors below it (their leading 1 implied), tau their factors.
template <class T>
void householder(int64_t m, int64_t n, T* a, T* tau, std::vector<T>& w) {
  const int64_t k = std::min(m, n);
  w.assign(static_cast<size_t>(std::max(m, n)), T(0));
  for (int64_t j = 0; j < k; ++j) {
    T scale = 0;  // the largest |entry| below the diagonal; NaN once one is NaN
    for (int64_t i = j + 1; i < m; ++i) {
      const T v = std::fabs(a[i * n + j]);
      scale = v > scale || v != v ? v : scale;
    }
    T xnorm = scale != scale ? scale : T(0);  // a NaN reaches R and Q, as LAPACK's does
    if (scale > 0) {
      T ss = 0;
      for (int64_t i = j + 1; i < m; ++i) ss += (a[i * n + j] / scale) * (a[i * n + j] / scale);
      xnorm = scale * std::sqrt(ss);
    }
    const T alpha = a[j * n + j];
    if (xnorm == T(0)) {
      tau[j] = 0;
      continue;
    }
    const T beta = -std::copysign(std::hypot(alpha, xnorm), alpha);
    const T t = (beta - alpha) / beta;
    tau[j] = t;
    const T inv = T(1) / (alpha - beta);
    for (int64_t i = j + 1; i < m; ++i) a[i * n + j] *= inv;
    a[j * n + j] = beta;
    // H = I - t v v^T on the columns to the right: w = v^T A, A -= t v w.
    for (int64_t c = j + 1; c < n; ++c) w[c] = a[j * n + c];
    for (int64_t i = j + 1; i < m; ++i) {
      const T vi = a[i * n + j];
      for (int64_t c = j + 1; c < n; ++c) w[c] += vi * a[i * n + c];
    }
    for (int64_t c = j + 1; c < n; ++c) a[j * n + c] -= t * w[c];
    for (int64_t i = j + 1; i < m; ++i) {
      const T f = t * a[i * n + j];
      for (int64_t c = j + 1; c < n; ++c) a[i * n + c] -= f * w[c];
    }
  }
}

// q (m x qc) = H_0 ... H_{k-1} applied to the identity's first qc columns (LAPACK's org2r).
template <class T>
void form_q(int64_t m, int64_t n, const T* a, const T* tau, int64_t qc, T* q, std::vector<T>& w) {
  const int64_t k = std::min(m, n);
  w.assign(static_cast<size_t>(std::max(qc, int64_t(1))), T(0));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < qc; ++c) q[i * qc + c] = i == c ? T(1) : T(0);
  for (int64_t j = k - 1; j >= 0; --j) {
    const T t = tau[j];
    if (t == T(0)) continue;
    for (int64_t c = j; c < qc; ++c) w[c] = q[j * qc + c];
    for (int64_t i = j + 1; i < m; ++i) {
      const T vi = a[i * n + j];
      for (int64_t c = j; c < qc; ++c) w[c] += vi * q[i * qc + c];
    }
    for (int64_t c = j; c < qc; ++c) q[j * qc + c] -= t * w[c];
    for (int64_t i = j + 1; i < m; ++i) {
      const T f = t * a[i * n + j];
      for (int64_t c = j; c < qc; ++c) q[i * qc + c] -= f * w[c];
    }
  }
}

// ---- symmetric eigendecomposition ----

// Cyclic Jacobi on a full symmetric a (n x n): its diagonal becomes the eigenvalues, the rows of
// vt (when given) the eigenvectors. Returns 0, or 1 when it did not converge.
template <class T>
int64_t jacobi_eigh(int64_t n, T* a, T* vt) {
  const T eps = std::numeric_limits<T>::epsilon();
  if (vt)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) vt[i * n + j] = i == j ? T(1) : T(0);
  T fro = 0;
  for (int64_t i = 0; i < n * n; ++i) fro = std::max(fro, std::fabs(a[i]));
  const T floor = fro * std::numeric_limits<T>::min() / eps;
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    bool rotated = false;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const T apq = a[p * n + q];
        const T app = a[p * n + p], aqq = a[q * n + q];
        if (std::fabs(apq) <= eps * std::sqrt(std::fabs(app) * std::fabs(aqq)) ||
            std::fabs(apq) <= floor)
          continue;
        rotated = true;
        const T theta = (aqq - app) / (2 * apq);
        const T t = (theta >= 0 ? T(1) : T(-1)) / (std::fabs(theta) + std::hypot(T(1), theta));
        const T c = T(1) / std::sqrt(1 + t * t), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p and q
          const T akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p and q
          const T apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = a[q * n + p] = 0;
        if (vt)
          for (int64_t k = 0; k < n; ++k) {
            const T vp = vt[p * n + k], vq = vt[q * n + k];
            vt[p * n + k] = c * vp - s * vq;
            vt[q * n + k] = s * vp + c * vq;
          }
      }
    if (!rotated) return 0;
  }
  return 1;
}

// ---- SVD ----

// Fills the columns of u (rows x cols, row-major) not marked valid with unit vectors orthogonal
// to the valid ones: each time the standard basis vector with the largest part outside their
// span (at least sqrt(missing / rows)), that part orthogonalized twice (Gram-Schmidt) and
// normalized.
template <class T>
void complete_columns(int64_t rows, int64_t cols, T* u, std::vector<char>& valid) {
  std::vector<T> x(static_cast<size_t>(rows)), best(static_cast<size_t>(rows));
  auto residual = [&](int64_t candidate) {
    std::fill(x.begin(), x.end(), T(0));
    x[candidate] = 1;
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t l = 0; l < cols; ++l) {
        if (!valid[l]) continue;
        T d = 0;
        for (int64_t i = 0; i < rows; ++i) d += u[i * cols + l] * x[i];
        for (int64_t i = 0; i < rows; ++i) x[i] -= d * u[i * cols + l];
      }
    T nrm = 0;
    for (int64_t i = 0; i < rows; ++i) nrm += x[i] * x[i];
    return std::sqrt(nrm);
  };
  for (int64_t j = 0; j < cols; ++j) {
    if (valid[j]) continue;
    T best_norm = -1;
    for (int64_t candidate = 0; candidate < rows; ++candidate) {
      const T nrm = residual(candidate);
      if (nrm > best_norm) {
        best_norm = nrm;
        best = x;
      }
    }
    for (int64_t i = 0; i < rows; ++i) u[i * cols + j] = best[i] / best_norm;
    valid[j] = 1;
  }
}

// One-sided Jacobi on a tall matrix given as its transpose wt (n x m, n <= m; overwritten):
// s (n, descending); u (m x uc, uc = n or m) and vh (n x n) when given. Returns 0, or 1 when it
// did not converge.
template <class T>
int64_t jacobi_svd_tall(int64_t m, int64_t n, T* wt, T* s, T* u, int64_t uc, T* vh) {
  const T eps = std::numeric_limits<T>::epsilon();
  std::vector<T> vt;
  if (vh) {
    vt.assign(static_cast<size_t>(n * n), T(0));
    for (int64_t i = 0; i < n; ++i) vt[i * n + i] = 1;
  }
  bool converged = false;
  for (int sweep = 0; sweep < kMaxSweeps && !converged; ++sweep) {
    converged = true;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        T* wp = wt + p * m;
        T* wq = wt + q * m;
        T alpha = 0, beta = 0, gamma = 0;
        for (int64_t i = 0; i < m; ++i) {
          alpha += wp[i] * wp[i];
          beta += wq[i] * wq[i];
          gamma += wp[i] * wq[i];
        }
        if (!(std::fabs(gamma) > eps * std::sqrt(alpha * beta)) || gamma == T(0)) continue;
        converged = false;
        const T zeta = (beta - alpha) / (2 * gamma);
        const T t = (zeta >= 0 ? T(1) : T(-1)) / (std::fabs(zeta) + std::hypot(T(1), zeta));
        const T c = T(1) / std::sqrt(1 + t * t), sn = t * c;
        for (int64_t i = 0; i < m; ++i) {
          const T x = wp[i], y = wq[i];
          wp[i] = c * x - sn * y;
          wq[i] = sn * x + c * y;
        }
        if (vh)
          for (int64_t i = 0; i < n; ++i) {
            const T x = vt[p * n + i], y = vt[q * n + i];
            vt[p * n + i] = c * x - sn * y;
            vt[q * n + i] = sn * x + c * y;
          }
      }
  }
  if (!converged) return 1;
  std::vector<T> norms(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    T ss = 0;
    for (int64_t i = 0; i < m; ++i) ss += wt[j * m + i] * wt[j * m + i];
    norms[j] = std::sqrt(ss);
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return norms[x] > norms[y]; });
  for (int64_t j = 0; j < n; ++j) s[j] = norms[order[j]];
  if (!u) return 0;
  const T smax = n ? s[0] : T(0);
  std::vector<char> valid(static_cast<size_t>(uc), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t o = order[j];
    for (int64_t i = 0; i < n; ++i) vh[j * n + i] = vt[o * n + i];
    if (s[j] > smax * eps * T(m) && s[j] > T(0)) {
      for (int64_t i = 0; i < m; ++i) u[i * uc + j] = wt[o * m + i] / s[j];
      valid[j] = 1;
    }
  }
  complete_columns(m, uc, u, valid);
  return 0;
}

template <class T>
void transpose(int64_t rows, int64_t cols, const T* src, T* dst) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * rows + i] = src[i * cols + j];
}

}  // namespace

template <class T>
void qr(int64_t count, int64_t m, int64_t n, T* a, T* q, T* r, int64_t stride, bool complete,
        bool want_q) {
  const int64_t k = std::min(m, n), qc = complete ? m : k, rr = complete ? m : k;
  std::vector<T> tau(static_cast<size_t>(std::max<int64_t>(k, 1))), w, cm;
  BlasCall call;
  const Spectral<T>* l = spectral<T>(call, std::max(m, n), std::min(m, n));
  if (l && !(l->geqrf && l->orgqr)) l = nullptr;
  const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
  std::vector<T> work;
  int lwork = -1;
  if (l && k > 0) {  // one workspace for the batch
    T query = 0, query2 = 0, dummy = 0;
    int info = 0, qci = static_cast<int>(qc);
    l->geqrf(&mi, &ni, &dummy, &mi, tau.data(), &query, &lwork, &info);
    l->orgqr(&mi, &qci, &ki, &dummy, &mi, tau.data(), &query2, &lwork, &info);
    lwork = std::max(lwork_of(query), lwork_of(query2));
    work.resize(static_cast<size_t>(lwork));
    cm.resize(static_cast<size_t>(m * std::max(n, qc)));
  }
  for (int64_t e = 0; e < count; ++e) {
    T* ae = a + e * m * n;
    T* re = r + e * stride;
    T* qe = q + e * stride;
    if (l && k > 0) {
      transpose(m, n, ae, cm.data());  // column-major A, leading dimension m
      int info = 0;
      l->geqrf(&mi, &ni, cm.data(), &mi, tau.data(), work.data(), &lwork, &info);
      for (int64_t i = 0; i < rr; ++i)
        for (int64_t c = 0; c < n; ++c) re[i * n + c] = c >= i ? cm[i + c * m] : T(0);
      if (!want_q) continue;
      const int qci = static_cast<int>(qc);
      l->orgqr(&mi, &qci, &ki, cm.data(), &mi, tau.data(), work.data(), &lwork, &info);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t c = 0; c < qc; ++c) qe[i * qc + c] = cm[i + c * m];
      continue;
    }
    householder(m, n, ae, tau.data(), w);
    for (int64_t i = 0; i < rr; ++i)
      for (int64_t c = 0; c < n; ++c) re[i * n + c] = c >= i ? ae[i * n + c] : T(0);
    if (want_q) form_q(m, n, ae, tau.data(), qc, qe, w);
  }
}

// A power of two that brings the largest |entry| of a (size values) near 1, and a scaled by it:
// the Jacobi rotations' products and sums of squares then neither overflow nor underflow
// (LAPACK's scaling). Exact; 1 for a zero matrix.
template <class T>
T scale_to_unit(int64_t size, T* a) {
  T big = 0;
  for (int64_t i = 0; i < size; ++i) big = std::max(big, std::fabs(a[i]));
  if (!(big > 0)) return T(1);
  int exponent = 0;
  std::frexp(big, &exponent);
  const T scale = std::ldexp(T(1), -exponent);
  for (int64_t i = 0; i < size; ++i) a[i] *= scale;
  return scale;
}

template <class T>
Failure eigh(int64_t count, int64_t n, T* a, T* w, T* v, int64_t stride, bool lower, bool want_v) {
  Failure failed;
  BlasCall call;
  const Spectral<T>* l = spectral<T>(call, n, n);
  if (l && !l->syevd) l = nullptr;
  const int ni = static_cast<int>(n);
  // Row-major lower is column-major upper.
  const char* uplo = lower ? "U" : "L";
  const char* jobz = want_v ? "V" : "N";
  std::vector<T> work, vt;
  std::vector<int> iwork;
  int lwork = -1, liwork = -1;
  if (l && n > 0) {
    T query = 0, dummy = 0;
    int iquery = 0, info = 0;
    l->syevd(jobz, uplo, &ni, &dummy, &ni, &dummy, &query, &lwork, &iquery, &liwork, &info, 1, 1);
    lwork = lwork_of(query);
    liwork = std::max(1, iquery);
    work.resize(static_cast<size_t>(lwork));
    iwork.resize(static_cast<size_t>(liwork));
  }
  if (want_v && !l) vt.resize(static_cast<size_t>(n * n));
  std::vector<T> diag(static_cast<size_t>(n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t e = 0; e < count; ++e) {
    T* ae = a + e * n * n;
    T* we = w + e * stride;
    T* ve = v + e * stride;
    bool finite = true;  // in the triangle that is read; the other is never looked at
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = lower ? 0 : i; j < (lower ? i + 1 : n); ++j)
        finite = finite && std::isfinite(ae[i * n + j]);
    if (!finite) return {e, kNonFinite};
    if (l && n > 0) {
      int info = 0;
      l->syevd(jobz, uplo, &ni, ae, &ni, we, work.data(), &lwork, iwork.data(), &liwork, &info, 1,
               1);
      if (info != 0) return {e, info};
      if (want_v) transpose(n, n, ae, ve);  // eigenvectors are column-major columns
      continue;
    }
    for (int64_t i = 0; i < n; ++i)  // the triangle read, mirrored
      for (int64_t j = 0; j < i; ++j) {
        if (lower)
          ae[j * n + i] = ae[i * n + j];
        else
          ae[i * n + j] = ae[j * n + i];
      }
    const T scale = scale_to_unit(n * n, ae);
    if (const int64_t info = jacobi_eigh(n, ae, want_v ? vt.data() : nullptr)) return {e, info};
    for (int64_t i = 0; i < n; ++i) diag[i] = ae[i * n + i] / scale;
    std::iota(order.begin(), order.end(), int64_t(0));
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t x, int64_t y) { return diag[x] < diag[y]; });
    for (int64_t j = 0; j < n; ++j) {
      we[j] = diag[order[j]];
      if (want_v)
        for (int64_t i = 0; i < n; ++i) ve[i * n + j] = vt[order[j] * n + i];
    }
  }
  return failed;
}

template <class T>
Failure svd(int64_t count, int64_t m, int64_t n, T* a, T* u, T* s, T* vh, int64_t stride, bool full,
            bool want_uv) {
  const int64_t k = std::min(m, n);
  const int64_t uc = full ? m : k, vr = full ? n : k;
  BlasCall call;
  const Spectral<T>* l = spectral<T>(call, std::max(m, n), k);
  if (l && !l->gesdd) l = nullptr;
  // LAPACK sees the row-major A as the column-major A^T (n x m) = U' S V'^T: A = V' S U'^T,
  // and its column-major V'^T and U' are, read row-major, A's U and Vh.
  const int mi = static_cast<int>(n), ni = static_cast<int>(m);  // LAPACK's rows and columns
  const char* jobz = !want_uv ? "N" : full ? "A" : "S";
  const int ldu = static_cast<int>(n), ldvt = static_cast<int>(full ? m : k);
  std::vector<T> work, copy, dummy(1);
  std::vector<int> iwork;
  int lwork = -1;
  if (l && k > 0) {
    T query = 0, d = 0;
    int info = 0;
    iwork.resize(static_cast<size_t>(8 * k));
    l->gesdd(jobz, &mi, &ni, &d, &mi, &d, &d, &ldu, &d, &ldvt, &query, &lwork, iwork.data(), &info,
             1);
    lwork = lwork_of(query);
    work.resize(static_cast<size_t>(lwork));
  }
  std::vector<T> wt;
  for (int64_t e = 0; e < count; ++e) {
    T* ae = a + e * m * n;
    T* se = s + e * stride;
    T* ue = want_uv ? u + e * stride : dummy.data();
    T* ve = want_uv ? vh + e * stride : dummy.data();
    if (!all_finite(m * n, ae)) return {e, kNonFinite};
    if (k == 0) {
      if (want_uv) {  // identities of the full sizes
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < uc; ++j) ue[i * uc + j] = i == j ? T(1) : T(0);
        for (int64_t i = 0; i < vr; ++i)
          for (int64_t j = 0; j < n; ++j) ve[i * n + j] = i == j ? T(1) : T(0);
      }
      continue;
    }
    if (l) {
      if (l->gesvd) copy.assign(ae, ae + m * n);
      int info = 0;
      l->gesdd(jobz, &mi, &ni, ae, &mi, se, ve, &ldu, ue, &ldvt, work.data(), &lwork, iwork.data(),
               &info, 1);
      if (info > 0 && l->gesvd) {  // gesdd's divide and conquer failed: QR iteration
        int lw = -1;
        T query = 0;
        l->gesvd(jobz, jobz, &mi, &ni, copy.data(), &mi, se, ve, &ldu, ue, &ldvt, &query, &lw,
                 &info, 1, 1);
        lw = lwork_of(query);
        std::vector<T> work2(static_cast<size_t>(lw));
        l->gesvd(jobz, jobz, &mi, &ni, copy.data(), &mi, se, ve, &ldu, ue, &ldvt, work2.data(), &lw,
                 &info, 1, 1);
      }
      if (info != 0) return {e, info};
      continue;
    }
    if (m >= n) {  // columns of A as rows of A^T
      wt.resize(static_cast<size_t>(m * n));
      transpose(m, n, ae, wt.data());
      const T scale = scale_to_unit(m * n, wt.data());
      if (jacobi_svd_tall(m, n, wt.data(), se, want_uv ? ue : nullptr, uc, want_uv ? ve : nullptr))
        return {e, 1};
      for (int64_t i = 0; i < k; ++i) se[i] /= scale;
      continue;
    }
    // Wide: A^T (n x m) is tall, and its rows are A's columns... of A^T: rows of A.
    // A^T = U' S V'^T gives U = V' (m x m) and Vh = U'^T (vr x n).
    wt.assign(ae, ae + m * n);
    const T scale = scale_to_unit(m * n, wt.data());
    std::vector<T> u2, v2;
    if (want_uv) {
      u2.resize(static_cast<size_t>(n * vr));
      v2.resize(static_cast<size_t>(m * m));
    }
    if (jacobi_svd_tall(n, m, wt.data(), se, want_uv ? u2.data() : nullptr, vr,
                        want_uv ? v2.data() : nullptr))
      return {e, 1};
    for (int64_t i = 0; i < k; ++i) se[i] /= scale;
    if (want_uv) {
      transpose(n, vr, u2.data(), ve);  // Vh = U'^T
      transpose(m, m, v2.data(), ue);   // U = V' = (V'^T)^T
    }
  }
  return {};
}

#define NDGRAD_SPECTRAL(T)                                                         \
  template void qr<T>(int64_t, int64_t, int64_t, T*, T*, T*, int64_t, bool, bool); \
  template Failure eigh<T>(int64_t, int64_t, T*, T*, T*, int64_t, bool, bool);     \
  template Failure svd<T>(int64_t, int64_t, int64_t, T*, T*, T*, T*, int64_t, bool, bool);
NDGRAD_SPECTRAL(float)
NDGRAD_SPECTRAL(double)
#undef NDGRAD_SPECTRAL

}  // namespace ndgrad::kernels
