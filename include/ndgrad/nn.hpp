#pragma once
// Neural-network building blocks: losses, modules, parameter registration, save/load.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ndgrad/random.hpp"
#include "ndgrad/tensor.hpp"

namespace ndgrad::nn {

// Numerically stable (the max is subtracted before exp).
Tensor log_softmax(const Tensor& logits, int64_t axis = -1);
Tensor softmax(const Tensor& logits, int64_t axis = -1);
// logits (B, C) floating, labels (B) i64 (or i32, u8, i8) in [0, C): mean over the batch of
// -log softmax[label]. f16/bf16 logits are computed in f32 and the loss rounded back once.
// Backward is the fused (softmax - onehot) / B.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels_i64);
// mean((prediction - target)^2); the shapes must be equal (no silent broadcast).
Tensor mse_loss(const Tensor& prediction, const Tensor& target);

// How a loss reduces its per-element (or per-sample) values: none (their tensor), sum, mean;
// batchmean (kl_div only): the sum over the batch size.
enum class Reduction { none, sum, mean, batchmean };
// The losses of torch.nn.functional, with their semantics. Class targets are integer tensors
// (B) or (B, d1, ...) for input (B, C) or (B, C, d1, ...); ignore_index targets count nowhere
// (mean divides by the weights of the others); weight (C) weighs each class.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = Tensor(),
                int64_t ignore_index = -100, Reduction reduction = Reduction::mean);
// log_softmax over axis 1, then nll_loss; label_smoothing eps mixes in the uniform distribution
// over the classes (PyTorch's formula, weights included).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index = -100, double label_smoothing = 0.0,
                     Reduction reduction = Reduction::mean);
// -(t log p + (1 - t) log(1 - p)), each log at least -100 (PyTorch's); p in [0, 1].
Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target,
                            const Tensor& weight = Tensor(), Reduction reduction = Reduction::mean);
// The same on logits, without forming the probabilities: (1 - t) x + (1 + (pos_weight - 1) t)
// softplus(-x), stable for any x; weight and pos_weight broadcast.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const Tensor& weight = Tensor(),
                                        const Tensor& pos_weight = Tensor(),
                                        Reduction reduction = Reduction::mean);
Tensor mse_loss(const Tensor& prediction, const Tensor& target, Reduction reduction);
Tensor l1_loss(const Tensor& prediction, const Tensor& target,
               Reduction reduction = Reduction::mean);
// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta 0: l1_loss).
Tensor smooth_l1_loss(const Tensor& prediction, const Tensor& target,
                      Reduction reduction = Reduction::mean, double beta = 1.0);
// 0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta).
Tensor huber_loss(const Tensor& prediction, const Tensor& target,
                  Reduction reduction = Reduction::mean, double delta = 1.0);
// target (log target with log_target) times (log target - input): input holds log-probabilities.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
              bool log_target = false);

// --- convolution, pooling, dropout, normalization (PyTorch's torch.nn.functional semantics;
// images are (batch, channels, height, width), a 3-d input one image without the batch axis) ---

// Sizes along the two spatial axes (height, width); one number stands for both: 3 or {3, 5}.
struct Size2 {
  int64_t h, w;
  Size2(int64_t both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor)
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
};
// A convolution's padding: sizes as Size2, or "same" (the output has the input's size; stride
// 1; an odd total goes to the bottom and right, as PyTorch) or "valid" (none).
struct Padding {
  Size2 size{0};
  bool same = false;
  Padding(int64_t both) : size(both) {}  // NOLINT
  Padding(int both) : size(both) {}      // NOLINT (a literal 0 is not the null string)
  Padding(int64_t height, int64_t width) : size(height, width) {}
  Padding(Size2 s) : size(s) {}  // NOLINT
  Padding(const char* mode);     // NOLINT: "same" or "valid"
};

// The patches a kernel visits, as columns: (B, C, H, W) gives (B, C * kh * kw, L) with L the
// number of positions (row-major over the output grid); row c * kh * kw + ki * kw + kj holds
// element (ki, kj) of channel c's patches, 0 where a patch overlaps the padding. Any dtype.
Tensor unfold(const Tensor& x, Size2 kernel_size, Size2 dilation = 1, Size2 padding = 0,
              Size2 stride = 1);
// unfold's adjoint: columns (B, C * kh * kw, L) summed back into (B, C, output_size), where
// patches overlap the values add. L must be the number of positions output_size has.
Tensor fold(const Tensor& cols, Size2 output_size, Size2 kernel_size, Size2 dilation = 1,
            Size2 padding = 0, Size2 stride = 1);
