#pragma once
// The Tensor handle and every tensor operation of the public API.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ndgrad/dtype.hpp"
#include "ndgrad/error.hpp"
#include "ndgrad/ref.hpp"

namespace ndgrad {

struct TensorImpl;

// Basic indexing (NumPy's, libtorch's spellings): x.index({Slice(1, None), 0, NewAxis, Ellipsis}).
// None: an open end of a slice. Slice(start, stop, step): negative values count from the end,
// ends are clamped, step may be negative (not 0); Slice() is every element (also spelled All).
inline constexpr std::nullopt_t None = std::nullopt;
struct Slice {
  constexpr Slice(std::optional<int64_t> start = None, std::optional<int64_t> stop = None,
                  int64_t step = 1)
      : start(start), stop(stop), step(step) {}
  std::optional<int64_t> start, stop;
  int64_t step;
};
struct NewAxisT {};
inline constexpr NewAxisT NewAxis{};  // a new axis of size 1 (NumPy's None / np.newaxis)
struct EllipsisT {};
inline constexpr EllipsisT Ellipsis{};  // as many full slices as the other indices leave
inline constexpr Slice All{};
class TensorIndex;     // one entry of an index (below, after Tensor)
struct ValuesIndices;  // a selection's values and indices (below)
namespace detail {
// A clamp bound: any arithmetic type, or std::nullopt for none (clamp, below).
template <class S>
using if_bound =
    std::enable_if_t<std::is_arithmetic_v<S> || std::is_same_v<S, std::nullopt_t>, int>;
// One axis given as an integer (x.sum(1)): a template, so that a braced list (x.sum({}),
// x.sum({1})) cannot deduce it and keeps meaning the list of axes.
template <class I>
using if_axis = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int>;
template <class I>
std::vector<int64_t> one_axis(I axis) {
  return {static_cast<int64_t>(axis)};
}
}  // namespace detail

// A handle: shape, strides and offset over shared storage, plus autograd state.
// Copies are cheap and share data; views (broadcast_to, transpose, ...) share storage too.
class Tensor;
// A gradient hook: called with a tensor's gradient; a defined tensor it returns (of the same
// shape) replaces the gradient, an undefined one keeps it.
using GradHook = std::function<Tensor(const Tensor&)>;
// A hook run on a leaf right after a backward pass has added the leaf's gradient of the pass to
// its .grad (the argument is the leaf: read .grad() from it).
using PostAccumulateGradHook = std::function<void(const Tensor&)>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Ref<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- inspection ---
  Shape shape() const;
  Shape strides() const;  // in elements; 0 on broadcast axes
  int64_t ndim() const;
  int64_t numel() const;
  int64_t size(int64_t axis) const;  // negative axes count from the end
  DType dtype() const;
  bool defined() const { return impl_ != nullptr; }
  bool is_contiguous() const;
  std::vector<double> to_vector() const;  // row-major copy of the logical values
  double item() const;
  // The element at index (one integer per axis, negative ones counting from the end), read
  // alone; IndexError naming the axis for an index out of range or a count that is not ndim.
  // One integer on a tensor of other than one axis is a flat row-major index, as NumPy's item.
  double item(const std::vector<int64_t>& index) const;
  Tensor to(DType dtype) const;
  Tensor contiguous() const;
  // A contiguous copy in memory of its own (always a copy); differentiable, as the identity.
  Tensor clone() const;
  // Typed pointer to the first element (respecting the view's offset). T must match dtype():
  // float, double, int64_t, bool, int32_t, uint8_t or int8_t (f16 and bf16 have none).
  template <class T>
  T* data_ptr() const;

  // --- autograd ---
  Tensor& requires_grad_(bool on = true);
  // Copies src (broadcast to this shape, converted to this dtype) into this tensor's memory.
  // Refused on a tensor that requires grad while grad mode is on (use NoGradGuard).
  Tensor& copy_(const Tensor& src);
  bool requires_grad() const;
  bool is_leaf() const;  // true when no recorded op produced this tensor
  // The accumulated gradient of a leaf. Backward passes on several threads may accumulate into
  // the same leaf at once; grad() and zero_grad() may run meanwhile (each sees or drops a whole
  // gradient).
  Tensor grad() const;
  // Replaces the accumulated gradient (an undefined tensor clears it), as assigning .grad in
  // PyTorch: g is kept as given (detached), and must have this tensor's shape and dtype
  // (ShapeError, DTypeError). For code that reduces or edits gradients outside backward.
  void set_grad(const Tensor& g) const;
  void zero_grad();
  void backward() const;
  void backward(const Tensor& gradient, bool retain_graph = false, bool create_graph = false) const;
  Tensor detach() const;
  const char* grad_fn_name() const;  // name of the op that produced this tensor, or nullptr
  // Calls hook with this tensor's gradient in every backward pass (and grad()) that computes
  // one: the total over all its uses, before it is accumulated into .grad (a leaf) or passed
  // on to the op that produced it. Hooks run in the order registered, each seeing the last
  // one's result. AutogradError unless the tensor requires grad.
  void register_hook(GradHook hook) const;
  // Calls hook(leaf) as soon as a backward pass has accumulated this leaf's whole gradient of
  // the pass into .grad: during the pass, once the last op that uses the leaf has run, not at
  // its end (the moment to start communicating it, as data-parallel training does). Not called
  // by grad(), nor in a pass that gives the leaf no gradient. Hooks run in the order
  // registered. AutogradError unless this is a leaf that requires grad.
  void register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const;

