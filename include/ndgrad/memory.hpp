#pragma once
// The memory ndgrad keeps for reuse. Freed tensor memory is kept, per size, so that a training
// step's buffers do not page-fault in again each step: up to 2 MiB of small blocks per thread
// (without locks), and up to 1 GiB for the whole process, where any thread finds them (so a
// tensor made on one thread and freed on another is reused, and memory stays flat).
#include <cstddef>

namespace ndgrad {

// Bytes kept now: the calling thread's own cache and the process-wide one.
size_t cached_storage_bytes();
// Hands the calling thread's cache and the process-wide one back to the system, after freeing
// what other threads released of the tensors this thread made (ndgrad/ref.hpp).
void release_cached_storage();

}  // namespace ndgrad
