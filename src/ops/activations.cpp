// Functions with a parameter (leaky_relu, elu, hardtanh, clamp, lerp, nan_to_num, gelu's
// approximate): written with the op table's rows (where, the comparisons, ...), so that their
// gradients, to every order, are the rows' derivatives. Values and the gradients at kinks and
// bounds follow PyTorch (docs/API.md).
#include <cfloat>
#include <cmath>

#include "ops/ops_common.hpp"

namespace ndgrad {

namespace {

// A parameter as a 0-d operand: t's dtype, f32 for a non-floating t (the operators' rule for a
// floating scalar).
Tensor scalar_for(double value, const Tensor& t) {
  return scalar(value, is_floating(t.dtype()) ? t.dtype() : DType::f32);
}

}  // namespace

Tensor leaky_relu(const Tensor& t, double negative_slope) {
  require_defined_arg(t, "leaky_relu");
  if (is_half(t.dtype())) return leaky_relu(t.to(DType::f32), negative_slope).to(t.dtype());
  require_floating(t, "leaky_relu");
  // x <= 0 takes the slope (PyTorch: the gradient at 0 is negative_slope * g).
  return where(t > 0.0, t, t * negative_slope);
}

Tensor elu(const Tensor& t, double alpha) {
  require_defined_arg(t, "elu");
  if (is_half(t.dtype())) return elu(t.to(DType::f32), alpha).to(t.dtype());
  require_floating(t, "elu");
  // alpha (e^x - 1) at and below 0 (the gradient at 0 is alpha * g); 0 stands in for the
  // positive elements inside expm1, so that no inf sits in where's unselected branch.
  const Tensor positive = t > 0.0;
  return where(positive, t, alpha * expm1(where(positive, 0.0, t)));
}

Tensor hardtanh(const Tensor& t, double min, double max) {
  require_defined_arg(t, "hardtanh");
  if (is_half(t.dtype())) return hardtanh(t.to(DType::f32), min, max).to(t.dtype());
  require_floating(t, "hardtanh");
  if (!(min <= max))
    throw ValueError("hardtanh: min (" + std::to_string(min) + ") must not exceed max (" +
                     std::to_string(max) + ")");
  // PyTorch's hardtanh_backward: g strictly inside (min, max), 0 at and beyond the bounds; NaN
  // passes through with its gradient.
  const Tensor below = t <= min;
  const Tensor bound = where(below, scalar_for(min, t), scalar_for(max, t));
  return where(logical_or(below, t >= max), bound, t);
}

Tensor clamp(const Tensor& t, const Tensor& min, const Tensor& max) {
  require_defined_arg(t, "clamp");
  const bool lo = min.defined(), hi = max.defined();
  if (!lo && !hi) throw ValueError("clamp: at least one of min and max must be given");
  if (t.dtype() == DType::boolean)
    throw DTypeError("clamp is not defined for bool tensors; convert with .to()");
  // The value min(max(t, min), max) (NaN passes), with no gradient: what is left where none of
  // the cases below holds (a NaN element, or t < min == max, where PyTorch gives no gradient).
  Tensor rest;
  {
    NoGradGuard no_grad;
    rest = lo ? maximum(t, min) : t;
    if (hi) rest = minimum(rest, max);
  }
  // PyTorch's clamp_backward and clamp_backward_min_max: t gets g where min <= t <= max (the
  // bounds included); min where t < min < max; max where t > max or max < min.
  Tensor keep = lo ? t >= min : t <= max;
  if (lo && hi) keep = logical_and(keep, t <= max);
  Tensor out = rest.detach();
  if (hi) out = where(lo ? logical_or(t > max, max < min) : t > max, max, out);
  if (lo) out = where(hi ? logical_and(t < min, min < max) : t < min, min, out);
  return where(keep, t, out);
}

Tensor clamp(const Tensor& t, std::optional<double> min, std::optional<double> max) {
  require_defined_arg(t, "clamp");
  return clamp(t, min ? scalar_for(*min, t) : Tensor(), max ? scalar_for(*max, t) : Tensor());
}

Tensor clamp(const Tensor& t, detail::ClampBound min, detail::ClampBound max) {
  require_defined_arg(t, "clamp");
  auto bound = [&](const detail::ClampBound& b) -> Tensor {
    switch (b.kind) {
      case detail::ClampBound::integer:
        return scalar_like(b.i, t, "clamp");  // (a copy: the reference is the thread's table's)
      case detail::ClampBound::floating:
        return scalar_for(b.f, t);
      case detail::ClampBound::none:
        break;
    }
    return Tensor();
  };
  return clamp(t, bound(min), bound(max));
}

Tensor clip(const Tensor& t, const Tensor& min, const Tensor& max) { return clamp(t, min, max); }
Tensor clip(const Tensor& t, std::optional<double> min, std::optional<double> max) {
  return clamp(t, min, max);
}

namespace {
// lerp's operands: floating, f16 and bf16 included (computed in f32).
void require_lerp_operand(const Tensor& t, const char* what) {
  require_defined_arg(t, "lerp", what);
  if (!is_half(t.dtype())) require_floating(t, "lerp");
}
}  // namespace

// PyTorch's formula, exact at both ends: a + w (b - a) for |w| < 1/2, b - (b - a)(1 - w) else.
// f16 and bf16 operands compute in f32, the result rounded once to the promoted dtype.
Tensor lerp(const Tensor& a, const Tensor& b, const Tensor& weight) {
  require_lerp_operand(a, "the start");
  require_lerp_operand(b, "the end");
  require_lerp_operand(weight, "the weight");
  const DType out = promote_types(promote_types(a.dtype(), b.dtype()), weight.dtype());
  if (is_half(a.dtype()) || is_half(b.dtype()) || is_half(weight.dtype())) {
    const Tensor r = lerp(in_f32_if_half(a), in_f32_if_half(b), in_f32_if_half(weight));
    return is_half(out) ? r.to(out) : r;
  }
  const Tensor d = b - a;
  return where(abs(weight) < 0.5, a + weight * d, b - d * (1.0 - weight));
}

Tensor lerp(const Tensor& a, const Tensor& b, double weight) {
  require_lerp_operand(a, "the start");
  require_lerp_operand(b, "the end");
  const DType out = promote_types(a.dtype(), b.dtype());
  if (is_half(a.dtype()) || is_half(b.dtype())) {
    const Tensor r = lerp(in_f32_if_half(a), in_f32_if_half(b), weight);
    return is_half(out) ? r.to(out) : r;
  }
  return std::fabs(weight) < 0.5 ? a + weight * (b - a) : b - (b - a) * (1.0 - weight);
}

Tensor nan_to_num(const Tensor& t, double nan, std::optional<double> posinf,
                  std::optional<double> neginf) {
  require_defined_arg(t, "nan_to_num");
  if (!is_floating(t.dtype())) return raw_cast(t, t.dtype());  // a copy: nothing to replace
  const DType dt = t.dtype();
  const double largest = dt == DType::f32    ? FLT_MAX
                         : dt == DType::f16  ? 65504.0
                         : dt == DType::bf16 ? 0x1.fep127
                                             : DBL_MAX;
  const Tensor replaced = where(
      isnan(t), scalar(nan, dt),
      where(t > 0.0, scalar(posinf.value_or(largest), dt), scalar(neginf.value_or(-largest), dt)));
  // The gradient: g where t is finite, 0 where it was replaced (PyTorch's).
  return where(isfinite(t), t, replaced);
}

Tensor gelu(const Tensor& t, const std::string& approximate) {
  if (approximate == "none") return gelu(t);
  if (approximate == "tanh") return gelu_tanh(t);
  throw ValueError("gelu: approximate must be \"none\" or \"tanh\", got \"" + approximate + "\"");
}

}  // namespace ndgrad
