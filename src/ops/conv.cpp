// nn::unfold (a convolution's patches as columns) and nn::fold (its adjoint: columns summed back
// into an image). Each one's derivative is the other, so convolution written with unfold and
// matmul (nn/functional.cpp) is differentiable to any order. The convolution and max pooling
// as single ops (conv.hpp) keep those formulas as their derivatives.
#include "ops/conv.hpp"

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

namespace detail {

namespace {

// The convolution's gradients (x, weight[, bias]): by the kernel outside create_graph, else
// the unfold/matmul formulas, so that they are differentiable again.
struct Conv2dBackward final : SavingNode {
  NDGRAD_OP_NAME("conv2d")
  Tensor x, w;
  kernels::ConvGeometry geo{};
  Size2 kernel{1}, dilation{1}, padding{0}, stride{1};
  bool has_bias = false;
  void release_saved() override { x = w = Tensor(); }
  GradList backward(const Tensor& g) override {
    const kernels::PatchGeometry& p = geo.patches;
    const bool need_x = needs(0), need_w = needs(1), need_b = has_bias && needs(2);
    Tensor gx, gw, gb;
    if (!grad_enabled_here()) {
      const Tensor gc = raw_contiguous(g);
      const Tensor xc = need_w ? raw_contiguous(x) : Tensor();
      const Tensor wc = need_x ? raw_contiguous(w) : Tensor();
      if (need_x) gx = make_tensor_of_valid_shape(edges[0].shape, g.dtype(), "conv2d");
      if (need_w) gw = make_tensor_of_valid_shape(edges[1].shape, g.dtype(), "conv2d");
      if (need_b) gb = make_tensor_of_valid_shape({geo.out_channels}, g.dtype(), "conv2d");
      kernels::conv2d_backward(g.dtype(), geo, need_w ? xc.impl()->read_data() : nullptr,
                               need_x ? wc.impl()->read_data() : nullptr, gc.impl()->read_data(),
                               need_x ? gx.impl()->data() : nullptr,
                               need_w ? gw.impl()->data() : nullptr,
                               need_b ? gb.impl()->data() : nullptr);
    } else {
      const int64_t G = geo.groups, og = geo.out_channels / G, kk = kernel.h * kernel.w;
      const int64_t ck = p.channels / G * kk, L = p.out_h * p.out_w;
      const Tensor g4 = g.reshape({p.batch, G, og, L});
      if (need_x)
        gx = fold(matmul(w.reshape({G, og, ck}).mT(), g4).reshape({p.batch, p.channels * kk, L}),
                  Size2(p.height, p.width), kernel, dilation, padding, stride);
      if (need_w)
        gw = matmul(g4,
                    unfold(x, kernel, dilation, padding, stride).reshape({p.batch, G, ck, L}).mT())
                 .sum({0})
                 .reshape(Shape(edges[1].shape));
      if (need_b) gb = g.sum({0, 2, 3});
    }
    if (has_bias) return grad_list(std::move(gx), std::move(gw), std::move(gb));
    return grad_list(std::move(gx), std::move(gw));
  }
};

// Max pooling's gradient: g scattered to the maxima's positions (by the kernel, or by
// scatter_add under create_graph: its derivative in g is the gather back).
struct MaxPool2dBackward final : Node {
  NDGRAD_OP_NAME("max_pool2d")
  Tensor indices;  // i64 (B, C, out_h, out_w): positions in each (H, W) plane
  kernels::PoolGeometry geo{};
  Shape shape;  // the input's
  void release_saved() override { indices = Tensor(); }
  GradList backward(const Tensor& g) override {
    if (!grad_enabled_here()) {
      const Tensor gc = raw_contiguous(g);
      Tensor gx = make_tensor_of_valid_shape(shape, g.dtype(), "max_pool2d");
      kernels::max_pool2d_backward(g.dtype(), geo, gc.impl()->read_data(),
                                   reinterpret_cast<const int64_t*>(indices.impl()->read_data()),
                                   gx.impl()->data());
      return grad_list(std::move(gx));
    }
    const int64_t L = geo.out_h * geo.out_w;
    // A window with no element inside the plane (index -1) is impossible under the caller's
    // geometry; every index is a position in its plane.
    const Tensor flat = zeros({geo.planes, geo.height * geo.width}, g.dtype());
    return grad_list(
        scatter_add(flat, 1, indices.reshape({geo.planes, L}), g.reshape({geo.planes, L}))
            .reshape(shape));
  }
};

}  // namespace

Tensor conv2d_gemm(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
                   Size2 padding, Size2 dilation, int64_t groups) {
  const Dims& s = x.impl()->shape;
  const Size2 kernel(weight.size(2), weight.size(3));
  kernels::ConvGeometry geo{
      geometry("conv2d", s[0], s[1], s[2], s[3], kernel, dilation, padding, stride), weight.size(0),
      groups};
  const Tensor xc = raw_contiguous(x), wc = raw_contiguous(weight);
  const Tensor bc = bias.defined() ? raw_contiguous(bias) : Tensor();
  Tensor out = make_tensor({s[0], geo.out_channels, geo.patches.out_h, geo.patches.out_w},
                           x.dtype(), "conv2d");
  kernels::conv2d_forward(x.dtype(), geo, xc.impl()->read_data(), wc.impl()->read_data(),
                          bias.defined() ? bc.impl()->read_data() : nullptr, out.impl()->data());
  Conv2dBackward* node = bias.defined() ? record<Conv2dBackward>(out, {&x, &weight, &bias})
                                        : record<Conv2dBackward>(out, {&x, &weight});
  if (node) {
    node->geo = geo;
    node->kernel = kernel;
    node->dilation = dilation;
    node->padding = padding;
    node->stride = stride;
    node->has_bias = bias.defined();
    // Only what the rules read: x for the weight's gradient, the weight for x's.
    if (node->needs(1)) node->x = node->save(x, "the input");
    if (node->needs(0)) node->w = node->save(weight, "the weight");
  }
  return out;
}

Tensor max_pool2d_direct(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation,
                         int64_t out_h, int64_t out_w) {
  const Dims& s = x.impl()->shape;
  const kernels::PoolGeometry geo{s[0] * s[1], s[2],     s[3],      kernel.h,  kernel.w,
                                  stride.h,    stride.w, padding.h, padding.w, dilation.h,
                                  dilation.w,  out_h,    out_w};
  const Tensor xc = raw_contiguous(x);
  Tensor out = make_tensor({s[0], s[1], out_h, out_w}, x.dtype(), "max_pool2d");
  Tensor indices = make_tensor({s[0], s[1], out_h, out_w}, DType::i64, "max_pool2d");
  kernels::max_pool2d_forward(x.dtype(), geo, xc.impl()->read_data(), out.impl()->data(),
                              reinterpret_cast<int64_t*>(indices.impl()->data()));
  if (auto node = record<MaxPool2dBackward>(out, {&x})) {
    node->indices = std::move(indices);
    node->geo = geo;
    node->shape = x.shape();
  }
  return out;
}

}  // namespace detail

}  // namespace ndgrad::nn
