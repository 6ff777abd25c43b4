// Convolution, pooling, dropout and normalization written with differentiable ops: unfold/fold
// (ops/conv.cpp), matmul, the reductions. Every gradient, to any order, comes from theirs.
// conv2d, max_pool2d, batch_norm and layer_norm hand float32/float64 work to ops of their own
// (ops/conv.hpp, ops/norm.hpp) whose derivatives are these compositions'.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "ndgrad/autograd.hpp"
#include "ndgrad/nn.hpp"
#include "ops/conv.hpp"
#include "ops/norm.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad::nn {

Padding::Padding(const char* mode) {
  if (mode != nullptr && std::strcmp(mode, "same") == 0) {
    same = true;
  } else if (mode == nullptr || std::strcmp(mode, "valid") != 0) {
    throw ValueError(std::string("padding: expected \"same\", \"valid\" or sizes, got \"") +
                     (mode ? mode : "(null)") + "\"");
  }
}

namespace {

std::string pair_str(const Size2& s) {
  return "(" + std::to_string(s.h) + ", " + std::to_string(s.w) + ")";
}

// An unbatched (C, H, W) image as a batch of one, and back.
struct Batched {
  Tensor x;
  bool added = false;
};
Batched batched(const Tensor& x, const char* op, int64_t spatial = 2) {
  require_defined_arg(x, op);
  if (x.ndim() == spatial + 1) return {x.unsqueeze(0), true};
  if (x.ndim() != spatial + 2)
    throw ShapeError(std::string(op) + ": expected a (batch, channels" +
                     (spatial == 2 ? ", height, width" : ", length") + ") input or one without " +
                     "the batch axis, got shape " + shape_str(x.shape()));
  return {x, false};
}
Tensor unbatched(const Tensor& y, const Batched& b) { return b.added ? y.squeeze(0) : y; }

// The window count along an axis of n (padded by pad each side) for pooling, and how far past
// the padded end the last window runs (ceil_mode; PyTorch's rule: a window must start inside
// the input or its left padding).
struct Windows {
  int64_t out, extra;
};
Windows windows(const char* op, int64_t n, int64_t kernel, int64_t stride, int64_t pad,
                int64_t dilation, bool ceil_mode) {
  constexpr int64_t kLimit = int64_t(1) << 40;  // no overflow below
  if (kernel > kLimit || pad > kLimit || dilation > kLimit || n > kLimit)
    throw ValueError(std::string(op) + ": sizes above 2^40 are not supported");
  const int64_t span = dilation * (kernel - 1) + 1, room = n + 2 * pad - span;
  // ceil(room / stride) + 1 windows with ceil_mode (room may be negative: a window larger than
  // the padded input still makes one when it starts inside), else floor.
  const int64_t steps = ceil_mode ? (room > 0 ? (room - 1) / stride + 1 : -((-room) / stride))
                                  : (room >= 0 ? room / stride : -1);
  int64_t out = steps + 1;
  if (ceil_mode && out > 0 && (out - 1) * stride >= n + pad) --out;
  if (out < 1)
    throw ShapeError(std::string(op) + ": the window (" + std::to_string(span) +
                     " wide with dilation) is larger than the padded input (" +
                     std::to_string(n + 2 * pad) + ")");
  return {out, std::max<int64_t>(0, (out - 1) * stride + span - (n + 2 * pad))};
}

void check_pool(const char* op, const Size2& kernel, const Size2& stride, const Size2& padding,
                const Size2& dilation) {
  if (kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1 || dilation.h < 1 ||
      dilation.w < 1 || padding.h < 0 || padding.w < 0)
    throw ValueError(std::string(op) + ": kernel_size " + pair_str(kernel) + ", stride " +
                     pair_str(stride) + " and dilation " + pair_str(dilation) +
                     " must be positive, padding " + pair_str(padding) + " non-negative");
  if (2 * padding.h > kernel.h || 2 * padding.w > kernel.w)
    throw ValueError(std::string(op) + ": padding " + pair_str(padding) +
                     " must be at most half the kernel_size " + pair_str(kernel));
}

// x padded by (top, bottom, left, right) with value.
Tensor pad_hw(const Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right,
              double value) {
  if (top == 0 && bottom == 0 && left == 0 && right == 0) return x;
  return pad(x, {{0, 0}, {0, 0}, {top, bottom}, {left, right}}, PadMode::constant, value);
}

// The pooling windows of x (B, C, H, W) as (B, C, kh * kw, out_h * out_w), x padded with value
// (and past the end for ceil_mode).
struct PoolColumns {
  Tensor cols;
  Windows h, w;
};
PoolColumns pool_columns(const char* op, const Tensor& x, const Size2& kernel, const Size2& stride,
                         const Size2& padding, const Size2& dilation, bool ceil_mode,
                         double value) {
  check_pool(op, kernel, stride, padding, dilation);
  const Windows h = windows(op, x.size(2), kernel.h, stride.h, padding.h, dilation.h, ceil_mode);
  const Windows w = windows(op, x.size(3), kernel.w, stride.w, padding.w, dilation.w, ceil_mode);
  const Tensor xp =
      pad_hw(x, padding.h, padding.h + h.extra, padding.w, padding.w + w.extra, value);
  const Tensor cols = unfold(xp, kernel, dilation, 0, stride);
  return {cols.reshape({x.size(0), x.size(1), kernel.h * kernel.w, h.out * w.out}), h, w};
}

}  // namespace

