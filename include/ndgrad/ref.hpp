#pragma once
// Reference counting for the objects every op makes (tensor handles, storage, graph nodes):
// biased reference counts. The thread that made an object counts its own references without
// atomic instructions; other threads count theirs in a second, atomic count. A program with
// any other thread (a GUI, a server, a data loader, BLAS) then pays no locked instruction per
// handle copy on the thread that builds and runs a graph, where std::shared_ptr would pay one
// per copy and per release as soon as a second thread exists.
//
// How the two counts meet: when the owner's count reaches zero, the owner merges the two (the
// atomic one becomes the whole count, and every later update is atomic). When another thread's
// releases take the atomic count below zero (it released references the owner made), the
// object is queued to its owner, which merges it the next time it allocates a tensor, calls
// release_cached_storage(), or exits; once the owner has exited, that thread merges it at once.
// So memory freed on another thread comes back when its making thread next allocates or ends.
//
// Internal to the library (Tensor holds a Ref); not part of the user API.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <type_traits>
#include <utility>

namespace ndgrad {

class Counted;
template <class T>
class Ref;
template <class T, class... Args>
Ref<T> make_ref(Args&&... args);

namespace refcount {

// One per thread that has made a counted object.
struct OwnerThread {
  // Objects this thread made that it still owns (not merged): the record is freed once the
  // thread has exited and the last of them is merged. Owner-only while the thread lives;
  // under mu afterwards.
  int64_t owned = 0;
  // Set when queue is non-empty: the owner checks it when it allocates.
  std::atomic<bool> has_queue{false};
  std::mutex mu;
  bool alive = true;         // under mu
  Counted* queue = nullptr;  // under mu: objects other threads took below zero, linked
};
struct Access;  // the slow paths' access to Counted (src/core/ref.cpp)

// The owner of merged objects: never a thread's record.
inline OwnerThread shared_owner;
// This thread's record; null before its first counted object, and again once it has exited.
inline thread_local OwnerThread* this_thread = nullptr;

// Out-of-line paths (src/core/ref.cpp).
OwnerThread* attach_thread() noexcept;      // this thread's record (or shared_owner while exiting)
bool drop_shared(Counted* c) noexcept;      // a release that is not the owner's
bool drop_local_zero(Counted* c) noexcept;  // the owner released its last; others hold some
void destroy(Counted* c) noexcept;          // runs the destructor and frees the memory
// Merges the objects other threads queued to this thread (they may be destroyed here). Called
// where the library allocates a tensor, unless a DrainHold is in scope (one of the library's
// locks is held: destructors must not run there).
void drain() noexcept;
inline thread_local int drain_held = 0;
inline void drain_if_queued() noexcept {
  OwnerThread* me = this_thread;
  if (me && me->has_queue.load(std::memory_order_relaxed) && drain_held == 0) drain();
}
struct DrainHold {
  DrainHold() noexcept { ++drain_held; }
  ~DrainHold() { --drain_held; }
  DrainHold(const DrainHold&) = delete;
  DrainHold& operator=(const DrainHold&) = delete;
};
// Objects this thread made and still owns: for tests of what a graph leaves alive.
int64_t owned_by_this_thread() noexcept;

// The atomic count holds count * 4 + state.
constexpr int64_t kOne = 4;
enum State : int64_t { kOwned = 0, kQueued = 1, kMerged = 2 };

inline void retain(Counted* c) noexcept;
// Drops one reference; true when it was the last (the caller destroys the object).
inline bool drop(Counted* c) noexcept;
inline void release(Counted* c) noexcept {
  if (drop(c)) destroy(c);
}

}  // namespace refcount

// Base of reference-counted objects; made with make_ref (src/core/pool.hpp), held by Ref.
class Counted {
 public:
  // What an object is, for destroying the commonest kinds without a virtual call (one call site
  // for every kind of object predicts poorly).
  enum class Kind : uint8_t { other, tensor, storage };
  // The counts are set by make_ref once the whole object is built (a constructor that throws
  // leaves no count behind).
  explicit Counted(Kind kind = Kind::other) noexcept : kind_(static_cast<uint32_t>(kind)) {}
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  virtual ~Counted() = default;

 private:
  friend void refcount::retain(Counted*) noexcept;
  friend bool refcount::drop(Counted*) noexcept;
  friend struct refcount::Access;
  template <class T>
  friend class Ref;
  template <class T, class... Args>
  friend Ref<T> make_ref(Args&&... args);

