// The program behind docs/broadcasting-gradients.md: the regions between "// doc:NAME" and
// "// end doc:NAME" are the document's code, and what it prints is the document's output (a
// test runs both, so the tutorial cannot drift from the library).
#include <iostream>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

int main() {
  std::cout << "-- a column plus a row\n";
  {
    // doc:column_row
    Tensor a = tensor({1, 2, 3}, {3, 1}).requires_grad_();
    Tensor b = tensor({10, 20, 30, 40}, {1, 4}).requires_grad_();
    Tensor c = a + b;                       // (3,1) with (1,4) -> (3,4)
    Tensor g = arange(12).reshape({3, 4});  // an upstream gradient that is not all ones
    c.backward(g);
    std::cout << "g =\n" << g << "\n";
    std::cout << "a.grad() =\n" << a.grad() << "\n";  // g summed over axis 1, kept as (3,1)
    std::cout << "b.grad() =\n" << b.grad() << "\n";  // g summed over axis 0, kept as (1,4)
    // end doc:column_row
  }
  std::cout << "-- the bias of a layer\n";
  {
    // doc:bias
    const int64_t B = 4, N = 3, M = 2;
    Tensor X1 = arange(B * N).reshape({B, N});
    Tensor W2 = ones({N, M}).requires_grad_();
    Tensor b2 = zeros({M}).requires_grad_();
    Tensor h2 = matmul(X1, W2) + b2;  // b2 (2,) is broadcast over the batch: (4,2)
    Tensor G = arange(B * M).reshape({B, M}) - 3.0;
    h2.backward(G);
    std::cout << "b2.grad()   = " << b2.grad() << "\n";
    std::cout << "G.sum({0})  = " << G.sum({0}) << "\n";
    std::cout << "B * G[0]    = " << G.select(0, 0) * double(B) << "\n";  // not the rule
    // end doc:bias
  }
  std::cout << "-- the full form and the compact form\n";
  {
    // doc:full_form
    const int64_t B = 3, M = 2;
    Tensor J = jacobian([&](const Tensor& bias) { return zeros({B, M}) + bias; }, zeros({M}));
    std::cout << "dh2/db2 has shape " << shape_str(J.shape()) << ":\n" << J << "\n";
    Tensor G = arange(B * M).reshape({B, M});
    // contract the full form with G over the output's axes: the compact form
    Tensor compact = (G.reshape({B, M, 1}) * J).sum({0, 1});
    std::cout << "sum_ij G[i,j] J[i,j,:] = " << compact << " = G.sum({0}) = " << G.sum({0}) << "\n";
    // end doc:full_form
  }
  std::cout << "-- an audit of a training step\n";
  {
    // doc:audit
    BroadcastAudit audit;  // records every implicit broadcast while it lives
    Tensor pred = tensor({1, 2, 3, 4, 5}, {5, 1}).requires_grad_();  // a model's (5,1) output
    Tensor target = tensor({1, 2, 3, 4, 5}, {5});                    // labels of shape (5,)
    Tensor bias = zeros({3}).requires_grad_();
    Tensor diff = pred - target;     // meant elementwise: (5,1) - (5,) is (5,5)
    Tensor h = ones({5, 3}) + bias;  // a bias over a batch of 5: meant
    Tensor loss = (diff * diff).mean() + h.sum();
    loss.backward();
    for (const BroadcastRecord& r : audit.records()) {
      std::cout << r.op << ":";
      for (const Shape& s : r.operands) std::cout << " " << shape_str(s);
      std::cout << " -> " << shape_str(r.result) << ", " << r.count << " time(s)"
                << (r.suspicious ? ", SUSPICIOUS (an outer product)" : "") << "\n";
    }
    for (const Tensor* t : {&pred, &bias})
      if (auto l = audit.leaf(*t))
        std::cout << "leaf " << shape_str(l->shape) << ": each gradient element summed over "
                  << l->max_factor() << " values\n";
    std::cout << "loss = " << loss.item()
              << " (not 0: the differences of every pred with every target)\n";
    // end doc:audit
  }
  return 0;
}
