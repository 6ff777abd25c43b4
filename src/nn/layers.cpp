// The layers of nn/functional.cpp's functions (parameters and buffers registered, options kept)
// and the initializers.
#include <cmath>
#include <functional>
#include <string>

#include "core/tensor_impl.hpp"
#include "ndgrad/autograd.hpp"
#include "ndgrad/linalg.hpp"
#include "ndgrad/nn.hpp"

namespace ndgrad::nn {

namespace {

void require_positive(int64_t v, const char* layer, const char* what) {
  if (v <= 0)
    throw ValueError(std::string(layer) + ": " + what + " must be positive, got " +
                     std::to_string(v));
}

void require_floating_dtype(DType dtype, const char* layer) {
  if (!is_floating(dtype))
    throw DTypeError(std::string(layer) + ": parameters must be floating, got " +
                     dtype_name(dtype));
}

// U(-bound, bound) of shape from seed's stream (drawn in f64, rounded once).
Tensor uniform_of(const Shape& shape, double bound, uint64_t seed, DType dtype) {
  return (rand(shape, seed, DType::f64) * (2 * bound) - bound).to(dtype);
}

// A convolution layer's checks, then its weight (out, in / groups, kernel...) and bias (out),
// He-uniform over fan_in (module comment in nn.hpp), registered through reg.
void conv_parameters(const char* layer, int64_t in, int64_t out, int64_t groups,
                     const Shape& kernel, bool bias, uint64_t seed, DType dtype, Tensor& weight,
                     Tensor& b, const std::function<Tensor(const std::string&, Tensor)>& reg) {
  require_positive(in, layer, "in_channels");
  require_positive(out, layer, "out_channels");
  require_positive(groups, layer, "groups");
  for (int64_t k : kernel) require_positive(k, layer, "kernel_size");
  require_floating_dtype(dtype, layer);
  if (in % groups || out % groups)
    throw ValueError(std::string(layer) + ": groups (" + std::to_string(groups) +
                     ") must divide in_channels (" + std::to_string(in) + ") and out_channels (" +
                     std::to_string(out) + ")");
  Shape shape{out, in / groups};
  shape.insert(shape.end(), kernel.begin(), kernel.end());
  int64_t fan_in = in / groups;
  for (int64_t k : kernel) fan_in *= k;
  weight = reg("weight", uniform_of(shape, std::sqrt(6.0 / double(fan_in)), seed, dtype));
  if (bias)
    b = reg("bias", uniform_of({out}, 1.0 / std::sqrt(double(fan_in)), seed ^ 0x5bd1e995u, dtype));
}

}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, Size2 kernel, Size2 stride_, Padding padding_,
               Size2 dilation_, int64_t groups_, bool bias_, uint64_t seed, DType dtype)
    : in_channels(in),
      out_channels(out),
      groups(groups_),
      kernel_size(kernel),
      stride(stride_),
      dilation(dilation_),
      padding(padding_) {
  conv_parameters("Conv2d", in, out, groups, {kernel.h, kernel.w}, bias_, seed, dtype, weight, bias,
                  [this](const std::string& n, Tensor t) { return register_parameter(n, t); });
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, stride, padding, dilation, groups);
}

Conv1d::Conv1d(int64_t in, int64_t out, int64_t kernel, int64_t stride_, Padding padding_,
               int64_t dilation_, int64_t groups_, bool bias_, uint64_t seed, DType dtype)
    : in_channels(in),
      out_channels(out),
      kernel_size(kernel),
      stride(stride_),
      dilation(dilation_),
      groups(groups_),
      padding(padding_) {
  conv_parameters("Conv1d", in, out, groups, {kernel}, bias_, seed, dtype, weight, bias,
                  [this](const std::string& n, Tensor t) { return register_parameter(n, t); });
}

Tensor Conv1d::forward(const Tensor& x) {
  return conv1d(x, weight, bias, stride, padding, dilation, groups);
}

MaxPool2d::MaxPool2d(Size2 kernel, std::optional<Size2> stride_, Size2 padding_, Size2 dilation_,
                     bool ceil)
    : kernel_size(kernel),
      stride(stride_.value_or(kernel)),
      padding(padding_),
      dilation(dilation_),
      ceil_mode(ceil) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  return max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode);
}

AvgPool2d::AvgPool2d(Size2 kernel, std::optional<Size2> stride_, Size2 padding_, bool ceil,
                     bool count_pad)
    : kernel_size(kernel),
      stride(stride_.value_or(kernel)),
      padding(padding_),
      ceil_mode(ceil),
      count_include_pad(count_pad) {}

Tensor AvgPool2d::forward(const Tensor& x) {
  return avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size); }

Dropout::Dropout(double p_, uint64_t seed) : p(p_), generator(seed) {
  if (!(p >= 0 && p <= 1))
    throw ValueError("Dropout: p must be in [0, 1], got " + std::to_string(p));
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), &generator); }