namespace {

// x, weight and bias (when defined) floating and of one dtype, as libtorch requires.
void check_conv_dtypes(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string(op) + ": expected a floating input, got " + dtype_name(x.dtype()));
  for (const Tensor* t : {&weight, &bias})
    if (t->defined() && t->dtype() != x.dtype())
      throw DTypeError(std::string(op) + ": the input is " + dtype_name(x.dtype()) + ", the " +
                       (t == &weight ? "weight " : "bias ") + dtype_name(t->dtype()) +
                       " (convert one of them)");
}

// Whether the single-op convolution and pooling (ops/conv.hpp) take these operands: float32 or
// float64, nothing empty. (The reference paths run them too, on plain loops.) The compositions
// below, the definitions the ops agree with, serve the rest.
bool direct_path(std::initializer_list<const Tensor*> operands) {
  for (const Tensor* t : operands)
    if (t->defined() && ((t->dtype() != DType::f32 && t->dtype() != DType::f64) || t->numel() == 0))
      return false;
  return true;
}

// f(), with the errors of the function it calls (unfold, fold, conv2d, the 2-d pools) named as
// op's.
template <class F>
Tensor named_as(const char* op, F&& f) {
  auto renamed = [op](const Error& e) {
    std::string m = e.what();
    for (const char* inner : {"unfold: ", "fold: ", "conv2d: ", "max_pool2d: ", "avg_pool2d: "})
      if (m.rfind(inner, 0) == 0) return std::string(op) + ": " + m.substr(std::strlen(inner));
    return m;
  };
  try {
    return f();
  } catch (const ShapeError& e) {
    throw ShapeError(renamed(e));
  } catch (const ValueError& e) {
    throw ValueError(renamed(e));
  }
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
              Padding padding, Size2 dilation, int64_t groups) {
  const Batched b = batched(x, "conv2d");
  require_defined_arg(weight, "conv2d", "weight");
  check_conv_dtypes("conv2d", x, weight, bias);
  if (weight.ndim() != 4)
    throw ShapeError(
        "conv2d: weight must be (out_channels, in_channels / groups, kh, kw), got "
        "shape " +
        shape_str(weight.shape()));
  const int64_t batch = b.x.size(0), channels = b.x.size(1), out_channels = weight.size(0);
  if (groups < 1 || channels % groups != 0 || out_channels % groups != 0)
    throw ValueError("conv2d: groups (" + std::to_string(groups) + ") must divide the input's " +
                     std::to_string(channels) + " and the weight's " +
                     std::to_string(out_channels) + " channels");
  if (weight.size(1) * groups != channels)
    throw ShapeError("conv2d: the input has " + std::to_string(channels) +
                     " channels, the weight (shape " + shape_str(weight.shape()) + ") expects " +
                     std::to_string(weight.size(1) * groups) +
                     (groups > 1 ? " (in_channels / groups times groups)" : "") + "; input shape " +
                     shape_str(x.shape()));
  if (bias.defined() && (bias.ndim() != 1 || bias.size(0) != out_channels))
    throw ShapeError("conv2d: bias must be (" + std::to_string(out_channels) + "), got shape " +
                     shape_str(bias.shape()));
  const Size2 kernel(weight.size(2), weight.size(3));
  Tensor input = b.x;
  Size2 pads = padding.size;
  if (padding.same) {
    if (stride.h != 1 || stride.w != 1)
      throw ValueError("conv2d: padding \"same\" needs stride 1, got " + pair_str(stride));
    const int64_t th = dilation.h * (kernel.h - 1), tw = dilation.w * (kernel.w - 1);
    if (th % 2 || tw % 2) {  // the odd one at the bottom and right
      input = pad_hw(input, th / 2, th - th / 2, tw / 2, tw - tw / 2, 0.0);
      pads = Size2(0);
    } else {
      pads = Size2(th / 2, tw / 2);
    }
  }
  if (direct_path({&input, &weight, &bias}))
    return unbatched(detail::conv2d_gemm(input, weight, bias, stride, pads, dilation, groups), b);
  const Tensor cols =  // (B, C k k, L)
      named_as("conv2d", [&] { return unfold(input, kernel, dilation, pads, stride); });
  const int64_t length = cols.size(2), kk = kernel.h * kernel.w;
  const int64_t out_h =
      (input.size(2) + 2 * pads.h - dilation.h * (kernel.h - 1) - 1) / stride.h + 1;
  const int64_t out_w = length / out_h;
  Tensor y;
  if (groups == 1) {
    y = matmul(weight.reshape({out_channels, channels * kk}), cols);  // (B, O, L)
  } else {
    const int64_t cg = channels / groups, og = out_channels / groups;
    y = matmul(weight.reshape({groups, og, cg * kk}),
               cols.reshape({batch, groups, cg * kk, length}))
            .reshape({batch, out_channels, length});
  }
  y = y.reshape({batch, out_channels, out_h, out_w});
  if (bias.defined()) y = y + bias.reshape({1, out_channels, 1, 1});
  return unbatched(y, b);
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              Padding padding, int64_t dilation, int64_t groups) {
  const Batched b = batched(x, "conv1d", 1);
  require_defined_arg(weight, "conv1d", "weight");
  if (weight.ndim() != 3)
    throw ShapeError("conv1d: weight must be (out_channels, in_channels / groups, k), got shape " +
                     shape_str(weight.shape()));
  Padding p2 = padding.same ? Padding("same") : Padding(0, padding.size.w);
  if (!padding.same && padding.size.h != padding.size.w)
    throw ValueError("conv1d: padding must be one number");
  const Tensor y = named_as("conv1d", [&] {
    return conv2d(b.x.unsqueeze(2), weight.unsqueeze(2), bias, Size2(1, stride), p2,
                  Size2(1, dilation), groups);
  });
  return unbatched(y.squeeze(2), b);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride,
                        Size2 padding, Size2 output_padding, int64_t groups, Size2 dilation) {
  const Batched b = batched(x, "conv_transpose2d");
  require_defined_arg(weight, "conv_transpose2d", "weight");
  check_conv_dtypes("conv_transpose2d", x, weight, bias);
  if (weight.ndim() != 4)
    throw ShapeError(
        "conv_transpose2d: weight must be (in_channels, out_channels / groups, kh, "
        "kw), got shape " +
        shape_str(weight.shape()));
  const int64_t batch = b.x.size(0), channels = b.x.size(1), h = b.x.size(2), w = b.x.size(3);
  if (groups < 1 || channels % groups != 0)
    throw ValueError("conv_transpose2d: groups (" + std::to_string(groups) +
                     ") must divide the input's " + std::to_string(channels) + " channels");
  if (weight.size(0) != channels)
    throw ShapeError("conv_transpose2d: the input has " + std::to_string(channels) +
                     " channels, the weight (shape " + shape_str(weight.shape()) + ") expects " +
                     std::to_string(weight.size(0)));
  if (output_padding.h < 0 || output_padding.w < 0 ||
      (output_padding.h >= stride.h && output_padding.h >= dilation.h) ||
      (output_padding.w >= stride.w && output_padding.w >= dilation.w))
    throw ValueError("conv_transpose2d: output_padding " + pair_str(output_padding) +
                     " must be smaller than the stride " + pair_str(stride) + " or the dilation " +
                     pair_str(dilation));
  const int64_t og = weight.size(1), out_channels = og * groups, cg = channels / groups;
  const Size2 kernel(weight.size(2), weight.size(3));
  const int64_t kk = kernel.h * kernel.w;
  if (bias.defined() && (bias.ndim() != 1 || bias.size(0) != out_channels))
    throw ShapeError("conv_transpose2d: bias must be (" + std::to_string(out_channels) +
                     "), got shape " + shape_str(bias.shape()));
  const Size2 out(
      (h - 1) * stride.h - 2 * padding.h + dilation.h * (kernel.h - 1) + output_padding.h + 1,
      (w - 1) * stride.w - 2 * padding.w + dilation.w * (kernel.w - 1) + output_padding.w + 1);
  if (out.h < 1 || out.w < 1)
    throw ShapeError("conv_transpose2d: the output " + pair_str(out) + " would be empty (input " +
                     shape_str(x.shape()) + ", padding " + pair_str(padding) + ")");
  // Columns (B, O k k, H W) = each group's weights transposed times its input channels.
  const Tensor cols =
      matmul(weight.reshape({groups, cg, og * kk}).mT(), b.x.reshape({batch, groups, cg, h * w}))
          .reshape({batch, out_channels * kk, h * w});
  // Folded without padding (the full size, whose blocks are exactly the input's), then cropped
  // by padding at the top and left and by padding - output_padding at the bottom and right (a
  // negative crop: rows of zeros no patch reaches).
  Tensor y = named_as("conv_transpose2d", [&] {
    return fold(
        cols,
        Size2(out.h + 2 * padding.h - output_padding.h, out.w + 2 * padding.w - output_padding.w),
        kernel, dilation, 0, stride);
  });
  y = pad_hw(y, -padding.h, output_padding.h - padding.h, -padding.w, output_padding.w - padding.w,
             0.0);
  if (bias.defined()) y = y + bias.reshape({1, out_channels, 1, 1});
  return unbatched(y, b);
}

