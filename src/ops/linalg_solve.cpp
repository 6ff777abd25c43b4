// Linear algebra on square matrices: solve, inv, det, slogdet, cholesky, cholesky_solve,
// solve_triangular, matrix_power. The factorizations run per batch element on a contiguous copy
// (kernels/cpu/decompose.hpp); each gradient is written with these ops, so it is
// differentiable again.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/decompose.hpp"
#include "ndgrad/autograd.hpp"
#include "ndgrad/linalg.hpp"
#include "ops/linalg_common.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad::linalg {

using namespace detail;

namespace {

template <class F>
void for_each_matrix(DType dt, const Tensor& a, F&& f) {
  const int64_t n = a.size(-1), count = a.numel() / std::max<int64_t>(n * n, 1);
  for (int64_t e = 0; e < count; ++e) {
    if (dt == DType::f64)
      f(e, reinterpret_cast<double*>(a.impl()->data()) + e * n * n);
    else
      f(e, reinterpret_cast<float*>(a.impl()->data()) + e * n * n);
  }
}

// ---- solve ----

struct SolveBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_solve")
  int broadcast_core_dims() const override { return 2; }
  Tensor a, x;
  void release_saved() override { a = x = Tensor(); }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& X = saved_output(x, linked);
    const Tensor gb = solve(a.mT(), g);
    return grad_list(needs(0) ? -matmul(gb, X.mT()) : Tensor(), needs(1) ? gb : Tensor());
  }
};

Tensor solve_matrices(const Tensor& A, const Tensor& B, const char* op) {
  const int64_t n = A.size(-1), k = B.size(-1);
  if (B.size(-2) != n)
    throw ShapeError(std::string(op) + ": A " + shape_str(A.shape()) + " and B " +
                     shape_str(B.shape()) + " do not match: B needs " + std::to_string(n) +
                     " rows");
  const Dims batch = broadcast_shapes_for(batch_of(A), batch_of(B), op);
  const DType dt = promote_types(A.dtype(), B.dtype());
  checked_numel(with_matrix(batch, n, std::max(n, k)), op);
  Tensor lu = working_copy(A, with_matrix(batch, n, n), dt);
  Tensor x = working_copy(B, with_matrix(batch, n, k), dt);
  for_each_matrix(dt, lu, [&](int64_t e, auto* m) {
    using T = std::remove_pointer_t<decltype(m)>;
    T* rhs = reinterpret_cast<T*>(x.impl()->data()) + e * n * k;
    if (const int64_t k0 = kernels::lu_solve_in_place(n, k, m, rhs))
      throw LinAlgError(std::string(op) + ": the matrix" + batch_index(batch, e) +
                        " is singular (U[" + std::to_string(k0 - 1) + "][" +
                        std::to_string(k0 - 1) + "] is zero)");
  });
  if (auto node = record<SolveBackward>(x, {&A, &B})) {
    node->a = node->save(A, "the matrix");
    node->x = node->save(x.detach(), "the output");
  }
  return x;
}

// Whether solve's B is a batch of vectors.
bool vector_rhs(const Tensor& A, const Tensor& B) {
  if (B.ndim() == 1) return true;
  if (B.ndim() != A.ndim() - 1) return false;
  const Shape a = A.shape(), b = B.shape();
  return Shape(a.begin(), a.end() - 1) == b;
}

// ---- det, slogdet ----

// Per matrix: the sign of the determinant and log|det| (sign 0 when singular).
std::pair<Tensor, Tensor> sign_and_log(const Tensor& A, const char* op) {
  const int64_t n = A.size(-1);
  const Dims batch = batch_of(A);
  const DType dt = A.dtype();
  Tensor lu = working_copy(A, A.impl()->shape, dt);
  Tensor sign = make_tensor(batch, dt, op), logabs = make_tensor(batch, dt, op);
  for_each_matrix(dt, lu, [&](int64_t e, auto* m) {
    using T = std::remove_pointer_t<decltype(m)>;
    kernels::lu_sign_log(n, m, reinterpret_cast<T*>(sign.impl()->data()) + e,
                         reinterpret_cast<T*>(logabs.impl()->data()) + e);
  });
  return {sign, logabs};
}

// d log|det A| / dA = inv(A)^T; det's is det * that.
struct LogAbsDetBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_slogdet")
  Tensor a;
  void release_saved() override { a = Tensor(); }
  GradList backward(const Tensor& g) override {
    return grad_list(g.unsqueeze(-1).unsqueeze(-1) * inv(a).mT());
  }
};
struct DetBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_det")
  Tensor a, d;
  void release_saved() override { a = d = Tensor(); }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& D = saved_output(d, linked);
    return grad_list((g * D).unsqueeze(-1).unsqueeze(-1) * inv(a).mT());
  }
};

// ---- cholesky, triangular solves ----

struct CholeskyBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_cholesky")
  Tensor l;
  void release_saved() override { l = Tensor(); }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& L = saved_output(l, linked);
    // Phi(L^T G): the lower triangle with the diagonal halved, made symmetric, then
    // L^-T (.) L^-1.
    Tensor p = tril(matmul(L.mT(), g));
    p = 0.5 * (p + tril(p, -1).mT());
    p = solve_triangular(L.mT(), p, /*upper=*/true);
    return grad_list(solve_triangular(L, p, /*upper=*/false, /*left=*/false));
  }
};

