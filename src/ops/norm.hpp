#pragma once
// Batch and layer normalization as ops of their own (ops/norm.cpp): nn::batch_norm and
// nn::layer_norm (nn/functional.cpp) call them for float32 and float64 (x, weight and bias of
// one dtype, not empty) once their arguments are checked. Their derivatives are the closed
// forms of the compositions they replace (mean, var, rsqrt, the affine), computed by kernels
// outside create_graph and written with those differentiable ops under it.
#include "ndgrad/nn.hpp"

namespace ndgrad::nn::detail {

// x (B, C, ...): each channel normalized over batch and positions. training: by the batch's
// statistics, and running_mean / running_var (each optional) updated with momentum (the
// unbiased variance for running_var); otherwise by running_mean and running_var (both
// defined, not recording gradients). weight, bias (C) or undefined.
Tensor batch_norm_fused(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                        const Tensor& weight, const Tensor& bias, bool training, double momentum,
                        double eps);

// x (..., normalized): each of its last k axes' blocks normalized; weight and bias of those
// axes' shape, or undefined.
Tensor layer_norm_fused(const Tensor& x, int64_t k, const Tensor& weight, const Tensor& bias,
                        double eps);

}  // namespace ndgrad::nn::detail
