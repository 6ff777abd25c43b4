#pragma once
// The Tensor handle and every tensor operation of the public API.
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <vector>

#include "ndgrad/dtype.hpp"
#include "ndgrad/error.hpp"

namespace ndgrad {

struct TensorImpl;

// A handle: shape, strides and offset over shared storage, plus autograd state.
// Copies are cheap and share data; views (broadcast_to, transpose, ...) share storage too.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

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
  Tensor to(DType dtype) const;
  Tensor contiguous() const;
  // Typed pointer to the first element (respecting the view's offset). T must match dtype().
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
  void zero_grad();
  void backward() const;
  void backward(const Tensor& gradient, bool retain_graph = false, bool create_graph = false) const;
  Tensor detach() const;
  const char* grad_fn_name() const;  // name of the op that produced this tensor, or nullptr

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

  // --- reductions (empty axes = all axes) ---
  Tensor sum(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor mean(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor max(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor min(const std::vector<int64_t>& axes = {}, bool keepdims = false) const;
  Tensor argmax(int64_t axis) const;
  Tensor argmin(int64_t axis) const;

  Tensor matmul(const Tensor& other) const;

  // Internal handle; for the library's own layers.
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// --- construction ---
Tensor tensor(std::vector<double> values, Shape shape, DType dtype = DType::f32);
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

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// --- broadcasting and shape ops ---
Shape broadcast_shapes(const Shape& a, const Shape& b);
Tensor sum_to(const Tensor& t, const Shape& shape);

// --- elementwise ---
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& a);
// Gradients at base 0 follow PyTorch (docs/API.md): with a tensor exponent, d/dbase is 0 where
// exponent == 0 and d/dexponent is 0 where base == 0 and exponent >= 0.
Tensor pow(const Tensor& base, double exponent);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
// relu, abs, sign, maximum and minimum pass NaN through (NaN wins in maximum/minimum).
Tensor relu(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(
    const Tensor& x);  // -1, 0, 1; not differentiable (its derivative is 0 almost everywhere)
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

// Comparisons give DType::boolean tensors and are not differentiable.
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, double b);
Tensor operator!=(const Tensor& a, double b);
Tensor operator<(const Tensor& a, double b);
Tensor operator<=(const Tensor& a, double b);
Tensor operator>(const Tensor& a, double b);
Tensor operator>=(const Tensor& a, double b);
Tensor operator==(double a, const Tensor& b);
Tensor operator!=(double a, const Tensor& b);
Tensor operator<(double a, const Tensor& b);
Tensor operator<=(double a, const Tensor& b);
Tensor operator>(double a, const Tensor& b);
Tensor operator>=(double a, const Tensor& b);

// --- reductions ---
Tensor sum(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor mean(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor max(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor min(const Tensor& t, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor argmax(const Tensor& t, int64_t axis);
Tensor argmin(const Tensor& t, int64_t axis);
Tensor logsumexp(const Tensor& t, const std::vector<int64_t>& axes, bool keepdims = false);

// --- linear algebra ---
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace ndgrad
