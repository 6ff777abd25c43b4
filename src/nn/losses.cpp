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

namespace {

Tensor reduced(const Tensor& values, Reduction reduction, const char* op) {
  switch (reduction) {
    case Reduction::none:
      return values;
    case Reduction::sum:
      return values.sum();
    case Reduction::mean:
      return values.mean();
    case Reduction::batchmean:
      throw ValueError(std::string(op) + ": reduction batchmean is kl_div's only");
  }
  throw ValueError(std::string(op) + ": unknown reduction " +
                   std::to_string(static_cast<int>(reduction)));
}

// prediction and target defined, floating, of one shape (no silent broadcast).
void check_pair(const Tensor& prediction, const Tensor& target, const char* op) {
  require_defined_arg(prediction, op, "the input");
  require_defined_arg(target, op, "the target");
  if (prediction.shape() != target.shape())
    throw ShapeError(std::string(op) + ": input of shape " + shape_str(prediction.shape()) +
                     " and target of shape " + shape_str(target.shape()) +
                     " differ; broadcasting them would silently compare every pair");
  if (!is_floating(prediction.dtype()))
    throw DTypeError(std::string(op) + ": expected a floating input, got " +
                     dtype_name(prediction.dtype()));
}

// (B, C, d...) scores and (B, d...) class targets as rows (N, C) and (N): the class axis last.
struct ClassRows {
  Tensor scores, target;
};
ClassRows class_rows(const Tensor& scores, const Tensor& target, const char* op) {
  require_defined_arg(scores, op, "the input");
  require_defined_arg(target, op, "the target");
  if (!is_floating(scores.dtype()))
    throw DTypeError(std::string(op) + ": expected a floating input, got " +
                     dtype_name(scores.dtype()));
  if (is_floating(target.dtype()) || target.dtype() == DType::boolean)
    throw DTypeError(std::string(op) + ": the target must hold class indices (integers), got " +
                     dtype_name(target.dtype()));
  if (scores.ndim() < 1 || scores.ndim() == 0)
    throw ShapeError(std::string(op) + ": expected an input (batch, classes, ...)");
  Shape want = scores.shape();
  if (scores.ndim() >= 2)
    want.erase(want.begin() + 1);
  else
    want.clear();  // (C) with a 0-d target
  if (target.shape() != want)
    throw ShapeError(std::string(op) + ": input of shape " + shape_str(scores.shape()) +
                     " needs a target of shape " + shape_str(want) + ", got " +
                     shape_str(target.shape()));
  const int64_t classes = scores.ndim() >= 2 ? scores.size(1) : scores.size(0);
  const Tensor rows = scores.ndim() >= 2 ? moveaxis(scores, 1, -1).reshape({-1, classes})
                                         : scores.reshape({1, classes});
  return {rows, target.to(DType::i64).reshape({-1})};
}

// The per-row negative log-probabilities of the targets and their weights (0 where ignored),
// rows' classes checked.
struct Picked {
  Tensor nll, weights, valid;
};
Picked picked(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
              int64_t ignore_index, const char* op) {
  const int64_t classes = log_probs.size(1);
  if (weight.defined() && (weight.ndim() != 1 || weight.size(0) != classes))
    throw ShapeError(std::string(op) + ": weight must be (" + std::to_string(classes) +
                     "), got shape " + shape_str(weight.shape()));
  const Tensor valid = target != ignore_index;
  const Tensor safe = where(valid, target, int64_t(0));
  if (safe.numel() > 0) {
    const int64_t lo = static_cast<int64_t>(safe.min().item()),
                  hi = static_cast<int64_t>(safe.max().item());
    if (lo < 0 || hi >= classes)
      throw IndexError(std::string(op) + ": target " + std::to_string(lo < 0 ? lo : hi) +
                       " is out of range for " + std::to_string(classes) + " classes");
  }
  const Tensor nll = -take_along_axis(log_probs, safe.unsqueeze(1), 1).squeeze(1);
  Tensor w = weight.defined() ? index_select(weight.to(log_probs.dtype()), 0, safe)
                              : ones({safe.numel()}, log_probs.dtype());
  w = where(valid, w, 0.0);
  return {nll, w, valid};
}

Tensor class_loss_reduced(const Tensor& per_row, const Tensor& weights, const Shape& shape,
                          Reduction reduction, const char* op) {
  if (reduction == Reduction::none) return per_row.reshape(shape);
  if (reduction == Reduction::sum) return per_row.sum();
  if (reduction == Reduction::mean) return per_row.sum() / weights.sum();
  return reduced(per_row, reduction, op);  // (the error for any other)
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                int64_t ignore_index, Reduction reduction) {
  if (log_probs.defined() && is_half(log_probs.dtype()))
    return nll_loss(log_probs.to(DType::f32), target, weight, ignore_index, reduction)
        .to(log_probs.dtype());
  const ClassRows r = class_rows(log_probs, target, "nll_loss");
  const Picked p = picked(r.scores, r.target, weight, ignore_index, "nll_loss");
  return class_loss_reduced(p.nll * p.weights, p.weights, target.shape(), reduction, "nll_loss");
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index, double label_smoothing, Reduction reduction) {
  if (logits.defined() && is_half(logits.dtype()))
    return cross_entropy(logits.to(DType::f32), target, weight, ignore_index, label_smoothing,
                         reduction)
        .to(logits.dtype());
  if (!(label_smoothing >= 0 && label_smoothing <= 1))
    throw ValueError("cross_entropy: label_smoothing must be in [0, 1], got " +
                     std::to_string(label_smoothing));
  const ClassRows r = class_rows(logits, target, "cross_entropy");
  const Tensor lp = log_softmax(r.scores, 1);
  const Picked p = picked(lp, r.target, weight, ignore_index, "cross_entropy");
  Tensor per_row = p.nll * p.weights;
  if (label_smoothing > 0) {
    // Each class's -log p, weighted by the class weights, averaged over the classes.
    const Tensor all = weight.defined() ? -(lp * weight.to(lp.dtype())) : -lp;
    const Tensor smooth = where(p.valid, all.sum({1}), 0.0) / double(lp.size(1));
    per_row = per_row * (1 - label_smoothing) + smooth * label_smoothing;
  }
  return class_loss_reduced(per_row, p.weights, target.shape(), reduction, "cross_entropy");
}

Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target, const Tensor& weight,
                            Reduction reduction) {
  check_pair(probs, target, "binary_cross_entropy");
  const Tensor t = target.to(probs.dtype());
  // log clamped at -100 (PyTorch's): a probability of exactly 0 or 1 gives a finite loss.
  const Tensor l = -(t * maximum(log(probs), -100.0) + (1.0 - t) * maximum(log1p(-probs), -100.0));
  return reduced(weight.defined() ? l * weight : l, reduction, "binary_cross_entropy");
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const Tensor& weight, const Tensor& pos_weight,
                                        Reduction reduction) {
  check_pair(logits, target, "binary_cross_entropy_with_logits");
  const Tensor t = target.to(logits.dtype());
  // softplus(-x) = log(1 + e^-x), stable for any x.
  const Tensor sp = softplus(-logits);
  const Tensor l = pos_weight.defined() ? (1.0 - t) * logits + (1.0 + (pos_weight - 1.0) * t) * sp
                                        : (1.0 - t) * logits + sp;
  return reduced(weight.defined() ? l * weight : l, reduction, "binary_cross_entropy_with_logits");
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  check_pair(prediction, target, "mse_loss");
  const Tensor d = prediction - target;
  return reduced(d * d, reduction, "mse_loss");
}

