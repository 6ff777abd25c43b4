#pragma once
// Derivatives of op table rows that take more than one line (include/ndgrad/op_table.def),
// written with differentiable ops so that create_graph differentiates them again.
#include <cmath>

#include "ndgrad/tensor.hpp"

namespace ndgrad::derivatives {

// d(a^b)/da = b a^(b-1), 0 where b == 0 (not 0 * 0^-1 = NaN at a = 0), PyTorch's convention.
// The masked entries are computed from a stand-in (b = 1) so that no inf or NaN sits in
// where's unselected branch, where it would reach second derivatives as 0 * inf.
inline Tensor pow_base_grad(const Tensor& g, const Tensor& a, const Tensor& b) {
  const Tensor b_zero = b == 0.0;
  const Tensor b_safe = where(b_zero, scalar(1.0, b.dtype()), b);
  return where(b_zero, scalar(0.0, g.dtype()), g * b_safe * pow(a, b_safe - 1.0));
}

// d(a^b)/db = a^b log(a), 0 where a == 0 and b >= 0 (not 0 * log 0 = NaN, nor 1 * -inf);
// a = 1 stands in for the masked entries.
inline Tensor pow_exponent_grad(const Tensor& g, const Tensor& a, const Tensor& b,
                                const Tensor& y) {
  const Tensor a_zero = where(a == 0.0, b >= 0.0, scalar(0.0, DType::boolean));
  return where(a_zero, scalar(0.0, g.dtype()),
               g * y * log(where(a_zero, scalar(1.0, a.dtype()), a)));
}

// maximum/minimum: the gradient goes to the selected operand; a tie splits it evenly. A NaN
// operand is the one selected (NaN wins, as in the forward kernel), so it gets the gradient.
inline Tensor select_grad(const Tensor& g, const Tensor& a, const Tensor& b, bool is_max,
                          bool for_a) {
  const Tensor zero = scalar(0.0, g.dtype());
  const Tensor is_tie = a == b;  // false when either is NaN
  const Tensor a_wins = where(a != a, scalar(1.0, DType::boolean), is_max ? a > b : a < b);
  const Tensor half = g * 0.5;
  return for_a ? where(a_wins, g, where(is_tie, half, zero))
               : where(a_wins, zero, where(is_tie, half, g));
}

// max/min over axes: the gradient (g, in the keepdims shape) goes to the elements equal to the
// extreme y, split evenly among ties. Where the extreme is NaN (a NaN wins), the NaN elements
// are the ones that equal it.
inline Tensor extreme_grad(const Tensor& g, const Tensor& x, const Tensor& y,
                           const std::vector<int64_t>& axes) {
  const Tensor mask = where(y != y, x != x, x == y).to(g.dtype());
  return g * mask / mask.sum(axes, true);
}

// prod over axes: g * prod / x where no reduced slice holds a zero; otherwise the product of
// the other elements, computed without dividing: where a slice has one zero, that element gets
// g times the product of the rest and the others 0; where it has more, every element gets 0
// (PyTorch's prod_backward). x = 1 stands in for the zeros, so no inf sits in a where branch.
inline Tensor prod_grad(const Tensor& g, const Tensor& x, const Tensor& y,
                        const std::vector<int64_t>& axes) {
  const Tensor is_zero = x == 0.0;
  if (is_zero.sum().item() == 0) return g * y / x;
  const Tensor zeros = is_zero.sum(axes, true);
  const Tensor x_safe = where(is_zero, 1.0, x);
  const Tensor rest = prod(x_safe, axes, true);  // the product of the non-zero elements
  return g * where(zeros == 0, y / x_safe, where(logical_and(is_zero, zeros == 1), rest, 0.0));
}

// The unary rows' derivatives as factors of g (PyTorch's formulas, its values at the kinks).
// d logit / dx = 1 / (x (1 - x)); NaN outside [0, 1] (logit is), inf at 0 and 1.
inline Tensor logit_grad(const Tensor& x) {
  const Tensor d = x * (1.0 - x);
  return where(d < 0.0, std::nan(""), 1.0 / d);
}

// d mish / dx = tanh(softplus(x)) + x sigmoid(x) (1 - tanh(softplus(x))^2).
inline Tensor mish_grad(const Tensor& x) {
  const Tensor t = tanh(softplus(x));
  return t + x * sigmoid(x) * (1.0 - t * t);
}

// d gelu / dx = Phi(x) + x phi(x).
inline Tensor gelu_grad(const Tensor& x) {
  const Tensor cdf = 0.5 * (1.0 + erf(x * 0.70710678118654752440));
  const Tensor pdf = exp(-0.5 * (x * x)) * 0.39894228040143267794;
  return cdf + x * pdf;
}

// The tanh approximation's derivative, as PyTorch's gelu_backward(approximate="tanh").
inline Tensor gelu_tanh_grad(const Tensor& x) {
  constexpr double kBeta = 0.79788456080286535588, kKappa = 0.044715;
  const Tensor x_sq = x * x;
  const Tensor t = tanh(kBeta * (x + kKappa * (x_sq * x)));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kBeta * (1.0 + 3.0 * kKappa * x_sq);
}

// d selu / dx: scale for x > 0, scale alpha e^x at and below 0 (exp of 0 stands in for x > 0,
// so that no inf sits in where's unselected branch).
inline Tensor selu_grad(const Tensor& x) {
  constexpr double kAlpha = 1.6732632423543772848170429916717;
  constexpr double kScale = 1.0507009873554804934193349852946;
  const Tensor positive = x > 0.0;
  return where(positive, kScale, kScale * kAlpha * exp(where(positive, 0.0, x)));
}

// hardsigmoid: 1/6 strictly between -3 and 3, 0 elsewhere (at the kinks too).
inline Tensor hardsigmoid_grad(const Tensor& x) {
  return logical_and(x > -3.0, x < 3.0).to(x.dtype()) * (1.0 / 6.0);
}

// hardswish: 0 below -3, x / 3 + 1/2 on [-3, 3] (kinks included), 1 above.
inline Tensor hardswish_grad(const Tensor& x) {
  return where(x < -3.0, 0.0, where(x <= 3.0, x / 3.0 + 0.5, 1.0));
}

// d xlogy(a, b) / da = xlogy(g, b) (0 where g == 0), 0 where a == 0 and b <= 0.
inline Tensor xlogy_grad(const Tensor& g, const Tensor& a, const Tensor& b) {
  return where(logical_and(a == 0.0, b <= 0.0), 0.0, xlogy(g, b));
}

// d copysign(a, b) / da = g * y / a (+-1), 0 where a == 0 (a = 1 stands in there).
inline Tensor copysign_grad(const Tensor& g, const Tensor& a, const Tensor& y) {
  const Tensor zero = a == 0.0;
  return g * where(zero, 0.0, y / where(zero, 1.0, a));
}

}  // namespace ndgrad::derivatives
