#pragma once
// How many threads ndgrad uses: for large elementwise and reduction kernels (split above a
// grain size; small tensors never pay for threads) and for BLAS. Default: the hardware's.
namespace ndgrad {

// n in [1, kMaxThreads], else ValueError. The workers start here: when the system cannot start
// them (its limit on threads or memory), MemoryError, and the previous count stays in force.
constexpr int kMaxThreads = 1024;
void set_num_threads(int n);
int get_num_threads();

}  // namespace ndgrad
