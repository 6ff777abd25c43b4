#pragma once
// A small pool of worker threads that sleep (never spin) between jobs, so they do not steal
// cores from BLAS's own threads.
#include <cstdint>
#include <functional>

namespace ndgrad {

// Runs f(0) ... f(tasks - 1) on the calling thread and the pool's workers; returns when all are
// done. Runs serially when the pool is busy (another thread's job) or called from a worker.
void parallel_for(int64_t tasks, const std::function<void(int64_t)>& f);

// Runs f(begin, end) over contiguous pieces of [0, n), one per thread, when n is at least
// 2 * grain (piece boundaries multiples of 16, a cache line of floats); f(0, n) otherwise.
void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f);

}  // namespace ndgrad
