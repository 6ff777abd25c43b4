#pragma once
// The functions outside the op table as data (ndgrad/function_table.def): each row's name, how
// it is called and the call itself, for the command-line tool, the fuzzer and the tests. Not
// included by ndgrad.hpp.
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ndgrad/linalg.hpp"
#include "ndgrad/nn.hpp"
#include "ndgrad/tensor.hpp"

namespace ndgrad::functions {

// How a row is called: what the command-line tool parses after its name (the form column).
struct Form {
  enum Kind : uint8_t {
    args,           // (e1, ..., ek), fewest <= k <= most: tensors, and numbers as expressions
    axis,           // (x [, axis])
    axis_keepdims,  // (x [, axis] [, keepdims])
    axes,           // (x [, axes] [, keepdims]): an integer or a [list]
    ints,           // (x [, integers]): fewest..most integers, or a [list] of them
    list,           // ([e1, ...])
    list_axis,      // ([e1, ...] [, axis])
    einsum,         // ("subscripts", e1, ...)
  } kind;
  int fewest, most;  // args: expressions; ints: integers
};
namespace forms {
constexpr Form args(int fewest, int most) { return {Form::args, fewest, most}; }
constexpr Form ints(int fewest, int most) { return {Form::ints, fewest, most}; }
constexpr Form axis{Form::axis, 1, 1};
constexpr Form axis_keepdims{Form::axis_keepdims, 1, 1};
constexpr Form axes{Form::axes, 1, 1};
constexpr Form list{Form::list, 1, 1};
constexpr Form list_axis{Form::list_axis, 1, 1};
constexpr Form einsum{Form::einsum, 1, 1};
}  // namespace forms

// The arguments of one call. A number argument is an expression of one value (a 0-d tensor).
struct Call {
  std::vector<Tensor> x;      // the expressions' values (args, list, einsum: all of them)
  std::vector<int64_t> ints;  // the axis, axes or integers
  bool has_ints = false, keepdims = false;
  std::string text;  // einsum's subscripts