// x (B, C, H, W), weight (O, C / groups, kh, kw), bias (O) or undefined: the cross-correlation
// (as PyTorch: the kernel is not flipped) of each group of channels with its weights.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              Size2 stride = 1, Padding padding = 0, Size2 dilation = 1, int64_t groups = 1);
// x (B, C, L), weight (O, C / groups, k): conv2d along one axis.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, Padding padding = 0, int64_t dilation = 1, int64_t groups = 1);
// The gradient of conv2d with respect to its input, as a layer: x (B, C, H, W), weight
// (C, O / groups, kh, kw); the output is (H - 1) stride - 2 padding + dilation (k - 1) +
// output_padding + 1 high (and the same wide). output_padding < stride or < dilation.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        Size2 stride = 1, Size2 padding = 0, Size2 output_padding = 0,
                        int64_t groups = 1, Size2 dilation = 1);
// The max over each window (stride defaults to the kernel size; padding at most half the
// kernel, padded with -inf). ceil_mode: the last window may run past the end (it must start
// inside the input or its left padding). The gradient goes to the first maximum of a window
// (overlapping windows add). Floating inputs; NaN wins.
Tensor max_pool2d(const Tensor& x, Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                  Size2 padding = 0, Size2 dilation = 1, bool ceil_mode = false);
Tensor max_pool1d(const Tensor& x, int64_t kernel_size,
                  std::optional<int64_t> stride = std::nullopt, int64_t padding = 0,
                  int64_t dilation = 1, bool ceil_mode = false);
// The mean over each window: of kh * kw values (padding counted) with count_include_pad, else
// of the input's values only; a window that ceil_mode lets run past the end counts up to the
// padded input's end. divisor_override replaces the count.
Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                  Size2 padding = 0, bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);
Tensor avg_pool1d(const Tensor& x, int64_t kernel_size,
                  std::optional<int64_t> stride = std::nullopt, int64_t padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);
// Output (B, C, output_size): cell i of an axis of n averages elements floor(i n / out) to
// ceil((i + 1) n / out) (PyTorch's windows).
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);
// In training, each element zeroed with probability p and the others scaled by 1 / (1 - p);
// x itself otherwise. Draws from generator (the default generator when null).
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true,
               Generator* generator = nullptr);
// (x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1), the statistics over the
// other axes: the batch's in training (the variance biased), which then also updates the
// running ones in place (running = (1 - momentum) running + momentum batch, the variance
// unbiased); the running ones otherwise. weight, bias, running_mean, running_var: (C) or
// undefined (training needs more than one value a channel).
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  bool training = false, double momentum = 0.1, double eps = 1e-5);
// Normalized over the last normalized_shape.size() axes (which must be normalized_shape),
// then * weight + bias (of normalized_shape, or undefined).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// x (B, C, ...): normalized over each group of C / num_groups channels (and the other axes),
// then * weight + bias per channel (C, or undefined).
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// The rows of weight (V, D) that indices (any shape, integers in [0, V)) name: indices.shape +
// (D). A padding_idx row gets no gradient.
Tensor embedding(const Tensor& indices, const Tensor& weight,
                 std::optional<int64_t> padding_idx = std::nullopt);

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Parameters of this module and its submodules, in registration order; names are dotted
  // paths ("0.weight", "encoder.1.bias").
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  void zero_grad();

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Buffers: state that is not trained (batch_norm's running statistics), in registration
  // order, dotted names as parameters'.
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<Tensor> buffers() const;
  // Parameters and buffers by name (detached handles of the same memory).
  std::map<std::string, Tensor> state_dict() const;
  // Copies every entry into the parameter or buffer of its name. Checks every name, shape and
  // dtype first (an entry missing, one the module does not have, or another shape or dtype is
  // a ValueError naming it) and changes nothing then.
  void load_state_dict(const std::map<std::string, Tensor>& state);
  // The checks of load_state_dict alone (a ValueError), changing nothing.
  void check_state_dict(const std::map<std::string, Tensor>& state) const;

  // The random generators of this module and its submodules (Dropout's), dotted names as
  // parameters': a checkpoint saves their positions, so a resumed run draws what an
  // uninterrupted one would.
  std::vector<std::pair<std::string, Generator*>> named_generators();

  // PyTorch interop. A model built of this library's modules in the order of a PyTorch model's
  // has its state_dict's names (dotted paths: "0.weight", "1.running_mean"); the layouts are
  // PyTorch's too (convolution weights (out, in / groups, k...), batch norm's buffers,
  // embedding and layer norm weights) but for Linear's weight, (in, out) here and (out, in)
  // there. torch_state_dict is the state_dict in PyTorch's layouts (what numpy.savez of a
  // PyTorch state_dict holds); load_torch_state_dict loads such a state, with the checks of
  // load_state_dict (dtypes included: a float64 array into float32 parameters is an error).
  std::map<std::string, Tensor> torch_state_dict() const;
  void load_torch_state_dict(const std::map<std::string, Tensor>& state);

  // An .npz file of the state_dict. save writes a temporary file and renames it over path;
  // load checks every name, shape and dtype before changing anything (an IOError naming it).
  void save(const std::string& path) const;
  void load(const std::string& path);

 protected:
  // Registers t (made to require grad) under name; returns the stored handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  // Registers t (never requiring grad) under name; returns the stored handle, whose memory
  // forward may update in place.
  Tensor register_buffer(const std::string& name, Tensor t);
  // One of this module's own parameters or buffers (name: its name here) in PyTorch's layout
  // (to_torch) or back from it: the tensor itself but for layouts that differ (Linear's weight).
  virtual Tensor torch_layout(const std::string& name, const Tensor& t, bool to_torch) const {
    (void)name, (void)to_torch;
    return t;
  }
  // This module's own generators (not its submodules').
  virtual std::vector<std::pair<std::string, Generator*>> own_generators() { return {}; }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_name(const std::string& what, const std::string& name) const;
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
               bool buffers) const;
  // Every parameter and buffer of this module and its submodules with the module that owns it
  // and its own name there.
  void walk(const std::string& prefix,
            const std::function<void(const Module& owner, const std::string& name,
                                     const std::string& path, const Tensor& t)>& f) const;
  std::vector<std::pair<std::string, Tensor>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// y = x W + b with W of shape (in, out) and b of shape (out) broadcast over rows.