Tensor max_pool2d(const Tensor& x, Size2 kernel_size, std::optional<Size2> stride, Size2 padding,
                  Size2 dilation, bool ceil_mode) {
  const Batched b = batched(x, "max_pool2d");
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string("max_pool2d: expected a floating input, got ") +
                     dtype_name(x.dtype()));
  const Size2 st = stride.value_or(kernel_size);
  if (direct_path({&b.x})) {
    check_pool("max_pool2d", kernel_size, st, padding, dilation);
    const Windows h =
        windows("max_pool2d", b.x.size(2), kernel_size.h, st.h, padding.h, dilation.h, ceil_mode);
    const Windows w =
        windows("max_pool2d", b.x.size(3), kernel_size.w, st.w, padding.w, dilation.w, ceil_mode);
    return unbatched(
        detail::max_pool2d_direct(b.x, kernel_size, st, padding, dilation, h.out, w.out), b);
  }
  const PoolColumns p = pool_columns("max_pool2d", b.x, kernel_size, st, padding, dilation,
                                     ceil_mode, -std::numeric_limits<double>::infinity());
  Tensor first_max = argmax(p.cols, 2, true);
  {
    // A window with NaN: its last NaN takes the gradient (libtorch's rule: a larger value or a
    // NaN replaces the running maximum), where argmax would name the first.
    const Tensor nan = p.cols.isnan();
    const int64_t last = kernel_size.h * kernel_size.w - 1;
    const Tensor last_nan = last - argmax(nan.flip({2}).to(DType::i64), 2, true);
    first_max = where(nan.any({2}, true), last_nan, first_max);
  }
  if (padding.h > 0 || padding.w > 0 || p.h.extra > 0 || p.w.extra > 0) {
    // A window whose values are all -inf ties with its padding: its first element inside the
    // input takes the gradient (libtorch's), not a padding one.
    const Tensor inside =
        unfold(pad_hw(ones({1, 1, b.x.size(2), b.x.size(3)}), padding.h, padding.h + p.h.extra,
                      padding.w, padding.w + p.w.extra, 0.0),
               kernel_size, dilation, 0, st)
            .reshape({1, 1, kernel_size.h * kernel_size.w, p.h.out * p.w.out});
    const Tensor at_first = take_along_axis(p.cols, first_max, 2);
    first_max = where(at_first == -std::numeric_limits<double>::infinity(),
                      argmax(inside, 2, true).broadcast_to(first_max.shape()), first_max);
  }
  const Tensor y = take_along_axis(p.cols, first_max, 2);
  return unbatched(y.reshape({b.x.size(0), b.x.size(1), p.h.out, p.w.out}), b);
}

