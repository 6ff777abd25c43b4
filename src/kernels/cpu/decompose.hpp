#pragma once
// Dense factorizations of one row-major square matrix (the linear-algebra ops run them over a
// batch): LU with partial pivoting, Cholesky, triangular solves, in the matrix's dtype. From
// n = kLapackMin on, the LAPACK that OpenBLAS ships does the work (found at run time with the
// BLAS; not in reference mode); below it, or without it, portable loops.
#include <cstdint>

namespace ndgrad::kernels {

constexpr int64_t kLapackMin = 16;

// b (n x k) becomes A^-1 b; a (n x n) is overwritten (its LU factors, in some layout). Returns
// 0, or k + 1 when column k has no nonzero pivot (a singular matrix: b is then unspecified).
template <class T>
int64_t lu_solve_in_place(int64_t n, int64_t k, T* a, T* b);
// The sign of det(a) and log|det(a)| (a overwritten). Returns 0, or nonzero when singular.
template <class T>
int64_t lu_sign_log(int64_t n, T* a, T* sign, T* logabs);

// a (n x n) becomes its LU factors (unit lower L below the diagonal, U on and above); piv[i] is
// the row swapped with row i at step i. Returns 0, or k + 1 when column k has no nonzero pivot
// (a singular matrix). *swaps: the number of row exchanges (the permutation's sign).
template <class T>
int64_t lu_factor(int64_t n, T* a, int64_t* piv, int64_t* swaps);
// b (n x k) becomes A^-1 b from lu_factor's result.
template <class T>
void lu_solve(int64_t n, int64_t k, const T* lu, const int64_t* piv, T* b);
// a (n x n, symmetric: the lower triangle is read) becomes L, lower, with a = L L^T (zeros above
// the diagonal). Returns 0, or k + 1 when the leading minor of order k + 1 is not positive.
template <class T>
int64_t cholesky(int64_t n, T* a);
// b (n x k) becomes t^-1 b for the lower or upper triangle of t (n x n); unit: its diagonal is
// taken as ones.
template <class T>
void triangular_solve(int64_t n, int64_t k, const T* t, T* b, bool upper, bool unit);

// The spectral factorizations (spectral.cpp) run over a batch of `count` contiguous row-major
// matrices a (overwritten), writing each element e's results at offset e * stride of each output
// pointer (the op packs its outputs into one buffer). From kLapackMin on (the larger side),
// LAPACK; below it, or in reference mode, portable loops. They report the first element that
// failed, if any, and LAPACK's info for it.
struct Failure {
  int64_t element = -1;  // -1: every element succeeded
  int64_t info = 0;      // kNonFinite: the matrix has a NaN or an infinity
};
constexpr int64_t kNonFinite = -1;

// Householder QR of m x n matrices: q (m x m complete, else m x min(m, n)) orthonormal columns,
// r (m x n complete, else min(m, n) x n) upper triangular, a = q r. LAPACK's sign convention
// (the diagonal of r may be negative). want_q false: q is not written.
template <class T>
void qr(int64_t count, int64_t m, int64_t n, T* a, T* q, T* r, int64_t stride, bool complete,
        bool want_q);
// Eigenvalues w (ascending) and eigenvectors v (n x n, column j for w[j]) of symmetric matrices
// whose lower (else upper) triangle is read. want_v false: v is not written. Fails when the
// iteration does not converge.
template <class T>
Failure eigh(int64_t count, int64_t n, T* a, T* w, T* v, int64_t stride, bool lower, bool want_v);
// Singular values s (descending, k = min(m, n) of them) with u (m x m full, else m x k) and vh
// (n x n full, else k x n), a = u diag(s) vh. want_uv false: only s is written.
template <class T>
Failure svd(int64_t count, int64_t m, int64_t n, T* a, T* u, T* s, T* vh, int64_t stride, bool full,
            bool want_uv);

}  // namespace ndgrad::kernels
