// Batch and layer normalization as single ops (norm.hpp): the statistics, the normalization and
// the affine in one kernel each way (kernels/cpu/norm.cpp); the mean and rstd kept for the
// backward. Under create_graph the nodes write the same closed-form gradients with
// differentiable ops (mean, var, rsqrt, sums), so that second derivatives are the
// composition's.
#include "ops/norm.hpp"

#include <cmath>
#include <vector>

#include "ndgrad/autograd.hpp"
#include "ndgrad/nn.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad::nn::detail {

namespace {

// A node over x and, when defined, the weight and the bias (edges in that order).
template <class N>
N* record_affine(Tensor& out, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (w.defined() && b.defined()) return record<N>(out, {&x, &w, &b});
  if (w.defined()) return record<N>(out, {&x, &w});
  if (b.defined()) return record<N>(out, {&x, &b});
  return record<N>(out, {&x});
}

GradList affine_grads(Tensor gx, Tensor gw, Tensor gb, bool has_w, bool has_b) {
  GradList list;
  list.emplace_back(std::move(gx));
  if (has_w) list.emplace_back(std::move(gw));
  if (has_b) list.emplace_back(std::move(gb));
  return list;
}

const char* ptr(const Tensor& t) { return t.defined() ? t.impl()->read_data() : nullptr; }
char* wptr(Tensor& t) { return t.defined() ? t.impl()->data() : nullptr; }

// The rstd of the formula xhat = (x - mean) rstd, its gradient, and the gradient of the
// normalized x through the statistics over axes: rstd (gh - mean(gh) - xhat mean(gh xhat)).
Tensor through_statistics(const Tensor& gh, const Tensor& xhat, const Tensor& rstd,
                          const std::vector<int64_t>& axes) {
  return rstd * (gh - gh.mean(axes, true) - xhat * (gh * xhat).mean(axes, true));
}

struct BatchNormBackward final : SavingNode {
  NDGRAD_OP_NAME("batch_norm")
  Tensor x, w, mean, rstd;  // mean and rstd (C): the batch's, or the running statistics'
  kernels::NormGeometry geo{};
  bool training = true, has_w = false, has_b = false;
  double eps = 1e-5;
  void release_saved() override { x = w = mean = rstd = Tensor(); }
  GradList backward(const Tensor& g) override {
    const bool need_x = needs(0), need_w = has_w && needs(1),
               need_b = has_b && needs(has_w ? 2 : 1);
    Tensor gx, gw, gb;
    if (!grad_enabled_here()) {
      const Tensor gc = raw_contiguous(g), xc = raw_contiguous(x);
      const Tensor wc = has_w ? raw_contiguous(w) : Tensor();
      if (need_x) gx = make_tensor_of_valid_shape(edges[0].shape, g.dtype(), "batch_norm");
      if (need_w) gw = make_tensor_of_valid_shape({geo.channels}, g.dtype(), "batch_norm");
      if (need_b) gb = make_tensor_of_valid_shape({geo.channels}, g.dtype(), "batch_norm");
      kernels::batch_norm_backward(g.dtype(), geo, ptr(xc), ptr(wc), ptr(mean), ptr(rstd), ptr(gc),
                                   training, wptr(gx), wptr(gw), wptr(gb));
    } else {
      std::vector<int64_t> axes;
      Shape per(static_cast<size_t>(x.ndim()), 1);
      per[1] = geo.channels;
      for (int64_t d = 0; d < x.ndim(); ++d)
        if (d != 1) axes.push_back(d);
      Tensor m, rs;
      if (training) {
        m = x.mean(axes, true);
        rs = rsqrt(x.var(axes, 0.0, true) + eps);
      } else {
        m = mean.reshape(per);
        rs = rstd.reshape(per);
      }
      const Tensor xhat = (x - m) * rs;
      const Tensor gh = has_w ? g * w.reshape(per) : g;
      if (need_x) gx = training ? through_statistics(gh, xhat, rs, axes) : gh * rs;
      if (need_w) gw = (g * xhat).sum(axes);
      if (need_b) gb = g.sum(axes);
    }
    return affine_grads(std::move(gx), std::move(gw), std::move(gb), has_w, has_b);
  }
};

struct LayerNormBackward final : SavingNode {
  NDGRAD_OP_NAME("layer_norm")
  Tensor x, w, mean, rstd;  // mean and rstd (rows)
  int64_t rows = 0, n = 0, k = 1;
  bool has_w = false, has_b = false;
  double eps = 1e-5;
  void release_saved() override { x = w = mean = rstd = Tensor(); }
  GradList backward(const Tensor& g) override {
    const bool need_x = needs(0), need_w = has_w && needs(1),
               need_b = has_b && needs(has_w ? 2 : 1);
    const Shape normalized(edges[0].shape.end() - k, edges[0].shape.end());
    Tensor gx, gw, gb;
    if (!grad_enabled_here()) {
      const Tensor gc = raw_contiguous(g), xc = raw_contiguous(x);
      const Tensor wc = has_w ? raw_contiguous(w) : Tensor();
      if (need_x) gx = make_tensor_of_valid_shape(edges[0].shape, g.dtype(), "layer_norm");
      if (need_w) gw = make_tensor_of_valid_shape(edges[1].shape, g.dtype(), "layer_norm");
      if (need_b)
        gb = make_tensor_of_valid_shape(edges[has_w ? 2 : 1].shape, g.dtype(), "layer_norm");
      kernels::layer_norm_backward(g.dtype(), rows, n, ptr(xc), ptr(wc), ptr(mean), ptr(rstd),
                                   ptr(gc), wptr(gx), wptr(gw), wptr(gb));
    } else {
      std::vector<int64_t> axes;
      for (int64_t d = x.ndim() - k; d < x.ndim(); ++d) axes.push_back(d);
      const Tensor rs = rsqrt(x.var(axes, 0.0, true) + eps);
      const Tensor xhat = (x - x.mean(axes, true)) * rs;
      if (need_x) gx = through_statistics(has_w ? g * w : g, xhat, rs, axes);
      if (need_w) gw = sum_to(g * xhat, normalized);
      if (need_b) gb = sum_to(g, normalized);
    }
    return affine_grads(std::move(gx), std::move(gw), std::move(gb), has_w, has_b);
  }
};

}  // namespace

