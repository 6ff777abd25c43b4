#pragma once
// Shapes and strides inside the library: a vector of int64_t that keeps up to kInline values
// in place, so that creating a tensor, a view or a graph edge allocates nothing for them.
// Converts to and from the public Shape (std::vector<int64_t>) wherever one is asked for.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "ndgrad/dtype.hpp"

namespace ndgrad {

// The most dims a tensor has: the one rank limit of every layer (shapes, the strided loop).
constexpr int kMaxDims = 32;

class Dims {
 public:
  static constexpr uint32_t kInline = 6;

  Dims() = default;
  Dims(const int64_t* values, size_t n) { assign(values, n); }
  Dims(const Shape& s) { assign(s.data(), s.size()); }  // NOLINT: implicit by design
  Dims(std::initializer_list<int64_t> values) { assign(values.begin(), values.size()); }
  explicit Dims(size_t n, int64_t value = 0) {
    reserve(n);
    size_ = static_cast<uint32_t>(n);
    std::fill(data_, data_ + n, value);
  }
  Dims(const Dims& o) { assign(o.data_, o.size_); }
  Dims(Dims&& o) noexcept { take(o); }
  Dims& operator=(const Dims& o) {
    if (this != &o) assign(o.data_, o.size_);
    return *this;
  }
  Dims& operator=(Dims&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  Dims& operator=(const Shape& s) {
    assign(s.data(), s.size());
    return *this;
  }
  ~Dims() { release(); }

  operator Shape() const { return Shape(begin(), end()); }  // NOLINT: implicit by design

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return data_; }
  const int64_t* data() const { return data_; }
  int64_t& operator[](size_t i) { return data_[i]; }
  int64_t operator[](size_t i) const { return data_[i]; }
  int64_t* begin() { return data_; }
  int64_t* end() { return data_ + size_; }
  const int64_t* begin() const { return data_; }
  const int64_t* end() const { return data_ + size_; }
  int64_t& back() { return data_[size_ - 1]; }
  int64_t back() const { return data_[size_ - 1]; }

  void clear() { size_ = 0; }
  void reserve(size_t n) {
    if (n <= cap_) return;
    int64_t* fresh = new int64_t[n];
    std::memcpy(fresh, data_, size_ * sizeof(int64_t));
    release();
    data_ = fresh;
    cap_ = static_cast<uint32_t>(n);
  }
  // n values, to be written by the caller (no fill).
  void resize_for_overwrite(size_t n) {
    reserve(n);
    size_ = static_cast<uint32_t>(n);
  }
  void resize(size_t n, int64_t value = 0) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) data_[i] = value;
    size_ = static_cast<uint32_t>(n);
  }
  void push_back(int64_t v) {
    if (size_ == cap_) reserve(2 * static_cast<size_t>(cap_));
    data_[size_++] = v;
  }
  void pop_back() { --size_; }
  // Inserts v before position pos.
  void insert(const int64_t* pos, int64_t v) {
    const size_t i = static_cast<size_t>(pos - data_);
    push_back(0);
    std::memmove(data_ + i + 1, data_ + i, (size_ - 1 - i) * sizeof(int64_t));
    data_[i] = v;
  }
  void erase(const int64_t* pos) {
    const size_t i = static_cast<size_t>(pos - data_);
    std::memmove(data_ + i, data_ + i + 1, (size_ - 1 - i) * sizeof(int64_t));
    --size_;
  }

  // An element loop, not std::equal: that becomes a memcmp call, ~40 instructions for the
  // one to four dims of a typical shape, compared a few times per op.
  friend bool operator==(const Dims& a, const Dims& b) {
    if (&a == &b) return true;  // an op's result shape is often its operand's own
    if (a.size_ != b.size_) return false;
    const int64_t *x = a.begin(), *y = b.begin();
    for (size_t i = 0; i < a.size_; ++i)
      if (x[i] != y[i]) return false;
    return true;
  }
  friend bool operator!=(const Dims& a, const Dims& b) { return !(a == b); }
  friend bool operator==(const Dims& a, const Shape& b) {
    return a.size_ == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator==(const Shape& a, const Dims& b) { return b == a; }
  friend bool operator!=(const Dims& a, const Shape& b) { return !(a == b); }
  friend bool operator!=(const Shape& a, const Dims& b) { return !(b == a); }

 private:
  void assign(const int64_t* values, size_t n) {
    if (n > cap_) {
      release();
      data_ = new int64_t[n];
      cap_ = static_cast<uint32_t>(n);
    }
    copy_values(data_, values, n);
    size_ = static_cast<uint32_t>(n);
  }
  // The few values of a typical shape moved one by one: as a loop, GCC would turn them back
  // into a library call that costs more than the copy.
  static void copy_values(int64_t* dst, const int64_t* src, size_t n) {
    if (n > kInline)
      std::memmove(dst, src, n * sizeof(int64_t));
    else
      copy_inline(dst, src, n);
  }
  static void copy_inline(int64_t* dst, const int64_t* src, size_t n) {  // n <= kInline
    static_assert(kInline == 6, "one case per inline value");
    switch (n) {
      case 6:
        dst[5] = src[5];
        [[fallthrough]];
      case 5:
        dst[4] = src[4];
        [[fallthrough]];
      case 4:
        dst[3] = src[3];
        [[fallthrough]];
      case 3:
        dst[2] = src[2];
        [[fallthrough]];
      case 2:
        dst[1] = src[1];
        [[fallthrough]];
      case 1:
        dst[0] = src[0];
        [[fallthrough]];
      default:
        break;
    }
  }
  void release() {
    if (data_ != inline_) delete[] data_;
    data_ = inline_;
    cap_ = kInline;
  }
  void take(Dims& o) {
    size_ = o.size_;
    if (o.data_ == o.inline_) {
      data_ = inline_;
      cap_ = kInline;
      copy_inline(inline_, o.inline_, o.size_);
    } else {
      data_ = o.data_;
      cap_ = o.cap_;
      o.data_ = o.inline_;
      o.cap_ = kInline;
    }
    o.size_ = 0;
  }

  int64_t* data_ = inline_;
  uint32_t size_ = 0;
  uint32_t cap_ = kInline;
  int64_t inline_[kInline];
};

}  // namespace ndgrad
