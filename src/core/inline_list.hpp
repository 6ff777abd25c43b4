#pragma once
// A list that keeps its first N values inside the object and moves to a heap block beyond:
// a graph node's edges and the gradients a backward rule returns (most ops have one or two
// inputs; concatenation, stacking and user-defined ops have any number).
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace ndgrad {

template <class T, size_t N>
class InlineList {
  static_assert(std::is_nothrow_move_constructible_v<T>, "grow() moves values without a way back");

 public:
  InlineList() = default;
  InlineList(const InlineList&) = delete;
  InlineList& operator=(const InlineList&) = delete;
  InlineList(InlineList&& o) noexcept { take(o); }
  InlineList& operator=(InlineList&& o) noexcept {
    if (this != &o) {
      clear();
      release_heap();
      take(o);
    }
    return *this;
  }
  ~InlineList() {
    clear();
    release_heap();
  }

  void reserve(size_t n) {
    if (n > cap_) grow(n);
  }
  template <class... A>
  [[gnu::always_inline]] T& emplace_back(A&&... args) {
    if (__builtin_expect(size_ == cap_, 0)) {
      // Built before the move: args may refer to a value of this list.
      T value(std::forward<A>(args)...);
      grow(2 * cap_);
      T* p = ::new (static_cast<void*>(data_ + size_)) T(std::move(value));
      ++size_;
      return *p;
    }
    T* p;
    // A class type is default-initialized, not value-initialized: `T()` of a type without a
    // user-provided constructor zero-fills the whole object first (a `rep stos` of a node's
    // 104-byte edge on every recorded op) before its members' initializers run. A trivial type
    // (whose default-initialization would leave it unset) is still value-initialized.
    if constexpr (sizeof...(A) == 0 && !std::is_trivially_default_constructible_v<T>)
      p = ::new (static_cast<void*>(data_ + size_)) T;
    else
      p = ::new (static_cast<void*>(data_ + size_)) T(std::forward<A>(args)...);
    ++size_;
    return *p;
  }
  void clear() noexcept {
    for (size_t i = size_; i > 0; --i) data_[i - 1].~T();
    size_ = 0;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  T* inline_slots() { return reinterpret_cast<T*>(buf_); }
  bool on_heap() const { return data_ != reinterpret_cast<const T*>(buf_); }
  void release_heap() noexcept {
    if (on_heap()) ::operator delete(static_cast<void*>(data_));
    data_ = inline_slots();
    cap_ = N;
  }
  // Moves the values to a heap block of capacity n (> cap_).
  [[gnu::noinline, gnu::cold]] void grow(size_t n) {
    T* block = static_cast<T*>(::operator new(n * sizeof(T)));
    for (size_t i = 0; i < size_; ++i) {
      ::new (static_cast<void*>(block + i)) T(std::move(data_[i]));
      data_[i].~T();
    }
    if (on_heap()) ::operator delete(static_cast<void*>(data_));
    data_ = block;
    cap_ = static_cast<uint32_t>(n);
  }
  void take(InlineList& o) noexcept {
    if (o.on_heap()) {  // the block changes hands
      data_ = o.data_;
      size_ = o.size_;
      cap_ = o.cap_;
      o.data_ = o.inline_slots();
      o.size_ = 0;
      o.cap_ = N;
      return;
    }
    for (size_t i = 0; i < o.size_; ++i) ::new (static_cast<void*>(data_ + i)) T(std::move(o[i]));
    size_ = o.size_;
    o.clear();
  }

  alignas(T) unsigned char buf_[N * sizeof(T)];
  T* data_ = inline_slots();
  uint32_t size_ = 0;
  uint32_t cap_ = N;
};

}  // namespace ndgrad