Tensor batch_norm_fused(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                        const Tensor& weight, const Tensor& bias, bool training, double momentum,
                        double eps) {
  const DType dt = x.dtype();
  const int64_t channels = x.size(1), batch = x.size(0);
  const kernels::NormGeometry geo{batch, channels, x.numel() / batch / channels};
  const Tensor xc = raw_contiguous(x);
  const Tensor wc = weight.defined() ? raw_contiguous(weight) : Tensor();
  const Tensor bc = bias.defined() ? raw_contiguous(bias) : Tensor();
  Tensor out = make_tensor(x.impl()->shape, dt, "batch_norm");
  Tensor mean, rstd, var;
  if (training) {
    mean = make_tensor({channels}, dt, "batch_norm");
    rstd = make_tensor({channels}, dt, "batch_norm");
    var = make_tensor({channels}, dt, "batch_norm");
  } else {
    NoGradGuard no_grad;  // the running statistics as constants, rounded as the composition does
    mean = copy_of(running_mean.to(dt));  // the node's own: a later update does not reach it
    rstd = copy_of(rsqrt(running_var.to(dt) + eps));
  }
  kernels::batch_norm_forward(dt, geo, ptr(xc), ptr(wc), ptr(bc), eps, training, wptr(out),
                              wptr(mean), wptr(rstd), wptr(var));
  if (training && (running_mean.defined() || running_var.defined())) {
    NoGradGuard no_grad;
    const int64_t n = geo.batch * geo.inner;
    Tensor rm = running_mean, rv = running_var;  // handles: the buffers are written in place
    if (rm.defined()) rm.copy_(rm * (1 - momentum) + mean.to(rm.dtype()) * momentum);
    if (rv.defined())
      rv.copy_(rv * (1 - momentum) + (var * (double(n) / double(n - 1))).to(rv.dtype()) * momentum);
  }
  if (auto* node = record_affine<BatchNormBackward>(out, x, weight, bias)) {
    node->geo = geo;
    node->training = training;
    node->eps = eps;
    node->has_w = weight.defined();
    node->has_b = bias.defined();
    node->x = node->save(x, "the input");
    if (weight.defined()) node->w = node->save(weight, "the weight");
    node->mean = std::move(mean);
    node->rstd = std::move(rstd);
  }
  return out;
}

Tensor layer_norm_fused(const Tensor& x, int64_t k, const Tensor& weight, const Tensor& bias,
                        double eps) {
  const DType dt = x.dtype();
  int64_t n = 1;
  for (int64_t d = x.ndim() - k; d < x.ndim(); ++d) n *= x.size(d);
  const int64_t rows = x.numel() / n;
  const Tensor xc = raw_contiguous(x);
  const Tensor wc = weight.defined() ? raw_contiguous(weight) : Tensor();
  const Tensor bc = bias.defined() ? raw_contiguous(bias) : Tensor();
  Tensor out = make_tensor(x.impl()->shape, dt, "layer_norm");
  Tensor mean = make_tensor({rows}, dt, "layer_norm"), rstd = make_tensor({rows}, dt, "layer_norm");
  kernels::layer_norm_forward(dt, rows, n, ptr(xc), ptr(wc), ptr(bc), eps, wptr(out), wptr(mean),
                              wptr(rstd));
  if (auto* node = record_affine<LayerNormBackward>(out, x, weight, bias)) {
    node->rows = rows;
    node->n = n;
    node->k = k;
    node->eps = eps;
    node->has_w = weight.defined();
    node->has_b = bias.defined();
    node->x = node->save(x, "the input");
    if (weight.defined()) node->w = node->save(weight, "the weight");
    node->mean = std::move(mean);
    node->rstd = std::move(rstd);
  }
  return out;
}

}  // namespace ndgrad::nn::detail
