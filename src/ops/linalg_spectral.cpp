// The decompositions of (..., m, n) matrices: qr, eigh, svd and what is built on them (eigvalsh,
// svdvals, lstsq, pinv, matrix_norm). A decomposition writes all its results into one packed
// tensor per batch element, (..., total); each result is a view of it, and the packed tensor's
// node gets the gradients of all of them at once (zero for the ones not used), so one rule sees
// every upstream gradient, as the formulas need. The rules read the saved results linked back
// to the node (saved_output), so they differentiate again.
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
#include "ops/strict.hpp"

namespace ndgrad::linalg {

using namespace detail;

namespace {

// At least a matrix, f32 or f64.
void require_matrices(const Tensor& A, const char* op) {
  require_defined_arg(A, op, "the matrix");
  require_floating(A, op);
  if (A.ndim() < 2)
    throw ShapeError(std::string(op) + ": expected matrices (..., m, n), got shape " +
                     shape_str(A.shape()));
}

Shape shape_of(const Dims& batch, std::initializer_list<int64_t> tail) {
  Shape s(batch.begin(), batch.end());
  s.insert(s.end(), tail);
  return s;
}

// The parts of packed p (..., total) at offset: a (rows x cols) matrix, a vector.
Tensor part(const Tensor& p, const Dims& batch, int64_t offset, int64_t rows, int64_t cols) {
  return p.narrow(-1, offset, rows * cols).reshape(shape_of(batch, {rows, cols}));
}
Tensor part(const Tensor& p, int64_t offset, int64_t size) { return p.narrow(-1, offset, size); }

// A packed result for count matrices: the kernel's typed base pointer and the batch's shape.
struct Packed {
  Tensor p;
  Dims batch;
  int64_t total;
};
Packed make_packed(const Dims& batch, int64_t total, DType dt, const char* op) {
  Dims shape = batch;
  shape.push_back(total);
  checked_numel(shape, op);
  return {make_tensor(shape, dt, op), batch, total};
}

template <class T>
T* typed(const Tensor& t) {
  return reinterpret_cast<T*>(t.impl()->data());
}

// where(x == 0, 1, x): a divisor that is never zero, for the entries the rules then zero out.
Tensor nonzero_divisor(const Tensor& x) { return where(x == 0.0, 1.0, x); }

// The matrix with v (..., n) on its diagonal.
Tensor diag_matrix(const Tensor& v) { return eye(v.size(-1), v.dtype()) * v.unsqueeze(-2); }

[[noreturn]] void not_converged(const char* op, const Dims& batch, kernels::Failure f) {
  if (f.info == kernels::kNonFinite)
    throw LinAlgError(std::string(op) + ": the matrix" + batch_index(batch, f.element) +
                      " has non-finite entries (NaN or infinity)");
  throw LinAlgError(std::string(op) + ": the iteration for the matrix" +
                    batch_index(batch, f.element) + " did not converge (info " +
                    std::to_string(f.info) + ")");
}

// ---- QR ----

// gA for A = Q R, m >= n (Q m x n, R n x n, invertible): (gQ + Q copyltu(M)) R^-T with
// M = R gR^T - gQ^T Q, copyltu making a symmetric matrix of M's lower triangle.
Tensor qr_grad_tall(const Tensor& Q, const Tensor& R, const Tensor& gQ, const Tensor& gR) {
  const Tensor M = matmul(R, gR.mT()) - matmul(gQ.mT(), Q);
  const Tensor sym = tril(M) + tril(M, -1).mT();
  return solve_triangular(R.mT(), gQ + matmul(Q, sym), /*upper=*/false, /*left=*/false);
}

struct QrBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_qr")
  Tensor p;
  Dims batch;
  int64_t m = 0, n = 0;
  bool complete = false;
  void release_saved() override { p = Tensor(); }
  GradList backward(const Tensor& g) override {
    const int64_t k = std::min(m, n), qc = complete ? m : k, rr = complete ? m : k;
    if (complete && m > n)
      throw AutogradError(
          "linalg_qr backward: mode \"complete\" with more rows than columns is not "
          "differentiable (the last m - n columns of Q are not determined by A); use "
          "mode \"reduced\"");
    Tensor linked;
    const Tensor& P = saved_output(p, linked);
    const Tensor Q = part(P, batch, 0, m, qc), R = part(P, batch, m * qc, rr, n);
    const Tensor gQ = part(g, batch, 0, m, qc), gR = part(g, batch, m * qc, rr, n);
    if (m >= n) return grad_list(qr_grad_tall(Q, R, gQ, gR));
    // A = [X | Y], R = [U | V]: X = Q U is a square QR, Y = Q V.
    const Tensor U = R.narrow(-1, 0, m), V = R.narrow(-1, m, n - m);
    const Tensor gU = gR.narrow(-1, 0, m), gV = gR.narrow(-1, m, n - m);
    const Tensor Y = matmul(Q, V);
    const Tensor gX = qr_grad_tall(Q, U, gQ + matmul(Y, gV.mT()), gU);
    return grad_list(cat({gX, matmul(Q, gV)}, -1));
  }
};

// ---- eigh ----

struct EighBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_eigh")
  Tensor p;
  Dims batch;
  int64_t n = 0;
  void release_saved() override { p = Tensor(); }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& P = saved_output(p, linked);
    const Tensor w = part(P, 0, n), V = part(P, batch, n, n, n);
    const Tensor gw = part(g, 0, n), gV = part(g, batch, n, n, n);
    // gA = V (diag(gw) + skew(V^T gV) / 2 / E) V^T, E_ij = w_j - w_i, zero where E is (the
    // diagonal; repeated eigenvalues, whose eigenvectors' gradient is not defined).
    const Tensor E = w.unsqueeze(-2) - w.unsqueeze(-1);
    const Tensor VtgV = matmul(V.mT(), gV);
    const Tensor skew = 0.5 * (VtgV - VtgV.mT());
    const Tensor inner = where(E == 0.0, 0.0, skew / nonzero_divisor(E)) + diag_matrix(gw);
    return grad_list(matmul(matmul(V, inner), V.mT()));
  }
};

