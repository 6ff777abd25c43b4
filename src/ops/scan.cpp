// Scans along one axis (cumsum, cumprod, logcumsumexp, cummax, cummin), diff, and sorting and
// selection (sort, argsort, topk, kthvalue, median along an axis). The scans with a value of
// their own have nodes whose derivatives are written with differentiable ops (PyTorch's
// formulas); the selections compute i64 indices in a kernel and take their values with
// take_along_axis, whose gradient scatters g back to the indices' elements (differentiable
// again).
#include <cfloat>
#include <cmath>
#include <type_traits>

#include "ops/ops_common.hpp"
#include "ops/strict.hpp"

namespace ndgrad {

namespace {

// t as the contiguous (outer, n, inner) block around axis a.
struct Block {
  Tensor x;
  int64_t outer = 1, n = 1, inner = 1;
};
Block block_of(const Tensor& t, int64_t a) {
  Block b;
  b.x = raw_contiguous(t);
  const Dims& shape = t.impl()->shape;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < a) b.outer *= shape[d];
    if (d == a) b.n = shape[d];
    if (d > a) b.inner *= shape[d];
  }
  return b;
}

// The axis, normalized, for an op along one axis; a 0-d t counts as 1-d (axis 0 or -1).
int64_t axis_of(const Tensor& t, int64_t axis, const char* name) {
  return normalize_axis(axis, std::max<int64_t>(t.ndim(), 1), name);
}

// The scan's values (and, for max/min, indices) in a fresh tensor of t's shape and dtype.
Tensor raw_scan(kernels::ScanOp op, const Tensor& t, int64_t a, const char* name,
                Tensor* indices = nullptr) {
  const Block b = block_of(t, a);
  Tensor out = make_tensor(t.impl()->shape, t.dtype(), name);
  if (indices) *indices = make_tensor(t.impl()->shape, DType::i64, name);
  kernels::scan(op, t.dtype(), b.outer, b.n, b.inner, b.x.impl()->read_data(), out.impl()->data(),
                indices ? reinterpret_cast<int64_t*>(indices->impl()->data()) : nullptr);
  return out;
}

// The sum of g from each position to the end of the axis.
Tensor reversed_cumsum(const Tensor& g, int64_t a) { return flip(cumsum(flip(g, {a}), a), {a}); }

struct CumsumNode final : Node {
  NDGRAD_OP_NAME("cumsum")
  int64_t axis = 0;
  GradList backward(const Tensor& g) override { return grad_list(reversed_cumsum(g, axis)); }
};

// A scan whose rule reads its input and its output (recorded_scan saves both).
struct ScanNode : SavingNode {
  int64_t axis = 0;
  Tensor x, y;
  void release_saved() override { x = y = Tensor(); }
};

Tensor linear_recurrence(const Tensor& a, const Tensor& b, int64_t axis);

// t's positions along axis moved one on, `first` (a 1-wide slice) in front, the last dropped.
Tensor shifted(const Tensor& t, int64_t axis, const Tensor& first) {
  const int64_t n = t.size(axis);
  return cat({first, t.narrow(axis, 0, n - 1)}, axis);
}

// lambda_k = g_k + c_(k+1) lambda_(k+1) along axis (lambda_(n-1) = g_(n-1)): the recurrence run
// from the end, as a forward one over the flipped axis.
Tensor reversed_recurrence(const Tensor& c, const Tensor& g, int64_t axis) {
  const int64_t n = g.size(axis);
  if (n == 0) return g;
  const Tensor next = cat({c.narrow(axis, 1, n - 1), zeros_like(c.narrow(axis, 0, 1))}, axis);
  return flip(linear_recurrence(flip(next, {axis}), flip(g, {axis}), axis), {axis});
}

// y = linear_recurrence(a, b): with lambda = reversed_recurrence(a, g), b gets lambda and a_k
// gets lambda_k y_(k-1) (0 for a's first position, which is not read). Written with the
// recurrence itself, so every order is O(n) and needs no division.
struct LinearRecurrenceNode final : SavingNode {
  NDGRAD_OP_NAME("linear_recurrence")
  int64_t axis = 0;
  Tensor a, y;
  void release_saved() override { a = y = Tensor(); }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& out = saved_output(y, linked);
    const Tensor lambda = reversed_recurrence(a, g, axis);
    GradList grads;
    grads.emplace_back(needs(0) && g.size(axis) > 0
                           ? lambda * shifted(out, axis, zeros_like(out.narrow(axis, 0, 1)))
                           : Tensor());
    grads.emplace_back(needs(1) ? lambda : Tensor());
    return grads;
  }
};

