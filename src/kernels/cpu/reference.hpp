#pragma once
// The execution switch: on, every op runs its plain reference path (no lazy evaluation, no own
// GEMM, no vectorized approximations of transcendentals), so that the whole test suite can
// check the optimized paths against the semantics they must keep. On when the build defines
// NDGRAD_REFERENCE_KERNELS (cmake -DNDGRAD_REFERENCE_KERNELS=ON) or when the environment
// variable NDGRAD_REFERENCE_KERNELS is set to anything but 0 when the process starts.
namespace ndgrad::kernels {

bool reference_kernels();

}  // namespace ndgrad::kernels