  double number(size_t i) const {
    if (i >= x.size()) throw ValueError("expected argument " + std::to_string(i + 1));
    if (x[i].numel() != 1)
      throw ValueError("expected a number as argument " + std::to_string(i + 1) + ", got shape " +
                       shape_str(x[i].shape()));
    return x[i].item();
  }
  double number_or(size_t i, double otherwise) const {
    return i < x.size() ? number(i) : otherwise;
  }
  std::optional<double> optional_number(size_t i) const {
    return i < x.size() ? std::optional<double>(number(i)) : std::nullopt;
  }
  // what names the argument in the error ("power": "expected an integer power, got 0.5").
  int64_t integer(size_t i, const std::string& what = "argument") const {
    const double n = number(i);
    if (n != std::floor(n) || std::abs(n) > 1e9)
      throw ValueError("expected an integer " + what + ", got " + std::to_string(n));
    return static_cast<int64_t>(n);
  }
  int64_t integer_or(size_t i, int64_t otherwise) const {
    return i < x.size() ? integer(i) : otherwise;
  }
  std::optional<int64_t> optional_integer(size_t i) const {
    return i < x.size() ? std::optional<int64_t>(integer(i)) : std::nullopt;
  }
  bool flag_or(size_t i, bool otherwise) const { return i < x.size() ? number(i) != 0 : otherwise; }
  // Argument i, or an undefined tensor when there are fewer (an optional bias or weight).
  Tensor tensor_or_none(size_t i) const { return i < x.size() ? x[i] : Tensor(); }
  // Integer k of ints; ValueError when there are fewer.
  int64_t int_at(size_t k) const {
    if (k >= ints.size())
      throw ValueError("expected at least " + std::to_string(k + 1) + " integers");
    return ints[k];
  }
  // v, or a ValueError naming what when it is above limit (a count that sizes a result).
  static int64_t at_most(int64_t v, int64_t limit, const char* what) {
    if (v > limit)
      throw ValueError(std::string("expected at most ") + std::to_string(limit) + " " + what +
                       ", got " + std::to_string(v));
    return v;
  }
  int64_t axis(int64_t otherwise) const { return has_ints ? int_at(0) : otherwise; }
  std::optional<int64_t> optional_axis() const {
    if (keepdims && !has_ints) throw ValueError("keepdims needs an axis");
    return has_ints ? std::optional<int64_t>(int_at(0)) : std::nullopt;
  }
  int64_t int_at(size_t k, int64_t otherwise) const {
    return k < ints.size() ? ints[k] : otherwise;
  }
  std::optional<int64_t> optional_int_at(size_t k) const {
    return k < ints.size() ? std::optional<int64_t>(ints[k]) : std::nullopt;
  }
  // The integers as (before, after) pairs: pad's widths.
  std::vector<std::pair<int64_t, int64_t>> pairs() const {
    if (ints.size() % 2) throw ValueError("expected (before, after) pairs of integers");
    std::vector<std::pair<int64_t, int64_t>> p;
    for (size_t i = 0; i < ints.size(); i += 2) p.emplace_back(ints[i], ints[i + 1]);
    return p;
  }
};

// The result of a function that gives several tensors (split, meshgrid, ...): each flattened,
// joined in order.
inline Tensor joined(const std::vector<Tensor>& parts) {
  std::vector<Tensor> flat;
  for (const Tensor& p : parts) flat.push_back(p.flatten());
  if (flat.empty()) throw ValueError("no tensors to join");
  return cat(flat);
}

// The cases column's vocabulary: each call's arguments, for the tests (which draw and check
// them) and the fuzzer (which draws arguments of the same kinds).
namespace cases {
struct Arg {
  enum Kind { input, number, constant, indices, mask, ints, text } kind;
  Shape shape;                 // input, indices, mask
  std::vector<double> values;  // number, constant, ints
  int64_t n = 0;               // indices: in [0, n)
  std::string s;               // text
};
using Case = std::vector<Arg>;
template <class... D>
Arg S(D... d) {  // a tensor from the row's domain, checked
  return {Arg::input, Shape{static_cast<int64_t>(d)...}, {}, 0, ""};
}
inline Arg N(double v) { return {Arg::number, {}, {v}, 0, ""}; }
template <class... V>
Arg C(V... v) {  // a 1-d constant
  return {Arg::constant, {}, {static_cast<double>(v)...}, 0, ""};
}
template <class... D>
Arg I(int64_t n, D... d) {  // i64 indices in [0, n)
  return {Arg::indices, Shape{static_cast<int64_t>(d)...}, {}, n, ""};
}
template <class... D>
Arg M(D... d) {  // a bool mask
  return {Arg::mask, Shape{static_cast<int64_t>(d)...}, {}, 0, ""};
}
template <class... V>
Arg K(V... v) {  // the integers (axis, axes, sizes)
  return {Arg::ints, {}, {static_cast<double>(v)...}, 0, ""};
}
inline Arg Str(const char* s) { return {Arg::text, {}, {}, 0, s}; }
}  // namespace cases

// The gradient column: no_grad (not differentiable), second (checked to first and second order).
#define NDGRAD_FUNCTION_DIFFERENTIABLE_no_grad false
#define NDGRAD_FUNCTION_DIFFERENTIABLE_second true

struct Function {
  const char* name;
  Form form;
  bool differentiable;
  Tensor (*call)(const Call& c);
};

inline const Function kFunctions[] = {
#define NDGRAD_FUNCTION(name, form, domain, gradient, fuzz, cases, ...)                         \
  {#name, forms::form, NDGRAD_FUNCTION_DIFFERENTIABLE_##gradient, [](const Call& c) -> Tensor { \
     const std::vector<Tensor>& x = c.x;                                                        \
     (void)x;                                                                                   \
     return __VA_ARGS__;                                                                        \
   }},
#include "ndgrad/function_table.def"
};
constexpr size_t kNumFunctions = sizeof(kFunctions) / sizeof(kFunctions[0]);

}  // namespace ndgrad::functions
