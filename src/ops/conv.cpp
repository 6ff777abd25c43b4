// nn::unfold (a convolution's patches as columns) and nn::fold (its adjoint: columns summed back
// into an image). Each one's derivative is the other, so convolution written with unfold and
// matmul (nn/conv.cpp) is differentiable to any order.
#include <algorithm>
#include <string>

#include "ndgrad/nn.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad::nn {

namespace {

std::string pair_str(const Size2& s) {
  return "(" + std::to_string(s.h) + ", " + std::to_string(s.w) + ")";
}

// The geometry of an unfold or fold of spatial size (height, width); out_h/out_w from the
// parameters, checked (op names the caller in errors).
kernels::PatchGeometry geometry(const char* op, int64_t batch, int64_t channels, int64_t height,
                                int64_t width, const Size2& kernel, const Size2& dilation,
                                const Size2& padding, const Size2& stride) {
  auto check = [op](const Size2& s, const char* what, int64_t least) {
    if (s.h < least || s.w < least)
      throw ValueError(std::string(op) + ": " + what + " must be " +
                       (least ? "positive" : "non-negative") + ", got " + pair_str(s));
  };
  check(kernel, "kernel_size", 1);
  check(dilation, "dilation", 1);
  check(padding, "padding", 0);
  check(stride, "stride", 1);
  kernels::PatchGeometry g{batch,    channels,   height,     width,     kernel.h,
                           kernel.w, dilation.h, dilation.w, padding.h, padding.w,
                           stride.h, stride.w,   0,          0};
  // Sizes past 2^40 could overflow the arithmetic below: refused (no tensor is that large).
  // A stride only divides (and multiplies positions below out * stride <= the padded size).
  constexpr int64_t kLimit = int64_t(1) << 40;
  for (const Size2* s : {&kernel, &dilation, &padding})
    if (s->h > kLimit || s->w > kLimit)
      throw ValueError(std::string(op) + ": sizes above 2^40 are not supported, got " +
                       pair_str(*s));
  if (height > kLimit || width > kLimit)
    throw ValueError(std::string(op) + ": spatial sizes above 2^40 are not supported, got " +
                     pair_str({height, width}));
  int64_t span_h, span_w, kk;
  if (__builtin_mul_overflow(dilation.h, kernel.h - 1, &span_h) ||
      __builtin_mul_overflow(dilation.w, kernel.w - 1, &span_w) ||
      __builtin_mul_overflow(kernel.h, kernel.w, &kk) || __builtin_mul_overflow(kk, channels, &kk))
    throw ValueError(std::string(op) + ": the kernel " + pair_str(kernel) + " with dilation " +
                     pair_str(dilation) + " is too large");
  ++span_h;
  ++span_w;
  const int64_t room_h = height + 2 * padding.h - span_h, room_w = width + 2 * padding.w - span_w;
  if (room_h < 0 || room_w < 0)
    throw ShapeError(std::string(op) + ": the kernel " + pair_str(kernel) + " with dilation " +
                     pair_str(dilation) + " spans " + pair_str({span_h, span_w}) +
                     ", more than the padded input " +
                     pair_str({height + 2 * padding.h, width + 2 * padding.w}));
  g.out_h = room_h / stride.h + 1;
  g.out_w = room_w / stride.w + 1;
  int64_t cols;
  if (__builtin_mul_overflow(g.out_h, g.out_w, &cols) || __builtin_mul_overflow(cols, kk, &cols) ||
      __builtin_mul_overflow(cols, std::max<int64_t>(batch, 1), &cols))
    throw ValueError(std::string(op) + ": the columns would have more than 2^63 elements");
  return g;
}

struct FoldBackward;

struct UnfoldBackward final : Node {
  NDGRAD_OP_NAME("unfold")
  Size2 output_size{0}, kernel{1}, dilation{1}, padding{0}, stride{1};
  GradList backward(const Tensor& g) override {
    return grad_list(fold(g, output_size, kernel, dilation, padding, stride));
  }
};

struct FoldBackward final : Node {
  NDGRAD_OP_NAME("fold")
  Size2 kernel{1}, dilation{1}, padding{0}, stride{1};
  GradList backward(const Tensor& g) override {
    return grad_list(unfold(g, kernel, dilation, padding, stride));
  }
};

}  // namespace

