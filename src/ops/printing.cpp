// Printing tensors as NumPy prints arrays (numpy/core/arrayprint.py's rules, written anew):
// one format per tensor (fixed or scientific, a common width), summarized above a threshold,
// lines wrapped at a width; the options process-wide (set_printoptions).
#include "ndgrad/printing.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <ostream>
#include <sstream>

#include "core/shape.hpp"
#include "core/tensor_impl.hpp"
#include "kernels/cpu/dispatch.hpp"

namespace ndgrad {

namespace {

std::mutex options_mutex;
PrintOptions options;  // guarded by options_mutex

// With many axes even the edges multiply (6^ndim): fewer edge items past this many values.
constexpr int64_t kMaxPrinted = int64_t(1) << 16;

// The indices printed along each axis; -1 stands for the elided middle. Empty when even one
// edge item per axis would print more than kMaxPrinted values.
std::vector<std::vector<int64_t>> printed_indices(const Dims& shape, const PrintOptions& o) {
  const bool summarize = numel_of(shape) > o.threshold;
  std::vector<int64_t> edge(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) edge[d] = std::min(o.edgeitems, shape[d]);
  // Whether axis d is summarized (written without 2 * edge, which could overflow).
  auto elided = [&](size_t d) { return summarize && shape[d] - edge[d] > edge[d]; };
  auto count = [&] {
    double c = 1;  // a double: 6^32 overflows int64
    for (size_t d = 0; d < shape.size(); ++d)
      c *= elided(d) ? 2.0 * double(edge[d]) : double(shape[d]);
    return c;
  };
  // Fewer edge items, outer axes first, until the values printed are few enough.
  for (int64_t e = std::min<int64_t>(o.edgeitems, 64) - 1;
       summarize && e >= 1 && count() > kMaxPrinted; --e)
    for (size_t d = 0; d < shape.size() && count() > kMaxPrinted; ++d)
      edge[d] = std::min(edge[d], e);
  if (count() > kMaxPrinted) return {};
  std::vector<std::vector<int64_t>> indices(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (elided(d)) {
      for (int64_t i = 0; i < edge[d]; ++i) indices[d].push_back(i);
      indices[d].push_back(-1);
      for (int64_t i = shape[d] - edge[d]; i < shape[d]; ++i) indices[d].push_back(i);
    } else {
      for (int64_t i = 0; i < shape[d]; ++i) indices[d].push_back(i);
    }
  }
  return indices;
}

struct Value {
  double d;   // floating and bool dtypes
  int64_t i;  // integer dtypes (exact past 2^53)
};

// The printed elements in row-major order, read straight from the strided data: a summarized
// tensor may be a broadcast view far larger than memory.
void gather_printed(const TensorImpl& t, const std::vector<std::vector<int64_t>>& indices,
                    size_t dim, const char* at, std::vector<Value>& out) {
  if (dim == indices.size()) {
    kernels::dispatch_storage(t.dtype, [&](auto tag) {
      using T = decltype(tag);
      T v;
      std::memcpy(&v, at, sizeof(T));
      out.push_back({kernels::convert_value<double>(v), kernels::convert_value<int64_t>(v)});
    });
    return;
  }
  const int64_t step = t.strides[dim] * static_cast<int64_t>(itemsize(t.dtype));
  for (int64_t i : indices[dim])
    if (i >= 0) gather_printed(t, indices, dim + 1, at + i * step, out);
}

// ---- one value's shortest digits ----

// v = sign d0.d1d2... * 10^exponent, with the fewest digits that read back as v in dtype.
struct Digits {
  bool negative;
  std::string digits;
  int exponent;
};

Digits parse_scientific(const char* text, bool trim = true) {
  Digits r{false, "", 0};
  const char* p = text;
  if (*p == '-') r.negative = true, ++p;
  for (; *p && *p != 'e'; ++p)
    if (*p != '.') r.digits += *p;
  if (*p == 'e') r.exponent = std::atoi(p + 1);
  while (trim && r.digits.size() > 1 && r.digits.back() == '0') r.digits.pop_back();
  return r;
}

bool reads_back(const char* text, double v, DType dtype) {
  const double back = std::strtod(text, nullptr);
  if (dtype == DType::f16)
    return kernels::convert_value<double>(kernels::convert_value<kernels::float16_t>(back)) == v;
  return kernels::convert_value<double>(kernels::convert_value<kernels::bfloat16_t>(back)) == v;
}

Digits shortest(double v, DType dtype) {
  char buf[64];
  if (dtype == DType::f64 || dtype == DType::f32) {
    const auto res =
        dtype == DType::f64
            ? std::to_chars(buf, buf + 63, v, std::chars_format::scientific)
            : std::to_chars(buf, buf + 63, static_cast<float>(v), std::chars_format::scientific);
    *res.ptr = '\0';
    return parse_scientific(buf);
  }
  for (int n = 0; n < 17; ++n) {  // f16, bf16: the first precision that reads back
    std::snprintf(buf, sizeof buf, "%.*e", n, v);
    if (reads_back(buf, v, dtype)) break;
  }
  return parse_scientific(buf);
}

// Fixed notation with at most `precision` digits after the point, fewer when the shortest
// digits need fewer (trailing zeros dropped, the point kept: "3.", "0.25").
std::string positional(double v, DType dtype, int64_t precision) {
  const Digits s = shortest(v, dtype);
  const int64_t needed = std::max<int64_t>(0, int64_t(s.digits.size()) - 1 - s.exponent);
  std::string text;
  if (needed <= precision) {
    if (s.exponent >= 0) {
      if (int64_t(s.digits.size()) <= s.exponent) {  // the integer's exact digits, not zeros
        char buf[400];
        std::snprintf(buf, sizeof buf, "%.0f", v);
        return std::string(buf) + ".";
      }
      text = s.digits.substr(0, s.exponent + 1) + "." + s.digits.substr(s.exponent + 1);
    } else {
      text = "0." + std::string(-s.exponent - 1, '0') + s.digits;
    }
    return (s.negative ? "-" : "") + text;
  }
  // Rounded at the cutoff from the exact binary value (as NumPy's Dragon4 does).
  std::vector<char> buf(400);
  std::snprintf(buf.data(), buf.size(), "%.*f", static_cast<int>(precision), v);
  text = buf.data();
  if (text.find('.') == std::string::npos) return text + ".";
  while (text.back() == '0') text.pop_back();
  return text;
}

// Scientific notation: mantissa sign and digit, its fraction digits, the exponent.
struct Scientific {
  std::string head, fraction;
  int exponent;
};

Scientific scientific(double v, DType dtype, int64_t precision) {
  Digits s = shortest(v, dtype);
  if (int64_t(s.digits.size()) - 1 > precision) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*e", static_cast<int>(std::min<int64_t>(precision, 40)), v);
    s = parse_scientific(buf);
  }
  return {(s.negative ? "-" : "") + s.digits.substr(0, 1), s.digits.substr(1), s.exponent};
}

// ---- the common format of a tensor's printed values (NumPy's FloatingFormat, maxprec) ----

class Formatter {
 public:
  Formatter(const std::vector<Value>& values, DType dtype, bool zero_d, const PrintOptions& o)
      : dtype_(dtype) {
    if (dtype == DType::boolean) {
      width_ = zero_d ? 0 : 5;  // " True" beside "False"
      return;
    }
    if (!is_floating(dtype)) {
      for (const Value& v : values) width_ = std::max(width_, std::to_string(v.i).size());
      return;
    }
    std::vector<double> finite;
    bool neg_inf = false, non_finite = false;
    double max_abs = 0, min_abs = INFINITY;
    for (const Value& v : values) {
      if (std::isfinite(v.d)) {
        finite.push_back(v.d);
        if (v.d != 0)
          max_abs = std::max(max_abs, std::fabs(v.d)), min_abs = std::min(min_abs, std::fabs(v.d));
      } else {
        non_finite = true;
        neg_inf |= std::isinf(v.d) && v.d < 0;
      }
    }
    if (max_abs > 0) exp_ = max_abs >= 1e8 || min_abs < 1e-4 || max_abs / min_abs > 1000.0;
    if (o.sci_mode) exp_ = *o.sci_mode;
    if (finite.empty()) {
      exp_ = false;
    } else if (exp_) {
      precision_ = 0;
      size_t exp_digits = 2;
      for (double x : finite) {
        Scientific s = scientific(x, dtype, o.precision);
        precision_ = std::max<int64_t>(precision_, s.fraction.size());
        pad_left_ = std::max(pad_left_, s.head.size());
        exp_digits = std::max(exp_digits, std::to_string(std::abs(s.exponent)).size());
      }
      exp_size_ = exp_digits;
      pad_right_ = exp_size_ + 2 + precision_;
      options_precision_ = o.precision;
    } else {
      for (double x : finite) {
        const std::string s = positional(x, dtype, o.precision);
        const size_t point = s.find('.');
        pad_left_ = std::max(pad_left_, point);
        pad_right_ = std::max(pad_right_, s.size() - point - 1);
      }
      options_precision_ = o.precision;
    }
    if (non_finite) {  // "nan", "inf", "-inf" fit the width
      const size_t offset = pad_right_ + 1;
      for (size_t len : {size_t(3), size_t(3) + neg_inf})
        if (len > offset) pad_left_ = std::max(pad_left_, len - offset);
    }
  }