// ---- SVD ----

struct SvdBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_svd")
  Tensor p;
  Dims batch;
  int64_t m = 0, n = 0;
  bool full = false;
  void release_saved() override { p = Tensor(); }
  GradList backward(const Tensor& g) override {
    const int64_t k = std::min(m, n), uc = full ? m : k, vr = full ? n : k;
    Tensor linked;
    const Tensor& P = saved_output(p, linked);
    // The columns of U (rows of Vh) past k are not determined by A: they get no gradient.
    const Tensor U = part(P, batch, 0, m, uc).narrow(-1, 0, k);
    const Tensor S = part(P, m * uc, k);
    const Tensor Vh = part(P, batch, m * uc + k, vr, n).narrow(-2, 0, k);
    const Tensor gU = part(g, batch, 0, m, uc).narrow(-1, 0, k);
    const Tensor gS = part(g, m * uc, k);
    const Tensor gVh = part(g, batch, m * uc + k, vr, n).narrow(-2, 0, k);
    return grad_list(svd_grad(U, S, Vh, gU, gS, gVh, m, n));
  }
  // PyTorch's svd_backward for real matrices: gA = U [(skew(U^T gU) / E) S + S (skew(V^T gV) /
  // E) + diag(gS)] Vh, E_jk = S_k^2 - S_j^2, plus (I - U U^T) gU S^-1 Vh when m > k, or U S^-1
  // gVh (I - V Vh) when n > k. The entries where E (or S) is zero are zeroed instead of divided.
  static Tensor svd_grad(const Tensor& U, const Tensor& S, const Tensor& Vh, const Tensor& gU,
                         const Tensor& gS, const Tensor& gVh, int64_t m, int64_t n) {
    const int64_t k = std::min(m, n);
    const Tensor S2 = S * S;
    const Tensor E = S2.unsqueeze(-2) - S2.unsqueeze(-1);
    const Tensor UtgU = matmul(U.mT(), gU), VhgV = matmul(Vh, gVh.mT());
    const Tensor num = (UtgU - UtgU.mT()) * S.unsqueeze(-2) + S.unsqueeze(-1) * (VhgV - VhgV.mT());
    const Tensor inner = where(E == 0.0, 0.0, num / nonzero_divisor(E)) + diag_matrix(gS);
    const Tensor Sinv = where(S == 0.0, 0.0, 1.0 / nonzero_divisor(S));
    if (m > k) {
      const Tensor gUSinv = gU * Sinv.unsqueeze(-2);
      const Tensor left = matmul(U, inner) + gUSinv - matmul(U, matmul(U.mT(), gUSinv));
      return matmul(left, Vh);
    }
    if (n > k) {
      const Tensor SinvgVh = Sinv.unsqueeze(-1) * gVh;
      const Tensor right = matmul(inner, Vh) + SinvgVh - matmul(matmul(SinvgVh, Vh.mT()), Vh);
      return matmul(U, right);
    }
    return matmul(U, matmul(inner, Vh));
  }
};