// y_k = a_k y_(k-1) + b_k along axis (normalized), a and b floating of one shape.
Tensor linear_recurrence(const Tensor& a, const Tensor& b, int64_t axis) {
  const Block ba = block_of(a, axis), bb = block_of(b, axis);
  Tensor out = make_tensor(b.impl()->shape, b.dtype(), "linear_recurrence");
  kernels::linear_recurrence(b.dtype(), bb.outer, bb.n, bb.inner, ba.x.impl()->read_data(),
                             bb.x.impl()->read_data(), out.impl()->data());
  if (auto node = record<LinearRecurrenceNode>(out, {&a, &b})) {
    node->axis = axis;
    node->a = node->save(a, "the coefficients");
    node->y = node->save(out.detach(), "the output");
  }
  return out;
}

// d cumprod / dx_i = sum over k >= i of g_k prod_(j <= k, j != i) x_j = L_i H_i, with L the
// exclusive cumprod (the product before i) and H_i = sum over k >= i of g_k prod_(i < j <= k) x_j,
// that is H_i = g_i + x_(i+1) H_(i+1): a linear recurrence from the end. No division, so zeros
// need no case of their own, and one formula serves every order in O(n).
struct CumprodNode final : ScanNode {
  NDGRAD_OP_NAME("cumprod")
  GradList backward(const Tensor& g) override {
    const int64_t a = axis;
    if (x.size(a) == 0) return grad_list(g);
    const Tensor before = cumprod(shifted(x, a, ones_like(x.narrow(a, 0, 1))), a);
    return grad_list(before * reversed_recurrence(x, g, a));
  }
};

// log(sum over k >= i of e^(l_k)) along the axis.
Tensor reversed_logcumsumexp(const Tensor& l, int64_t a) {
  return flip(logcumsumexp(flip(l, {a}), a), {a});
}

// d y_k / dx_i = e^(x_i - y_k) for i <= k: the gradient is sum over k >= i of g_k e^(x_i - y_k),
// summed in log space separately over the positive and the negative g_k (PyTorch's).
struct LogcumsumexpNode final : ScanNode {
  NDGRAD_OP_NAME("logcumsumexp")
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& out = saved_output(y, linked);
    const double lowest = g.dtype() == DType::f32 ? -FLT_MAX : -DBL_MAX;
    const Tensor pos = g > 0.0, neg = g < 0.0;
    const Tensor log_pos = where(pos, log(where(pos, g, 1.0)), lowest);
    const Tensor log_neg = where(neg, log(where(neg, -g, 1.0)), lowest);
    return grad_list(exp(reversed_logcumsumexp(log_pos - out, axis) + x) -
                     exp(reversed_logcumsumexp(log_neg - out, axis) + x));
  }
};

// The stable sort order of t along a (normalized), i64 in t's shape; only its first `first`
// positions when first >= 0, and those in no particular order unless ordered
// (kernels::argsort).
Tensor raw_argsort(const Tensor& t, int64_t a, bool descending, const char* name,
                   int64_t first = -1, bool ordered = true) {
  if (is_storage_only(t.dtype()))  // the conversion keeps the order
    return raw_argsort(raw_cast(t, compute_dtype(t.dtype()), name), a, descending, name, first,
                       ordered);
  const Block b = block_of(t, a);
  Tensor out = make_tensor(t.impl()->shape, DType::i64, name);
  kernels::argsort(t.dtype(), b.outer, b.n, b.inner, b.x.impl()->read_data(),
                   reinterpret_cast<int64_t*>(out.impl()->data()), descending, first, ordered);
  return out;
}

// A 0-d t as 1-d, so that the ops along an axis see one.
Tensor at_least_1d(const Tensor& t) { return t.ndim() == 0 ? t.reshape({1}) : t; }

// The result for a 0-d input: back to 0-d.
Tensor like_input(const Tensor& r, const Tensor& t) { return t.ndim() == 0 ? r.reshape({}) : r; }

std::string along(const Tensor& t, int64_t axis) {
  return " along axis " + std::to_string(axis) + " of shape " + shape_str(t.impl()->shape);
}

