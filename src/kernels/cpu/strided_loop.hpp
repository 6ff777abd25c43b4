#pragma once
// The one strided iterator behind every elementwise, broadcasting and reduction kernel.
//
// N operands share one iteration shape; each has its own byte strides (0 on broadcast axes,
// and 0 on reduced axes for a reduction's output). Before looping, size-1 dims are dropped,
// dims are ordered so the innermost has the smallest strides, and adjacent dims are merged
// wherever every operand allows it. The innermost dim then goes to the kernel as
// (pointers, byte strides, count), so contiguous operands become one flat loop.
#include <array>
#include <cstdint>
#include <utility>

#include "core/dims.hpp"
#include "core/thread_pool.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad::kernels {

template <int N>
class StridedLoop {
 public:
  // shape: ndim sizes, outermost first. strides[k]: operand k's byte strides, outermost first.
  StridedLoop(int ndim, const int64_t* shape, const std::array<const int64_t*, N>& strides) {
    empty_ = false;
    ndim_ = 0;
    for (int d = 0; d < ndim; ++d)
      if (shape[d] == 0) {  // nothing to visit; the other sizes may be absurd
        empty_ = true;
        return;
      }
    for (int d = ndim - 1; d >= 0; --d) {  // store innermost first
      if (shape[d] == 1) continue;
      size_[ndim_] = shape[d];
      for (int k = 0; k < N; ++k) stride_[k][ndim_] = strides[k][d];
      ++ndim_;
    }
    reorder();
    coalesce();
  }

  int ndim() const { return ndim_; }
  bool empty() const { return empty_; }
  int64_t total() const {
    int64_t n = empty_ ? 0 : 1;
    for (int d = 0; d < ndim_; ++d) n *= size_[d];
    return n;
  }

  // Elements below which a loop never pays for threads.
  static constexpr int64_t kGrain = 1 << 16;

  // Like run, split across threads when large: along the outermost dim on which operand 0
  // (the output) moves, so no two threads write the same element. Runs serially when no such
  // dim exists (a reduction to one value: see split_dim).
  // done() runs on each thread after its share (e.g. to fence non-temporal stores).
  template <class F, class Done>
  void run_parallel(const std::array<char*, N>& base, F&& f, Done&& done) const {
    const int threads = get_num_threads();
    const int d = split_dim();
    if (threads <= 1 || empty_ || d < 0 || total() < 2 * kGrain) {
      run(base, f);
      done();
      return;
    }
    const int64_t chunks =
        std::min<int64_t>(size_[d], std::min<int64_t>(threads, total() / kGrain));
    parallel_for(chunks, [&](int64_t c) {
      std::array<char*, N> b = base;
      slice(d, size_[d] * c / chunks, size_[d] * (c + 1) / chunks, b).run(b, f);
      done();
    });
  }
  template <class F>
  void run_parallel(const std::array<char*, N>& base, F&& f) const {
    run_parallel(base, f, [] {});
  }

  // The outermost dim along which operand 0 moves, or -1.
  int split_dim() const {
    for (int d = ndim_ - 1; d >= 0; --d)
      if (stride_[0][d] != 0 && size_[d] > 1) return d;
    return -1;
  }
  // This loop restricted to [begin, end) of dim d, with base pointers moved accordingly.
  StridedLoop slice(int d, int64_t begin, int64_t end, std::array<char*, N>& base) const {
    StridedLoop sub = *this;
    sub.size_[d] = end - begin;
    for (int k = 0; k < N; ++k) base[k] += begin * stride_[k][d];
    return sub;
  }
  int64_t size(int d) const { return size_[d]; }
  int64_t stride(int k, int d) const { return stride_[k][d]; }

  // f(char* const* ptrs, const int64_t* inner_strides, int64_t count)
  template <class F>
  void run(const std::array<char*, N>& base, F&& f) const {
    if (empty_) return;
    std::array<int64_t, N> inner{};
    if (ndim_ == 0) {
      std::array<char*, N> p = base;
      f(p.data(), inner.data(), int64_t{1});
      return;
    }
    for (int k = 0; k < N; ++k) inner[k] = stride_[k][0];
    const int64_t count = size_[0];
    if (ndim_ == 1) {
      std::array<char*, N> p = base;
      f(p.data(), inner.data(), count);
      return;
    }
    // Odometer over the outer dims.
    int64_t index[kMaxDims] = {0};
    std::array<char*, N> p = base;
    for (;;) {
      f(p.data(), inner.data(), count);
      int d = 1;
      for (; d < ndim_; ++d) {
        ++index[d];
        for (int k = 0; k < N; ++k) p[k] += stride_[k][d];
        if (index[d] < size_[d]) break;
        for (int k = 0; k < N; ++k) p[k] -= stride_[k][d] * size_[d];
        index[d] = 0;
      }
      if (d == ndim_) return;
    }
  }

 private:
  // True when dim a should sit inside dim b: the first operand that moves along both
  // has the smaller stride along a.
  bool inner_than(int a, int b) const {
    for (int k = 0; k < N; ++k) {
      int64_t sa = stride_[k][a] < 0 ? -stride_[k][a] : stride_[k][a];
      int64_t sb = stride_[k][b] < 0 ? -stride_[k][b] : stride_[k][b];
      if (sa == 0 || sb == 0) continue;
      if (sa != sb) return sa < sb;
    }
    return false;
  }

  void swap_dims(int a, int b) {
    std::swap(size_[a], size_[b]);
    for (int k = 0; k < N; ++k) std::swap(stride_[k][a], stride_[k][b]);
  }

  void reorder() {  // insertion sort, stable: ties keep the row-major order
    for (int i = 1; i < ndim_; ++i)
      for (int j = i; j > 0 && inner_than(j, j - 1); --j) swap_dims(j, j - 1);
  }

  void coalesce() {
    if (ndim_ < 2) return;
    int out = 0;
    for (int d = 1; d < ndim_; ++d) {
      bool mergeable = true;
      for (int k = 0; k < N && mergeable; ++k)
        mergeable = stride_[k][d] == stride_[k][out] * size_[out];
      if (mergeable) {
        size_[out] *= size_[d];
      } else {
        ++out;
        size_[out] = size_[d];
        for (int k = 0; k < N; ++k) stride_[k][out] = stride_[k][d];
      }
    }
    ndim_ = out + 1;
  }

  int ndim_;
  bool empty_;
  int64_t size_[kMaxDims];
  int64_t stride_[N][kMaxDims];
};

}  // namespace ndgrad::kernels