// The packed SVD (U, S, Vh) of A, recorded when A takes part in autograd; want_uv false (and
// nothing recorded): S only.
struct SvdParts {
  Tensor U, S, Vh;
};
SvdParts svd_parts(const Tensor& A, bool full, bool want_uv, const char* op) {
  require_matrices(A, op);
  const int64_t m = A.size(-2), n = A.size(-1), k = std::min(m, n);
  const int64_t uc = full ? m : k, vr = full ? n : k;
  want_uv = want_uv || (is_grad_enabled() && records_grad(A));
  const Dims batch = batch_of(A);
  const DType dt = A.dtype();
  const int64_t total = want_uv ? m * uc + k + vr * n : k;
  Packed pk = make_packed(batch, total, dt, op);
  Tensor a = working_copy(A, A.impl()->shape, dt);
  const int64_t count = numel_of(batch);
  kernels::Failure f;
  const int64_t s_at = want_uv ? m * uc : 0, v_at = want_uv ? m * uc + k : 0;
  if (pk.p.numel() == 0) {
    // nothing to compute (an empty batch or matrix): no pointer arithmetic on null data
  } else if (dt == DType::f64) {
    double* base = typed<double>(pk.p);
    f = kernels::svd(count, m, n, typed<double>(a), base, base + s_at, base + v_at, total, full,
                     want_uv);
  } else {
    float* base = typed<float>(pk.p);
    f = kernels::svd(count, m, n, typed<float>(a), base, base + s_at, base + v_at, total, full,
                     want_uv);
  }
  if (f.element >= 0) not_converged(op, batch, f);
  if (!want_uv) return {Tensor(), pk.p, Tensor()};
  if (auto node = record<SvdBackward>(pk.p, {&A})) {
    node->p = node->save(pk.p.detach(), "the output");
    node->batch = batch;
    node->m = m;
    node->n = n;
    node->full = full;
  }
  return {part(pk.p, batch, 0, m, uc), part(pk.p, s_at, k), part(pk.p, batch, v_at, vr, n)};
}

// The packed eigh (w, V) of A, recorded when A takes part in autograd; want_v false (and
// nothing recorded): w only.
std::pair<Tensor, Tensor> eigh_parts(const Tensor& A, const std::string& uplo, bool want_v,
                                     const char* op) {
  const int64_t n = square_size(A, op);
  if (uplo != "L" && uplo != "U")
    throw ValueError(std::string(op) + ": uplo must be \"L\" or \"U\", got \"" + uplo + "\"");
  want_v = want_v || (is_grad_enabled() && records_grad(A));
  const Dims batch = batch_of(A);
  const DType dt = A.dtype();
  const int64_t total = want_v ? n + n * n : n;
  Packed pk = make_packed(batch, total, dt, op);
  Tensor a = working_copy(A, A.impl()->shape, dt);
  const int64_t count = numel_of(batch);
  kernels::Failure f;
  if (pk.p.numel() == 0) {
    // nothing to compute (an empty batch or matrix): no pointer arithmetic on null data
  } else if (dt == DType::f64) {
    double* base = typed<double>(pk.p);
    f = kernels::eigh(count, n, typed<double>(a), base, base + (want_v ? n : 0), total, uplo == "L",
                      want_v);
  } else {
    float* base = typed<float>(pk.p);
    f = kernels::eigh(count, n, typed<float>(a), base, base + (want_v ? n : 0), total, uplo == "L",
                      want_v);
  }
  if (f.element >= 0) not_converged(op, batch, f);
  if (!want_v) return {pk.p, Tensor()};
  if (auto node = record<EighBackward>(pk.p, {&A})) {
    node->p = node->save(pk.p.detach(), "the output");
    node->batch = batch;
    node->n = n;
  }
  return {part(pk.p, 0, n), part(pk.p, batch, n, n, n)};
}