BatchNorm::BatchNorm(int64_t features, double eps_, double momentum_, bool affine,
                     bool track_running_stats, DType dtype, int64_t min_ndim, int64_t max_ndim,
                     const char* name)
    : num_features(features),
      eps(eps_),
      momentum(momentum_),
      min_ndim_(min_ndim),
      max_ndim_(max_ndim),
      name_(name) {
  require_positive(features, name, "num_features");
  require_floating_dtype(dtype, name);
  if (affine) {
    weight = register_parameter("weight", ones({features}, dtype));
    bias = register_parameter("bias", zeros({features}, dtype));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({features}, dtype));
    running_var = register_buffer("running_var", ones({features}, dtype));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::i64));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  require_defined_arg(x, name_);
  if (x.ndim() < min_ndim_ || x.ndim() > max_ndim_ || x.size(1) != num_features)
    throw ShapeError(std::string(name_) + ": expected " +
                     (max_ndim_ == 4
                          ? "(batch, " + std::to_string(num_features) + ", height, width)"
                          : "(batch, " + std::to_string(num_features) + ") or (batch, " +
                                std::to_string(num_features) + ", length)") +
                     ", got shape " + shape_str(x.shape()));
  const bool batch_stats = is_training() || !running_mean.defined();
  if (is_training() && running_mean.defined()) {
    NoGradGuard no_grad;
    num_batches_tracked.copy_(num_batches_tracked + int64_t(1));
  }
  return batch_norm(x, is_training() ? running_mean : (batch_stats ? Tensor() : running_mean),
                    is_training() ? running_var : (batch_stats ? Tensor() : running_var), weight,
                    bias, batch_stats, momentum, eps);
}

LayerNorm::LayerNorm(Shape shape, double eps_, bool affine, DType dtype)
    : normalized_shape(std::move(shape)), eps(eps_) {
  if (normalized_shape.empty()) throw ValueError("LayerNorm: normalized_shape is empty");
  for (int64_t d : normalized_shape) require_positive(d, "LayerNorm", "normalized_shape's sizes");
  require_floating_dtype(dtype, "LayerNorm");
  if (affine) {
    weight = register_parameter("weight", ones(normalized_shape, dtype));
    bias = register_parameter("bias", zeros(normalized_shape, dtype));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape, weight, bias, eps);
}

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps_, bool affine, DType dtype)
    : num_groups(groups), num_channels(channels), eps(eps_) {
  require_positive(groups, "GroupNorm", "num_groups");
  require_positive(channels, "GroupNorm", "num_channels");
  if (channels % groups)
    throw ValueError("GroupNorm: num_groups (" + std::to_string(groups) +
                     ") must divide num_channels (" + std::to_string(channels) + ")");
  require_floating_dtype(dtype, "GroupNorm");
  if (affine) {
    weight = register_parameter("weight", ones({channels}, dtype));
    bias = register_parameter("bias", zeros({channels}, dtype));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  if (x.defined() && x.ndim() >= 2 && x.size(1) != num_channels)
    throw ShapeError("GroupNorm: expected " + std::to_string(num_channels) +
                     " channels (axis 1), got shape " + shape_str(x.shape()));
  return group_norm(x, num_groups, weight, bias, eps);
}

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> padding, uint64_t seed,
                     DType dtype) {
  require_positive(num, "Embedding", "num_embeddings");
  require_positive(dim, "Embedding", "embedding_dim");
  require_floating_dtype(dtype, "Embedding");
  if (padding) {
    if (*padding < -num || *padding >= num)
      throw ValueError("Embedding: padding_idx " + std::to_string(*padding) + " is outside the " +
                       std::to_string(num) + " rows");
    padding_idx = *padding < 0 ? *padding + num : *padding;
  }
  Tensor w = randn({num, dim}, seed, DType::f64);
  if (padding_idx) w.index_put_({*padding_idx}, 0.0);
  weight = register_parameter("weight", w.to(dtype));
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, weight, padding_idx); }

Tensor Flatten::forward(const Tensor& x) {
  require_defined_arg(x, "Flatten");
  const int64_t nd = std::max<int64_t>(x.ndim(), 1);
  const int64_t s = start_dim < 0 ? start_dim + nd : start_dim;
  const int64_t e = end_dim < 0 ? end_dim + nd : end_dim;
  if (s < 0 || e >= nd || s > e)
    throw AxisError("Flatten: start_dim " + std::to_string(start_dim) + " and end_dim " +
                    std::to_string(end_dim) + " do not fit shape " + shape_str(x.shape()));
  Shape out;
  for (int64_t d = 0; d < s; ++d) out.push_back(x.size(d));
  int64_t n = 1;
  for (int64_t d = s; d <= e && d < x.ndim(); ++d) n *= x.size(d);
  out.push_back(n);
  for (int64_t d = e + 1; d < x.ndim(); ++d) out.push_back(x.size(d));
  return x.reshape(out);
}

ModuleList::ModuleList(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

ModuleList& ModuleList::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
  return *this;
}

