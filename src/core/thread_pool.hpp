#pragma once
// A small pool of worker threads that poll for ~100 us after a job, then sleep, so an idle
// program does not hold cores that BLAS's (or any other) threads need.
#include <cstdint>
#include <functional>

#if defined(__linux__)
#include <sched.h>
#endif

namespace ndgrad {

// Runs f(0) ... f(tasks - 1) on the calling thread and the pool's workers; returns when all are
// done. Runs serially when the pool is busy (another thread's job) or called from a worker.
void parallel_for(int64_t tasks, const std::function<void(int64_t)>& f);

// Runs f(begin, end) over contiguous pieces of [0, n), one per thread, when n is at least
// 2 * grain (piece boundaries multiples of 16, a cache line of floats); f(0, n) otherwise.
void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f);

// Keeps a pool worker off the CPU of the thread that publishes the jobs. The scheduler puts the
// two together when another thread (another program's, or another library's in this one) holds
// the other core: measured, libtorch's
// OpenBLAS worker polls with sched_yield for ~0.1 s after each call and so keeps a core to
// itself, while the scheduler counts it as a full load. Together, the worker's polling takes
// half of the caller's time, and the caller polls for a task the worker cannot run meanwhile
// (2-thread MLP steps 1.1-1.4x slower than on one thread, in 6 of 16 runs). So a worker that
// finds itself on the caller's CPU narrows its own CPU set to leave that CPU out (a thread that
// yields its core gives way to it on the other one); where it cannot, it gives its time slice to
// the caller instead of polling. Its set is restored before it sleeps: an idle pool constrains
// nothing. Linux only; elsewhere it does nothing.
class WorkerPlacement {
 public:
  // Called by the worker while awake, with the CPU the caller last published a job from.
  void avoid(int caller_cpu);
  // Called before the worker sleeps.
  void release();

 private:
#if defined(__linux__)
  cpu_set_t allowed_{};
#endif
  bool narrowed_ = false;
};

}  // namespace ndgrad
