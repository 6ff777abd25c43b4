// Multivariate linear regression with mean squared error: y = X w + b, the bias broadcast over
// the samples. Gradient descent recovers the weights the data was made with.
#include <cmath>
#include <iostream>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

int main() {
  const int64_t n = 500, d = 3;
  const Tensor true_w = tensor({2.0, -3.0, 0.5}, {d, 1});
  const double true_b = 1.25;
  const Tensor X = randn({n, d}, 1);
  const Tensor y = matmul(X, true_w) + true_b + randn({n, 1}, 2) * 0.01;

  Tensor w = zeros({d, 1}).requires_grad_();
  Tensor b = zeros({1}).requires_grad_();
  optim::SGD sgd({w, b}, 0.1);
  double loss_value = 0;
  for (int step = 0; step < 200; ++step) {
    Tensor loss = nn::mse_loss(matmul(X, w) + b, y);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    loss_value = loss.item();
    if (step % 50 == 0) std::cout << "step " << step << "  mse " << loss_value << "\n";
  }
  std::cout << "learned w = " << w.T() << " (true [2, -3, 0.5])\n"
            << "learned b = " << b << " (true 1.25)\n";
  double err = std::fabs(b.item() - true_b);
  std::vector<double> wv = w.to_vector(), tv = true_w.to_vector();
  for (int i = 0; i < d; ++i) err = std::max(err, std::fabs(wv[i] - tv[i]));
  std::cout << "largest parameter error: " << err << "\n";
  return err < 0.01 ? 0 : 1;
}
