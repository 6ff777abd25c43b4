// Softmax family and losses. cross_entropy's backward is one fused formula:
// d/dlogits = (softmax(logits) - onehot(labels)) / B.
#include "ndgrad/nn.hpp"
#include "ops/ops_common.hpp"
#include "ops/strict.hpp"

namespace ndgrad::nn {

namespace {

// The forward's row softmax, kept for cross_entropy's derivative with a history of its own
// (d softmax = y (g - sum(g y))), so that second derivatives reach the logits.
struct RowSoftmaxBackward : SavingNode {
  NDGRAD_OP_NAME("cross_entropy")  // part of cross_entropy's derivative
  Tensor y;
  void release_saved() override { y = Tensor(); }
  GradList backward(const Tensor& g) override {
    Tensor linked;
    const Tensor& p = saved_output(y, linked);
    return grad_list(p * (g - (g * p).sum({1}, true)));
  }
};

// One formula: (softmax(logits) - onehot) g / B, with the forward's softmax.
struct CrossEntropyBackward : SavingNode {
  NDGRAD_OP_NAME("cross_entropy")
  Tensor onehot, probs;  // probs: recorded (RowSoftmaxBackward) when the logits require grad
  int64_t rows = 1;
  void release_saved() override { onehot = probs = Tensor(); }
  GradList backward(const Tensor& g) override {
    return grad_list((probs - onehot) * (g / static_cast<double>(rows)));
  }
};

void check_labels(const Tensor& logits, const Tensor& labels) {
  require_defined_arg(logits, "cross_entropy", "logits");
  require_defined_arg(labels, "cross_entropy", "labels");
  require_floating(logits, "cross_entropy");
  if (logits.ndim() != 2)
    throw ShapeError("cross_entropy: logits must be (batch, classes), got " +
                     shape_str(logits.shape()));
  if (labels.dtype() != DType::i64)
    throw DTypeError(std::string("cross_entropy: labels must be i64 class indices, got ") +
                     dtype_name(labels.dtype()));
  if (labels.ndim() != 1 || labels.shape()[0] != logits.shape()[0])
    throw ShapeError("cross_entropy: labels of shape " + shape_str(labels.shape()) +
                     " do not match logits of shape " + shape_str(logits.shape()) + ": expected (" +
                     std::to_string(logits.shape()[0]) + ",)");
  if (logits.shape()[0] == 0) throw ValueError("cross_entropy: the batch is empty");
}

// axis, normalized, once logits are checked under the name of the function the user called.
int64_t softmax_axis(const Tensor& logits, int64_t axis, const char* name) {
  require_defined_arg(logits, name);
  require_floating(logits, name);
  return normalize_axis(axis, logits.ndim(), name);
}

}  // namespace

// Both subtract the max along the axis first, a constant shift (max_shift) that the results do
// not depend on, so their gradients are exact. Not logits - logsumexp(logits): in float32 a
// logsumexp near 1e8 has an ulp of 8, and the results lose their normalization.
Tensor log_softmax(const Tensor& logits, int64_t axis) {
  if (logits.defined() && is_half(logits.dtype()))
    return log_softmax(logits.to(DType::f32), axis).to(logits.dtype());
  const int64_t ax = softmax_axis(logits, axis, "log_softmax");
  if (logits.numel() == 0) return logits * 1.0;  // empty in, empty out (no max to shift by)
  StrictExemptScope exempt;                      // the keepdims shift and sum broadcast by design
  const Tensor z = logits - max_shift(logits, {ax});
  return z - log(exp(z).sum({ax}, true));
}

Tensor softmax(const Tensor& logits, int64_t axis) {
  if (logits.defined() && is_half(logits.dtype()))
    return softmax(logits.to(DType::f32), axis).to(logits.dtype());
  const int64_t ax = softmax_axis(logits, axis, "softmax");
  if (logits.numel() == 0) return logits * 1.0;
  StrictExemptScope exempt;
  const Tensor e = exp(logits - max_shift(logits, {ax}));
  return e / e.sum({ax}, true);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  if (logits.defined() && is_half(logits.dtype()))
    return cross_entropy(logits.to(DType::f32), labels).to(logits.dtype());
  if (labels.defined() && is_storage_only(labels.dtype()) && !is_floating(labels.dtype()))
    return cross_entropy(logits, labels.to(DType::i64));  // u8 labels, as datasets store them
  check_labels(logits, labels);
  const int64_t rows = logits.shape()[0], cols = logits.shape()[1];
  const Tensor lab = labels.contiguous();
  const int64_t* l = lab.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows; ++i)
    if (l[i] < 0 || l[i] >= cols)
      throw ValueError("cross_entropy: label " + std::to_string(l[i]) + " at index " +
                       std::to_string(i) + " is out of range for " + std::to_string(cols) +
                       " classes");
  const Tensor x = raw_contiguous(logits);
  const bool needs_grad = any_records_grad({&logits});
  Tensor probs = needs_grad ? make_tensor({rows, cols}, logits.dtype(), "cross_entropy") : Tensor();
  const double total = kernels::softmax_cross_entropy(
      logits.dtype(), rows, cols, x.impl()->data(), l, needs_grad ? probs.impl()->data() : nullptr);
  Tensor out = scalar(total / static_cast<double>(rows), logits.dtype());
  if (auto node = record<CrossEntropyBackward>(out, {&logits})) {
    Tensor onehot = zeros({rows, cols}, logits.dtype());
    for (int64_t i = 0; i < rows; ++i)
      kernels::fill(onehot.impl()->data() + (i * cols + l[i]) * itemsize(logits.dtype()),
                    logits.dtype(), 1, 1.0);
    if (auto softmax_node = record<RowSoftmaxBackward>(probs, {&logits}))
      softmax_node->y = softmax_node->save(probs.detach(), "the softmax");
    node->onehot = onehot;
    node->probs = node->save(probs, "the softmax");
    node->rows = rows;
  }
  return out;
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target) {
  require_defined_arg(prediction, "mse_loss", "prediction");
  require_defined_arg(target, "mse_loss", "target");
  if (prediction.shape() != target.shape())
    throw ShapeError("mse_loss: prediction of shape " + shape_str(prediction.shape()) +
                     " and target of shape " + shape_str(target.shape()) +
                     " differ; broadcasting them would silently compare every pair");
  const Tensor d = prediction - target;
  return (d * d).mean();
}

}  // namespace ndgrad::nn