// A scan along axis with its node N, which also saves the input and the output when it reads
// them (a SavingNode).
template <class N>
Tensor recorded_scan(kernels::ScanOp op, const Tensor& t, int64_t axis, const char* name) {
  const int64_t a = axis_of(t, axis, name);
  if (t.ndim() == 0) return recorded_scan<N>(op, t.reshape({1}), a, name).reshape({});
  Tensor out = raw_scan(op, t, a, name);
  if (auto node = record<N>(out, {&t})) {
    node->axis = a;
    if constexpr (std::is_base_of_v<SavingNode, N>) {
      node->x = node->save(t, "the input");
      node->y = node->save(out.detach(), "the output");
    }
  }
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& t, int64_t axis) {
  require_defined_arg(t, "cumsum");
  if (t.dtype() == DType::boolean) return cumsum(t.to(DType::i64), axis);
  if (is_storage_only(t.dtype()))  // small integers give i64, as bool; f16 and bf16 keep theirs
    return is_floating(t.dtype()) ? cumsum(t.to(DType::f32), axis).to(t.dtype())
                                  : cumsum(t.to(DType::i64), axis);
  return recorded_scan<CumsumNode>(kernels::ScanOp::sum, t, axis, "cumsum");
}

Tensor cumprod(const Tensor& t, int64_t axis) {
  require_defined_arg(t, "cumprod");
  if (t.dtype() == DType::boolean) return cumprod(t.to(DType::i64), axis);
  if (is_storage_only(t.dtype()))
    return is_floating(t.dtype()) ? cumprod(t.to(DType::f32), axis).to(t.dtype())
                                  : cumprod(t.to(DType::i64), axis);
  return recorded_scan<CumprodNode>(kernels::ScanOp::prod, t, axis, "cumprod");
}

// In bool (NumPy's): the values as truth values, summed by or, multiplied by and.
Tensor cumsum(const Tensor& t, int64_t axis, DType dtype) {
  require_defined_arg(t, "cumsum");
  if (dtype == DType::boolean) return cumsum(t.to(DType::boolean), axis) > int64_t(0);
  // (An integer dtype narrower than i64 is accumulated in i64 and wrapped back: the same values.)
  const Tensor r = cumsum(t.dtype() == dtype ? t : t.to(dtype), axis);
  return r.dtype() == dtype ? r : r.to(dtype);
}

Tensor cumprod(const Tensor& t, int64_t axis, DType dtype) {
  require_defined_arg(t, "cumprod");
  if (dtype == DType::boolean) return cumprod(t.to(DType::boolean), axis) != int64_t(0);
  const Tensor r = cumprod(t.dtype() == dtype ? t : t.to(dtype), axis);
  return r.dtype() == dtype ? r : r.to(dtype);
}

Tensor logcumsumexp(const Tensor& t, int64_t axis) {
  require_defined_arg(t, "logcumsumexp");
  if (is_half(t.dtype())) return logcumsumexp(t.to(DType::f32), axis).to(t.dtype());
  require_floating(t, "logcumsumexp");
  return recorded_scan<LogcumsumexpNode>(kernels::ScanOp::logsumexp, t, axis, "logcumsumexp");
}

namespace {
ValuesIndices cum_extreme(const Tensor& t, int64_t axis, bool is_max, const char* name) {
  require_defined_arg(t, name);
  if (t.dtype() == DType::boolean) {
    ValuesIndices r = cum_extreme(t.to(DType::i64), axis, is_max, name);
    return {r.values.to(DType::boolean), r.indices};
  }
  if (is_storage_only(t.dtype())) {
    ValuesIndices r = cum_extreme(t.to(compute_dtype(t.dtype())), axis, is_max, name);
    return {r.values.to(t.dtype()), r.indices};
  }
  const int64_t a = axis_of(t, axis, name);
  const Tensor x = at_least_1d(t);
  Tensor indices;
  raw_scan(is_max ? kernels::ScanOp::max : kernels::ScanOp::min, x, a, name, &indices);
  return {like_input(take_along_axis(x, indices, a), t), like_input(indices, t)};
}
}  // namespace

ValuesIndices cummax(const Tensor& t, int64_t axis) { return cum_extreme(t, axis, true, "cummax"); }
ValuesIndices cummin(const Tensor& t, int64_t axis) {
  return cum_extreme(t, axis, false, "cummin");
}

Tensor diff(const Tensor& t, int64_t n, int64_t axis, const Tensor& prepend, const Tensor& append) {
  require_defined_arg(t, "diff");
  if (t.ndim() == 0) throw ValueError("diff: the input must be at least 1-d, got shape ()");
  if (n < 0) throw ValueError("diff: the order n must be non-negative, got " + std::to_string(n));
  const int64_t a = normalize_axis(axis, t.ndim(), "diff");
  Tensor x = t;
  if (prepend.defined() || append.defined()) {
    std::vector<Tensor> parts;
    if (prepend.defined()) parts.push_back(prepend);
    parts.push_back(t);
    if (append.defined()) parts.push_back(append);
    x = cat(parts, a);
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = x.size(a);
    if (len == 0) break;
    const Tensor hi = x.narrow(a, 1, len - 1), lo = x.narrow(a, 0, len - 1);
    x = x.dtype() == DType::boolean ? not_equal(hi, lo) : hi - lo;  // NumPy's bool diff
  }
  return x;
}

