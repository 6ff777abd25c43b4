#pragma once
// Derivatives of op table rows that take more than one line (include/ndgrad/op_table.def),
// written with differentiable ops so that create_graph differentiates them again.
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

}  // namespace ndgrad::derivatives
