#pragma once
// How many threads ndgrad uses: for large elementwise and reduction kernels (split above a
// grain size; small tensors never pay for threads) and for BLAS. Default: the hardware's.
namespace ndgrad {

void set_num_threads(int n);
int get_num_threads();

}  // namespace ndgrad
