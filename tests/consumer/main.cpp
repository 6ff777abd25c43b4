// Compiles against the public API only (the umbrella header) and checks a few results.
#include <iostream>
#include <ndgrad/ndgrad.hpp>
#include <string>

bool api_contract();

int main() {
  using namespace ndgrad;
  Tensor a = tensor({0, 1, 2}, {3, 1}).requires_grad_();
  Tensor b = tensor({0, 1, 2, 3}, {1, 4}).requires_grad_();
  Tensor c = a + b;
  c.sum().backward();
  bool ok = a.grad().to_vector() == std::vector<double>{4, 4, 4} &&
            b.grad().to_vector() == std::vector<double>{3, 3, 3, 3};
  Tensor w = randn({4, 2}, 1).requires_grad_();
  Tensor loss = (matmul(randn({5, 4}, 2), w) - 1.0).sum();
  ok = ok && grad(loss, {w})[0].shape() == Shape{4, 2};
  GradcheckResult r = gradcheck([](const std::vector<Tensor>& x) { return tanh(x[0]).sum({0}); },
                                {randn({3, 2}, 3)});
  ok = ok && r.ok && api_contract();
  // The headers and the library linked come from the same ndgrad.
  ok = ok && std::string(version()) == NDGRAD_VERSION;
  std::cout << "ndgrad " << NDGRAD_VERSION << " (library " << version() << ")\n";
  std::cout << (ok ? "consumer ok" : "consumer FAILED") << "\n";
  return ok ? 0 : 1;
}
