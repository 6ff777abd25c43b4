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

// jacobian's largest full form (512 MiB of float64), and gradcheck's largest output.
constexpr int64_t kMaxJacobianEntries = int64_t(1) << 26;
constexpr int64_t kGradcheckMaxOutput = int64_t(1) << 24;
// gradcheck evaluates f twice per input element, each time on a fresh copy of the input, so its
// time grows with the square of the inputs' size: past this many elements in all it refuses.
constexpr int64_t kGradcheckMaxElements = int64_t(1) << 16;

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

// sum(f(inputs) * v) in float64, over the outputs where finite (a boolean mask) is true, or
// all of them when finite is undefined. Grad mode stays on: f may itself differentiate (a check
// of second derivatives), so the probes are leaves that require grad, as the inputs are.
double projected(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                 const std::vector<Tensor>& inputs, const Tensor& v, const Tensor& finite) {
  Tensor y = f(inputs).detach().to(DType::f64);
  if (finite.defined()) y = where(finite, y, scalar(0.0, DType::f64));  // NaN * 0 is NaN
  return (y * v).sum().item();
}

// The largest max of a and b, where NaN counts as the largest: std::max would drop it.
double worst(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }

// NaN's sign is noise: print every NaN as "nan".
double shown(double v) { return std::isnan(v) ? std::fabs(v) : v; }