Tensor max_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride,
                  int64_t padding, int64_t dilation, bool ceil_mode) {
  const Batched b = batched(x, "max_pool1d", 1);
  const Tensor y = named_as("max_pool1d", [&] {
    return max_pool2d(b.x.unsqueeze(2), Size2(1, kernel_size),
                      Size2(1, stride.value_or(kernel_size)), Size2(0, padding), Size2(1, dilation),
                      ceil_mode);
  });
  return unbatched(y.squeeze(2), b);
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, std::optional<Size2> stride, Size2 padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const Batched b = batched(x, "avg_pool2d");
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string("avg_pool2d: expected a floating input, got ") +
                     dtype_name(x.dtype()));
  if (divisor_override && *divisor_override == 0)
    throw ValueError("avg_pool2d: divisor_override must not be 0");
  if (is_half(x.dtype()))  // summed in f32, rounded once
    return avg_pool2d(x.to(DType::f32), kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)
        .to(x.dtype());
  const Size2 st = stride.value_or(kernel_size);
  const PoolColumns p =
      pool_columns("avg_pool2d", b.x, kernel_size, st, padding, 1, ceil_mode, 0.0);
  const Tensor sums = p.cols.sum({2});  // (B, C, L)
  Tensor y;
  if (divisor_override) {
    y = sums / double(*divisor_override);
  } else {
    // Each window's count: ones over the input (and over the padding with count_include_pad,
    // but never past the padded end), summed over the window.
    Tensor mask = ones({1, 1, b.x.size(2), b.x.size(3)}, x.dtype());
    const double pad_value = count_include_pad ? 1.0 : 0.0;
    mask = pad_hw(mask, padding.h, padding.h, padding.w, padding.w, pad_value);
    mask = pad_hw(mask, 0, p.h.extra, 0, p.w.extra, 0.0);
    const Tensor counts = unfold(mask, kernel_size, 1, 0, st).sum({1});  // (1, L)
    y = sums / counts;
  }
  return unbatched(y.reshape({b.x.size(0), b.x.size(1), p.h.out, p.w.out}), b);
}