Tensor l1_loss(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  check_pair(prediction, target, "l1_loss");
  return reduced(abs(prediction - target), reduction, "l1_loss");
}

Tensor smooth_l1_loss(const Tensor& prediction, const Tensor& target, Reduction reduction,
                      double beta) {
  check_pair(prediction, target, "smooth_l1_loss");
  if (!(beta >= 0)) throw ValueError("smooth_l1_loss: beta must be non-negative");
  const Tensor d = abs(prediction - target);
  if (beta == 0) return reduced(d, reduction, "smooth_l1_loss");
  return reduced(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction,
                 "smooth_l1_loss");
}

Tensor huber_loss(const Tensor& prediction, const Tensor& target, Reduction reduction,
                  double delta) {
  check_pair(prediction, target, "huber_loss");
  if (!(delta > 0)) throw ValueError("huber_loss: delta must be positive");
  const Tensor d = abs(prediction - target);
  return reduced(where(d <= delta, d * d * 0.5, (d - 0.5 * delta) * delta), reduction,
                 "huber_loss");
}

Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target) {
  check_pair(input, target, "kl_div");
  const Tensor l =
      log_target ? exp(target) * (target - input) : xlogy(target, target) - target * input;
  if (reduction == Reduction::batchmean)
    return input.ndim() > 0 ? l.sum() / double(std::max<int64_t>(input.size(0), 1)) : l.sum();
  return reduced(l, reduction, "kl_div");
}

}  // namespace ndgrad::nn
