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

}  // namespace ndgrad::kernels