Tensor avg_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride,
                  int64_t padding, bool ceil_mode, bool count_include_pad) {
  const Batched b = batched(x, "avg_pool1d", 1);
  const Tensor y = named_as("avg_pool1d", [&] {
    return avg_pool2d(b.x.unsqueeze(2), Size2(1, kernel_size),
                      Size2(1, stride.value_or(kernel_size)), Size2(0, padding), ceil_mode,
                      count_include_pad);
  });
  return unbatched(y.squeeze(2), b);
}

Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size) {
  const Batched b = batched(x, "adaptive_avg_pool2d");
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string("adaptive_avg_pool2d: expected a floating input, got ") +
                     dtype_name(x.dtype()));
  if (output_size.h < 1 || output_size.w < 1)
    throw ValueError("adaptive_avg_pool2d: output_size must be positive, got " +
                     pair_str(output_size));
  // Along each spatial axis: the windows' elements gathered (out, widest window), the places
  // past a window's end masked out with where (a product with 0 would turn a NaN or inf
  // elsewhere into NaN), summed, over the window's length.
  auto pool_axis = [&](const Tensor& t, int64_t axis, int64_t out) {
    const int64_t n = t.size(axis);
    if (n < 1)
      throw ShapeError(
          "adaptive_avg_pool2d: the input's spatial size must be positive, got "
          "shape " +
          shape_str(x.shape()));
    if (out > (int64_t(1) << 31))
      throw ValueError("adaptive_avg_pool2d: output_size above 2^31 is not supported");
    int64_t widest = 0;
    for (int64_t i = 0; i < out; ++i)
      widest = std::max(widest, ((i + 1) * n + out - 1) / out - i * n / out);
    std::vector<double> idx, keep, len;
    for (int64_t i = 0; i < out; ++i) {
      const int64_t start = i * n / out, end = ((i + 1) * n + out - 1) / out;
      len.push_back(double(end - start));
      for (int64_t j = 0; j < widest; ++j) {
        idx.push_back(double(std::min(start + j, end - 1)));
        keep.push_back(start + j < end ? 1 : 0);
      }
    }
    Shape shape = t.shape();
    shape[static_cast<size_t>(axis)] = out;
    shape.insert(shape.begin() + axis + 1, widest);
    Shape along(shape.size(), 1);  // (out, widest) placed at axis
    along[static_cast<size_t>(axis)] = out;
    along[static_cast<size_t>(axis) + 1] = widest;
    const Tensor gathered = index_select(t, axis, tensor(idx, {out * widest}, DType::i64));
    const Tensor mask = tensor(keep, {out * widest}, DType::boolean).reshape(along);
    Shape lens(static_cast<size_t>(t.ndim()), 1);
    lens[static_cast<size_t>(axis)] = out;
    return where(mask, gathered.reshape(shape), 0.0).sum({axis + 1}) /
           tensor(len, {out}, t.dtype()).reshape(lens);
  };
  const Tensor xs = in_f32_if_half(b.x);
  const Tensor y = pool_axis(pool_axis(xs, 2, output_size.h), 3, output_size.w);
  return unbatched(is_half(x.dtype()) ? y.to(x.dtype()) : y, b);
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* generator) {
  require_defined_arg(x, "dropout");
  if (!(p >= 0 && p <= 1))
    throw ValueError("dropout: p must be in [0, 1], got " + std::to_string(p));
  if (!training || p == 0) return x;
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string("dropout: expected a floating input, got ") +
                     dtype_name(x.dtype()));
  if (p == 1) return x * 0.0;
  Generator& gen = generator ? *generator : default_generator();
  const DType dt = is_half(x.dtype()) ? DType::f32 : x.dtype();
  const Tensor keep = gen.bernoulli(1.0 - p, x.shape(), dt) * (1.0 / (1.0 - p));
  return x * keep.to(x.dtype());
}