Tensor ModuleList::forward(const Tensor&) {
  throw ValueError("ModuleList has no forward: call its modules");
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  if (!(max_norm >= 0)) throw ValueError("clip_grad_norm_: max_norm must be non-negative");
  if (!(norm_type > 0)) throw ValueError("clip_grad_norm_: norm_type must be positive");
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  NoGradGuard no_grad;
  double total = 0;
  for (const Tensor& g : grads) {
    const double n = norm(g.to(DType::f64), norm_type).item();
    total = std::isinf(norm_type) ? std::max(total, n) : total + std::pow(n, norm_type);
  }
  if (!std::isinf(norm_type)) total = std::pow(total, 1.0 / norm_type);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1)
    for (Tensor& g : grads) g.copy_(g * coef);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0)) throw ValueError("clip_grad_value_: clip_value must be non-negative");
  NoGradGuard no_grad;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) {
      Tensor g = p.grad();
      g.copy_(clamp(g, -clip_value, clip_value));
    }
}

namespace init {

namespace {

struct Fans {
  double in, out;
};
Fans fans(const Tensor& t, const char* op) {
  if (!t.defined()) throw ValueError(std::string(op) + ": the tensor is undefined");
  if (t.ndim() < 2)
    throw ValueError(std::string(op) + ": fan in and fan out need at least 2 dimensions, got " +
                     "shape " + shape_str(t.shape()));
  if (t.ndim() == 2) return {double(t.size(0)), double(t.size(1))};  // Linear's (in, out)
  double receptive = 1;
  for (int64_t d = 2; d < t.ndim(); ++d) receptive *= double(t.size(d));
  return {double(t.size(1)) * receptive, double(t.size(0)) * receptive};
}

// t's values replaced by v (same shape), unrecorded.
Tensor& assign(Tensor& t, const Tensor& v, const char* op) {
  if (!t.defined()) throw ValueError(std::string(op) + ": the tensor is undefined");
  if (!is_floating(t.dtype()))
    throw DTypeError(std::string(op) + ": expected a floating tensor, got " +
                     dtype_name(t.dtype()));
  NoGradGuard no_grad;
  t.copy_(v);
  return t;
}

Generator& gen_or_default(Generator* g) { return g ? *g : default_generator(); }

}  // namespace

Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }
Tensor& constant_(Tensor& t, double value) {
  return assign(t, full(t.defined() ? t.shape() : Shape{}, value, DType::f64), "constant_");
}
Tensor& uniform_(Tensor& t, double low, double high, Generator* g) {
  if (!(low <= high)) throw ValueError("uniform_: low must be at most high");
  return assign(t,
                gen_or_default(g).uniform(low, high, t.defined() ? t.shape() : Shape{}, DType::f64),
                "uniform_");
}
Tensor& normal_(Tensor& t, double mean, double std, Generator* g) {
  if (!(std >= 0)) throw ValueError("normal_: std must be non-negative");
  return assign(t,
                gen_or_default(g).normal(mean, std, t.defined() ? t.shape() : Shape{}, DType::f64),
                "normal_");
}
Tensor& xavier_uniform_(Tensor& t, double gain, Generator* g) {
  const Fans f = fans(t, "xavier_uniform_");
  const double b = gain * std::sqrt(6.0 / (f.in + f.out));
  return uniform_(t, -b, b, g);
}
Tensor& xavier_normal_(Tensor& t, double gain, Generator* g) {
  const Fans f = fans(t, "xavier_normal_");
  return normal_(t, 0, gain * std::sqrt(2.0 / (f.in + f.out)), g);
}
Tensor& kaiming_uniform_(Tensor& t, double a, FanMode mode, Generator* g) {
  const Fans f = fans(t, "kaiming_uniform_");
  const double fan = mode == FanMode::fan_in ? f.in : f.out;
  const double b = std::sqrt(2.0 / (1 + a * a)) * std::sqrt(3.0 / fan);
  return uniform_(t, -b, b, g);
}
Tensor& kaiming_normal_(Tensor& t, double a, FanMode mode, Generator* g) {
  const Fans f = fans(t, "kaiming_normal_");
  const double fan = mode == FanMode::fan_in ? f.in : f.out;
  return normal_(t, 0, std::sqrt(2.0 / (1 + a * a)) / std::sqrt(fan), g);
}
Tensor& orthogonal_(Tensor& t, double gain, Generator* g) {
  if (!t.defined() || t.ndim() < 2)
    throw ValueError("orthogonal_: expected a tensor of at least 2 dimensions");
  const int64_t rows = t.size(0), cols = t.numel() / std::max<int64_t>(rows, 1);
  Tensor m = gen_or_default(g).randn({rows, cols}, DType::f64);
  if (rows < cols) m = m.mT();
  const auto [q0, r] = linalg::qr(m);
  Tensor q = q0 * sign(diagonal(r)).unsqueeze(0);
  if (rows < cols) q = q.mT();
  return assign(t, (q * gain).reshape(t.shape()), "orthogonal_");
}

}  // namespace init

}  // namespace ndgrad::nn