struct TriangularSolveBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_solve_triangular")
  int broadcast_core_dims() const override { return 2; }
  Tensor a, x;
  bool upper = false, unit = false;
  void release_saved() override { a = x = Tensor(); }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& X = saved_output(x, linked);
    const Tensor gb = solve_triangular(a.mT(), g, !upper, true, unit);
    Tensor ga;
    if (needs(0)) {
      const Tensor full = -matmul(gb, X.mT());
      ga = upper ? triu(full, unit ? 1 : 0) : tril(full, unit ? -1 : 0);
    }
    return grad_list(std::move(ga), needs(1) ? gb : Tensor());
  }
};

}  // namespace

Tensor solve(const Tensor& A, const Tensor& B) {
  const char* op = "linalg::solve";
  square_size(A, op);
  require_defined_arg(B, op, "the right-hand side");
  require_floating(B, op);
  if (vector_rhs(A, B)) return solve_matrices(A, B.unsqueeze(-1), op).squeeze(-1);
  if (B.ndim() < 2)
    throw ShapeError(std::string(op) + ": B must be (..., n) or (..., n, k), got shape " +
                     shape_str(B.shape()));
  return solve_matrices(A, B, op);
}

Tensor inv(const Tensor& A) {
  const int64_t n = square_size(A, "linalg::inv");
  return solve_matrices(A, eye(n, A.dtype()), "linalg::inv");
}

std::pair<Tensor, Tensor> slogdet(const Tensor& A) {
  square_size(A, "linalg::slogdet");
  auto [sign, logabs] = sign_and_log(A, "linalg::slogdet");
  if (auto node = record<LogAbsDetBackward>(logabs, {&A})) node->a = node->save(A, "the matrix");
  return {sign, logabs};
}

Tensor det(const Tensor& A) {
  square_size(A, "linalg::det");
  auto [sign, logabs] = sign_and_log(A, "linalg::det");
  Tensor d;
  {
    const NoGradGuard unrecorded;
    d = sign * exp(logabs);
  }
  if (auto node = record<DetBackward>(d, {&A})) {
    node->a = node->save(A, "the matrix");
    node->d = node->save(d.detach(), "the output");
  }
  return d;
}

Tensor cholesky(const Tensor& A, bool upper) {
  const char* op = "linalg::cholesky";
  const int64_t n = square_size(A, op);
  const Dims batch = batch_of(A);
  Tensor l = working_copy(A, A.impl()->shape, A.dtype());
  for_each_matrix(A.dtype(), l, [&](int64_t e, auto* m) {
    if (const int64_t k = kernels::cholesky(n, m))
      throw LinAlgError(std::string(op) + ": the matrix" + batch_index(batch, e) +
                        " is not positive definite (its leading minor of order " +
                        std::to_string(k) + " is not positive)");
  });
  if (auto node = record<CholeskyBackward>(l, {&A})) node->l = node->save(l.detach(), "the output");
  return upper ? l.mT() : l;
}

Tensor solve_triangular(const Tensor& A, const Tensor& B, bool upper, bool left,
                        bool unitriangular) {
  const char* op = "linalg::solve_triangular";
  const int64_t n = square_size(A, op);
  require_defined_arg(B, op, "the right-hand side");
  require_floating(B, op);
  if (B.ndim() < 2)
    throw ShapeError(std::string(op) + ": B must be (..., n, k), got shape " +
                     shape_str(B.shape()));
  if (!left) return solve_triangular(A.mT(), B.mT(), !upper, true, unitriangular).mT();
  if (B.size(-2) != n)
    throw ShapeError(std::string(op) + ": A " + shape_str(A.shape()) + " and B " +
                     shape_str(B.shape()) + " do not match: B needs " + std::to_string(n) +
                     " rows");
  const int64_t k = B.size(-1);
  const Dims batch = broadcast_shapes_for(batch_of(A), batch_of(B), op);
  const DType dt = promote_types(A.dtype(), B.dtype());
  const Tensor a = working_copy(A, with_matrix(batch, n, n), dt);
  Tensor x = working_copy(B, with_matrix(batch, n, k), dt);
  for_each_matrix(dt, a, [&](int64_t e, auto* m) {
    using T = std::remove_pointer_t<decltype(m)>;
    kernels::triangular_solve(n, k, m, reinterpret_cast<T*>(x.impl()->data()) + e * n * k, upper,
                              unitriangular);
  });
  if (auto node = record<TriangularSolveBackward>(x, {&A, &B})) {
    node->a = node->save(A, "the matrix");
    node->x = node->save(x.detach(), "the output");
    node->upper = upper;
    node->unit = unitriangular;
  }
  return x;
}

Tensor cholesky_solve(const Tensor& B, const Tensor& L, bool upper) {
  // A = L L^T: L Y = B, then L^T X = Y (upper: A = U^T U).
  const Tensor lower = upper ? L.mT() : L;
  return solve_triangular(lower.mT(), solve_triangular(lower, B, false), true);
}

Tensor matrix_power(const Tensor& A, int64_t n) {
  // f16 and bf16: products in f32, rounded once (n < 0 needs inv: refused below, as libtorch).
  if (A.defined() && is_half(A.dtype()) && n >= 0)
    return matrix_power(A.to(DType::f32), n).to(A.dtype());
  const int64_t size = square_size(A, "linalg::matrix_power");
  if (n == 0) return eye(size, A.dtype()).broadcast_to(A.shape()).contiguous();
  Tensor base = n < 0 ? inv(A) : A, result;
  for (uint64_t e = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);;) {
    if (e & 1) result = result.defined() ? matmul(result, base) : base;
    e >>= 1;
    if (!e) break;
    base = matmul(base, base);
  }
  return result;
}

}  // namespace ndgrad::linalg