  std::string operator()(const Value& v) const {
    if (dtype_ == DType::boolean) return pad(v.d != 0 ? "True" : "False", width_);
    if (!is_floating(dtype_)) return pad(std::to_string(v.i), width_);
    if (!std::isfinite(v.d))
      return pad(std::isnan(v.d) ? "nan" : v.d > 0 ? "inf" : "-inf", pad_left_ + pad_right_ + 1);
    if (exp_) {
      // Every value with the longest one's digit count: past a value's own shortest digits,
      // the further digits of its exact binary value (NumPy's Dragon4 with min_digits).
      char buf[96];
      std::snprintf(buf, sizeof buf, "%.*e", static_cast<int>(precision_), v.d);
      const Digits d = parse_scientific(buf, false);
      std::string e = std::to_string(std::abs(d.exponent));
      e = std::string(exp_size_ - std::min(exp_size_, e.size()), '0') + e;
      return pad((d.negative ? "-" : "") + d.digits.substr(0, 1), pad_left_) + "." +
             d.digits.substr(1) + "e" + (d.exponent < 0 ? "-" : "+") + e;
    }
    const std::string s = positional(v.d, dtype_, options_precision_);
    const size_t point = s.find('.');
    return pad(s.substr(0, point), pad_left_) + s.substr(point) +
           std::string(pad_right_ - (s.size() - point - 1), ' ');
  }