// ---- pinv ----

// PyTorch's pinv_backward (for A of constant rank), with these ops.
struct PinvBackward : SavingNode {
  NDGRAD_OP_NAME("linalg_pinv")
  Tensor a, x;
  void release_saved() override { a = x = Tensor(); }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& X = saved_output(x, linked);
    const Tensor Xt = X.mT(), gt = g.mT();
    const int64_t m = a.size(-2), n = a.size(-1);
    if (m <= n) {
      const Tensor K = matmul(gt, X);
      const Tensor KXt = matmul(K, Xt);
      return grad_list(-matmul(X, K).mT() + KXt - matmul(matmul(a, X), KXt) +
                       matmul(matmul(Xt, X), gt - matmul(K, a)));
    }
    const Tensor K = matmul(X, gt);
    const Tensor XtK = matmul(Xt, K);
    return grad_list(-matmul(K, X).mT() + matmul(matmul(gt - matmul(a, K), X), Xt) + XtK -
                     matmul(matmul(XtK, X), a));
  }
};

// Whether the diagonal of each R (..., k, k') is clear of zero: the first element of the batch
// with |R_ii| <= tol max |R_ii|, or -1.
int64_t rank_deficient(const Tensor& R, int64_t rows_cols) {
  const Tensor d = abs(R.detach().diagonal(0, -2, -1)).contiguous();
  const std::vector<double> v = d.to_vector();
  const int64_t k = d.size(-1);
  if (k == 0) return -1;
  const double eps = R.dtype() == DType::f64 ? std::numeric_limits<double>::epsilon()
                                             : double(std::numeric_limits<float>::epsilon());
  for (size_t e = 0; e * k < v.size(); ++e) {
    double mx = 0;
    for (int64_t i = 0; i < k; ++i) mx = std::max(mx, v[e * k + i]);
    for (int64_t i = 0; i < k; ++i)
      if (!(v[e * k + i] > eps * double(rows_cols) * mx)) return static_cast<int64_t>(e);
  }
  return -1;
}

// The normalized pair of axes of a matrix norm.
std::pair<int64_t, int64_t> norm_axes(const Tensor& A, const std::vector<int64_t>& dims,
                                      const char* op) {
  require_defined_arg(A, op, "the matrix");
  if (!is_half(A.dtype())) require_floating(A, op);  // (f16, bf16: the SVD's norms refuse them)
  if (dims.size() != 2)
    throw ValueError(std::string(op) + ": dims must name 2 axes, got " +
                     std::to_string(dims.size()));
  const int64_t nd = A.ndim();
  if (nd < 2)
    throw ShapeError(std::string(op) + ": expected at least 2 dimensions, got shape " +
                     shape_str(A.shape()));
  int64_t d[2];
  for (int i = 0; i < 2; ++i) {
    if (dims[i] < -nd || dims[i] >= nd)
      throw AxisError(std::string(op) + ": axis " + std::to_string(dims[i]) +
                      " is out of range for " + std::to_string(nd) + " dimensions");
    d[i] = dims[i] < 0 ? dims[i] + nd : dims[i];
  }
  if (d[0] == d[1])
    throw ValueError(std::string(op) + ": dims name axis " + std::to_string(d[0]) + " twice");
  return {d[0], d[1]};
}

// A with axes d0, d1 moved last (in that order).
Tensor matrices_last(const Tensor& A, int64_t d0, int64_t d1) {
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < A.ndim(); ++i)
    if (i != d0 && i != d1) perm.push_back(i);
  perm.push_back(d0);
  perm.push_back(d1);
  return A.permute(perm);
}

// r (the reduced tensor without d0, d1) with both axes back as size 1.
Tensor keep_axes(Tensor r, int64_t d0, int64_t d1) {
  r = r.unsqueeze(std::min(d0, d1));
  return r.unsqueeze(std::max(d0, d1));
}

}  // namespace