// W ~ U(-sqrt(6/in), sqrt(6/in)) (He/Kaiming uniform, for ReLU), b ~ U(-1/sqrt(in), 1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, uint64_t seed = 0, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  int64_t in_features, out_features;
  Tensor weight, bias;

 protected:
  // PyTorch's weight is (out, in): the transpose.
  Tensor torch_layout(const std::string& name, const Tensor& t, bool to_torch) const override;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

// Applies its modules in order; they are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  template <class... Ms,
            class = std::enable_if_t<(sizeof...(Ms) > 0) &&
                                     (std::is_base_of_v<Module, std::decay_t<Ms>> && ...)>>
  explicit Sequential(Ms&&... modules) {
    (push_back(std::make_shared<std::decay_t<Ms>>(std::forward<Ms>(modules))), ...);
  }
  Sequential& push_back(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return modules_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// The layers of the functions above: their parameters (weight, bias) registered, their options
// kept. Weights are drawn from a Generator of the seed given: W ~ U(-sqrt(6 / fan_in),
// sqrt(6 / fan_in)) (He/Kaiming uniform, for ReLU, as Linear's), bias ~ U(-1 / sqrt(fan_in),
// 1 / sqrt(fan_in)), with fan_in = in_channels / groups * kernel positions.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Size2 stride = 1,
         Padding padding = 0, Size2 dilation = 1, int64_t groups = 1, bool bias = true,
         uint64_t seed = 0, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  int64_t in_channels, out_channels, groups;
  Size2 kernel_size, stride, dilation;
  Padding padding;
  Tensor weight, bias;  // (out, in / groups, kh, kw), (out) or undefined
};
class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         Padding padding = 0, int64_t dilation = 1, int64_t groups = 1, bool bias = true,
         uint64_t seed = 0, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  int64_t in_channels, out_channels, kernel_size, stride, dilation, groups;
  Padding padding;
  Tensor weight, bias;  // (out, in / groups, k), (out) or undefined
};
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                     Size2 padding = 0, Size2 dilation = 1, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  Size2 kernel_size, stride, padding, dilation;
  bool ceil_mode;
};
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                     Size2 padding = 0, bool ceil_mode = false, bool count_include_pad = true);
  Tensor forward(const Tensor& x) override;
  Size2 kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
};
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size) : output_size(output_size) {}
  Tensor forward(const Tensor& x) override;
  Size2 output_size;
};
// Zeroes with probability p in training (is_training()), from a Generator of its own.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, uint64_t seed = 0);
  Tensor forward(const Tensor& x) override;
  double p;
  Generator generator;

 protected:
  std::vector<std::pair<std::string, Generator*>> own_generators() override {
    return {{"generator", &generator}};
  }
};
// batch_norm over channels (axis 1) of (B, C) or (B, C, L) inputs (BatchNorm1d) or (B, C, H, W)
// (BatchNorm2d). weight (ones) and bias (zeros) when affine; buffers running_mean (zeros),
// running_var (ones) and num_batches_tracked when track_running_stats, which training updates
// and evaluation uses (without them, the batch's statistics always).
class BatchNorm : public Module {
 public:
  BatchNorm(int64_t num_features, double eps, double momentum, bool affine,
            bool track_running_stats, DType dtype, int64_t min_ndim, int64_t max_ndim,
            const char* name);
  Tensor forward(const Tensor& x) override;
  int64_t num_features;
  double eps, momentum;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  int64_t min_ndim_, max_ndim_;
  const char* name_;
};
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true,
                       DType dtype = DType::f32)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats, dtype, 2, 3,
                  "BatchNorm1d") {}
};
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true,
                       DType dtype = DType::f32)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats, dtype, 4, 4,
                  "BatchNorm2d") {}
};
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  Shape normalized_shape;
  double eps;
  Tensor weight, bias;
};
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true,
            DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;
  int64_t num_groups, num_channels;
  double eps;
  Tensor weight, bias;
};
// weight (num_embeddings, embedding_dim) ~ N(0, 1), the padding_idx row zeros.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim,
            std::optional<int64_t> padding_idx = std::nullopt, uint64_t seed = 0,
            DType dtype = DType::f32);
  Tensor forward(const Tensor& indices) override;
  std::optional<int64_t> padding_idx;
  Tensor weight;
};
// Axes start_dim..end_dim as one (PyTorch's Flatten: from axis 1 by default).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override;
  int64_t start_dim, end_dim;
};
class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
};
// Modules held in a list (named "0", "1", ...): their parameters are the list's; no forward of
// its own (a ValueError).
class ModuleList : public Module {
 public:
  ModuleList() = default;
  explicit ModuleList(std::vector<std::shared_ptr<Module>> modules);
  ModuleList& push_back(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return modules_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// torch.nn.utils' gradient clipping, in place on the parameters' gradients (those without one
// are skipped). clip_grad_norm_: the norm of all the gradients together (a p-norm; inf: the
// largest magnitude), and every gradient scaled by max_norm / (norm + 1e-6) when that is below
// 1; returns the norm (before clipping). clip_grad_value_: each element clamped to
// [-clip_value, clip_value].
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

// Initializers (torch.nn.init's), in place on any tensor (a parameter included; not recorded),
// from generator (the default one when null). fan_in / fan_out: a matrix (rows, cols) of
// Linear's layout (in, out) has fan_in rows; a convolution weight (out, in, k...) fan_in =
// in * k... and fan_out = out * k... (PyTorch's). gain: sqrt(2 / (1 + a^2)) for leaky_relu with
// slope a (sqrt(2) for relu), 1 for linear.
namespace init {
enum class FanMode { fan_in, fan_out };
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
Tensor& constant_(Tensor& t, double value);
Tensor& uniform_(Tensor& t, double low = 0, double high = 1, Generator* generator = nullptr);
Tensor& normal_(Tensor& t, double mean = 0, double std = 1, Generator* generator = nullptr);
// U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)); N(0, gain sqrt(2 / (fan_in + fan_out))).
Tensor& xavier_uniform_(Tensor& t, double gain = 1, Generator* generator = nullptr);
Tensor& xavier_normal_(Tensor& t, double gain = 1, Generator* generator = nullptr);
// U(-b, b), b = gain sqrt(3 / fan); N(0, gain / sqrt(fan)); gain for leaky_relu with slope a.
Tensor& kaiming_uniform_(Tensor& t, double a = 0, FanMode mode = FanMode::fan_in,
                         Generator* generator = nullptr);
Tensor& kaiming_normal_(Tensor& t, double a = 0, FanMode mode = FanMode::fan_in,
                        Generator* generator = nullptr);
// Rows (or columns, whichever are fewer) orthonormal, times gain: the Q of a Gaussian matrix
// (its first axis against the others flattened), signs fixed by R's diagonal.
Tensor& orthogonal_(Tensor& t, double gain = 1, Generator* generator = nullptr);
}  // namespace init

}  // namespace ndgrad::nn
