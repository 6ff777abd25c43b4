#pragma once
// 3x3 convolutions at stride 1 by Winograd's minimal filtering F(2x2, 3x3): each 2x2 block of
// outputs (a tile) from its 4x4 input patch with 16 products a channel pair instead of 36
// (docs/ARCHITECTURE.md, "Convolution"). float32 on CPUs with AVX-512, where the own GEMM runs.
#include "kernels/cpu/kernels.hpp"

namespace ndgrad::kernels {

// Whether winograd_conv3x3 takes this convolution: a 3x3 kernel at stride 1 without dilation,
// one group, at least 16 channels in and out (fewer: the direct GEMM is as fast), an image
// small enough for 32-bit offsets, the own GEMM available and the reference paths off.
bool winograd_applies(const ConvGeometry& c);

// y (batch, out_channels, out_h, out_w) = the convolution of x (batch, channels, height,
// width) with w, plus bias (null: none). w is (out_channels, channels, 3, 3); with adjoint it is
// (channels, out_channels, 3, 3) used flipped: the convolution whose input is another one's
// output gradient and whose output is that one's input gradient (padding 2 - its padding).
// False, with y partly written, when x or w holds an infinity or a NaN: the transforms would
// spread it to a tile's other outputs, so the caller sums directly instead.
bool winograd_conv3x3(const ConvGeometry& c, const float* x, const float* w, const float* bias,
                      bool adjoint, float* y);

}  // namespace ndgrad::kernels
