#pragma once
// Reference-counted, 64-byte aligned memory that tensors view.
#include <cstddef>
#include <memory>

namespace ndgrad {

struct Storage {
  char* data = nullptr;
  size_t nbytes = 0;
  size_t capacity = 0;  // the block's real size (nbytes rounded up)
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
  // Throws MemoryError when the memory cannot be had.
  static std::shared_ptr<Storage> allocate(size_t nbytes);
};

}  // namespace ndgrad
