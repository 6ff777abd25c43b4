#include "core/storage.hpp"

#include <cstdlib>
#include <new>
#include <string>

#include "ndgrad/error.hpp"

namespace ndgrad {

namespace {
constexpr size_t kAlignment = 64;  // a cache line, and the widest SIMD register
}

Storage::~Storage() { std::free(data); }

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto storage = std::make_shared<Storage>();
  if (nbytes == 0) return storage;
  size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded < nbytes) throw MemoryError("cannot allocate " + std::to_string(nbytes) + " bytes");
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr)
    throw MemoryError("cannot allocate " + std::to_string(nbytes) + " bytes for a tensor");
  storage->data = static_cast<char*>(p);
  storage->nbytes = nbytes;
  return storage;
}

}  // namespace ndgrad