Tensor unfold(const Tensor& x, Size2 kernel_size, Size2 dilation, Size2 padding, Size2 stride) {
  require_defined_arg(x, "unfold");
  if (x.ndim() != 3 && x.ndim() != 4)
    throw ShapeError(
        "unfold: expected a (batch, channels, height, width) or (channels, height, "
        "width) input, got shape " +
        shape_str(x.shape()));
  if (x.ndim() == 3)
    return unfold(x.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0);
  const Dims& s = x.impl()->shape;
  const kernels::PatchGeometry g =
      geometry("unfold", s[0], s[1], s[2], s[3], kernel_size, dilation, padding, stride);
  const Tensor xc = raw_contiguous(x);
  Tensor out = make_tensor({s[0], s[1] * kernel_size.h * kernel_size.w, g.out_h * g.out_w},
                           x.dtype(), "unfold");
  kernels::im2col(x.dtype(), g, xc.impl()->read_data(), out.impl()->data());
  if (auto node = record<UnfoldBackward>(out, {&x})) {
    node->output_size = Size2(s[2], s[3]);
    node->kernel = kernel_size;
    node->dilation = dilation;
    node->padding = padding;
    node->stride = stride;
  }
  return out;
}

Tensor fold(const Tensor& cols, Size2 output_size, Size2 kernel_size, Size2 dilation, Size2 padding,
            Size2 stride) {
  require_defined_arg(cols, "fold");
  if (cols.ndim() != 2 && cols.ndim() != 3)
    throw ShapeError(
        "fold: expected a (batch, channels * kernel positions, blocks) or (channels "
        "* kernel positions, blocks) input, got shape " +
        shape_str(cols.shape()));
  if (cols.ndim() == 2)
    return fold(cols.unsqueeze(0), output_size, kernel_size, dilation, padding, stride).squeeze(0);
  if (cols.dtype() == DType::boolean)
    throw DTypeError("fold sums overlapping patches: not defined for bool tensors");
  if (is_storage_only(cols.dtype())) {
    const DType cd = compute_dtype(cols.dtype());
    return fold(cols.to(cd), output_size, kernel_size, dilation, padding, stride).to(cols.dtype());
  }
  if (output_size.h < 0 || output_size.w < 0)
    throw ValueError("fold: output_size must be non-negative, got " + pair_str(output_size));
  const Dims& s = cols.impl()->shape;
  int64_t kk = 0;
  if (kernel_size.h > 0 && kernel_size.w > 0 &&
      __builtin_mul_overflow(kernel_size.h, kernel_size.w, &kk))
    throw ValueError("fold: kernel_size " + pair_str(kernel_size) + " is too large");
  if (kernel_size.h > 0 && kernel_size.w > 0 && s[1] % kk != 0)
    throw ShapeError("fold: the input's axis 1 (" + std::to_string(s[1]) +
                     ") must be a multiple of the kernel's " + std::to_string(kk) + " positions " +
                     pair_str(kernel_size) + ", got shape " + shape_str(s));
  const kernels::PatchGeometry g =
      geometry("fold", s[0], kernel_size.h > 0 && kernel_size.w > 0 ? s[1] / kk : 0, output_size.h,
               output_size.w, kernel_size, dilation, padding, stride);
  if (g.out_h * g.out_w != s[2])
    throw ShapeError("fold: output_size " + pair_str(output_size) + " has " +
                     std::to_string(g.out_h) + " x " + std::to_string(g.out_w) +
                     " blocks, but the input's axis 2 has " + std::to_string(s[2]) + " (shape " +
                     shape_str(s) + ")");
  const Tensor cc = raw_contiguous(cols);
  Tensor out = make_tensor({s[0], g.channels, output_size.h, output_size.w}, cols.dtype(), "fold");
  kernels::col2im(cols.dtype(), g, cc.impl()->read_data(), out.impl()->data());
  if (auto node = record<FoldBackward>(out, {&cols})) {
    node->kernel = kernel_size;
    node->dilation = dilation;
    node->padding = padding;
    node->stride = stride;
  }
  return out;
}

}  // namespace ndgrad::nn