namespace {

// The statistics' axes of x for batch_norm: all but 1.
std::vector<int64_t> all_but_channels(const Tensor& x) {
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < x.ndim(); ++d)
    if (d != 1) axes.push_back(d);
  return axes;
}

// v (C) shaped to broadcast along axis 1 of an ndim tensor.
Tensor per_channel(const Tensor& v, int64_t ndim) {
  Shape s(static_cast<size_t>(ndim), 1);
  s[1] = v.size(0);
  return v.reshape(s);
}

// Whether a normalization runs as its own op: x, weight and bias (where defined) all float32 or
// all float64, x not empty.
bool fused_norm(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if ((x.dtype() != DType::f32 && x.dtype() != DType::f64) || x.numel() == 0) return false;
  for (const Tensor* t : {&weight, &bias})
    if (t->defined() && t->dtype() != x.dtype()) return false;
  return true;
}

void check_channel_vector(const Tensor& v, int64_t channels, const char* op, const char* what) {
  if (v.defined() && (v.ndim() != 1 || v.size(0) != channels))
    throw ShapeError(std::string(op) + ": " + what + " must be (" + std::to_string(channels) +
                     "), got shape " + shape_str(v.shape()));
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  require_defined_arg(x, "batch_norm");
  if (x.ndim() < 2)
    throw ShapeError("batch_norm: expected (batch, channels, ...), got shape " +
                     shape_str(x.shape()));
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string("batch_norm: expected a floating input, got ") +
                     dtype_name(x.dtype()));
  const int64_t channels = x.size(1);
  check_channel_vector(running_mean, channels, "batch_norm", "running_mean");
  check_channel_vector(running_var, channels, "batch_norm", "running_var");
  check_channel_vector(weight, channels, "batch_norm", "weight");
  check_channel_vector(bias, channels, "batch_norm", "bias");
  for (const Tensor* r : {&running_mean, &running_var})
    if (r->defined() && !is_floating(r->dtype()))
      throw DTypeError(std::string("batch_norm: the running statistics must be floating, got ") +
                       dtype_name(r->dtype()));
  const std::vector<int64_t> axes = all_but_channels(x);
  const int64_t n = channels ? x.numel() / channels : 0;
  const Tensor xs = in_f32_if_half(x);
  if (x.numel() == 0) return x * 1.0;  // nothing to normalize; the statistics stay
  if (training && n <= 1)
    throw ValueError(
        "batch_norm: training needs more than one value a channel, got input "
        "shape " +
        shape_str(x.shape()));
  if (!training && (!running_mean.defined() || !running_var.defined()))
    throw ValueError(
        "batch_norm: evaluation (training false) needs running_mean and "
        "running_var");
  // The op of its own (ops/norm.hpp) unless running statistics used in evaluation take part in
  // autograd (their gradients come from the composition).
  if (fused_norm(x, weight, bias) &&
      (training || !(records_grad(running_mean) || records_grad(running_var))))
    return detail::batch_norm_fused(x, running_mean, running_var, weight, bias, training, momentum,
                                    eps);
  Tensor mean, var;
  if (training) {
    mean = xs.mean(axes, true);
    var = xs.var(axes, 0.0, true);
    if (running_mean.defined() || running_var.defined()) {
      NoGradGuard no_grad;
      Tensor rm = running_mean, rv = running_var;  // handles: the buffers are written in place
      if (rm.defined())
        rm.copy_(rm * (1 - momentum) + mean.reshape({channels}).to(rm.dtype()) * momentum);
      if (rv.defined())
        rv.copy_(rv * (1 - momentum) +
                 (var.reshape({channels}) * (double(n) / double(n - 1))).to(rv.dtype()) * momentum);
    }
  } else {
    mean = per_channel(running_mean.to(xs.dtype()), x.ndim());
    var = per_channel(running_var.to(xs.dtype()), x.ndim());
  }
  Tensor y = (xs - mean) * rsqrt(var + eps);
  if (weight.defined()) y = y * per_channel(weight.to(xs.dtype()), x.ndim());
  if (bias.defined()) y = y + per_channel(bias.to(xs.dtype()), x.ndim());
  return y.dtype() == x.dtype() ? y : y.to(x.dtype());
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  require_defined_arg(x, "layer_norm");
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  const Shape& s = x.shape();
  bool ok = k >= 1 && k <= x.ndim();
  for (int64_t i = 0; ok && i < k; ++i)
    ok = s[static_cast<size_t>(x.ndim() - k + i)] == normalized_shape[static_cast<size_t>(i)];
  if (!ok)
    throw ShapeError("layer_norm: the input's last axes " + shape_str(s) +
                     " must be normalized_shape " + shape_str(normalized_shape));
  for (const Tensor* v : {&weight, &bias})
    if (v->defined() && v->shape() != normalized_shape)
      throw ShapeError(std::string("layer_norm: ") + (v == &weight ? "weight" : "bias") +
                       " must have normalized_shape " + shape_str(normalized_shape) + ", got " +
                       shape_str(v->shape()));
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string("layer_norm: expected a floating input, got ") +
                     dtype_name(x.dtype()));
  if (fused_norm(x, weight, bias)) return detail::layer_norm_fused(x, k, weight, bias, eps);
  std::vector<int64_t> axes;
  for (int64_t d = x.ndim() - k; d < x.ndim(); ++d) axes.push_back(d);
  const Tensor xs = in_f32_if_half(x);
  Tensor y = (xs - xs.mean(axes, true)) * rsqrt(xs.var(axes, 0.0, true) + eps);
  if (weight.defined()) y = y * weight.to(xs.dtype());
  if (bias.defined()) y = y + bias.to(xs.dtype());
  return y.dtype() == x.dtype() ? y : y.to(x.dtype());
}

Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  require_defined_arg(x, "group_norm");
  if (x.ndim() < 2)
    throw ShapeError("group_norm: expected (batch, channels, ...), got shape " +
                     shape_str(x.shape()));
  const int64_t batch = x.size(0), channels = x.size(1);
  if (num_groups < 1 || channels % num_groups != 0)
    throw ValueError("group_norm: num_groups (" + std::to_string(num_groups) +
                     ") must divide the " + std::to_string(channels) + " channels");
  check_channel_vector(weight, channels, "group_norm", "weight");
  check_channel_vector(bias, channels, "group_norm", "bias");
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string("group_norm: expected a floating input, got ") +
                     dtype_name(x.dtype()));
  const Tensor xs = in_f32_if_half(x);
  if (x.numel() == 0) return x * 1.0;
  const Tensor g = xs.reshape({batch, num_groups, x.numel() / batch / num_groups});
  Tensor y = ((g - g.mean({2}, true)) * rsqrt(g.var({2}, 0.0, true) + eps)).reshape(x.shape());
  if (weight.defined()) y = y * per_channel(weight.to(xs.dtype()), x.ndim());
  if (bias.defined()) y = y + per_channel(bias.to(xs.dtype()), x.ndim());
  return y.dtype() == x.dtype() ? y : y.to(x.dtype());
}

Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
  require_defined_arg(indices, "embedding", "indices");
  require_defined_arg(weight, "embedding", "weight");
  if (weight.ndim() != 2)
    throw ShapeError("embedding: weight must be (num_embeddings, embedding_dim), got shape " +
                     shape_str(weight.shape()));
  if (is_floating(indices.dtype()) || indices.dtype() == DType::boolean)
    throw DTypeError(std::string("embedding: indices must be integers, got ") +
                     dtype_name(indices.dtype()));
  if (indices.numel() > 0) {
    const int64_t lo = static_cast<int64_t>(indices.min().item()),
                  hi = static_cast<int64_t>(indices.max().item());
    if (lo < 0 || hi >= weight.size(0))
      throw IndexError("embedding: index " + std::to_string(lo < 0 ? lo : hi) +
                       " is out of range for " + std::to_string(weight.size(0)) + " rows");
  }
  Shape out_shape = indices.shape();
  out_shape.push_back(weight.size(1));
  Tensor y = index_select(weight, 0, indices.reshape({-1})).reshape(out_shape);
  if (padding_idx) {
    const int64_t v = weight.size(0), p = *padding_idx < 0 ? *padding_idx + v : *padding_idx;
    if (p < 0 || p >= v)
      throw ValueError("embedding: padding_idx " + std::to_string(*padding_idx) +
                       " is outside the " + std::to_string(v) + " rows");
    if (y.requires_grad()) y = where((indices != p).unsqueeze(-1), y, y.detach());
  }
  return y;
}

}  // namespace ndgrad::nn