 private:
  static std::string pad(const std::string& s, size_t width) {
    return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
  }
  DType dtype_;
  size_t width_ = 0;
  bool exp_ = false;
  int64_t precision_ = 0, options_precision_ = 8;
  size_t pad_left_ = 0, pad_right_ = 0, exp_size_ = 2;
};

// ---- the layout (NumPy's _formatArray, without its 1.13 legacy mode) ----

class Layout {
 public:
  Layout(const std::vector<std::string>& cells, const std::vector<std::vector<int64_t>>& indices,
         size_t next_line_prefix)
      : cells_(cells), indices_(indices), prefix_(next_line_prefix) {}

  std::string format(int64_t line_width) {
    pos_ = 0;
    return recurse(0, std::string(prefix_, ' '), line_width);
  }

 private:
  // Appends word to line, first moving line to s when it would pass the width (and a new line
  // would help).
  static void extend(std::string& s, std::string& line, const std::string& word, int64_t width,
                     const std::string& hanging) {
    if (int64_t(line.size() + word.size()) > width && line.size() > hanging.size()) {
      while (!line.empty() && line.back() == ' ') line.pop_back();
      s += line + "\n";
      line = hanging;
    }
    line += word;
  }

  std::string recurse(size_t dim, const std::string& hanging, int64_t width) {
    if (dim == indices_.size()) return cells_[pos_++];
    const std::string next_hanging = hanging + " ";
    const int64_t next_width = width - 1;
    const std::vector<int64_t>& along = indices_[dim];
    std::string s;
    if (dim + 1 == indices_.size()) {
      const int64_t elem_width = width - 1;  // room for the "]"
      std::string line = hanging;
      for (size_t k = 0; k < along.size(); ++k) {
        extend(s, line, along[k] < 0 ? "..." : recurse(dim + 1, next_hanging, next_width),
               elem_width, hanging);
        if (k + 1 < along.size()) line += " ";
      }
      s += line;
    } else {
      const std::string line_sep(indices_.size() - dim - 1, '\n');
      for (size_t k = 0; k < along.size(); ++k) {
        s += hanging + (along[k] < 0 ? "..." : recurse(dim + 1, next_hanging, next_width));
        if (k + 1 < along.size()) s += line_sep;
      }
    }
    return "[" + s.substr(hanging.size()) + "]";
  }