Tensor argsort(const Tensor& t, int64_t axis, bool descending) {
  require_defined_arg(t, "argsort");
  const int64_t a = axis_of(t, axis, "argsort");
  return like_input(raw_argsort(at_least_1d(t), a, descending, "argsort"), t);
}

ValuesIndices sort(const Tensor& t, int64_t axis, bool descending) {
  require_defined_arg(t, "sort");
  const int64_t a = axis_of(t, axis, "sort");
  const Tensor x = at_least_1d(t);
  const Tensor indices = raw_argsort(x, a, descending, "sort");
  return {like_input(take_along_axis(x, indices, a), t), like_input(indices, t)};
}

ValuesIndices topk(const Tensor& t, int64_t k, int64_t axis, bool largest, bool sorted) {
  require_defined_arg(t, "topk");
  const int64_t a = axis_of(t, axis, "topk");
  const Tensor x = at_least_1d(t);
  const int64_t n = x.size(a);
  if (k < 0 || k > n)
    throw ValueError("topk: k (" + std::to_string(k) + ") is out of range" + along(t, axis) +
                     " (0 <= k <= " + std::to_string(n) + ")");
  const Tensor indices = raw_argsort(x, a, largest, "topk", k, sorted).narrow(a, 0, k).contiguous();
  return {like_input(take_along_axis(x, indices, a), t), like_input(indices, t)};
}

namespace {
// The element at sorted position pos (keepdims shape, i64) along a, with its index.
ValuesIndices select_sorted(const Tensor& x, const Tensor& order, const Tensor& pos, int64_t a,
                            bool keepdims, const Tensor& t) {
  Tensor indices = take_along_axis(order, pos, a);
  Tensor values = take_along_axis(x, indices, a);
  if (!keepdims || t.ndim() == 0) {
    const int64_t drop = t.ndim() == 0 ? 0 : a;
    indices = indices.squeeze(drop);
    values = values.squeeze(drop);
  }
  return {values, indices};
}
}  // namespace

ValuesIndices kthvalue(const Tensor& t, int64_t k, int64_t axis, bool keepdims) {
  require_defined_arg(t, "kthvalue");
  const int64_t a = axis_of(t, axis, "kthvalue");
  const Tensor x = at_least_1d(t);
  const int64_t n = x.size(a);
  if (k < 1 || k > n)
    throw ValueError("kthvalue: k (" + std::to_string(k) + ") is out of range" + along(t, axis) +
                     " (1 <= k <= " + std::to_string(n) + ")");
  const Tensor order = raw_argsort(x, a, false, "kthvalue");
  Dims kept = x.impl()->shape;
  kept[a] = 1;
  return select_sorted(x, order, full(kept, static_cast<double>(k - 1), DType::i64), a, keepdims,
                       t);
}

namespace {
// The lower median along axis: of every value (a slice holding NaN gives its first NaN, which
// sorts last), or, skipping NaN, of the values that are not NaN (they sort first; an all-NaN
// slice gives its first NaN).
ValuesIndices lower_median(const Tensor& t, int64_t axis, bool keepdims, bool skip_nan,
                           const char* name) {
  require_defined_arg(t, name);
  const int64_t a = axis_of(t, axis, name);
  const Tensor x = at_least_1d(t);
  const int64_t n = x.size(a);
  if (n == 0) throw ValueError(std::string(name) + ": zero-size reduction" + along(t, axis));
  const Tensor order = raw_argsort(x, a, false, name);
  Tensor pos;
  {
    NoGradGuard no_grad;
    const Tensor nans = isnan(x).sum({a}, true);
    const Tensor valid = skip_nan ? n - nans : full(nans.shape(), double(n), DType::i64);
    const Tensor lower = floor_divide(maximum(valid - int64_t(1), int64_t(0)), int64_t(2));
    pos = skip_nan ? lower : where(nans > 0, n - nans, lower);
  }
  return select_sorted(x, order, pos, a, keepdims, t);
}
}  // namespace

ValuesIndices median(const Tensor& t, int64_t axis, bool keepdims) {
  return lower_median(t, axis, keepdims, false, "median");
}

ValuesIndices nanmedian(const Tensor& t, int64_t axis, bool keepdims) {
  return lower_median(t, axis, keepdims, true, "nanmedian");
}

}  // namespace ndgrad