  // --- shape ops (views where NumPy gives views) ---
  Tensor broadcast_to(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten() const;
  Tensor transpose(int64_t axis0, int64_t axis1) const;
  Tensor T() const;
  Tensor mT() const;  // swaps the last two axes (matrix transpose of a batch)
  Tensor permute(const std::vector<int64_t>& axes) const;
  Tensor squeeze(int64_t axis) const;
  Tensor unsqueeze(int64_t axis) const;

  // --- basic indexing: views that share this tensor's memory (O(1), no copy) ---
  // NumPy's basic indexing; an integer outside [-size, size) is an IndexError naming the axis.
  Tensor index(const std::vector<TensorIndex>& indices) const;
  Tensor operator[](int64_t i) const;  // select(0, i)
  Tensor slice(int64_t axis, std::optional<int64_t> start, std::optional<int64_t> stop,
               int64_t step = 1) const;
  Tensor select(int64_t axis, int64_t index) const;                  // removes the axis
  Tensor narrow(int64_t axis, int64_t start, int64_t length) const;  // length elements from start
  // Views along two axes: their diagonal (offset > 0 above it, < 0 below) as the last axis.
  Tensor diagonal(int64_t offset = 0, int64_t axis1 = 0, int64_t axis2 = 1) const;
  // libtorch's repeat (NumPy's tile): the tensor repeated reps[i] times along axis i (reps may
  // be longer than ndim: leading axes are added). A copy.
  Tensor repeat(const Shape& reps) const;

  // --- writing through an index in place (libtorch's spelling of NumPy's x[...] = v) ---
  // Writes values (broadcast to the shape the index selects, converted to this dtype) at the
  // elements the index names (basic and advanced entries, as index()); where an element is
  // named twice the last value stays, or with accumulate the values are added. Not recorded:
  // while grad mode is on it is refused (AutogradError) on a tensor that requires grad and for
  // values that do (index_put is the differentiable form). Bad input changes nothing. Bumps the
  // version, so that a backward pass that saved this tensor refuses to run.
  Tensor& index_put_(const std::vector<TensorIndex>& indices, const Tensor& values,
                     bool accumulate = false);
  Tensor& index_put_(const std::vector<TensorIndex>& indices, double value);
  Tensor& masked_fill_(const Tensor& mask, double value);  // value where mask (broadcast) is true

  // --- reductions (empty axes = all axes) ---
  // The op table's reductions (sum, max, min, prod: ndgrad/op_table.def), then those written
  // with them.
#define NDGRAD_REDUCTION_OP(name, ...) \
  Tensor name(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
#include "ndgrad/op_table.def"
  Tensor mean(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  // The index of the first max (min) along axis; with no axis, in the flattened tensor (0-d,
  // or all ones with keepdims). i64, not differentiable.
  Tensor argmax(std::optional<int64_t> axis = std::nullopt, bool keepdims = false) const;
  Tensor argmin(std::optional<int64_t> axis = std::nullopt, bool keepdims = false) const;

  Tensor matmul(const Tensor& other) const;

  // --- libtorch's member spellings of free functions (t.var() is var(t), ...): the same
  // arguments after the tensor, defined at the end of this file ---
  Tensor var(const std::vector<int64_t>& axes = {}, double correction = 1.0,
             bool keepdims = false) const;
  Tensor std(const std::vector<int64_t>& axes = {}, double correction = 1.0,
             bool keepdims = false) const;
  Tensor norm(double p = 2.0, const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor norm(const std::string& ord, const std::vector<int64_t>& axes = {},
              bool keepdims = false) const;
  Tensor logsumexp(const std::vector<int64_t>& axes, bool keepdims = false) const;
  Tensor nansum(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor nanmean(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor any(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor all(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor count_nonzero(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  // One integer axis in place of the list (x.sum(1), x.mean(-1, true), x.var(0), x.norm(2, 1)):
  // the same as {axis}; x.sum() and x.sum({...}) are the list forms (see detail::if_axis).
#define NDGRAD_AXIS_REDUCTIONS(X) \
  X(sum)                          \
  X(max) X(min) X(prod) X(mean) X(logsumexp) X(nansum) X(nanmean) X(any) X(all) X(count_nonzero)
#define NDGRAD_AXIS_FORM(name)                       \
  template <class I, detail::if_axis<I> = 0>         \
  Tensor name(I axis, bool keepdims = false) const { \
    return name(detail::one_axis(axis), keepdims);   \
  }
  NDGRAD_AXIS_REDUCTIONS(NDGRAD_AXIS_FORM)
#undef NDGRAD_AXIS_FORM
  template <class I, detail::if_axis<I> = 0>
  Tensor var(I axis, double correction = 1.0, bool keepdims = false) const {
    return var(detail::one_axis(axis), correction, keepdims);
  }
  template <class I, detail::if_axis<I> = 0>
  Tensor std(I axis, double correction = 1.0, bool keepdims = false) const {
    return std(detail::one_axis(axis), correction, keepdims);
  }
  // The order comes first, as in the list form: x.norm(1) is the 1-norm, x.norm(2, 1) over axis 1.
  template <class I, detail::if_axis<I> = 0>
  Tensor norm(double p, I axis, bool keepdims = false) const {
    return norm(p, detail::one_axis(axis), keepdims);
  }
  template <class I, detail::if_axis<I> = 0>
  Tensor norm(const std::string& ord, I axis, bool keepdims = false) const {
    return norm(ord, detail::one_axis(axis), keepdims);
  }
  Tensor median() const;
  ValuesIndices median(int64_t axis, bool keepdims = false) const;
  Tensor nanmedian() const;
  ValuesIndices nanmedian(int64_t axis, bool keepdims = false) const;
  Tensor quantile(double q, std::optional<int64_t> axis = std::nullopt,
                  bool keepdims = false) const;
  Tensor cumsum(int64_t axis) const;
  Tensor cumsum(int64_t axis, DType dtype) const;
  Tensor cumprod(int64_t axis) const;
  Tensor cumprod(int64_t axis, DType dtype) const;
  Tensor logcumsumexp(int64_t axis) const;
  ValuesIndices cummax(int64_t axis) const;
  ValuesIndices cummin(int64_t axis) const;
  Tensor diff(int64_t n = 1, int64_t axis = -1) const;
  ValuesIndices sort(int64_t axis = -1, bool descending = false) const;
  Tensor argsort(int64_t axis = -1, bool descending = false) const;
  ValuesIndices topk(int64_t k, int64_t axis = -1, bool largest = true, bool sorted = true) const;
  ValuesIndices kthvalue(int64_t k, int64_t axis = -1, bool keepdims = false) const;
  Tensor flip(const std::vector<int64_t>& axes = {}) const;
  Tensor roll(int64_t shift, std::optional<int64_t> axis = std::nullopt) const;
  // clamp / clip: number bounds of any arithmetic type or std::nullopt, or tensor bounds.
  template <class Lo, class Hi = std::nullopt_t, detail::if_bound<Lo> = 0, detail::if_bound<Hi> = 0>
  Tensor clamp(Lo min, Hi max = std::nullopt) const;
  Tensor clamp(const Tensor& min, const Tensor& max = Tensor()) const;
  template <class Lo, class Hi = std::nullopt_t, detail::if_bound<Lo> = 0, detail::if_bound<Hi> = 0>
  Tensor clip(Lo min, Hi max = std::nullopt) const;
  Tensor clip(const Tensor& min, const Tensor& max = Tensor()) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor pow(double exponent) const;
  Tensor abs() const;
  Tensor neg() const;
  Tensor sign() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor relu() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor square() const;
  Tensor reciprocal() const;
  Tensor floor() const;
  Tensor ceil() const;
  Tensor round() const;
  Tensor trunc() const;
  Tensor isnan() const;
  Tensor isinf() const;
  Tensor isfinite() const;
  Tensor logical_not() const;

  // Internal handle; for the library's own layers.
  const Ref<TensorImpl>& impl() const { return impl_; }

 private:
  Ref<TensorImpl> impl_;
};

// One entry of an index: an integer (selects, removing the axis), a Slice, NewAxis, Ellipsis,
// or a tensor (advanced indexing, NumPy's rules): an i64 tensor of positions along one axis,
// or a bool mask covering as many axes as it has (a 0-d bool adds an axis of size 1 or 0).
// Index tensors broadcast together; the result's advanced axes stand where the advanced entries
// stand when those are adjacent in the index (integers count as advanced once any tensor is
// there), and first otherwise. With a tensor entry the result is a copy; without, a view.
class TensorIndex {
 public:
  enum class Kind : uint8_t { integer, slice, new_axis, ellipsis, tensor };
  template <class I, class = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>>
  TensorIndex(I i) : kind_(Kind::integer), i_(static_cast<int64_t>(i)) {}  // NOLINT
  TensorIndex(Slice s) : kind_(Kind::slice), slice_(s) {}                  // NOLINT
  TensorIndex(NewAxisT) : kind_(Kind::new_axis) {}                         // NOLINT
  TensorIndex(EllipsisT) : kind_(Kind::ellipsis) {}                        // NOLINT
  TensorIndex(Tensor t) : kind_(Kind::tensor), tensor_(std::move(t)) {}    // NOLINT
  Kind kind() const { return kind_; }
  int64_t integer() const { return i_; }
  const Slice& slice() const { return slice_; }
  const Tensor& tensor() const { return tensor_; }

 private:
  Kind kind_;
  int64_t i_ = 0;
  Slice slice_;
  Tensor tensor_;
};

// --- construction ---
Tensor tensor(std::vector<double> values, Shape shape, DType dtype = DType::f32);
// 1-d tensors of the values, the dtype from the element type: float f32, double f64, int i32,
// int64_t i64, bool boolean (also int8_t i8, uint8_t u8). Braced lists, nested for more axes,
// take the type of their elements: tensor({1.5, 2.0}) is f64, tensor({{1, 2}, {3, 4}}) a (2,2)
// i32 (mixing types in one list does not compile; write 1.0 for a double). A ragged list
// (rows of different lengths) is a ValueError naming the row.
Tensor tensor(const std::vector<float>& values);
Tensor tensor(const std::vector<double>& values);
Tensor tensor(const std::vector<int32_t>& values);
Tensor tensor(const std::vector<int64_t>& values);
Tensor tensor(const std::vector<bool>& values);
Tensor tensor(const std::vector<int8_t>& values);
Tensor tensor(const std::vector<uint8_t>& values);
namespace detail {
template <class T>
using if_element = std::enable_if_t<std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                        std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                                        std::is_same_v<T, long long> || std::is_same_v<T, bool> ||
                                        std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>,
                                    int>;
template <class T>
using element_t = std::conditional_t<std::is_same_v<T, long long>, int64_t, T>;
// rows' lengths checked equal (ValueError naming the row); returns the common length.
size_t check_rows(const std::vector<size_t>& lengths, const char* what);
}  // namespace detail
template <class T, detail::if_element<T> = 0>
Tensor tensor(std::initializer_list<T> values) {
  return tensor(std::vector<detail::element_t<T>>(values.begin(), values.end()));
}
template <class T, detail::if_element<T> = 0>
Tensor tensor(std::initializer_list<std::initializer_list<T>> rows) {
  std::vector<size_t> lengths;
  std::vector<detail::element_t<T>> flat;
  for (const auto& row : rows) {
    lengths.push_back(row.size());
    flat.insert(flat.end(), row.begin(), row.end());
  }
  const size_t n = detail::check_rows(lengths, "row");
  return tensor(flat).reshape({static_cast<int64_t>(rows.size()), static_cast<int64_t>(n)});
}
template <class T, detail::if_element<T> = 0>
Tensor tensor(std::initializer_list<std::initializer_list<std::initializer_list<T>>> blocks) {
  std::vector<size_t> outer, inner;
  std::vector<detail::element_t<T>> flat;
  for (const auto& block : blocks) {
    outer.push_back(block.size());
    for (const auto& row : block) {
      inner.push_back(row.size());
      flat.insert(flat.end(), row.begin(), row.end());
    }
  }
  const size_t rows = detail::check_rows(outer, "block");
  const size_t n = detail::check_rows(inner, "row");
  return tensor(flat).reshape(
      {static_cast<int64_t>(blocks.size()), static_cast<int64_t>(rows), static_cast<int64_t>(n)});
}
Tensor scalar(double value, DType dtype = DType::f32);
Tensor empty(Shape shape, DType dtype = DType::f32);  // uninitialized contents
Tensor zeros(Shape shape, DType dtype = DType::f32);
Tensor ones(Shape shape, DType dtype = DType::f32);
Tensor full(Shape shape, double value, DType dtype = DType::f32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor arange(int64_t n, DType dtype = DType::f32);
Tensor randn(Shape shape, uint64_t seed, DType dtype = DType::f32);
Tensor rand(Shape shape, uint64_t seed, DType dtype = DType::f32);
Tensor eye(int64_t n, DType dtype = DType::f32);
// A tensor over memory the caller owns (a NumPy array's, another library's buffer), without a
// copy. data: the address of element (0, ..., 0), aligned to the dtype's size; strides in
// elements, any sign (0 repeats an element: such a tensor is refused as a write destination,
// as broadcast views are). release (may be empty) is called exactly once, when the last
// tensor or view over the memory is gone, on whichever thread drops it; it must not throw.
// When from_blob itself throws (ValueError: a rank mismatch, a negative size, more elements or
// bytes than 64 bits count, a null or misaligned data), release is not called and the memory
// stays the caller's. Writes by the owner are not seen by the version counter. Pass it to ops
// as a named tensor: a temporary (rvalue) operand lends its memory to the result (see the
// operators), which would then be written over the caller's memory.
Tensor from_blob(void* data, const Shape& shape, const Shape& strides, DType dtype,
                 std::function<void()> release = {});
// The same over contiguous (row-major) memory.
Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void()> release = {});
// The address of t's element (0, ..., 0) for code outside the library that keeps reading or
// writing the memory (a NumPy array over it): computes t's values if they are pending and
// whatever pending computation reads them, and marks the memory so that no later op leaves a
// computation pending over it (large elementwise results are otherwise computed lazily, reading
// their inputs when used). from_blob's memory is marked so from the start. Writes from outside
// are not seen by the version counter.
void* expose_memory(const Tensor& t);

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// --- broadcasting and shape ops ---
Shape broadcast_shapes(const Shape& a, const Shape& b);
Tensor sum_to(const Tensor& t, const Shape& shape);

// --- elementwise ---
// Result dtypes (docs/API.md has the tables): two tensors give promote_types of theirs; the
// storage dtypes (i32, u8, i8, f16, bf16) compute in compute_dtype() and round back once.
// A scalar operand counts by its kind, never its value: a floating scalar (float, double) with
// an integer or bool tensor gives f32; an integer scalar (any integral C++ type, bool included)
// keeps an integer tensor's dtype (i64, i32, u8, i8: a value outside an i32, u8 or i8 tensor's
// range is a ValueError, but in comparisons and `/`) and gives i64 with a bool tensor; a
// floating tensor keeps its dtype with either. `/` is true division: integer and bool operands
// give f32 (the quotient of their f64 values, rounded once). floor_divide is NumPy's //.
// A temporary operand (an rvalue: `x * 2.0 + 1.0`, `tanh(a + b)`) lends its memory: when
// nothing else holds it and the op's gradient does not read it, the result is written over it
// instead of a new buffer. A named tensor passed with std::move may so hold the result after
// the call (as a moved-from object, its values are unspecified).
#define NDGRAD_ARITHMETIC_OPERATOR(symbol)                  \
  Tensor operator symbol(const Tensor& a, const Tensor& b); \
  Tensor operator symbol(Tensor&& a, const Tensor& b);      \
  Tensor operator symbol(const Tensor& a, Tensor&& b);      \
  Tensor operator symbol(Tensor&& a, Tensor&& b);           \
  Tensor operator symbol(const Tensor& a, double b);        \
  Tensor operator symbol(Tensor&& a, double b);             \
  Tensor operator symbol(double a, const Tensor& b);        \
  Tensor operator symbol(double a, Tensor&& b);             \
  Tensor operator symbol(const Tensor& a, int64_t b);       \
  Tensor operator symbol(Tensor&& a, int64_t b);            \
  Tensor operator symbol(int64_t a, const Tensor& b);       \
  Tensor operator symbol(int64_t a, Tensor&& b);
NDGRAD_ARITHMETIC_OPERATOR(+)
NDGRAD_ARITHMETIC_OPERATOR(-)
NDGRAD_ARITHMETIC_OPERATOR(*)
NDGRAD_ARITHMETIC_OPERATOR(/)
#undef NDGRAD_ARITHMETIC_OPERATOR
Tensor operator-(const Tensor& a);
Tensor operator-(Tensor&& a);
// In place: a = a op b written into a's memory (views of a see it), b broadcast to a's shape
// (a's shape never changes: a b that does not broadcast to it is a ShapeError). The result's
// dtype must be a's (i64 += 1.5 is a DTypeError; / of integers gives f32, so only a floating a
// takes /=). Not recorded: while grad mode is on it is refused (AutogradError) when a requires
// grad (as copy_) or b does. Bumps a's version, so a backward pass that saved a refuses to run.
// Bad input changes nothing.
#define NDGRAD_INPLACE_OPERATOR(symbol)                \
  Tensor& operator symbol(Tensor& a, const Tensor& b); \
  Tensor& operator symbol(Tensor& a, double b);        \
  Tensor& operator symbol(Tensor& a, int64_t b);
NDGRAD_INPLACE_OPERATOR(+=)
NDGRAD_INPLACE_OPERATOR(-=)
NDGRAD_INPLACE_OPERATOR(*=)
NDGRAD_INPLACE_OPERATOR(/=)
#undef NDGRAD_INPLACE_OPERATOR

// The op table's functions: one per row of ndgrad/op_table.def, which gives each its dtype
// rule and its derivative (the rows are the list; `ndgrad gradcheck --help` prints them).
// Unary ones are name(x); binary ones name(a, b), broadcasting, with a scalar on either side
// (the result dtype as for the operators). tanh_backward(g, y), sigmoid_backward(g, y) and
// relu_backward(g, x) are the derivatives of tanh, sigmoid and relu in one pass.
// - floor_divide is floor(a / b) with NumPy's semantics, in the promoted dtype (not for bool):
//   integers round the quotient toward -inf and give 0 when dividing by 0; floats give inf or
//   NaN when dividing by 0.
// - pow of two integers is exact and wraps (a negative exponent is a ValueError); with a
//   floating operand, the promoted dtype. Gradients at base 0 follow PyTorch (docs/API.md): d/dbase
//   is 0 where exponent == 0 and d/dexponent is 0 where base == 0 and exponent >= 0.
// - relu, abs, sign, maximum and minimum pass NaN through (NaN wins in maximum/minimum).
// - floor, ceil, round (half to even), trunc and sign are differentiable with zero gradients
//   (PyTorch's); floor_divide and the ops with a bool result (comparisons, logical_*, is*) are
//   not differentiable (their results never require grad).
// - bitwise_* take i64 and bool tensors only; atan2, hypot, xlogy, copysign: floating ones.
// Each also takes temporaries (rvalues), whose memory it may reuse (see the operators).
#define NDGRAD_UNARY_OP(name, ...) \
  Tensor name(const Tensor& x);    \
  Tensor name(Tensor&& x);
#define NDGRAD_BINARY_OP(name, ...)              \
  Tensor name(const Tensor& a, const Tensor& b); \
  Tensor name(Tensor&& a, const Tensor& b);      \
  Tensor name(const Tensor& a, Tensor&& b);      \
  Tensor name(Tensor&& a, Tensor&& b);           \
  Tensor name(const Tensor& a, double b);        \
  Tensor name(Tensor&& a, double b);             \
  Tensor name(double a, const Tensor& b);        \
  Tensor name(double a, Tensor&& b);             \
  Tensor name(const Tensor& a, int64_t b);       \
  Tensor name(Tensor&& a, int64_t b);            \
  Tensor name(int64_t a, const Tensor& b);       \
  Tensor name(int64_t a, Tensor&& b);
#include "ndgrad/op_table.def"
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
// A number in place of a tensor takes the tensor's dtype as in the arithmetic operators.
Tensor where(const Tensor& condition, const Tensor& a, double b);
Tensor where(const Tensor& condition, double a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, int64_t b);
Tensor where(const Tensor& condition, int64_t a, const Tensor& b);

// --- functions with a parameter, written with the rows above (differentiable to every order;
// values and gradients at kinks and bounds as PyTorch's, docs/API.md) ---
// where(x > 0, x, slope x): the gradient at 0 is slope * g. Floating t.
Tensor leaky_relu(const Tensor& t, double negative_slope = 0.01);
// x for x > 0, alpha (e^x - 1) at and below 0. Floating t.
Tensor elu(const Tensor& t, double alpha = 1.0);
// t clamped to [min, max]; the gradient is g strictly inside, 0 at and beyond the bounds.
Tensor hardtanh(const Tensor& t, double min = -1.0, double max = 1.0);
// min(max(t, min), max), either bound optional (not both): numbers (an operator's scalar: an
// integer keeps an integer t's dtype, a floating number gives f32 for a non-floating t; the
// templates below take any arithmetic type or std::nullopt) or tensors that broadcast with t
// (an undefined Tensor() for none). NaN
// passes. t gets g where min <= t <= max (the bounds included), a tensor min where t < min <
// max, a tensor max where t > max or max < min (PyTorch's). clip is NumPy's name.
Tensor clamp(const Tensor& t, std::optional<double> min, std::optional<double> max = std::nullopt);
Tensor clamp(const Tensor& t, const Tensor& min, const Tensor& max = Tensor());
Tensor clip(const Tensor& t, std::optional<double> min, std::optional<double> max = std::nullopt);
Tensor clip(const Tensor& t, const Tensor& min, const Tensor& max = Tensor());
// a + w (b - a) (computed as b - (b - a)(1 - w) for |w| >= 1/2, PyTorch's, exact at w = 1).
Tensor lerp(const Tensor& a, const Tensor& b, double weight);
Tensor lerp(const Tensor& a, const Tensor& b, const Tensor& weight);
// NaN, inf and -inf replaced (by default with 0 and the dtype's largest and lowest finite
// values); the gradient is g where t is finite, 0 elsewhere. A non-floating t is copied.
Tensor nan_to_num(const Tensor& t, double nan = 0.0, std::optional<double> posinf = std::nullopt,
                  std::optional<double> neginf = std::nullopt);
// PyTorch's gelu(x, approximate): "none" is the row gelu, "tanh" the row gelu_tanh.
Tensor gelu(const Tensor& t, const std::string& approximate);

// --- joining and splitting (differentiable; split, chunk and unbind give views) ---
// cat: tensors of one rank whose shapes agree except along axis, in the promoted dtype.
Tensor cat(const std::vector<Tensor>& tensors, int64_t axis = 0);
Tensor concatenate(const std::vector<Tensor>& tensors, int64_t axis = 0);  // NumPy's name
// stack: tensors of one shape along a new axis (axis in [-(ndim+1), ndim]).
Tensor stack(const std::vector<Tensor>& tensors, int64_t axis = 0);
// split: pieces of split_size along axis (the last may be smaller), or of the given sizes
// (which must add up to the axis' size).
std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t axis = 0);
std::vector<Tensor> split(const Tensor& t, const std::vector<int64_t>& sizes, int64_t axis = 0);
// chunk: at most `chunks` pieces of ceil(size / chunks) (libtorch's rule).
std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t axis = 0);
std::vector<Tensor> unbind(const Tensor& t, int64_t axis = 0);  // select(axis, i) for each i
// tensor_split (libtorch; NumPy's array_split): `sections` pieces, the first size % sections of
// them one longer; or pieces between the split points `indices` (clamped like slice ends, so a
// piece may be empty). Views.
std::vector<Tensor> tensor_split(const Tensor& t, int64_t sections, int64_t axis = 0);
std::vector<Tensor> tensor_split(const Tensor& t, const std::vector<int64_t>& indices,
                                 int64_t axis = 0);
// NumPy's stacking helpers: hstack joins along axis 1 (axis 0 for 1-d tensors); vstack joins
// along axis 0, 1-d tensors (n) taken as rows (1, n).
Tensor hstack(const std::vector<Tensor>& tensors);
Tensor vstack(const std::vector<Tensor>& tensors);
// Views: the elements in reverse order along axes (every axis when empty), NumPy's names for
// unsqueeze and transpose, and moving one axis to another position (the rest keep their order).
Tensor flip(const Tensor& t, const std::vector<int64_t>& axes = {});
Tensor expand_dims(const Tensor& t, int64_t axis);
Tensor swapaxes(const Tensor& t, int64_t axis0, int64_t axis1);
Tensor moveaxis(const Tensor& t, int64_t source, int64_t destination);
// Padding (NumPy's np.pad): one (before, after) pair per axis, in axis order; a negative width
// crops. constant: value; reflect: mirrored without repeating the edge (widths < the size);
// edge (libtorch's replicate): the edge repeated; wrap (circular): the other end's elements
// (widths <= the size). Differentiable (a copy).
enum class PadMode { constant, reflect, edge, wrap };
Tensor pad(const Tensor& t, const std::vector<std::pair<int64_t, int64_t>>& widths,
           PadMode mode = PadMode::constant, double value = 0.0);
// The lower (tril) or upper (triu) triangle of the last two axes, zeros elsewhere: element
// (i, j) is kept when j - i <= k (tril) or j - i >= k (triu). At least 2-d.
Tensor tril(const Tensor& t, int64_t k = 0);
Tensor triu(const Tensor& t, int64_t k = 0);
// The elements shifted by shift along axis, those past the end coming back at the start (a
// copy); with no axis, over the flattened tensor, then given the original shape.
Tensor roll(const Tensor& t, int64_t shift, std::optional<int64_t> axis = std::nullopt);

// --- advanced indexing (copies; differentiable: repeated indices accumulate their gradients) ---
// Index tensors are i64 (or i32, u8, i8, taken as their values); negative values count from the
// end; out of range is an IndexError.
Tensor take(const Tensor& t, const Tensor& indices);  // t.flatten()[indices], indices' shape
Tensor index_select(const Tensor& t, int64_t axis, const Tensor& indices);  // indices 0-d/1-d
// gather (libtorch): out[i][j] = t[i][index[i][j]] for axis 1; index has t's rank and is no
// larger on the other axes. take_along_axis (NumPy): the same, the other axes broadcasting.
Tensor gather(const Tensor& t, int64_t axis, const Tensor& index);
Tensor take_along_axis(const Tensor& t, const Tensor& indices, int64_t axis);
// The elements where mask (bool, broadcasting with t) is true, in row-major order (1-d).
Tensor masked_select(const Tensor& t, const Tensor& mask);
// The coordinates of the non-zero elements, (count, ndim) i64 (not differentiable).
Tensor nonzero(const Tensor& t);
Tensor argwhere(const Tensor& t);  // NumPy's name for nonzero's layout
// Writing through indices, functionally (t is unchanged; the result is a new tensor),
// differentiable with respect to t and source. Repeated indices accumulate. Floating t only.
// index_add: t with source's slices added at indices along axis (source: t's shape with that
// axis as long as indices). scatter_add (libtorch): source[i][j] added at t[i][index[i][j]]
// for axis 1; index has t's rank, no larger than source anywhere.
Tensor index_add(const Tensor& t, int64_t axis, const Tensor& indices, const Tensor& source);
Tensor scatter_add(const Tensor& t, int64_t axis, const Tensor& index, const Tensor& source);
// value where mask (bool, broadcasting to t's shape) is true, t elsewhere.
Tensor masked_fill(const Tensor& t, const Tensor& mask, double value);

// index_put (functional x[indices] = values, NumPy's rules for indices as in Tensor::index):
// a new tensor, differentiable in t and values; where an element is named twice the last value
// stays (and gets the gradient; the overwritten ones get zero); accumulate adds instead.
Tensor index_put(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& values,
                 bool accumulate = false);
// scatter (libtorch): source[i][j] written at t[i][index[i][j]] for axis 1 (the last write to an
// element stays); index as for scatter_add. put_along_axis (NumPy): values (broadcast to the
// indices' shape) written where take_along_axis would read; on the other axes the indices and
// t broadcast together (an axis of t of size 1 is written once per index along it).
Tensor scatter(const Tensor& t, int64_t axis, const Tensor& index, const Tensor& source);
Tensor scatter(const Tensor& t, int64_t axis, const Tensor& index, double value);
Tensor put_along_axis(const Tensor& t, const Tensor& indices, const Tensor& values, int64_t axis);
Tensor masked_fill(const Tensor& t, const Tensor& mask, const Tensor& value);  // 0-d value

// --- repeating, diagonals and grids (differentiable) ---
Tensor tile(const Tensor& t, const Shape& reps);  // NumPy's name for Tensor::repeat
// Each element repeated `repeats` times (or repeats[i] times for element i: a 1-d i64 tensor as
// long as the axis) along axis; with no axis, over the flattened tensor. NumPy's np.repeat.
Tensor repeat_interleave(const Tensor& t, int64_t repeats,
                         std::optional<int64_t> axis = std::nullopt);
Tensor repeat_interleave(const Tensor& t, const Tensor& repeats,
                         std::optional<int64_t> axis = std::nullopt);
Tensor diagonal(const Tensor& t, int64_t offset = 0, int64_t axis1 = 0, int64_t axis2 = 1);
// diag: of a 1-d tensor, the square matrix with it on diagonal k (a copy); of a 2-d one, its
// diagonal k (a view).
Tensor diag(const Tensor& t, int64_t k = 0);
// The sum of the diagonal (NumPy's trace: over axes axis1 and axis2, the others kept).
Tensor trace(const Tensor& t, int64_t offset = 0, int64_t axis1 = 0, int64_t axis2 = 1);
// Coordinate grids from 1-d tensors (0-d taken as 1-d): indexing "xy" (NumPy's default; the
// first two outputs' axes swapped) or "ij" (matrix order). Broadcast views (read-only).
std::vector<Tensor> meshgrid(const std::vector<Tensor>& tensors,
                             const std::string& indexing = "xy");

// Comparisons give DType::boolean tensors and are not differentiable.
#define NDGRAD_COMPARISON_OPERATOR(symbol)                  \
  Tensor operator symbol(const Tensor& a, const Tensor& b); \
  Tensor operator symbol(const Tensor& a, double b);        \
  Tensor operator symbol(double a, const Tensor& b);        \
  Tensor operator symbol(const Tensor& a, int64_t b);       \
  Tensor operator symbol(int64_t a, const Tensor& b);
NDGRAD_COMPARISON_OPERATOR(==)
NDGRAD_COMPARISON_OPERATOR(!=)
NDGRAD_COMPARISON_OPERATOR(<)
NDGRAD_COMPARISON_OPERATOR(<=)
NDGRAD_COMPARISON_OPERATOR(>)
NDGRAD_COMPARISON_OPERATOR(>=)
#undef NDGRAD_COMPARISON_OPERATOR

// Scalars of the other arithmetic types take the double (float, long double) or the int64_t
// (every integral type) forms above. Templates: an exact match for `t + 2` (int), which the
// double and int64_t forms would otherwise both claim. An unsigned value beyond i64's range is
// a ValueError.
namespace detail {
[[noreturn]] void throw_scalar_out_of_range(const char* op, unsigned long long value);
template <class S>
using if_scalar = std::enable_if_t<std::is_arithmetic_v<S>, int>;
template <class S>
std::conditional_t<std::is_floating_point_v<S>, double, int64_t> scalar_arg(S v, const char* op) {
  if constexpr (std::is_floating_point_v<S>) {
    return static_cast<double>(v);
  } else {
    if constexpr (std::is_unsigned_v<S> && sizeof(S) >= sizeof(int64_t))
      if (v > static_cast<S>(INT64_MAX)) throw_scalar_out_of_range(op, v);
    (void)op;
    return static_cast<int64_t>(v);
  }
}
}  // namespace detail

#define NDGRAD_SCALAR_FORMS(symbol, name)        \
  template <class S, detail::if_scalar<S> = 0>   \
  Tensor operator symbol(const Tensor& a, S b) { \
    return a symbol detail::scalar_arg(b, name); \
  }                                              \
  template <class S, detail::if_scalar<S> = 0>   \
  Tensor operator symbol(S a, const Tensor& b) { \
    return detail::scalar_arg(a, name) symbol b; \
  }
// The arithmetic operators' temporaries lend their memory (above) whatever the scalar's type.
#define NDGRAD_RVALUE_SCALAR_FORMS(symbol, name)            \
  template <class S, detail::if_scalar<S> = 0>              \
  Tensor operator symbol(Tensor&& a, S b) {                 \
    return std::move(a) symbol detail::scalar_arg(b, name); \
  }                                                         \
  template <class S, detail::if_scalar<S> = 0>              \
  Tensor operator symbol(S a, Tensor&& b) {                 \
    return detail::scalar_arg(a, name) symbol std::move(b); \
  }
NDGRAD_SCALAR_FORMS(+, "add")
NDGRAD_SCALAR_FORMS(-, "sub")
NDGRAD_SCALAR_FORMS(*, "mul")
NDGRAD_SCALAR_FORMS(/, "div")
NDGRAD_SCALAR_FORMS(==, "equal")
NDGRAD_SCALAR_FORMS(!=, "not_equal")
NDGRAD_SCALAR_FORMS(<, "less")
NDGRAD_SCALAR_FORMS(<=, "less_equal")
NDGRAD_SCALAR_FORMS(>, "greater")
NDGRAD_SCALAR_FORMS(>=, "greater_equal")
#undef NDGRAD_SCALAR_FORMS
NDGRAD_RVALUE_SCALAR_FORMS(+, "add")
NDGRAD_RVALUE_SCALAR_FORMS(-, "sub")
NDGRAD_RVALUE_SCALAR_FORMS(*, "mul")
NDGRAD_RVALUE_SCALAR_FORMS(/, "div")
#undef NDGRAD_RVALUE_SCALAR_FORMS
#define NDGRAD_INPLACE_SCALAR_FORMS(symbol, name) \
  template <class S, detail::if_scalar<S> = 0>    \
  Tensor& operator symbol(Tensor& a, S b) {       \
    return a symbol detail::scalar_arg(b, name);  \
  }
NDGRAD_INPLACE_SCALAR_FORMS(+=, "add")
NDGRAD_INPLACE_SCALAR_FORMS(-=, "sub")
NDGRAD_INPLACE_SCALAR_FORMS(*=, "mul")
NDGRAD_INPLACE_SCALAR_FORMS(/=, "div")
#undef NDGRAD_INPLACE_SCALAR_FORMS
template <class S, detail::if_scalar<S> = 0>
Tensor where(const Tensor& condition, const Tensor& a, S b) {
  return where(condition, a, detail::scalar_arg(b, "where"));
}
template <class S, detail::if_scalar<S> = 0>
Tensor where(const Tensor& condition, S a, const Tensor& b) {
  return where(condition, detail::scalar_arg(a, "where"), b);
}
// clamp and clip with number bounds of any arithmetic type, or std::nullopt for none: a bound
// keeps its kind as an operator's scalar does (clamp(i, 2, 5) of an integer i keeps its dtype;
// a floating bound with an integer t gives f32).
namespace detail {
struct ClampBound {
  enum Kind { none, integer, floating } kind = none;
  double f = 0;
  int64_t i = 0;
};
template <class S>
ClampBound clamp_bound(S v, const char* op) {
  if constexpr (std::is_same_v<S, std::nullopt_t>)
    return {};
  else if constexpr (std::is_floating_point_v<S>)
    return {ClampBound::floating, static_cast<double>(v), 0};
  else
    return {ClampBound::integer, 0, scalar_arg(v, op)};
}
}  // namespace detail
Tensor clamp(const Tensor& t, detail::ClampBound min, detail::ClampBound max);
template <class Lo, class Hi = std::nullopt_t, detail::if_bound<Lo> = 0, detail::if_bound<Hi> = 0>
Tensor clamp(const Tensor& t, Lo min, Hi max = std::nullopt) {
  return clamp(t, detail::clamp_bound(min, "clamp"), detail::clamp_bound(max, "clamp"));
}
template <class Lo, class Hi = std::nullopt_t, detail::if_bound<Lo> = 0, detail::if_bound<Hi> = 0>
Tensor clip(const Tensor& t, Lo min, Hi max = std::nullopt) {
  return clamp(t, detail::clamp_bound(min, "clip"), detail::clamp_bound(max, "clip"));
}
#define NDGRAD_BINARY_OP(name, ...)                          \
  template <class S, detail::if_scalar<S> = 0>               \
  Tensor name(const Tensor& a, S b) {                        \
    return name(a, detail::scalar_arg(b, #name));            \
  }                                                          \
  template <class S, detail::if_scalar<S> = 0>               \
  Tensor name(S a, const Tensor& b) {                        \
    return name(detail::scalar_arg(a, #name), b);            \
  }                                                          \
  template <class S, detail::if_scalar<S> = 0>               \
  Tensor name(Tensor&& a, S b) {                             \
    return name(std::move(a), detail::scalar_arg(b, #name)); \
  }                                                          \
  template <class S, detail::if_scalar<S> = 0>               \
  Tensor name(S a, Tensor&& b) {                             \
    return name(detail::scalar_arg(a, #name), std::move(b)); \
  }
#include "ndgrad/op_table.def"

// --- reductions ---
#define NDGRAD_REDUCTION_OP(name, ...) \
  Tensor name(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
#include "ndgrad/op_table.def"
Tensor mean(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
// sum and mean accumulated in (and giving) dtype: t converted first (libtorch's dtype argument).
Tensor sum(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims, DType dtype);
Tensor mean(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims, DType dtype);
Tensor argmax(const Tensor& t, std::optional<int64_t> axis = std::nullopt, bool keepdims = false);
Tensor argmin(const Tensor& t, std::optional<int64_t> axis = std::nullopt, bool keepdims = false);
Tensor logsumexp(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims = false);
// Written with the rows (docs/API.md has their gradient conventions, PyTorch's):
// var: sum((t - mean)^2) / max(0, n - correction) (correction 1: libtorch's default; NumPy's
// ddof); std: its square root (the gradient 0 where std is 0). Floating t.
Tensor var(const Tensor& t, const std::vector<int64_t>& axes = {}, double correction = 1.0,
           bool keepdims = false);
Tensor std(const Tensor& t, const std::vector<int64_t>& axes = {}, double correction = 1.0,
           bool keepdims = false);
// sum and mean of the elements that are not NaN (nanmean of all-NaN is NaN).
Tensor nansum(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor nanmean(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
// Whether any / all elements are non-zero (NaN counts as non-zero): bool, not differentiable;
// an empty reduction gives false / true. count_nonzero: i64.
Tensor any(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor all(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor count_nonzero(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
// Vector norms over axes (empty: all, flattened), libtorch's norm / linalg.vector_norm: p = 0
// (the count of non-zeros), 1, 2, inf, -inf (max / min of |t|), any other p ((sum |t|^p)^(1/p)).
// ord "fro" is the 2-norm over axes (Frobenius). Floating t.
Tensor norm(const Tensor& t, double p = 2.0, const std::vector<int64_t>& axes = {},
            bool keepdims = false);
Tensor norm(const Tensor& t, const std::string& ord, const std::vector<int64_t>& axes = {},
            bool keepdims = false);
// One integer axis in place of the list (sum(t, 1), mean(t, -1, true)), as the members.
#define NDGRAD_AXIS_FORM(name)                                  \
  template <class I, detail::if_axis<I> = 0>                    \
  Tensor name(const Tensor& t, I axis, bool keepdims = false) { \
    return name(t, detail::one_axis(axis), keepdims);           \
  }
NDGRAD_AXIS_REDUCTIONS(NDGRAD_AXIS_FORM)
#undef NDGRAD_AXIS_FORM
#undef NDGRAD_AXIS_REDUCTIONS
template <class I, detail::if_axis<I> = 0>
Tensor sum(const Tensor& t, I axis, bool keepdims, DType dtype) {
  return sum(t, detail::one_axis(axis), keepdims, dtype);
}
template <class I, detail::if_axis<I> = 0>
Tensor mean(const Tensor& t, I axis, bool keepdims, DType dtype) {
  return mean(t, detail::one_axis(axis), keepdims, dtype);
}
template <class I, detail::if_axis<I> = 0>
Tensor var(const Tensor& t, I axis, double correction = 1.0, bool keepdims = false) {
  return var(t, detail::one_axis(axis), correction, keepdims);
}
template <class I, detail::if_axis<I> = 0>
Tensor std(const Tensor& t, I axis, double correction = 1.0, bool keepdims = false) {
  return std(t, detail::one_axis(axis), correction, keepdims);
}
template <class I, detail::if_axis<I> = 0>
Tensor norm(const Tensor& t, double p, I axis, bool keepdims = false) {
  return norm(t, p, detail::one_axis(axis), keepdims);
}
template <class I, detail::if_axis<I> = 0>
Tensor norm(const Tensor& t, const std::string& ord, I axis, bool keepdims = false) {
  return norm(t, ord, detail::one_axis(axis), keepdims);
}

// --- scans along one axis (negative axes count from the end) ---
// cumsum, cumprod: bool gives i64, other dtypes keep theirs. logcumsumexp: floating, computed
// stably (a running log-add-exp). Differentiable; cumprod's gradient is right with zeros.
Tensor cumsum(const Tensor& t, int64_t axis);
Tensor cumprod(const Tensor& t, int64_t axis);
// The same, accumulated in (and giving) dtype: t converted first (NumPy's and libtorch's dtype=).
Tensor cumsum(const Tensor& t, int64_t axis, DType dtype);
Tensor cumprod(const Tensor& t, int64_t axis, DType dtype);
Tensor logcumsumexp(const Tensor& t, int64_t axis);
// Values and their i64 indices (libtorch's tuples, as a struct: auto [v, i] = sort(t)). The
// values are differentiable: their gradient goes to the indices' elements.
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};
// The running max / min and the index where it was reached (the last of ties, and the last NaN
// once a NaN is met: libtorch's).
ValuesIndices cummax(const Tensor& t, int64_t axis);
ValuesIndices cummin(const Tensor& t, int64_t axis);
// The n-th forward difference along axis (NumPy's diff), prepend/append (optional) joined first.
Tensor diff(const Tensor& t, int64_t n = 1, int64_t axis = -1, const Tensor& prepend = Tensor(),
            const Tensor& append = Tensor());

// --- sorting and selection along one axis ---
// Stable: ties keep their order; NaN sorts last ascending, first descending (libtorch's).
ValuesIndices sort(const Tensor& t, int64_t axis = -1, bool descending = false);
Tensor argsort(const Tensor& t, int64_t axis = -1, bool descending = false);
// The k largest (smallest) along axis, in order; ties: the first in the input first. sorted
// false: the same k elements (and indices) in no particular order, without the sort.
ValuesIndices topk(const Tensor& t, int64_t k, int64_t axis = -1, bool largest = true,
                   bool sorted = true);
// The k-th smallest (k from 1) along axis.
ValuesIndices kthvalue(const Tensor& t, int64_t k, int64_t axis = -1, bool keepdims = false);
// The lower median (libtorch's: element (n - 1) / 2 of the sorted values; NaN if any is NaN).
// Of all elements: 0-d, its gradient split evenly among the elements equal to it (libtorch's).
Tensor median(const Tensor& t);
ValuesIndices median(const Tensor& t, int64_t axis, bool keepdims = false);
// The lower median of the values that are not NaN (NaN for an all-NaN slice).
Tensor nanmedian(const Tensor& t);
ValuesIndices nanmedian(const Tensor& t, int64_t axis, bool keepdims = false);
// Quantiles: q in [0, 1]; with no axis, of the flattened tensor. A 1-d q puts its axis first in
// the result. Floating t. interpolation between the sorted values around q (n - 1): "linear"
// (NumPy's default, libtorch's), "lower", "higher", "nearest" (half to even), "midpoint". A
// slice holding NaN gives NaN; nanquantile leaves the NaNs out (NaN for an all-NaN slice).
Tensor quantile(const Tensor& t, double q, std::optional<int64_t> axis = std::nullopt,
                bool keepdims = false, const std::string& interpolation = "linear");
Tensor quantile(const Tensor& t, const Tensor& q, std::optional<int64_t> axis = std::nullopt,
                bool keepdims = false, const std::string& interpolation = "linear");
Tensor nanquantile(const Tensor& t, double q, std::optional<int64_t> axis = std::nullopt,
                   bool keepdims = false, const std::string& interpolation = "linear");
Tensor nanquantile(const Tensor& t, const Tensor& q, std::optional<int64_t> axis = std::nullopt,
                   bool keepdims = false, const std::string& interpolation = "linear");

// --- linear algebra ---
Tensor matmul(const Tensor& a, const Tensor& b);

// --- contractions (NumPy's semantics; each pair of operands is one batched matrix product) ---
// einsum: "ij,jk->ik", implicit output (the labels used once, alphabetically, after the "..."
// axes), "..." broadcasting, a repeated label within a term (a diagonal), labels summed when
// absent from the output. ValueError naming the term and sizes for a malformed subscript.
Tensor einsum(const std::string& subscripts, const std::vector<Tensor>& operands);
// tensordot: the last `dims` axes of a against the first `dims` of b, or the listed pairs.
Tensor tensordot(const Tensor& a, const Tensor& b, int64_t dims = 2);
Tensor tensordot(const Tensor& a, const Tensor& b, const std::vector<int64_t>& axes_a,
                 const std::vector<int64_t>& axes_b);
// dot: NumPy's (0-d: a product; b 1-d: over the last axes; else a's last against b's
// second-to-last). vdot: both flattened. inner: over the last axes. outer: of both flattened.
// kron: the Kronecker product (the shorter shape padded with leading ones).
Tensor dot(const Tensor& a, const Tensor& b);
Tensor vdot(const Tensor& a, const Tensor& b);
Tensor inner(const Tensor& a, const Tensor& b);
Tensor outer(const Tensor& a, const Tensor& b);
Tensor kron(const Tensor& a, const Tensor& b);

// --- Tensor's member spellings (declared in the class): the free functions ---
inline Tensor Tensor::var(const std::vector<int64_t>& axes, double correction,
                          bool keepdims) const {
  return ndgrad::var(*this, axes, correction, keepdims);
}
inline Tensor Tensor::std(const std::vector<int64_t>& axes, double correction,
                          bool keepdims) const {
  return ndgrad::std(*this, axes, correction, keepdims);
}
inline Tensor Tensor::norm(double p, const std::vector<int64_t>& axes, bool keepdims) const {
  return ndgrad::norm(*this, p, axes, keepdims);
}
inline Tensor Tensor::norm(const std::string& ord, const std::vector<int64_t>& axes,
                           bool keepdims) const {
  return ndgrad::norm(*this, ord, axes, keepdims);
}
inline Tensor Tensor::logsumexp(const std::vector<int64_t>& axes, bool keepdims) const {
  return ndgrad::logsumexp(*this, axes, keepdims);
}
inline Tensor Tensor::nansum(const std::vector<int64_t>& axes, bool keepdims) const {
  return ndgrad::nansum(*this, axes, keepdims);
}
inline Tensor Tensor::nanmean(const std::vector<int64_t>& axes, bool keepdims) const {
  return ndgrad::nanmean(*this, axes, keepdims);
}
inline Tensor Tensor::any(const std::vector<int64_t>& axes, bool keepdims) const {
  return ndgrad::any(*this, axes, keepdims);
}
inline Tensor Tensor::all(const std::vector<int64_t>& axes, bool keepdims) const {
  return ndgrad::all(*this, axes, keepdims);
}
inline Tensor Tensor::count_nonzero(const std::vector<int64_t>& axes, bool keepdims) const {
  return ndgrad::count_nonzero(*this, axes, keepdims);
}
inline Tensor Tensor::median() const { return ndgrad::median(*this); }
inline ValuesIndices Tensor::median(int64_t axis, bool keepdims) const {
  return ndgrad::median(*this, axis, keepdims);
}
inline Tensor Tensor::nanmedian() const { return ndgrad::nanmedian(*this); }
inline ValuesIndices Tensor::nanmedian(int64_t axis, bool keepdims) const {
  return ndgrad::nanmedian(*this, axis, keepdims);
}
inline Tensor Tensor::quantile(double q, std::optional<int64_t> axis, bool keepdims) const {
  return ndgrad::quantile(*this, q, axis, keepdims);
}
inline Tensor Tensor::cumsum(int64_t axis) const { return ndgrad::cumsum(*this, axis); }
inline Tensor Tensor::cumsum(int64_t axis, DType dtype) const {
  return ndgrad::cumsum(*this, axis, dtype);
}
inline Tensor Tensor::cumprod(int64_t axis) const { return ndgrad::cumprod(*this, axis); }
inline Tensor Tensor::cumprod(int64_t axis, DType dtype) const {
  return ndgrad::cumprod(*this, axis, dtype);
}
inline Tensor Tensor::logcumsumexp(int64_t axis) const { return ndgrad::logcumsumexp(*this, axis); }
inline ValuesIndices Tensor::cummax(int64_t axis) const { return ndgrad::cummax(*this, axis); }
inline ValuesIndices Tensor::cummin(int64_t axis) const { return ndgrad::cummin(*this, axis); }
inline Tensor Tensor::diff(int64_t n, int64_t axis) const { return ndgrad::diff(*this, n, axis); }
inline ValuesIndices Tensor::sort(int64_t axis, bool descending) const {
  return ndgrad::sort(*this, axis, descending);
}
inline Tensor Tensor::argsort(int64_t axis, bool descending) const {
  return ndgrad::argsort(*this, axis, descending);
}
inline ValuesIndices Tensor::topk(int64_t k, int64_t axis, bool largest, bool sorted) const {
  return ndgrad::topk(*this, k, axis, largest, sorted);
}
inline ValuesIndices Tensor::kthvalue(int64_t k, int64_t axis, bool keepdims) const {
  return ndgrad::kthvalue(*this, k, axis, keepdims);
}
inline Tensor Tensor::flip(const std::vector<int64_t>& axes) const {
  return ndgrad::flip(*this, axes);
}
inline Tensor Tensor::roll(int64_t shift, std::optional<int64_t> axis) const {
  return ndgrad::roll(*this, shift, axis);
}
inline Tensor Tensor::clamp(const Tensor& min, const Tensor& max) const {
  return ndgrad::clamp(*this, min, max);
}
inline Tensor Tensor::clip(const Tensor& min, const Tensor& max) const {
  return ndgrad::clip(*this, min, max);
}
inline Tensor Tensor::pow(const Tensor& exponent) const { return ndgrad::pow(*this, exponent); }
inline Tensor Tensor::pow(double exponent) const { return ndgrad::pow(*this, exponent); }
inline Tensor Tensor::abs() const { return ndgrad::abs(*this); }
inline Tensor Tensor::neg() const { return ndgrad::neg(*this); }
inline Tensor Tensor::sign() const { return ndgrad::sign(*this); }
inline Tensor Tensor::exp() const { return ndgrad::exp(*this); }
inline Tensor Tensor::log() const { return ndgrad::log(*this); }
inline Tensor Tensor::sqrt() const { return ndgrad::sqrt(*this); }
inline Tensor Tensor::rsqrt() const { return ndgrad::rsqrt(*this); }
inline Tensor Tensor::sigmoid() const { return ndgrad::sigmoid(*this); }
inline Tensor Tensor::tanh() const { return ndgrad::tanh(*this); }
inline Tensor Tensor::relu() const { return ndgrad::relu(*this); }
inline Tensor Tensor::sin() const { return ndgrad::sin(*this); }
inline Tensor Tensor::cos() const { return ndgrad::cos(*this); }
inline Tensor Tensor::square() const { return ndgrad::square(*this); }
inline Tensor Tensor::reciprocal() const { return ndgrad::reciprocal(*this); }
inline Tensor Tensor::floor() const { return ndgrad::floor(*this); }
inline Tensor Tensor::ceil() const { return ndgrad::ceil(*this); }
inline Tensor Tensor::round() const { return ndgrad::round(*this); }
inline Tensor Tensor::trunc() const { return ndgrad::trunc(*this); }
inline Tensor Tensor::isnan() const { return ndgrad::isnan(*this); }
inline Tensor Tensor::isinf() const { return ndgrad::isinf(*this); }
inline Tensor Tensor::isfinite() const { return ndgrad::isfinite(*this); }
inline Tensor Tensor::logical_not() const { return ndgrad::logical_not(*this); }
template <class Lo, class Hi, detail::if_bound<Lo>, detail::if_bound<Hi>>
Tensor Tensor::clamp(Lo min, Hi max) const {
  return ndgrad::clamp(*this, min, max);
}
template <class Lo, class Hi, detail::if_bound<Lo>, detail::if_bound<Hi>>
Tensor Tensor::clip(Lo min, Hi max) const {
  return ndgrad::clip(*this, min, max);
}

}  // namespace ndgrad