  const std::vector<std::string>& cells_;
  const std::vector<std::vector<int64_t>>& indices_;
  size_t prefix_;
  size_t pos_ = 0;
};

}  // namespace

void set_printoptions(const PrintOptions& o) {
  if (o.precision < 0 || o.precision > 64 || o.threshold < 0 || o.edgeitems < 0 || o.linewidth < 1)
    throw ValueError(
        "set_printoptions: precision must be in [0, 64], threshold and edgeitems >= 0, "
        "linewidth >= 1; got precision " +
        std::to_string(o.precision) + ", threshold " + std::to_string(o.threshold) +
        ", edgeitems " + std::to_string(o.edgeitems) + ", linewidth " +
        std::to_string(o.linewidth));
  std::lock_guard<std::mutex> lock(options_mutex);
  options = o;
}

PrintOptions get_printoptions() {
  std::lock_guard<std::mutex> lock(options_mutex);
  return options;
}

std::string tensor_repr(const Tensor& t, const std::string& dtype_text, const std::string& extra) {
  if (!t.defined()) return "tensor(undefined)";
  const PrintOptions o = get_printoptions();
  const TensorImpl& impl = *t.impl();
  const std::string prefix = "tensor(";
  std::string body;
  if (numel_of(impl.shape) == 0) {  // NumPy: array([], shape=(2, 0))
    body = impl.shape.size() > 1 ? "[], shape=" + shape_str(impl.shape) : "[]";
  } else {
    const std::vector<std::vector<int64_t>> indices = printed_indices(impl.shape, o);
    if (indices.empty() && !impl.shape.empty()) {
      body = "[...], shape=" + shape_str(impl.shape);
    } else {
      std::vector<Value> values;
      gather_printed(impl, indices, 0, impl.data(), values);
      const Formatter format(values, impl.dtype, impl.shape.empty(), o);
      std::vector<std::string> cells;
      cells.reserve(values.size());
      for (const Value& v : values) cells.push_back(format(v));
      // The "," after the values counts toward the last line (NumPy's suffix).
      body = Layout(cells, indices, prefix.size() + 1).format(o.linewidth - 1);
    }
  }
  std::string text = prefix + body + ",";
  const std::string tail = "dtype=" + dtype_text + extra + ")";
  const size_t last_line = text.size() - (text.rfind('\n') + 1);
  // The dtype on a line of its own when it would pass the width (NumPy's repr).
  text += int64_t(last_line + 1 + tail.size()) > o.linewidth
              ? "\n" + std::string(prefix.size(), ' ')
              : std::string(" ");
  return text + tail;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  return os << tensor_repr(t, dtype_name(t.dtype()),
                           t.requires_grad() ? ", requires_grad=True" : "");
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) {
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  return os << (shape.size() == 1 ? ",)" : ")");
}

}  // namespace ndgrad