std::pair<Tensor, Tensor> qr(const Tensor& A, const std::string& mode) {
  const char* op = "linalg::qr";
  require_matrices(A, op);
  if (mode != "reduced" && mode != "complete" && mode != "r")
    throw ValueError(std::string(op) + ": mode must be \"reduced\", \"complete\" or \"r\", got \"" +
                     mode + "\"");
  const int64_t m = A.size(-2), n = A.size(-1), k = std::min(m, n);
  const bool complete = mode == "complete", records = is_grad_enabled() && records_grad(A);
  // Mode "r" computes Q too when a gradient needs it.
  const bool want_q = mode != "r" || records;
  const int64_t qc = complete ? m : k, rr = complete ? m : k;
  const Dims batch = batch_of(A);
  const DType dt = A.dtype();
  const int64_t r_at = want_q ? m * qc : 0, total = r_at + rr * n;
  Packed pk = make_packed(batch, total, dt, op);
  Tensor a = working_copy(A, A.impl()->shape, dt);
  const int64_t count = numel_of(batch);
  if (pk.p.numel() == 0) {
    // nothing to compute (an empty batch or matrix): no pointer arithmetic on null data
  } else if (dt == DType::f64) {
    double* base = typed<double>(pk.p);
    kernels::qr(count, m, n, typed<double>(a), base, base + r_at, total, complete, want_q);
  } else {
    float* base = typed<float>(pk.p);
    kernels::qr(count, m, n, typed<float>(a), base, base + r_at, total, complete, want_q);
  }
  if (auto node = record<QrBackward>(pk.p, {&A})) {
    node->p = node->save(pk.p.detach(), "the output");
    node->batch = batch;
    node->m = m;
    node->n = n;
    node->complete = complete;
  }
  const Tensor R = part(pk.p, batch, r_at, rr, n);
  if (mode == "r") return {empty({0}, dt), R};
  return {part(pk.p, batch, 0, m, qc), R};
}

std::pair<Tensor, Tensor> eigh(const Tensor& A, const std::string& uplo) {
  return eigh_parts(A, uplo, true, "linalg::eigh");
}

Tensor eigvalsh(const Tensor& A, const std::string& uplo) {
  return eigh_parts(A, uplo, false, "linalg::eigvalsh").first;
}

std::tuple<Tensor, Tensor, Tensor> svd(const Tensor& A, bool full_matrices) {
  SvdParts s = svd_parts(A, full_matrices, true, "linalg::svd");
  return {s.U, s.S, s.Vh};
}

Tensor svdvals(const Tensor& A) { return svd_parts(A, false, false, "linalg::svdvals").S; }

Tensor pinv(const Tensor& A, std::optional<double> rtol) {
  const char* op = "linalg::pinv";
  require_matrices(A, op);
  const int64_t m = A.size(-2), n = A.size(-1);
  const double eps = A.dtype() == DType::f64 ? std::numeric_limits<double>::epsilon()
                                             : double(std::numeric_limits<float>::epsilon());
  const double tol = rtol ? *rtol : eps * double(std::max(m, n));
  if (!(tol >= 0)) throw ValueError(std::string(op) + ": rtol must be >= 0");
  Tensor x;
  {
    const NoGradGuard unrecorded;
    const StrictExemptScope exempt;  // S against its row's cutoff, Vh^T scaled by 1/S: by design
    const SvdParts s = svd_parts(A, false, true, op);
    if (std::min(m, n) == 0) {
      x = zeros(shape_of(batch_of(A), {n, m}), A.dtype());
    } else {
      const Tensor cutoff = s.S.max({-1}, true) * tol;
      const Tensor inv_s = where(s.S > cutoff, 1.0 / nonzero_divisor(s.S), 0.0);
      x = matmul(s.Vh.mT() * inv_s.unsqueeze(-2), s.U.mT());
    }
  }
  if (auto node = record<PinvBackward>(x, {&A})) {
    node->a = node->save(A, "the matrix");
    node->x = node->save(x.detach(), "the output");
  }
  return x;
}

