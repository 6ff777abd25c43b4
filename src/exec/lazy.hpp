#pragma once
// Lazy elementwise results for large tensors.
//
// The op table's fused ops (add, sub, mul, div, neg) whose result has at least kMinElements
// elements (f32 or f64, no dtype conversion) return a tensor whose storage holds the computation
// instead of values. Further such ops on it fold into one program (kernels/cpu/fused.hpp), a sum
// over all axes or over leading axes (the sum of a broadcast gradient) evaluates it fused, and
// anything else that uses the values computes them first (TensorImpl::data()). So a chain like
// ((X + b) * (X + b)).sum() reads X once instead of writing and reading three temporaries.
//
// Results are those of eager evaluation: materialized values bit for bit, fused sums up to
// the order of additions. A pending computation reads its inputs when it runs, so before an
// input's memory is used directly (above all, written in place: copy_, optimizer steps,
// gradient accumulation) every computation that reads it runs first (TensorImpl::data(); a
// read, TensorImpl::read_data(), runs only the input's own pending computation).
#include <vector>

#include "core/dims.hpp"
#include "core/tensor_impl.hpp"
#include "kernels/cpu/kernels.hpp"

namespace ndgrad::lazy {

constexpr int64_t kMinElements = int64_t(1) << 20;

// Whether a result of this shape is large enough to be left pending.
inline bool large(const Dims& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d == 0) return false;
    if (__builtin_mul_overflow(n, d, &n)) return false;
  }
  return n >= kMinElements;
}
// The same for a result of n elements (a valid shape's count).
inline bool large(int64_t n) { return n >= kMinElements; }

// On by default (off under NDGRAD_REFERENCE_KERNELS); off makes every op eager (tests compare
// the two).
void set_enabled(bool on);
bool enabled();
// Sets enabled() for its lifetime, then restores it.
class EnabledScope {
 public:
  explicit EnabledScope(bool on) : old_(enabled()) { set_enabled(on); }
  ~EnabledScope() { set_enabled(old_); }
  EnabledScope(const EnabledScope&) = delete;
  EnabledScope& operator=(const EnabledScope&) = delete;

 private:
  bool old_;
};

// a op b over shape (the broadcast result) in dtype dt, pending; undefined when the op cannot
// be (an op the table marks eager, another dtype, a dtype conversion, too many inputs or ops). The
// result's memory is reserved here (MemoryError naming `name` when it cannot be had), so that a
// pending result can always be computed: the reads and writes of its inputs that must compute it
// first never fail.
Tensor binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const Dims& shape, DType dt,
              const char* name);
Tensor unary(kernels::UnaryOp op, const Tensor& x, const char* name);

// Whether t's values are still to be computed (inline: most storages never had a pending
// computation, and every small op asks).
bool pending_slow(const Tensor& t);
inline bool pending(const Tensor& t) {
  return t.impl()->storage->hooks.load(std::memory_order_acquire) != 0 && pending_slow(t);
}
// x.sum(axes, keepdims=true) evaluated fused into x's pending computation; undefined unless x
// is a pending result seen whole and axes are all axes, the leading ones, or the trailing ones
// (when those merge into one run per output value).
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes);
// x.sum(axes, keepdims=true) for axes the leading ones (not all), computed in one pass with the
// values of `also`, a pending result with the same program as x's (the gradient of X and the
// one summed down for b in X + b): also's values are computed and the sum returned. Undefined
// (nothing computed) when that does not hold.
Tensor sum_computing(const Tensor& x, const std::vector<int64_t>& axes, const Tensor& also);
// Computes t's values now if they are pending.
void compute(const Tensor& t);
// Pending computations alive (for tests).
int64_t pending_count();

}  // namespace ndgrad::lazy