  // The first reference: to this thread (or, while it exits, merged from the start).
  void adopt_first_reference() noexcept {
    refcount::OwnerThread* me = refcount::this_thread;
    if (!me) me = refcount::attach_thread();
    owner_.store(me, std::memory_order_relaxed);
    if (me == &refcount::shared_owner) {
      shared_.store(refcount::kOne | refcount::kMerged, std::memory_order_relaxed);
    } else {
      local_ = 1;
      ++me->owned;
    }
  }

  std::atomic<refcount::OwnerThread*> owner_{nullptr};
  std::atomic<int64_t> shared_{0};
  // The owner's references; only the owner touches it. Signed: while the object is queued the
  // owner may release references other threads counted, taking it below zero; the merge adds
  // the two counts exactly.
  int32_t local_ = 0;
  uint32_t alloc_bytes_ : 24;  // the pool block's size (make_ref)
  uint32_t kind_ : 8;
  Counted* queued_next_ = nullptr;  // in the owner's queue
};

namespace refcount {

inline void retain(Counted* c) noexcept {
  if (c->owner_.load(std::memory_order_relaxed) == this_thread)
    ++c->local_;
  else
    c->shared_.fetch_add(kOne, std::memory_order_relaxed);
}

inline bool drop(Counted* c) noexcept {
  OwnerThread* me = this_thread;
  if (c->owner_.load(std::memory_order_relaxed) != me) return drop_shared(c);
  if (--c->local_ != 0) return false;
  if (c->shared_.load(std::memory_order_acquire) != 0) return drop_local_zero(c);
  --me->owned;  // no other thread holds it: the common end of an object's life
  return true;
}

}  // namespace refcount

// An owning pointer to a Counted object (std::shared_ptr's interface, without weak references
// or custom deleters). T may be incomplete where a Ref is only held, copied or compared.
template <class T>
class Ref {
 public:
  Ref() noexcept = default;
  Ref(std::nullptr_t) noexcept {}  // NOLINT: as shared_ptr
  Ref(const Ref& o) noexcept : p_(o.p_) {
    if (p_) refcount::retain(p_);
  }
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <class U, class = std::enable_if_t<std::is_convertible_v<U*, T*>>>
  Ref(const Ref<U>& o) noexcept : p_(o.p_) {  // NOLINT: as shared_ptr
    if (p_) refcount::retain(p_);
  }
  template <class U, class = std::enable_if_t<std::is_convertible_v<U*, T*>>>
  Ref(Ref<U>&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}  // NOLINT: as shared_ptr
  ~Ref() {
    if (p_) refcount::release(p_);
  }
  Ref& operator=(const Ref& o) noexcept {
    Ref(o).swap(*this);
    return *this;
  }
  Ref& operator=(Ref&& o) noexcept {
    Ref(std::move(o)).swap(*this);
    return *this;
  }
  Ref& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  void reset() noexcept {
    if (Counted* p = std::exchange(p_, nullptr)) refcount::release(p);
  }
  void swap(Ref& o) noexcept { std::swap(p_, o.p_); }

  T* get() const noexcept { return static_cast<T*>(p_); }
  T* operator->() const noexcept { return get(); }
  T& operator*() const noexcept { return *get(); }
  explicit operator bool() const noexcept { return p_ != nullptr; }

  // Whether this is the only reference (false when that cannot be known without the other
  // thread's help: another thread owns the object and it is not merged).
  bool unique() const noexcept {
    if (!p_) return false;
    if (p_->owner_.load(std::memory_order_relaxed) == refcount::this_thread)
      return p_->local_ == 1 && p_->shared_.load(std::memory_order_acquire) == 0;
    return p_->shared_.load(std::memory_order_acquire) == (refcount::kOne | refcount::kMerged);
  }
  // Drops this reference; returns the object when that was the last one, for the caller to
  // take apart and then destroy (refcount::destroy); null otherwise. Lets a destructor free a
  // chain of objects iteratively.
  T* release_last() noexcept {
    Counted* p = std::exchange(p_, nullptr);
    return p && refcount::drop(p) ? static_cast<T*>(p) : nullptr;
  }

  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.p_ == b.p_; }
  friend bool operator!=(const Ref& a, const Ref& b) noexcept { return a.p_ != b.p_; }
  friend bool operator==(const Ref& a, std::nullptr_t) noexcept { return a.p_ == nullptr; }
  friend bool operator!=(const Ref& a, std::nullptr_t) noexcept { return a.p_ != nullptr; }
  friend bool operator==(std::nullptr_t, const Ref& a) noexcept { return a.p_ == nullptr; }
  friend bool operator!=(std::nullptr_t, const Ref& a) noexcept { return a.p_ != nullptr; }

 private:
  template <class U>
  friend class Ref;
  template <class U, class... Args>
  friend Ref<U> make_ref(Args&&... args);
  Counted* p_ = nullptr;
};

}  // namespace ndgrad
