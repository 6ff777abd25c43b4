// Reductions written with the op table's rows and the other differentiable ops: std, the
// NaN-ignoring sums, the truth-value reductions, vector norms, median of all elements and
// quantiles (var is one kernel pass, with a node whose derivative is written with
// differentiable ops). Their gradients are the composed ops' own; where a composition would put inf
// or NaN into a gradient that PyTorch defines (std and the 2-norm at 0, |x|^p at x = 0), a where
// with a stand-in keeps it out, giving PyTorch's value.
#include <algorithm>
#include <cmath>

#include "ops/ops_common.hpp"
#include "ops/strict.hpp"

namespace ndgrad {

namespace {

int64_t count_over(const Tensor& t, const std::vector<int64_t>& axes) {
  int64_t n = 1;
  for (int64_t a : axes) n *= t.impl()->shape[a];
  return n;
}

// sqrt(v) with the gradient 0 where v is 0 (not inf): PyTorch's for std and the 2-norm.
Tensor sqrt_zero_safe(const Tensor& v) {
  const Tensor zero = v == 0.0;
  return where(zero, 0.0, sqrt(where(zero, 1.0, v)));
}

}  // namespace

namespace {

// var's derivative, written with differentiable ops: 2 (x - mean) / divisor times g (the
// gradient of the composition sum((x - mean)^2) / divisor, whose mean term sums to 0).
struct VarNode final : SavingNode {
  NDGRAD_OP_NAME("var")
  Tensor x;
  std::vector<int64_t> axes;
  Dims kept_shape;
  double divisor = 1;
  void release_saved() override { x = Tensor(); }
  GradList backward(const Tensor& g) override {
    StrictExemptScope exempt;  // the keepdims mean and g broadcast by design
    return grad_list(g.reshape(kept_shape) * (x - x.mean(axes, true)) * (2.0 / divisor));
  }
};

// The variance over axes (normalized) in one kernel pass: the reduced axes as the middle of a
// contiguous (outer, n, inner) block, moved to the end first (a copy) when they are not
// adjacent.
Tensor raw_var(const Tensor& t, const std::vector<int64_t>& axes, double divisor) {
  const Dims& shape = t.impl()->shape;
  const int64_t ndim = t.ndim();
  Tensor x = t;
  int64_t first = axes.empty() ? 0 : axes.front(), last = axes.empty() ? -1 : axes.back();
  if (!axes.empty() && last - first + 1 != static_cast<int64_t>(axes.size())) {
    std::vector<int64_t> order;
    for (int64_t d = 0; d < ndim; ++d)
      if (!std::binary_search(axes.begin(), axes.end(), d)) order.push_back(d);
    for (int64_t a : axes) order.push_back(a);
    x = t.detach().permute(order);
    first = ndim - static_cast<int64_t>(axes.size());
    last = ndim - 1;
  }
  const Tensor c = raw_contiguous(x);
  int64_t outer = 1, n = 1, inner = 1;
  const Dims& cs = c.impl()->shape;
  for (int64_t d = 0; d < ndim; ++d) {
    if (d < first)
      outer *= cs[d];
    else if (d <= last)
      n *= cs[d];
    else
      inner *= cs[d];
  }
  Tensor out = make_tensor(reduced_shape(shape, axes, true), t.dtype(), "var");
  kernels::variance(t.dtype(), outer, n, inner, c.impl()->read_data(), out.impl()->data(), divisor);
  return out;
}

}  // namespace

Tensor var(const Tensor& t, const std::vector<int64_t>& axes_in, double correction, bool keepdims) {
  require_defined_arg(t, "var");
  require_floating(t, "var");
  const auto axes = normalize_axes(axes_in, t.ndim(), "var");
  const double divisor = std::max(0.0, static_cast<double>(count_over(t, axes)) - correction);
  const Tensor kept = raw_var(t, axes, divisor);
  Tensor out = keepdims ? kept : raw_reshape(kept, reduced_shape(t.impl()->shape, axes, false));
  if (auto node = record<VarNode>(out, {&t})) {
    node->x = node->save(t, "the input");
    node->axes = axes;
    node->kept_shape = kept.impl()->shape;
    node->divisor = divisor;
  }
  return out;
}

Tensor std(const Tensor& t, const std::vector<int64_t>& axes, double correction, bool keepdims) {
  require_defined_arg(t, "std");
  require_floating(t, "std");
  return sqrt_zero_safe(var(t, axes, correction, keepdims));
}

Tensor nansum(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims) {
  require_defined_arg(t, "nansum");
  const auto axes = normalize_axes(axes_in, t.ndim(), "nansum");
  if (!is_floating(t.dtype())) return t.sum(axes, keepdims);
  return where(isnan(t), 0.0, t).sum(axes, keepdims);
}

Tensor nanmean(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims) {
  require_defined_arg(t, "nanmean");
  require_floating(t, "nanmean");
  const auto axes = normalize_axes(axes_in, t.ndim(), "nanmean");
  return nansum(t, axes, keepdims) / logical_not(isnan(t)).sum(axes, keepdims);
}

Tensor count_nonzero(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims) {
  require_defined_arg(t, "count_nonzero");
  const auto axes = normalize_axes(axes_in, t.ndim(), "count_nonzero");
  return (t != 0).sum(axes, keepdims);
}

Tensor any(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims) {
  require_defined_arg(t, "any");
  const auto axes = normalize_axes(axes_in, t.ndim(), "any");
  return (t != 0).sum(axes, keepdims) > 0;
}

Tensor all(const Tensor& t, const std::vector<int64_t>& axes_in, bool keepdims) {
  require_defined_arg(t, "all");
  const auto axes = normalize_axes(axes_in, t.ndim(), "all");
  return (t == 0).sum(axes, keepdims) == 0;
}

Tensor norm(const Tensor& t, double p, const std::vector<int64_t>& axes_in, bool keepdims) {
  require_defined_arg(t, "norm");
  require_floating(t, "norm");
  const auto axes = normalize_axes(axes_in, t.ndim(), "norm");
  if (std::isnan(p)) throw ValueError("norm: p must not be NaN");
  if (p == 0.0)  // the count of non-zeros (NaN counts), with zero gradients (PyTorch's)
    return sign(abs(nan_to_num(t, 1.0, 1.0, 1.0))).sum(axes, keepdims);
  if (p == 1.0) return abs(t).sum(axes, keepdims);
  if (p == 2.0) return sqrt_zero_safe((t * t).sum(axes, keepdims));
  if (std::isinf(p)) {
    for (int64_t a : axes)
      if (t.impl()->shape[a] == 0)
        throw ValueError("norm: the " + std::string(p > 0 ? "inf" : "-inf") +
                         "-norm of a zero-size reduction along axis " + std::to_string(a) +
                         " of shape " + shape_str(t.impl()->shape) + ", which has no identity");
    return p > 0 ? abs(t).max(axes, keepdims) : abs(t).min(axes, keepdims);
  }
  // (sum |x|^p)^(1/p). For p > 0, |x|^p is 0 at x = 0 with the gradient 0 (1 stands in), and
  // the norm 0 where the sum is 0, with the gradient 0 (PyTorch's masks).
  Tensor powered;
  if (p > 0) {
    const Tensor zero = t == 0.0;
    powered = where(zero, 0.0, pow(where(zero, 1.0, abs(t)), p));
  } else {
    powered = pow(abs(t), p);
  }
  const Tensor s = powered.sum(axes, keepdims);
  if (p < 0) return pow(s, 1.0 / p);
  const Tensor zero = s == 0.0;
  return where(zero, 0.0, pow(where(zero, 1.0, s), 1.0 / p));
}

Tensor norm(const Tensor& t, const std::string& ord, const std::vector<int64_t>& axes,
            bool keepdims) {
  require_defined_arg(t, "norm");
  if (ord != "fro")
    throw ValueError("norm: ord '" + ord + "' is not supported (\"fro\", or a number p)");
  return norm(t, 2.0, axes, keepdims);
}

Tensor median(const Tensor& t) {
  require_defined_arg(t, "median");
  if (t.numel() == 0)
    throw ValueError("median: the median of a zero-size tensor of shape " +
                     shape_str(t.impl()->shape));
  const Tensor flat = t.reshape({-1});
  const Tensor v = median(flat.detach(), 0).values;
  if (!is_floating(t.dtype()) || !records_grad(t) || !is_grad_enabled()) return v;
  // The value v, with the gradient split evenly among the elements equal to it (the NaNs where
  // it is NaN): PyTorch's evenly_distribute_backward. (s - s.detach()) is 0 exactly.
  const Tensor mask = where(isnan(v), isnan(flat), flat == v);
  const Tensor s = where(mask, flat, 0.0).sum();
  return v + (s - s.detach()) / mask.sum();
}

Tensor quantile(const Tensor& t, const Tensor& q, std::optional<int64_t> axis, bool keepdims) {
  require_defined_arg(t, "quantile");
  require_defined_arg(q, "quantile", "q");
  require_floating(t, "quantile");
  if (q.ndim() > 1)
    throw ShapeError("quantile: q must be 0-d or 1-d, got shape " + shape_str(q.impl()->shape));
  const std::vector<double> qs = q.to_vector();
  for (double v : qs)
    if (!(v >= 0.0 && v <= 1.0))
      throw ValueError("quantile: q must be in [0, 1], got " + std::to_string(v));
  const Tensor x = !axis ? t.reshape({-1}) : (t.ndim() == 0 ? t.reshape({1}) : t);
  const int64_t a = axis ? normalize_axis(*axis, x.ndim(), "quantile") : 0;
  const int64_t n = x.size(a);
  if (n == 0)
    throw ValueError("quantile: zero-size reduction along axis " +
                     (axis ? std::to_string(*axis) : std::string("None")) + " of shape " +
                     shape_str(t.impl()->shape));
  const Tensor sorted = sort(x, a).values;
  // A slice holding NaN gives NaN (its last sorted element), as libtorch and NumPy.
  const Tensor has_nan = isnan(x).sum({a}, true) > 0;
  const Tensor last = sorted.narrow(a, n - 1, 1);
  std::vector<Tensor> results;
  for (double v : qs) {
    const double pos = v * static_cast<double>(n - 1);
    const int64_t lo = static_cast<int64_t>(std::floor(pos));
    const int64_t hi = std::min(lo + 1, n - 1);
    Tensor r =
        lerp(sorted.narrow(a, lo, 1), sorted.narrow(a, hi, 1), pos - static_cast<double>(lo));
    r = where(has_nan, last, r);
    if (!axis)
      r = keepdims ? r.reshape(Shape(t.ndim(), 1)) : r.reshape({});
    else if (!keepdims && t.ndim() > 0)
      r = r.squeeze(a);
    else if (t.ndim() == 0)
      r = r.reshape({});
    results.push_back(r);
  }
  return q.ndim() == 0 ? results[0] : stack(results, 0);
}

Tensor quantile(const Tensor& t, double q, std::optional<int64_t> axis, bool keepdims) {
  require_defined_arg(t, "quantile");
  return quantile(t, scalar(q, DType::f64), axis, keepdims);
}

}  // namespace ndgrad
