#pragma once
// A list of at most N values kept inside the object: a graph node's edges and the gradients a
// backward rule returns (every op has at most two inputs), without a heap block each.
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace ndgrad {

template <class T, size_t N>
class InlineList {
 public:
  InlineList() = default;
  InlineList(const InlineList&) = delete;
  InlineList& operator=(const InlineList&) = delete;
  InlineList(InlineList&& o) noexcept { take(o); }
  InlineList& operator=(InlineList&& o) noexcept {
    if (this != &o) {
      clear();
      take(o);
    }
    return *this;
  }
  ~InlineList() { clear(); }

  // Throws std::length_error beyond N: the capacity is a fixed property of the list's user.
  void reserve(size_t n) const {
    if (n > N) too_many(n);
  }
  template <class... A>
  T& emplace_back(A&&... args) {
    if (size_ == N) too_many(N + 1);
    T* p;
    // A class type is default-initialized, not value-initialized: `T()` of a type without a
    // user-provided constructor zero-fills the whole object first (a `rep stos` of a node's
    // 104-byte edge on every recorded op) before its members' initializers run. A trivial type
    // (whose default-initialization would leave it unset) is still value-initialized.
    if constexpr (sizeof...(A) == 0 && !std::is_trivially_default_constructible_v<T>)
      p = ::new (static_cast<void*>(slot(size_))) T;
    else
      p = ::new (static_cast<void*>(slot(size_))) T(std::forward<A>(args)...);
    ++size_;
    return *p;
  }
  void clear() noexcept {
    for (size_t i = size_; i > 0; --i) slot(i - 1)->~T();
    size_ = 0;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return *slot(i); }
  const T& operator[](size_t i) const { return *slot(i); }
  T* begin() { return slot(0); }
  T* end() { return slot(size_); }
  const T* begin() const { return slot(0); }
  const T* end() const { return slot(size_); }

 private:
  T* slot(size_t i) { return reinterpret_cast<T*>(buf_) + i; }
  const T* slot(size_t i) const { return reinterpret_cast<const T*>(buf_) + i; }
  void take(InlineList& o) noexcept {
    for (size_t i = 0; i < o.size_; ++i) ::new (static_cast<void*>(slot(i))) T(std::move(o[i]));
    size_ = o.size_;
    o.clear();
  }
  [[noreturn]] static void too_many(size_t n) {
    throw std::length_error("InlineList: " + std::to_string(n) + " values exceed the capacity of " +
                            std::to_string(N));
  }

  alignas(T) unsigned char buf_[N * sizeof(T)];
  uint32_t size_ = 0;
};

}  // namespace ndgrad