// Why an element's comparison failed when a value in it is not finite.
std::string non_finite_reason(double plus, double minus, double analytic, double numeric) {
  auto name = [](double v) { return std::string(std::isnan(v) ? "nan" : "inf"); };
  if (!std::isfinite(plus) || !std::isfinite(minus)) {
    return "f is " + name(std::isfinite(plus) ? minus : plus) + " when this element moves by " +
           (std::isfinite(plus) ? "-eps" : "+eps");
  }
  if (!std::isfinite(analytic)) return "backward gives " + name(analytic);
  if (!std::isfinite(numeric)) return "the finite difference overflows";
  return "the error overflows";
}

}  // namespace

Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  require_defined_arg(x, "jacobian", "x");
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
  // Either may be a broadcast view of any size: refuse a full form too large to hold (or to
  // count) before allocating it, and before ny backward passes.
  int64_t entries = 0;
  const bool overflows = __builtin_mul_overflow(ny, nx, &entries);
  if (overflows || entries > kMaxJacobianEntries)
    throw MemoryError("jacobian: the full form of shape " + shape_str(out_shape) + " would have " +
                      (overflows ? std::string("more entries than fit in 64 bits")
                                 : std::to_string(entries) + " entries") +
                      "; at most " + std::to_string(kMaxJacobianEntries) + " are computed");
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
  // Sizes first, from the shapes alone: an input may be a broadcast view of any size, which the
  // float64 copy below would allocate.
  int64_t total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    require_defined_arg(inputs[i], "gradcheck", ("input " + std::to_string(i)).c_str());
    if (!is_floating(inputs[i].dtype())) continue;
    const int64_t n = inputs[i].numel();
    if (n > kGradcheckMaxElements - total)
      throw ValueError(
          "gradcheck: input " + std::to_string(i) + " of shape " + shape_str(inputs[i].shape()) +
          " brings the elements to check to " +
          (n > INT64_MAX - total ? std::string("more than 2^63") : std::to_string(total + n)) +
          "; finite differences evaluate f twice per element, so gradcheck takes " + "at most " +
          std::to_string(kGradcheckMaxElements) + " in all");
    total += n;
  }
  std::vector<Tensor> xs;
  std::vector<size_t> checked;  // positions of the floating inputs
  for (size_t i = 0; i < inputs.size(); ++i) {
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
  if (y.numel() > kGradcheckMaxOutput)  // f may return a broadcast view of any size
    throw ValueError("gradcheck: f's output of shape " + shape_str(y.shape()) + " has " +
                     std::to_string(y.numel()) + " elements; gradcheck takes at most " +
                     std::to_string(kGradcheckMaxOutput));
  // A NaN or inf in f's own value would spoil every finite difference. Those outputs are named
  // in the report (they fail the check) and left out of the comparisons, which then still say
  // element by element where backward and the finite differences agree.
  std::ostringstream f_report;
  int64_t f_bad = 0;
  Tensor finite;  // undefined while every output is finite
  {
    const std::vector<double> values = y.detach().to_vector();
    std::vector<double> mask(values.size(), 1.0);
    for (size_t k = 0; k < values.size(); ++k) {
      if (std::isfinite(values[k])) continue;
      mask[k] = 0.0;
      if (f_bad++ < 8)
        f_report << "  f(inputs) is " << shown(values[k]) << " at output element "
                 << index_str(static_cast<int64_t>(k), y.shape()) << "\n";
    }
    if (f_bad > 8) f_report << "  ... and " << f_bad - 8 << " more output elements\n";
    if (f_bad) {
      f_report << "  (those outputs are left out of the comparisons below)\n";
      finite = tensor(mask, y.shape(), DType::boolean);
    }
  }
  // A random upstream gradient: an all-ones one hides errors that cancel in a plain sum.
  Tensor v = randn(y.shape(), 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(y.numel()), DType::f64);
  if (f_bad) v = where(finite, v, scalar(0.0, DType::f64));

  std::vector<Tensor> diff_inputs;
  for (size_t i : checked) diff_inputs.push_back(xs[i]);
  std::vector<Tensor> analytic(diff_inputs.size());
  if (y.requires_grad() && !diff_inputs.empty()) analytic = grad(y.to(DType::f64), diff_inputs, v);

  GradcheckResult result{true, 0.0, 0.0, ""};
  if (f_bad) result = {false, NAN, NAN, ""};
  std::ostringstream report;
  for (size_t c = 0; c < checked.size(); ++c) {
    const size_t i = checked[c];
    const Shape shape = xs[i].shape();
    const std::vector<double> base = xs[i].to_vector();
    const std::vector<double> ana =
        analytic[c].defined() ? analytic[c].to_vector() : std::vector<double>(base.size(), 0.0);
    double in_abs = 0, in_rel = 0;
    // Elements with a NaN or inf are listed apart from plain mismatches, so that a few of them
    // among many mismatches are still named.
    int64_t bad = 0, not_finite = 0;
    std::ostringstream mismatched, non_finite;
    mismatched.precision(6);
    non_finite.precision(6);
    std::vector<Tensor> probe = xs;
    for (size_t j = 0; j < base.size(); ++j) {
      std::vector<double> moved = base;
      moved[j] = base[j] + eps;
      probe[i] = tensor(moved, shape, DType::f64).requires_grad_();
      const double plus = projected(f, probe, v, finite);
      moved[j] = base[j] - eps;
      probe[i] = tensor(moved, shape, DType::f64).requires_grad_();
      const double minus = projected(f, probe, v, finite);
      const double numeric = (plus - minus) / (2 * eps);
      const double err = std::fabs(ana[j] - numeric);
      const bool in_range = std::isfinite(plus) && std::isfinite(minus) && std::isfinite(err);
      if (!in_range) {
        // No tolerance can pass a NaN or an inf, and the errors must say so: std::max would
        // silently drop a NaN and report 0.
        ++bad;
        in_abs = in_rel = NAN;
        if (not_finite++ < 8)
          non_finite << "  input " << i << " element " << index_str(static_cast<int64_t>(j), shape)
                     << ": backward " << shown(ana[j]) << ", finite differences " << shown(numeric)
                     << " (" << non_finite_reason(plus, minus, ana[j], numeric) << ")\n";
        continue;
      }
      const double rel = err / std::max(std::fabs(numeric), 1e-300);
      in_abs = worst(in_abs, err);
      if (err > atol) in_rel = worst(in_rel, rel);
      if (!(err <= atol + rtol * std::fabs(numeric))) {
        if (bad++ - not_finite < 8)
          mismatched << "  input " << i << " element " << index_str(static_cast<int64_t>(j), shape)
                     << ": backward " << ana[j] << ", finite differences " << numeric << "\n";
      }
    }
    result.max_abs_error = worst(result.max_abs_error, in_abs);  // stays NaN when f_bad
    result.max_rel_error = worst(result.max_rel_error, in_rel);
    if (bad) result.ok = false;
    report.precision(3);
    report << "input " << i << " " << shape_str(shape) << ": " << base.size() << " elements, ";
    if (bad) {
      report << bad << " MISMATCHED";
      if (not_finite) report << " (" << not_finite << " with a nan or inf)";
    } else {
      report << (f_bad ? "all match where f(inputs) is finite" : "all match");
    }
    // Where f(inputs) has a NaN the error is undefined, whatever the other outputs say.
    report << ", max abs error " << (f_bad ? NAN : shown(in_abs)) << "\n"
           << non_finite.str() << mismatched.str();
    const int64_t listed =
        std::min<int64_t>(not_finite, 8) + std::min<int64_t>(bad - not_finite, 8);
    if (bad > listed) report << "  ... and " << bad - listed << " more\n";
  }
  std::ostringstream head;
  head.precision(3);
  head << "gradcheck " << (result.ok ? "passed" : "FAILED") << " (eps " << eps << ", atol " << atol
       << ", rtol " << rtol << ", output " << shape_str(y.shape()) << ")\n";
  result.report = head.str() + f_report.str() + report.str();
  return result;
}

}  // namespace ndgrad
