#pragma once
// Derivatives of op table rows that take more than one line (include/ndgrad/op_table.def),
// written with differentiable ops so that create_graph differentiates them again.
#include <algorithm>
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

// At each element, the product of the other elements of its reduced slice: exclusive cumprods
// from both ends of the slice (its axes moved last and flattened), no division. Exact with
// zeros, and differentiable again (cumprod's own rule).
inline Tensor prod_of_others(const Tensor& x, const std::vector<int64_t>& axes) {
  std::vector<int64_t> order;
  for (int64_t d = 0; d < x.ndim(); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) order.push_back(d);
  order.insert(order.end(), axes.begin(), axes.end());
  const Tensor p = x.permute(order);
  const Shape p_shape = p.shape();
  Shape flat(p_shape.begin(), p_shape.end() - static_cast<int64_t>(axes.size()));
  int64_t m = 1;
  for (int64_t a : axes) m *= x.size(a);
  flat.push_back(1);
  const Tensor one = ones(flat, x.dtype());
  flat.back() = m;
  const Tensor v = p.reshape(flat);
  const int64_t last = static_cast<int64_t>(flat.size()) - 1;
  const Tensor left = cumprod(cat({one, v.narrow(last, 0, m - 1)}, last), last);
  const Tensor right =
      flip(cumprod(flip(cat({v.narrow(last, 1, m - 1), one}, last), {last}), last), {last});
  std::vector<int64_t> inverse(order.size());
  for (size_t i = 0; i < order.size(); ++i)
    inverse[static_cast<size_t>(order[i])] = static_cast<int64_t>(i);
  return (left * right).reshape(p_shape).permute(inverse);
}

// prod over axes: g times the product of the other elements of the slice (prod_of_others), one
// formula whatever the values: with one zero in a slice only that element gets a non-zero
// gradient, with more none does (PyTorch's prod_backward), and every order is exact. (g y / x
// would need a branch on the data, a read of the values before the graph is built, and is
// less accurate.)
inline Tensor prod_grad(const Tensor& g, const Tensor& x, const Tensor&,
                        const std::vector<int64_t>& axes) {
  return g * prod_of_others(x, axes);
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
