#pragma once
// Reference-counted, 64-byte aligned memory that tensors view.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "ndgrad/memory.hpp"
#include "ndgrad/ref.hpp"

namespace ndgrad {

struct Storage final : Counted {
  char* data = nullptr;
  size_t nbytes = 0;
  size_t capacity = 0;  // the block's real size (nbytes rounded up); 0 for the inline space
  // Lazy elementwise results (exec/lazy.hpp): the pending computation of this storage's values
  // (data is null until it runs), and a count that is non-zero while data may not be used as
  // it is: 1 while pending, plus 1 per pending computation that reads this storage.
  struct Pending;
  Pending* pending = nullptr;
  std::atomic<int> hooks{0};
  // Bumped by every in-place write to the values (copy_, optimizer steps, ...): a backward rule
  // that saved this storage compares it with the version it saw, so that it never computes a
  // gradient from values overwritten since the forward pass.
  std::atomic<uint32_t> version{0};
  void bump_version() { version.fetch_add(1, std::memory_order_relaxed); }
  // Memory the caller owns (from_blob): handed back through this callback when the storage
  // goes, never freed or cached here. Null for the library's own memory.
  std::function<void()>* external_release = nullptr;
  // Set when code outside the library may read or write the memory at any time (from_blob,
  // expose_memory): no computation is left pending over it, since it would read the values
  // later than the op was called.
  std::atomic<bool> exposed{false};
  // Up to kInlineBytes of values (an 8x8 float matrix) live in the storage object itself,
  // 64-byte aligned inside it: a small tensor's memory then costs one pooled block, not a
  // header and a separate data block.
  static constexpr size_t kInlineBytes = 256;
  alignas(16) char inline_space[kInlineBytes + 48];  // 48: to reach 64-byte alignment
  Storage() noexcept : Counted(Kind::storage) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() override;
  // Throws MemoryError when the memory cannot be had.
  static Ref<Storage> allocate(size_t nbytes);
  // Gives this (empty) storage a block of nbytes.
  void allocate_data(size_t nbytes);
  // For a pending result: address space for nbytes from the system, not a cached block, so that
  // holding it costs no resident memory (a result folded into a later computation is never
  // written); MemoryError when it cannot be had. use_reserved() before the first write: it
  // swaps in a cached block of the size when there is one (already paged in).
  void reserve(size_t nbytes);
  void use_reserved();
  bool reserved = false;
};

// The most bytes one buffer can hold here: the machine's memory and swap. A std::vector or
// std::string larger than that is refused before it is tried (a failed operator new aborts
// under some allocators instead of throwing).
size_t max_buffer_bytes();

// How a storage's memory is about to be used.
enum class Access : uint8_t { read, write };
// Installed by the execution layer that defers computations (lazy results, exec/lazy.hpp);
// called only while a storage's hooks count is non-zero. Core knows nothing more of it.
struct DeferredHooks {
  // Before access: at least s's own pending computation runs; before a write, also the
  // pending computations that read s, so that the write cannot change their inputs.
  void (*prepare)(Storage& s, Access access) = nullptr;
  // s is being destroyed: its pending computation is dropped unrun.
  void (*discard)(Storage& s) = nullptr;
};
void install_deferred_hooks(const DeferredHooks& hooks);
// The slow paths of TensorImpl::data() / read_data() and of ~Storage.
void prepare_access(Storage& s, Access access);
void discard_pending(Storage& s);

}  // namespace ndgrad
