// The founding texts' network: h1 = relu(X W1 + b1), h2 = h1 W2 + b2, with the bias b2
// broadcast over the batch. Its gradients are checked against finite differences, then it is
// trained for a few steps on a small synthetic problem.
#include <iostream>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

int main() {
  const int64_t B = 8, D = 5, N = 6, M = 3;
  const Tensor X = randn({B, D}, 1, DType::f64);
  const Tensor labels = tensor({0, 1, 2, 0, 1, 2, 0, 1}, {B}, DType::i64);

  auto network = [&](const std::vector<Tensor>& p) {
    Tensor h1 = relu(matmul(X, p[0]) + p[1]);  // b1 (N) broadcast over the B rows
    Tensor h2 = matmul(h1, p[2]) + p[3];       // b2 (M) broadcast over the B rows
    return nn::cross_entropy(h2, labels);
  };
  std::vector<Tensor> params = {randn({D, N}, 2, DType::f64) * 0.5, randn({N}, 3, DType::f64) * 0.1,
                                randn({N, M}, 4, DType::f64) * 0.5,
                                randn({M}, 5, DType::f64) * 0.1};
  GradcheckResult check = gradcheck(network, params);
  std::cout << "gradients of the two-layer network against finite differences:\n" << check.report;
  if (!check.ok) return 1;

  for (auto& p : params) p.requires_grad_();
  optim::SGD sgd(params, 0.5);
  double first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    Tensor loss = network(params);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  std::cout << "cross-entropy: " << first << " -> " << last << " after 50 SGD steps\n"
            << "b2.grad() (the batch sum of dL/dh2): " << params[3].grad() << "\n";
  return last < 0.5 * first ? 0 : 1;
}
