// A walk through the founding question, "what is the gradient of NumPy broadcasting?":
// shapes, values, gradients, a full-form Jacobian next to the compact form, and a gradcheck.
#include <iostream>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

namespace {

void heading(const char* title) { std::cout << "\n=== " << title << " ===\n"; }

}  // namespace

int main() {
  std::cout << "ndgrad: NumPy broadcasting with reverse-mode autodiff\n";

  heading("1. Broadcasting a column against a row");
  Tensor a = tensor({0, 1, 2}, {3, 1}).requires_grad_();
  Tensor b = tensor({0, 1, 2, 3}, {1, 4}).requires_grad_();
  Tensor c = a + b;
  std::cout << "a " << shape_str(a.shape()) << " + b " << shape_str(b.shape()) << " = c "
            << shape_str(c.shape()) << "\n"
            << c << "\n";
  c.sum().backward();
  std::cout << "after c.sum().backward():\n"
            << "a.grad() = " << a.grad() << "   (each a_i was used 4 times: summed over axis 1)\n"
            << "b.grad() = " << b.grad() << "   (each b_j was used 3 times: summed over axis 0)\n";

  heading("2. The bias of h2 = X1 W2 + b2 gets the batch sum of the upstream gradient");
  const int64_t B = 4, N = 3, M = 2;
  Tensor X1 = randn({B, N}, 1);
  Tensor W2 = randn({N, M}, 2).requires_grad_();
  Tensor b2 = zeros({M}).requires_grad_();
  Tensor h2 = matmul(X1, W2) + b2;
  Tensor G = randn({B, M}, 3);
  h2.backward(G);
  std::cout << "upstream gradient G " << shape_str(G.shape()) << " =\n"
            << G << "\n"
            << "b2.grad()            = " << b2.grad() << "\n"
            << "G.sum({0})           = " << G.sum({0}) << "   (the same: a sum, not n times G)\n";

  heading("3. Compact form vs full form");
  Tensor J = jacobian([&](const Tensor& bias) { return zeros({B, M}) + bias; }, zeros({M}));
  std::cout << "full-form dh2/db2 has shape " << shape_str(J.shape())
            << " = 1^B (x) I^M: one identity per batch row\n"
            << J << "\n";
  Tensor compact = (G.reshape({B, M, 1}) * J).sum({0, 1});
  std::cout << "contracting it with G gives the compact form " << compact << "\n";
  Tensor A = randn({N, M}, 4);
  Tensor JX = jacobian([&](const Tensor& x) { return matmul(x, A); }, randn({B, N}, 5));
  std::cout << "for p = X A with X " << shape_str({B, N}) << ", A " << shape_str({N, M})
            << ", the full dp/dX is 4-D: " << shape_str(JX.shape()) << "\n";

  heading("4. Shape ops and reductions");
  Tensor X = arange(12).reshape({3, 4});
  std::cout << "X = arange(12).reshape({3,4}) =\n"
            << X << "\n"
            << "X.T() (a view, strides " << shape_str(X.T().strides()) << ") =\n"
            << X.T() << "\n"
            << "X.sum({1}, keepdims=true) = " << X.sum({1}, true).T() << ".T\n"
            << "X.max({0}) = " << X.max({0}) << "\n";

  heading("5. Finite differences on tanh(3x - 2)");
  auto f = [](const std::vector<Tensor>& in) { return tanh(3.0 * in[0] - 2.0); };
  GradcheckResult r = gradcheck(f, {rand({3, 4}, 6, DType::f64)});
  std::cout << r.report;

  heading("6. A broadcast mistake caught");
  try {
    Tensor bad = ones({3, 4}) + ones({2, 1, 5});
  } catch (const ShapeError& e) {
    std::cout << "ShapeError: " << e.what() << "\n";
  }
  return r.ok ? 0 : 1;
}
