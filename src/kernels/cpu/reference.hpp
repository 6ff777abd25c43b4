#pragma once
// The execution switch: on, every op runs its plain reference path (no lazy evaluation, no own
// GEMM, no vectorized approximations of transcendentals), so that the whole test suite can
// check the optimized paths against the semantics they must keep. On when the build defines
// NDGRAD_REFERENCE_KERNELS (cmake -DNDGRAD_REFERENCE_KERNELS=ON) or when the environment
// variable NDGRAD_REFERENCE_KERNELS is set to anything but 0 when the process starts.
#include <atomic>

namespace ndgrad::kernels {

namespace detail {
// -1 until first asked, then 0 or 1. Constant-initialized: right even for an op run by another
// library's static initializer.
extern std::atomic<int> reference_state;
bool reference_kernels_first();
}  // namespace detail

// Whether the reference paths are on (inline: every small op asks).
inline bool reference_kernels() {
  const int state = detail::reference_state.load(std::memory_order_relaxed);
  return state < 0 ? detail::reference_kernels_first() : state != 0;
}

}  // namespace ndgrad::kernels
