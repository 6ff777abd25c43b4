// Tensor memory: 64-byte aligned blocks, recycled through a small per-thread cache over a
// shared one.
//
// A training step frees and allocates the same sizes over and over. glibc hands large frees
// back to the kernel, so each fresh 64 MiB buffer page-faults in again on first touch (the
// main cost of large elementwise work). Keeping freed blocks, per size, up to a bound, avoids
// that.
//
// Where a block is kept decides whether memory stays flat when tensors cross threads: a loader
// thread makes batches that the main thread frees, a pool's threads free what the caller made,
// short-lived threads come and go. So no thread keeps more than a few MiB to itself:
// - blocks up to kLocalBlock bytes (the small tensors of a chain of ops, where a lock would
//   show) go to the freeing thread's own cache, at most kLocalLimit bytes of them, without locks;
// - larger blocks, and small ones past that bound, go to one shared cache under a mutex (a lock
//   costs tens of nanoseconds; a tensor of kLocalBlock bytes takes microseconds to fill), bounded
//   for the whole process, where any thread finds them;
// - a thread's own cache moves to the shared one when the thread exits.
// Whatever the pattern of threads, the cache holds at most kSharedLimit + kLocalLimit per
// thread alive; a block freed past those bounds goes back to the system.
#include "core/storage.hpp"

#include <sys/sysinfo.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/pool.hpp"
#include "ndgrad/error.hpp"

namespace ndgrad {

namespace {

constexpr size_t kAlignment = 64;                 // a cache line, and the widest SIMD register
constexpr size_t kLocalBlock = size_t(64) << 10;  // largest block a thread keeps to itself
constexpr size_t kLocalLimit = size_t(2) << 20;   // bytes a thread keeps to itself
constexpr size_t kSharedLimit = size_t(1) << 30;  // bytes kept for the whole process

// Blocks up to this size are found by indexing an array with size / kAlignment instead of
// hashing.
constexpr size_t kSmallBlock = 4096;

// Free blocks by size: an array for small sizes, a hash map for the others.
struct BlockLists {
  std::vector<void*> small[kSmallBlock / kAlignment + 1];
  std::unordered_map<size_t, std::vector<void*>> large;
  size_t bytes = 0;

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
    bytes -= size;
    return p;
  }
  void put(void* p, size_t size) {
    list(size, true)->push_back(p);
    bytes += size;
  }
  // Calls f(block, size) for every block, emptying the lists.
  template <class F>
  void drain(F f) {
    for (size_t i = 0; i <= kSmallBlock / kAlignment; ++i) {
      for (void* p : small[i]) f(p, i * kAlignment);
      small[i].clear();
    }
    for (auto& [size, blocks] : large)
      for (void* p : blocks) f(p, size);
    large.clear();
    bytes = 0;
  }
};

// The process-wide cache. Never destroyed: tensors may be freed by other static destructors.
struct SharedCache {
  std::mutex mu;
  BlockLists lists;
};
SharedCache& shared() {
  static SharedCache* c = new SharedCache;
  return *c;
}

void* shared_take(size_t size) {
  SharedCache& c = shared();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.lists.take(size);
}

// Keeps p in the shared cache, or frees it when the cache is full.
void shared_give(void* p, size_t size) {
  {
    SharedCache& c = shared();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.lists.bytes + size <= kSharedLimit) {
      c.lists.put(p, size);
      return;
    }
  }
  std::free(p);
}

// Set when this thread's cache is destroyed at thread exit. A trivially destructible flag stays
// readable after that, so tensors freed later (by other thread-locals) bypass the local cache.
thread_local bool local_gone = false;

struct LocalCache {
  BlockLists lists;
  ~LocalCache() {
    local_gone = true;
    lists.drain(shared_give);
  }
};

LocalCache* local() {
  if (local_gone) return nullptr;
  thread_local LocalCache c;
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

void* cached_block(size_t size) {
  if (size <= kLocalBlock)
    if (LocalCache* c = local())
      if (void* p = c->lists.take(size)) return p;
  return shared_take(size);
}

void release_block(void* p, size_t size) {
  if (size <= kLocalBlock)
    if (LocalCache* c = local(); c && c->lists.bytes + size <= kLocalLimit) {
      c->lists.put(p, size);
      return;
    }
  shared_give(p, size);
}

}  // namespace

size_t max_buffer_bytes() {
  static const size_t limit = [] {
    struct sysinfo info {};
    if (sysinfo(&info) != 0) return SIZE_MAX;
    const double bytes = (double(info.totalram) + double(info.totalswap)) * info.mem_unit;
    return bytes >= double(SIZE_MAX) ? SIZE_MAX : static_cast<size_t>(bytes);
  }();
  return limit;
}

size_t cached_storage_bytes() {
  size_t bytes = 0;
  if (LocalCache* c = local()) bytes += c->lists.bytes;
  SharedCache& s = shared();
  std::lock_guard<std::mutex> lock(s.mu);
  return bytes + s.lists.bytes;
}

void release_cached_storage() {
  refcount::drain();  // what other threads released of this thread's tensors
  if (LocalCache* c = local()) c->lists.drain([](void* p, size_t) { std::free(p); });
  BlockLists blocks;
  {
    SharedCache& s = shared();
    std::lock_guard<std::mutex> lock(s.mu);
    std::swap(blocks, s.lists);
  }
  blocks.drain([](void* p, size_t) { std::free(p); });
}

Storage::~Storage() {
  // Non-zero only while pending: a storage that pending computations read is kept alive by them.
  if (hooks.load(std::memory_order_acquire) != 0) discard_pending(*this);
  if (external_release) {
    try {
      if (*external_release) (*external_release)();
    } catch (...) {  // a destructor cannot report it; the owner's callback should not throw
    }
    delete external_release;
    return;
  }
  if (!data || capacity == 0) return;  // nothing, or the inline space
  if (reserved)
    std::free(data);  // never written: not worth a place in the cache
  else
    release_block(data, capacity);
}

void Storage::reserve(size_t n) {
  const size_t size = rounded(n);
  void* p = size < n ? nullptr : std::aligned_alloc(kAlignment, size);
  if (p == nullptr)
    throw MemoryError("cannot allocate " + std::to_string(n) + " bytes for a tensor");
  data = static_cast<char*>(p);
  nbytes = n;
  capacity = size;
  reserved = true;
}

void Storage::use_reserved() {
  if (!reserved) return;
  reserved = false;
  if (void* p = cached_block(capacity)) {
    std::free(data);
    data = static_cast<char*>(p);
  }
}

Ref<Storage> Storage::allocate(size_t nbytes) {
  auto storage = make_ref<Storage>();
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
  void* p = cached_block(size);
  if (!p) p = std::aligned_alloc(kAlignment, size);
  if (p == nullptr)
    throw MemoryError("cannot allocate " + std::to_string(n) + " bytes for a tensor");
  data = static_cast<char*>(p);
  nbytes = n;
  capacity = size;
}

namespace {
DeferredHooks deferred_hooks;
}  // namespace

void install_deferred_hooks(const DeferredHooks& hooks) { deferred_hooks = hooks; }
void prepare_access(Storage& s, Access access) {
  if (deferred_hooks.prepare) deferred_hooks.prepare(s, access);
}
void discard_pending(Storage& s) {
  if (deferred_hooks.discard) deferred_hooks.discard(s);
}

}  // namespace ndgrad
