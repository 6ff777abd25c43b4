// The "full form" Jacobian and finite-difference gradient checking.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "autograd/engine.hpp"
#include "core/shape.hpp"
#include "core/tensor_impl.hpp"
#include "ndgrad/autograd.hpp"

namespace ndgrad {

namespace {

std::string index_str(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  std::string s = "(";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? "," : "") + std::to_string(idx[d]);
  return s + ")";
}

// sum(f(inputs) * v) in float64. Grad mode stays on: f may itself differentiate (a check
// of second derivatives), so the probes are leaves that require grad, as the inputs are.
double projected(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                 const std::vector<Tensor>& inputs, const Tensor& v) {
  Tensor y = f(inputs);
  return (y.detach().to(DType::f64) * v).sum().item();
}

}  // namespace

Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  if (!x.defined()) throw ValueError("jacobian: x is undefined");
  if (!is_floating(x.dtype()))
    throw DTypeError(std::string("jacobian: x must be floating, got ") + dtype_name(x.dtype()));
  Tensor xin = x.detach();
  xin.requires_grad_(true);
  Tensor y = f(xin);
  if (!y.defined()) throw ValueError("jacobian: f returned an undefined tensor");
  Shape out_shape = y.shape();
  const Shape xs = x.shape();
  out_shape.insert(out_shape.end(), xs.begin(), xs.end());
  const int64_t ny = y.numel(), nx = x.numel();
  std::vector<double> values(static_cast<size_t>(ny * nx), 0.0);
  if (y.requires_grad()) {
    const std::vector<Tensor> inputs{xin};
    std::vector<Tensor> results;
    for (int64_t i = 0; i < ny; ++i) {  // one backward per output element: row i of J
      std::vector<double> e(static_cast<size_t>(ny), 0.0);
      e[i] = 1.0;
      run_backward(y, tensor(e, y.shape(), y.dtype()), true, false, &inputs, &results);
      if (!results[0].defined()) continue;
      std::vector<double> row = results[0].to_vector();
      std::copy(row.begin(), row.end(), values.begin() + i * nx);
    }
  }
  return tensor(values, out_shape, y.dtype());
}

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, double eps, double atol, double rtol) {
  if (!(eps > 0) || !(atol >= 0) || !(rtol >= 0))
    throw ValueError("gradcheck: eps must be > 0 and atol, rtol >= 0");
  std::vector<Tensor> xs;
  std::vector<size_t> checked;  // positions of the floating inputs
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined())
      throw ValueError("gradcheck: input " + std::to_string(i) + " is undefined");
    if (is_floating(inputs[i].dtype())) {
      // A fresh leaf; the probes below are new tensors, so the caller's data is never touched.
      Tensor x = inputs[i].detach().to(DType::f64).contiguous().detach();
      x.requires_grad_(true);
      xs.push_back(x);
      checked.push_back(i);
    } else {
      xs.push_back(inputs[i]);
    }
  }
  Tensor y = f(xs);
  if (!y.defined() || !is_floating(y.dtype()))
    throw ValueError("gradcheck: f must return a floating tensor");
  // A random upstream gradient: an all-ones one hides errors that cancel in a plain sum.
  const Tensor v =
      randn(y.shape(), 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(y.numel()), DType::f64);

  std::vector<Tensor> diff_inputs;
  for (size_t i : checked) diff_inputs.push_back(xs[i]);
  std::vector<Tensor> analytic(diff_inputs.size());
  if (y.requires_grad() && !diff_inputs.empty()) analytic = grad(y.to(DType::f64), diff_inputs, v);

  GradcheckResult result{true, 0.0, 0.0, ""};
  std::ostringstream report;
  for (size_t c = 0; c < checked.size(); ++c) {
    const size_t i = checked[c];
    const Shape shape = xs[i].shape();
    const std::vector<double> base = xs[i].to_vector();
    const std::vector<double> ana =
        analytic[c].defined() ? analytic[c].to_vector() : std::vector<double>(base.size(), 0.0);
    double in_abs = 0, in_rel = 0;
    int shown = 0, bad = 0;
    std::ostringstream details;
    details.precision(6);
    std::vector<Tensor> probe = xs;
    for (size_t j = 0; j < base.size(); ++j) {
      std::vector<double> moved = base;
      moved[j] = base[j] + eps;
      probe[i] = tensor(moved, shape, DType::f64).requires_grad_();
      const double plus = projected(f, probe, v);
      moved[j] = base[j] - eps;
      probe[i] = tensor(moved, shape, DType::f64).requires_grad_();
      const double minus = projected(f, probe, v);
      const double numeric = (plus - minus) / (2 * eps);
      const double err = std::fabs(ana[j] - numeric);
      const double rel = err / std::max(std::fabs(numeric), 1e-300);
      in_abs = std::max(in_abs, err);
      if (err > atol) in_rel = std::max(in_rel, rel);
      if (!(err <= atol + rtol * std::fabs(numeric))) {
        ++bad;
        if (shown++ < 8)
          details << "  input " << i << " element " << index_str(static_cast<int64_t>(j), shape)
                  << ": backward " << ana[j] << ", finite differences " << numeric << "\n";
      }
    }
    result.max_abs_error = std::max(result.max_abs_error, in_abs);
    result.max_rel_error = std::max(result.max_rel_error, in_rel);
    if (bad) result.ok = false;
    report.precision(3);
    report << "input " << i << " " << shape_str(shape) << ": " << base.size() << " elements, "
           << (bad ? std::to_string(bad) + " MISMATCHED" : std::string("all match"))
           << ", max abs error " << in_abs << "\n"
           << details.str();
  }
  std::ostringstream head;
  head.precision(3);
  head << "gradcheck " << (result.ok ? "passed" : "FAILED") << " (eps " << eps << ", atol " << atol
       << ", rtol " << rtol << ", output " << shape_str(y.shape()) << ")\n";
  result.report = head.str() + report.str();
  return result;
}

}  // namespace ndgrad
