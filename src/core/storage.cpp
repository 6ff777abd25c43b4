// Tensor memory: 64-byte aligned blocks, recycled through a per-thread cache.
//
// A training step frees and allocates the same sizes over and over. glibc hands large frees
// back to the kernel, so each fresh 64 MiB buffer page-faults in again on first touch (the
// main cost of large elementwise work). Keeping freed blocks, per size and per thread (no
// locks), up to a bound, avoids that.
#include "core/storage.hpp"

#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/pool.hpp"
#include "ndgrad/error.hpp"

namespace ndgrad {

namespace {

constexpr size_t kAlignment = 64;                // a cache line, and the widest SIMD register
constexpr size_t kCacheLimit = size_t(1) << 30;  // bytes kept per thread

// Set when this thread's cache is destroyed at thread exit. A trivially destructible flag stays
// readable after that, so tensors freed later (by other thread-locals) bypass the cache.
thread_local bool cache_gone = false;

// Blocks up to this size (the small tensors of a chain of ops) are found by indexing an array
// with size / kAlignment instead of hashing.
constexpr size_t kSmallBlock = 4096;

struct BlockCache {
  std::vector<void*> small[kSmallBlock / kAlignment + 1];
  std::unordered_map<size_t, std::vector<void*>> large;
  size_t cached_bytes = 0;
  ~BlockCache() {
    cache_gone = true;
    for (auto& blocks : small)
      for (void* p : blocks) std::free(p);
    for (auto& [size, blocks] : large)
      for (void* p : blocks) std::free(p);
  }
  std::vector<void*>* list(size_t size, bool create) {
    if (size <= kSmallBlock) return &small[size / kAlignment];
    auto it = large.find(size);
    if (it != large.end()) return &it->second;
    return create ? &large[size] : nullptr;
  }
  void* take(size_t size) {
    std::vector<void*>* blocks = list(size, false);
    if (!blocks || blocks->empty()) return nullptr;
    void* p = blocks->back();
    blocks->pop_back();
    cached_bytes -= size;
    return p;
  }
  bool give(void* p, size_t size) {
    if (cached_bytes + size > kCacheLimit) return false;
    list(size, true)->push_back(p);
    cached_bytes += size;
    return true;
  }
};

BlockCache* cache() {
  if (cache_gone) return nullptr;
  thread_local BlockCache c;
  return &c;
}

// Sizes are rounded to 64 bytes, and large ones to 1/16 of their power of two, so that nearby
// sizes share blocks without wasting more than ~6%.
size_t rounded(size_t nbytes) {
  size_t r = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (r > (size_t(1) << 16)) {
    size_t step = size_t(1) << (63 - __builtin_clzll(r) - 4);
    r = (r + step - 1) / step * step;
  }
  return r;
}

}  // namespace

Storage::~Storage() {
  // Non-zero only while pending: a storage that pending computations read is kept alive by them.
  if (hooks.load(std::memory_order_acquire) != 0) discard_pending(*this);
  if (!data || capacity == 0) return;  // nothing, or the inline space
  BlockCache* c = cache();
  if (!c || !c->give(data, capacity)) std::free(data);
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto storage = pool::make_shared<Storage>();
  storage->allocate_data(nbytes);
  return storage;
}

void Storage::allocate_data(size_t n) {
  if (n == 0) return;
  if (n <= kInlineBytes) {
    const uintptr_t at = reinterpret_cast<uintptr_t>(inline_space);
    data = reinterpret_cast<char*>((at + kAlignment - 1) & ~uintptr_t(kAlignment - 1));
    nbytes = n;
    capacity = 0;  // marks the inline space: never freed or cached
    return;
  }
  const size_t size = rounded(n);
  if (size < n) throw MemoryError("cannot allocate " + std::to_string(n) + " bytes");
  BlockCache* c = cache();
  void* p = c ? c->take(size) : nullptr;
  if (!p) p = std::aligned_alloc(kAlignment, size);
  if (p == nullptr)
    throw MemoryError("cannot allocate " + std::to_string(n) + " bytes for a tensor");
  data = static_cast<char*>(p);
  nbytes = n;
  capacity = size;
}

}  // namespace ndgrad
