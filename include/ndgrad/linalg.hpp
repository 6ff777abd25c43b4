#pragma once
// Linear algebra on matrices, batched over leading axes (their batch shapes broadcast), f32 and
// f64, each differentiable with the known formulas (docs/API.md). A matrix that cannot be
// factored is a LinAlgError naming the op and the batch element. f16 and bf16: matrix_power
// (n >= 0) and matrix_norm's fro, 1 and inf norms compute in f32; the rest refuse them
// (DTypeError), as libtorch's CPU linalg does.
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ndgrad/tensor.hpp"

namespace ndgrad::linalg {

// X with A X = B. B is (..., n, k), or a batch of vectors (..., n): B 1-d, or B's shape A's
// without its last axis.
Tensor solve(const Tensor& A, const Tensor& B);
Tensor inv(const Tensor& A);
Tensor det(const Tensor& A);  // 0 for a singular matrix
// (sign, log|det|): sign is 0 and log|det| -inf for a singular matrix.
std::pair<Tensor, Tensor> slogdet(const Tensor& A);
// L, lower triangular with A = L L^T (upper: U = L^T, A = U^T U), for a symmetric positive
// definite A (its lower triangle is read).
Tensor cholesky(const Tensor& A, bool upper = false);
// X with B = A X from A's Cholesky factor L (upper: U).
Tensor cholesky_solve(const Tensor& B, const Tensor& L, bool upper = false);
// X with A X = B (left) or X A = B, A's lower or upper triangle read; unitriangular: its
// diagonal taken as ones.
Tensor solve_triangular(const Tensor& A, const Tensor& B, bool upper, bool left = true,
                        bool unitriangular = false);
// A^n for any integer n (n < 0: inv(A)^-n; n = 0: the identity).
Tensor matrix_power(const Tensor& A, int64_t n);

// The decompositions of (..., m, n) matrices, any m and n; k = min(m, n).
// (Q, R) with A = Q R, Q with orthonormal columns, R upper triangular (LAPACK's signs: R's
// diagonal may be negative). mode "reduced": Q (..., m, k), R (..., k, n); "complete": Q
// (..., m, m), R (..., m, n); "r": R (..., k, n) only, Q an empty tensor (0). Differentiable
// except "complete" with m > n (AutogradError in backward).
std::pair<Tensor, Tensor> qr(const Tensor& A, const std::string& mode = "reduced");
// (eigenvalues ascending (..., n), eigenvectors as columns (..., n, n)) of a symmetric A whose
// uplo ("L" or "U") triangle is read. Eigenvectors are defined up to sign (a basis of each
// eigenspace for repeated eigenvalues); their gradient needs distinct eigenvalues.
std::pair<Tensor, Tensor> eigh(const Tensor& A, const std::string& uplo = "L");
Tensor eigvalsh(const Tensor& A, const std::string& uplo = "L");
// (U, S, Vh) with A = U diag(S) Vh, S descending (..., k); U (..., m, m) and Vh (..., n, n)
// with full_matrices, else (..., m, k) and (..., k, n). Singular vectors are defined up to sign;
// their gradient needs distinct nonzero singular values; with full_matrices the columns of U
// (rows of Vh) past k get none.
std::tuple<Tensor, Tensor, Tensor> svd(const Tensor& A, bool full_matrices = true);
Tensor svdvals(const Tensor& A);  // S, descending; its gradient is U diag(gS) Vh
// The least-squares solution X of A X = B for a full-rank A: m >= n minimises |A X - B|, m < n
// is the minimum-norm solution. B is (..., m, k), or vectors (..., m) as in solve. A
// rank-deficient A is a LinAlgError (pinv(A) B gives the minimum-norm least-squares solution).
Tensor lstsq(const Tensor& A, const Tensor& B);
// The pseudo-inverse (..., n, m) through the SVD: singular values at or below rtol * max(S)
// count as zero (default rtol: eps(dtype) * max(m, n)).
Tensor pinv(const Tensor& A, std::optional<double> rtol = std::nullopt);
// Matrix norms over the two axes dims: "fro", "nuc" (sum of singular values), or as numbers: 2
// (largest singular value), -2 (smallest), 1 (largest column sum of |A|), -1 (smallest),
// inf (largest row sum), -inf (smallest).
Tensor matrix_norm(const Tensor& A, const std::string& ord = "fro",
                   const std::vector<int64_t>& dims = {-2, -1}, bool keepdim = false);
Tensor matrix_norm(const Tensor& A, double ord, const std::vector<int64_t>& dims = {-2, -1},
                   bool keepdim = false);

}  // namespace ndgrad::linalg
