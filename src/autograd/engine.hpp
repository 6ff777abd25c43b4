#pragma once
#include <vector>

#include "ndgrad/tensor.hpp"

namespace ndgrad {

// Reverse-mode pass from root, seeded with root_grad (root's shape).
// With inputs == nullptr, leaf gradients accumulate into .grad(); otherwise the gradient of
// each input is returned in *results (undefined where none arrived) and no .grad() changes.
void run_backward(const Tensor& root, const Tensor& root_grad, bool retain_graph, bool create_graph,
                  const std::vector<Tensor>* inputs, std::vector<Tensor>* results);

}  // namespace ndgrad