Tensor lstsq(const Tensor& A, const Tensor& B) {
  const char* op = "linalg::lstsq";
  require_matrices(A, op);
  require_defined_arg(B, op, "the right-hand side");
  require_floating(B, op);
  const int64_t m = A.size(-2), n = A.size(-1);
  const Shape as = A.shape();
  const bool vectors =
      B.ndim() == 1 || (B.ndim() == A.ndim() - 1 && Shape(as.begin(), as.end() - 1) == B.shape());
  if (!vectors && B.ndim() < 2)
    throw ShapeError(std::string(op) + ": B must be (..., m) or (..., m, k), got shape " +
                     shape_str(B.shape()));
  const Tensor b = vectors ? B.unsqueeze(-1) : B;
  if (b.size(-2) != m)
    throw ShapeError(std::string(op) + ": A " + shape_str(A.shape()) + " and B " +
                     shape_str(B.shape()) + " do not match: B needs " + std::to_string(m) +
                     " rows");
  broadcast_shapes_for(batch_of(A), batch_of(b), op);
  const DType dt = promote_types(A.dtype(), B.dtype());
  const Tensor a = A.dtype() == dt ? A : A.to(dt);
  // m >= n: A = Q R, X = R^-1 Q^T B. m < n: A^T = Q R, X = Q R^-T B (the minimum norm).
  const auto [Q, R] = qr(m >= n ? a : a.mT(), "reduced");
  if (const int64_t e = rank_deficient(R, std::max(m, n)); e >= 0)
    throw LinAlgError(std::string(op) + ": the matrix" + batch_index(batch_of(A), e) +
                      " does not have full rank " + std::to_string(std::min(m, n)) +
                      " (use pinv(A) for the minimum-norm least-squares solution)");
  const Tensor x = m >= n ? solve_triangular(R, matmul(Q.mT(), b), /*upper=*/true)
                          : matmul(Q, solve_triangular(R.mT(), b, /*upper=*/false));
  return vectors ? x.squeeze(-1) : x;
}

Tensor matrix_norm(const Tensor& A, const std::string& ord, const std::vector<int64_t>& dims,
                   bool keepdim) {
  const char* op = "linalg::matrix_norm";
  const auto [d0, d1] = norm_axes(A, dims, op);
  if (ord == "fro") return norm(A, "fro", {d0, d1}, keepdim);
  if (ord != "nuc")
    throw ValueError(std::string(op) +
                     ": ord must be \"fro\", \"nuc\", 2, -2, 1, -1, inf or -inf, "
                     "got \"" +
                     ord + "\"");
  require_floating(A, op);  // (through the SVD: not f16 or bf16, as libtorch)
  const Tensor r = svdvals(matrices_last(A, d0, d1)).sum({-1});
  return keepdim ? keep_axes(r, d0, d1) : r;
}

Tensor matrix_norm(const Tensor& A, double ord, const std::vector<int64_t>& dims, bool keepdim) {
  const char* op = "linalg::matrix_norm";
  const auto [d0, d1] = norm_axes(A, dims, op);
  const double inf = std::numeric_limits<double>::infinity();
  Tensor r;
  if (ord == 2 || ord == -2) {
    require_floating(A, op);  // (through the SVD: not f16 or bf16, as libtorch)
    const Tensor s = svdvals(matrices_last(A, d0, d1));
    r = ord > 0 ? s.max({-1}) : s.min({-1});
    return keepdim ? keep_axes(r, d0, d1) : r;
  }
  if (ord == 1 || ord == -1 || ord == inf || ord == -inf) {
    // 1: the largest sum over d0 (a column sum); inf: the largest sum over d1 (a row sum).
    const bool columns = ord == 1 || ord == -1;
    const Tensor sums = abs(A).sum({columns ? d0 : d1}, true);
    const std::vector<int64_t> other = {columns ? d1 : d0};
    r = ord > 0 ? sums.max(other, true) : sums.min(other, true);
    if (keepdim) return r;
    return r.squeeze(std::max(d0, d1)).squeeze(std::min(d0, d1));
  }
  throw ValueError(std::string(op) + ": ord must be \"fro\", \"nuc\", 2, -2, 1, -1, inf or -inf, " +
                   "got " + std::to_string(ord));
}

}  // namespace ndgrad::linalg
