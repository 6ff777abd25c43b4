// Writes the backward graph of the founding two-layer network as Graphviz DOT and, when
// Graphviz's `dot` is installed, renders it to SVG. Edges show the shapes that flow and where
// the engine sums a gradient down to a broadcast operand's shape.
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

int main(int argc, char** argv) {
  const std::string base = argc > 1 ? argv[1] : "two_layer_net";
  const int64_t B = 64, D = 784, H = 128, C = 10;
  Tensor X1 = randn({B, D}, 1);
  Tensor W1 = (randn({D, H}, 2) * 0.05).requires_grad_(), b1 = zeros({H}).requires_grad_();
  Tensor W2 = (randn({H, C}, 3) * 0.05).requires_grad_(), b2 = zeros({C}).requires_grad_();
  Tensor labels = arange(B, DType::i64) - floor_divide(arange(B, DType::i64), 10) * 10;
  Tensor h1 = relu(matmul(X1, W1) + b1);
  Tensor h2 = matmul(h1, W2) + b2;  // b2 (C) broadcast over the batch: summed back in backward
  Tensor loss = nn::cross_entropy(h2, labels);

  const std::string dot = to_dot(loss);
  {
    std::ofstream f(base + ".dot");
    f << dot;
    if (!f) {
      std::cerr << "backward_graph: cannot write " << base << ".dot\n";
      return 1;
    }
  }
  std::cout << dot << "wrote " << base << ".dot\n";
  if (std::system("command -v dot >/dev/null 2>&1") == 0) {
    const std::string cmd = "dot -Tsvg '" + base + ".dot' -o '" + base + ".svg'";
    if (std::system(cmd.c_str()) != 0) {
      std::cerr << "backward_graph: dot failed\n";
      return 1;
    }
    std::cout << "rendered " << base << ".svg\n";
  } else {
    std::cout << "Graphviz is not installed: apt-get install graphviz to render it\n";
  }
  return 0;
}
