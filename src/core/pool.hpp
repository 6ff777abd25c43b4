#pragma once
// Small-object pool for the bookkeeping every op creates: tensor handles, storage headers,
// graph nodes and their edge lists. Freed blocks go to a free list of the freeing thread,
// per 16-byte size class, and are handed out again without touching malloc. A chain of small
// ops frees and allocates the same few sizes hundreds of times per step, more than glibc's
// per-thread cache holds (7 blocks per size), so without this most of those calls fall
// through to malloc's slower paths.
//
// Blocks are plain malloc blocks, so any thread may free any block; a thread's lists are
// bounded, and released when the thread exits. Under AddressSanitizer the pool is bypassed,
// so that use-after-free stays detectable.
#include <cassert>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

#include "ndgrad/ref.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define NDGRAD_POOL_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NDGRAD_POOL_BYPASS 1
#endif
#endif

namespace ndgrad::pool {

constexpr size_t kGranule = 16;
constexpr size_t kClasses = 32;  // blocks up to 512 bytes
constexpr int kKeptPerClass = 2048;

// Trivially constructible and destructible, so that reaching it costs no initialization check;
// the blocks are released by a separate thread-local, registered with the first block kept.
struct FreeLists {
  struct Block {
    Block* next;
  };
  Block* head[kClasses];
  int count[kClasses];
  bool releaser_registered;
};
inline thread_local FreeLists lists{};
// Set when this thread's lists are released at thread exit: blocks freed after that (by other
// thread-locals) go straight back to malloc.
inline thread_local bool lists_gone = false;

struct ListsReleaser {
  ~ListsReleaser() {
    lists_gone = true;
    for (size_t c = 0; c < kClasses; ++c)
      while (FreeLists::Block* b = lists.head[c]) {
        lists.head[c] = b->next;
        std::free(b);
      }
  }
};

inline void register_releaser() {
  static thread_local ListsReleaser releaser;
  (void)releaser;
  lists.releaser_registered = true;
}

inline void* allocate(size_t bytes) {
  const size_t c = (bytes + kGranule - 1) / kGranule;
#ifndef NDGRAD_POOL_BYPASS
  if (c < kClasses && !lists_gone) {
    FreeLists& l = lists;
    if (FreeLists::Block* b = l.head[c]) {
      l.head[c] = b->next;
      --l.count[c];
      return b;
    }
  }
#endif
  void* p = std::malloc(c < kClasses ? c * kGranule : bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

inline void deallocate(void* p, size_t bytes) noexcept {
#ifndef NDGRAD_POOL_BYPASS
  const size_t c = (bytes + kGranule - 1) / kGranule;
  if (c < kClasses && !lists_gone) {
    FreeLists& l = lists;
    if (l.count[c] < kKeptPerClass) {
      if (!l.releaser_registered) register_releaser();
      auto* b = static_cast<FreeLists::Block*>(p);
      b->next = l.head[c];
      l.head[c] = b;
      ++l.count[c];
      return;
    }
  }
#else
  (void)bytes;
#endif
  std::free(p);
}

}  // namespace ndgrad::pool

namespace ndgrad {

// A new reference-counted object in a pool block, held by the returned Ref. Default-initializes
// when given no arguments (as pool::Allocator::construct).
template <class T, class... Args>
Ref<T> make_ref(Args&&... args) {
  static_assert(std::is_base_of_v<Counted, T>, "make_ref makes Counted objects");
  static_assert(alignof(T) <= pool::kGranule, "pool blocks are 16-byte aligned");
  static_assert(sizeof(T) < (1u << 24), "the block size is kept in 24 bits");
  void* p = pool::allocate(sizeof(T));
  T* obj;
  try {
    if constexpr (sizeof...(Args) == 0)
      obj = ::new (p) T;
    else
      obj = ::new (p) T(std::forward<Args>(args)...);
  } catch (...) {
    pool::deallocate(p, sizeof(T));
    throw;
  }
  Counted* c = obj;
  assert(static_cast<void*>(c) == p && "Counted is the object's first base: destroy frees c");
  c->alloc_bytes_ = static_cast<uint32_t>(sizeof(T));
  c->adopt_first_reference();
  Ref<T> r;
  r.p_ = c;
  return r;
}

}  // namespace ndgrad
