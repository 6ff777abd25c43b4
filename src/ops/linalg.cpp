// matmul with numpy.matmul semantics: 1-D operands are promoted (and the added axis removed
// afterwards), batch dims broadcast. The core op works on >= 2-D operands.
#include "ops/ops_common.hpp"
#include "ops/strict.hpp"

namespace ndgrad {

namespace {

struct MatmulBackward : SavingNode {
  NDGRAD_OP_NAME("matmul")
  int broadcast_core_dims() const override { return 2; }
  Tensor a, b;
  void release_saved() override { a = b = Tensor(); }
  GradList backward(const Tensor& g) override {
    // Batch dims of these results are the broadcast ones; the engine sums them away.
    return grad_list(needs(0) ? matmul(g, b.mT()) : Tensor(),
                     needs(1) ? matmul(a.mT(), g) : Tensor());
  }
};

// A view of t as (batch..., rows, cols) that BLAS can take, copying only when it must.
Tensor gemm_ready(const Tensor& t, const Dims& full) {
  Tensor v = raw_broadcast(t, full);
  const auto& s = v.impl()->strides;
  const size_t n = full.size();
  if (kernels::gemm_compatible(full[n - 2], full[n - 1], s[n - 2], s[n - 1])) return v;
  return raw_contiguous(v);
}

// site: the return address in the user's code, for strict broadcasting's message.
Tensor matmul_nd(const Tensor& a, const Tensor& b, const void* site) {
  const Dims& as = a.impl()->shape;
  const Dims& bs = b.impl()->shape;
  const int64_t n = as[as.size() - 2], k = as.back(), k2 = bs[bs.size() - 2], m = bs.back();
  if (k != k2)
    throw ShapeError("matmul: shapes " + shape_str(as) + " and " + shape_str(bs) +
                     " are not aligned: the inner dimensions differ (" + std::to_string(k) +
                     " != " + std::to_string(k2) + ")");
  const Dims a_batch(as.data(), as.size() - 2), b_batch(bs.data(), bs.size() - 2);
  Dims batch = broadcast_shapes_for(a_batch, b_batch, "matmul");
  // A plain matrix meets a batch as a 0-d value meets any shape: always allowed.
  check_strict_broadcast("matmul (batch dims)", a_batch, b_batch, batch, site);
  auto with_matrix = [&batch](int64_t rows, int64_t cols) {
    Dims d = batch;
    d.push_back(rows);
    d.push_back(cols);
    return d;
  };
  const Dims out_shape = with_matrix(n, m), a_full = with_matrix(n, k), b_full = with_matrix(k, m);
  checked_numel(out_shape, "matmul");
  const DType dt = promote_types(a.dtype(), b.dtype());
  Tensor a_cast, b_cast;
  const Tensor av = gemm_ready(in_dtype(a, dt, a_cast), a_full);
  const Tensor bv = gemm_ready(in_dtype(b, dt, b_cast), b_full);
  Tensor out = make_tensor(out_shape, dt, "matmul");
  kernels::batched_matmul(dt, batch, n, k, m, {out.impl()->data(), out.impl()->strides.data(), dt},
                          {av.impl()->data(), av.impl()->strides.data(), dt},
                          {bv.impl()->data(), bv.impl()->strides.data(), dt});
  if (auto node = record<MatmulBackward>(out, {&a, &b})) {
    // Only what the rule will read: a for b's gradient, b for a's.
    if (node->needs(1)) node->a = node->save(a, "the first operand");
    if (node->needs(0)) node->b = node->save(b, "the second operand");
  }
  return out;
}

Tensor matmul_at(const Tensor& a, const Tensor& b, const void* site) {
  require_defined_arg(a, "matmul", "the first operand");
  require_defined_arg(b, "matmul", "the second operand");
  for (const Tensor* t : {&a, &b}) {
    if (t->ndim() == 0)
      throw ValueError("matmul: operand " + std::to_string(t == &a ? 0 : 1) +
                       " is 0-d; matmul needs at least 1 dimension (use * for scalars)");
    if (t->dtype() == DType::boolean)
      throw DTypeError("matmul is not defined for bool tensors; convert with .to()");
  }
  if (const DType dt = promote_types(a.dtype(), b.dtype()); is_storage_only(dt)) {
    const DType cd = compute_dtype(dt);  // (sums of products rounded back once)
    return matmul_at(a.to(cd), b.to(cd), site).to(dt);
  }
  const Tensor a2 = a.ndim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.ndim() == 1 ? b.unsqueeze(1) : b;
  if (a2.size(-1) != b2.size(-2))
    throw ShapeError("matmul: shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) +
                     " are not aligned: the inner dimensions differ (" +
                     std::to_string(a2.size(-1)) + " != " + std::to_string(b2.size(-2)) + ")");
  Tensor out = matmul_nd(a2, b2, site);
  if (b.ndim() == 1) out = out.squeeze(-1);
  if (a.ndim() == 1) out = out.squeeze(-2 + (b.ndim() == 1 ? 1 : 0));
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  return matmul_at(a, b, __builtin_return_address(0));
}

Tensor Tensor::matmul(const Tensor& other) const {
  return matmul_at(*this, other, __builtin_return_address(0));
}

}  // namespace ndgrad
