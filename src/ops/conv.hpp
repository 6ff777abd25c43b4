#pragma once
// Convolution and max pooling as ops of their own (ops/conv.cpp): nn::conv2d and nn::max_pool2d
// (nn/functional.cpp) call them for float32 and float64 once their arguments are checked.
// Their derivatives are the same formulas as the unfold/matmul compositions they replace,
// computed by kernels outside create_graph and written with those differentiable ops under it.
#include "ndgrad/nn.hpp"

namespace ndgrad::nn::detail {

// x (B, C, H, W), weight (O, C / groups, kh, kw), bias (O) or undefined: the convolution, one
// GEMM an image straight into (B, O, out_h, out_w). f32 or f64 of one dtype, every size
// positive, the arguments checked by the caller (the geometry is checked here, errors named
// conv2d).
Tensor conv2d_gemm(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
                   Size2 padding, Size2 dilation, int64_t groups);

// x (B, C, H, W) f32 or f64, non-empty: each window's maximum over out_h x out_w windows at
// (o * stride - padding + k * dilation), every window with an element inside the image (the
// caller's geometry, as for pooling). The positions of the maxima are kept for the gradient.
Tensor max_pool2d_direct(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation,
                         int64_t out_h, int64_t out_w);

}  // namespace ndgrad::nn::detail
