// Reductions written with the op table's rows and the other differentiable ops: var, std, the
// NaN-ignoring sums, the truth-value reductions, vector norms, median of all elements and
// quantiles. Their gradients are the composed ops' own; where a composition would put inf or
// NaN into a gradient that PyTorch defines (std and the 2-norm at 0, |x|^p at x = 0), a where
// with a stand-in keeps it out, giving PyTorch's value.
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

Tensor var(const Tensor& t, const std::vector<int64_t>& axes_in, double correction, bool keepdims) {
  require_defined_arg(t, "var");
  if (is_half(t.dtype())) return var(t.to(DType::f32), axes_in, correction, keepdims).to(t.dtype());
  require_floating(t, "var");
  const auto axes = normalize_axes(axes_in, t.ndim(), "var");
  StrictExemptScope exempt;  // the keepdims mean broadcasts by design
  const Tensor centered = t - t.mean(axes, true);
  const double divisor = std::max(0.0, static_cast<double>(count_over(t, axes)) - correction);
  return (centered * centered).sum(axes, keepdims) / divisor;
}

Tensor std(const Tensor& t, const std::vector<int64_t>& axes, double correction, bool keepdims) {
  require_defined_arg(t, "std");
  if (is_half(t.dtype()))
    return ndgrad::std(t.to(DType::f32), axes, correction, keepdims).to(t.dtype());
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
  if (is_half(t.dtype())) return nanmean(t.to(DType::f32), axes_in, keepdims).to(t.dtype());
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
  if (is_half(t.dtype())) return norm(t.to(DType::f32), p, axes_in, keepdims).to(t.dtype());
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
  if (is_half(t.dtype())) return quantile(t.to(DType::f32), q, axis, keepdims).to(t.dtype());
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
