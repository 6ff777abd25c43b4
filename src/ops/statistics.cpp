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
  if (is_half(t.dtype())) return var(t.to(DType::f32), axes_in, correction, keepdims).to(t.dtype());
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

namespace {

// The value v of all of t's elements, with the gradient split evenly among the elements equal to
// it (the NaNs where it is NaN): PyTorch's evenly_distribute_backward. (s - s.detach()) is 0.
Tensor evenly_distributed(const Tensor& t, const Tensor& flat, const Tensor& v) {
  if (!is_floating(t.dtype()) || !records_grad(t) || !is_grad_enabled()) return v;
  const Tensor mask = where(isnan(v), isnan(flat), flat == v);
  const Tensor s = where(mask, flat, 0.0).sum();
  return v + (s - s.detach()) / mask.sum();
}

// NumPy's and libtorch's interpolation methods between the sorted values around position pos.
enum class Interpolation { linear, lower, higher, nearest, midpoint };
Interpolation interpolation_of(const std::string& name, const char* op) {
  if (name == "linear") return Interpolation::linear;
  if (name == "lower") return Interpolation::lower;
  if (name == "higher") return Interpolation::higher;
  if (name == "nearest") return Interpolation::nearest;
  if (name == "midpoint") return Interpolation::midpoint;
  throw ValueError(std::string(op) + ": interpolation must be linear, lower, higher, nearest or " +
                   "midpoint, got '" + name + "'");
}

// The quantile from the values at positions lo and hi = lo + 1 (or lo at the end) around pos.
Tensor interpolate(Interpolation how, const Tensor& v_lo, const Tensor& v_hi,
                   const Tensor& weight) {
  switch (how) {
    case Interpolation::lower:
      return v_lo;
    case Interpolation::higher:
      return where(weight > 0.0, v_hi, v_lo);
    case Interpolation::nearest:  // half to even, as NumPy's and libtorch's round
      return v_lo;                // (the caller rounds the position instead)
    case Interpolation::midpoint:
      return where(weight > 0.0, lerp(v_lo, v_hi, 0.5), v_lo);
    case Interpolation::linear:
      break;
  }
  return lerp(v_lo, v_hi, weight);
}

std::vector<double> checked_q(const Tensor& q, const char* op) {
  if (q.ndim() > 1)
    throw ShapeError(std::string(op) + ": q must be 0-d or 1-d, got shape " +
                     shape_str(q.impl()->shape));
  const std::vector<double> qs = q.to_vector();
  for (double v : qs)
    if (!(v >= 0.0 && v <= 1.0))
      throw ValueError(std::string(op) + ": q must be in [0, 1], got " + std::to_string(v));
  return qs;
}

// quantile and nanquantile: the sorted values along the axis, each slice's count of values
// (NaN excluded for nanquantile), positions q (count - 1), interpolated.
Tensor quantiles(const Tensor& t, const Tensor& q, std::optional<int64_t> axis, bool keepdims,
                 const std::string& interpolation, bool skip_nan, const char* op) {
  require_defined_arg(t, op);
  require_defined_arg(q, op, "q");
  if (is_half(t.dtype()))  // computed in f32, rounded back once
    return quantiles(t.to(DType::f32), q, axis, keepdims, interpolation, skip_nan, op)
        .to(t.dtype());
  require_floating(t, op);
  const Interpolation how = interpolation_of(interpolation, op);
  std::vector<double> qs = checked_q(q, op);
  if (qs.empty()) {  // NumPy's: an empty first axis before the result's shape
    const Tensor one =
        quantiles(t, scalar(0.5, DType::f64), axis, keepdims, interpolation, skip_nan, op);
    return one.detach().unsqueeze(0).narrow(0, 0, 0).contiguous();
  }
  const Tensor x = !axis ? t.reshape({-1}) : (t.ndim() == 0 ? t.reshape({1}) : t);
  const int64_t a = axis ? normalize_axis(*axis, x.ndim(), op) : 0;
  const int64_t n = x.size(a);
  if (n == 0)
    throw ValueError(std::string(op) + ": zero-size reduction along axis " +
                     (axis ? std::to_string(*axis) : std::string("None")) + " of shape " +
                     shape_str(t.impl()->shape));
  const Tensor sorted = sort(x, a).values;  // NaN last
  Tensor nans, count;
  {
    NoGradGuard no_grad;
    nans = isnan(x).sum({a}, true);
    // quantile: every value counts, and a slice holding NaN gives NaN (its last sorted value);
    // nanquantile: the values that are not NaN, and an all-NaN slice gives NaN.
    count = skip_nan ? (n - nans).to(DType::f64) : full(nans.shape(), double(n), DType::f64);
  }
  std::vector<Tensor> results;
  for (double v : qs) {
    Tensor lo, hi, weight;
    {
      NoGradGuard no_grad;
      Tensor pos = maximum(count - 1.0, 0.0) * v;
      if (how == Interpolation::nearest) pos = round(pos);
      const Tensor lo_f = floor(pos);
      weight = pos - lo_f;
      lo = lo_f.to(DType::i64);
      hi = minimum(lo + int64_t(1), maximum(count - 1.0, 0.0).to(DType::i64));
    }
    Tensor r = interpolate(how, take_along_axis(sorted, lo, a), take_along_axis(sorted, hi, a),
                           weight.to(t.dtype()));
    if (!skip_nan) r = where(nans > 0, sorted.narrow(a, n - 1, 1), r);
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

}  // namespace

Tensor median(const Tensor& t) {
  require_defined_arg(t, "median");
  if (t.numel() == 0)
    throw ValueError("median: the median of a zero-size tensor of shape " +
                     shape_str(t.impl()->shape));
  const Tensor flat = t.reshape({-1});
  return evenly_distributed(t, flat, median(flat.detach(), 0).values);
}

Tensor nanmedian(const Tensor& t) {
  require_defined_arg(t, "nanmedian");
  if (t.numel() == 0)
    throw ValueError("nanmedian: the median of a zero-size tensor of shape " +
                     shape_str(t.impl()->shape));
  const Tensor flat = t.reshape({-1});
  return evenly_distributed(t, flat, nanmedian(flat.detach(), 0).values);
}

Tensor quantile(const Tensor& t, const Tensor& q, std::optional<int64_t> axis, bool keepdims,
                const std::string& interpolation) {
  return quantiles(t, q, axis, keepdims, interpolation, false, "quantile");
}
Tensor quantile(const Tensor& t, double q, std::optional<int64_t> axis, bool keepdims,
                const std::string& interpolation) {
  require_defined_arg(t, "quantile");
  return quantile(t, scalar(q, DType::f64), axis, keepdims, interpolation);
}
Tensor nanquantile(const Tensor& t, const Tensor& q, std::optional<int64_t> axis, bool keepdims,
                   const std::string& interpolation) {
  return quantiles(t, q, axis, keepdims, interpolation, true, "nanquantile");
}
Tensor nanquantile(const Tensor& t, double q, std::optional<int64_t> axis, bool keepdims,
                   const std::string& interpolation) {
  require_defined_arg(t, "nanquantile");
  return nanquantile(t, scalar(q, DType::f64), axis, keepdims, interpolation);
}

}  // namespace ndgrad
