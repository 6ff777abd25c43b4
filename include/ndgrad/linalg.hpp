#pragma once
// Linear algebra on square matrices, batched over leading axes (their batch shapes broadcast),
// f32 and f64, each differentiable with the known formulas (docs/API.md). A matrix that cannot
// be factored is a LinAlgError naming the op and the batch element.
#include <utility>

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

}  // namespace ndgrad::linalg
