#include "core/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#endif

#include "ndgrad/error.hpp"
#include "ndgrad/ref.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad {

namespace {

thread_local bool inside_worker = false;

// How long an idle worker (and a caller waiting for the workers) keeps polling before it
// sleeps. Waking a sleeping thread costs 20-90 us on a virtual machine (measured: the idle CPU
// is halted), as long as a mid-sized matrix product; a training step runs its parallel products
// a few to tens of microseconds apart. Polls with the CPU's pause hint, then sleeps: an idle
// program leaves the cores after this long, and BLAS threads are not starved.
constexpr auto kSpin = std::chrono::microseconds(100);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// The CPU the calling thread runs on now (a read of the thread's restartable-sequence area or
// the vDSO, not a system call); -1 where the system does not say.
inline int current_cpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

// Polls ready() for up to kSpin; true when it became true. Every ~64 pauses (a few us) it also
// calls every_while(), which may give the core away.
template <class F, class G>
bool poll(F ready, G every_while) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0) {
      if (std::chrono::steady_clock::now() > until) return false;
      every_while();
    }
  }
}
template <class F>
bool poll(F ready) {
  return poll(ready, [] {});
}

class Pool {
 public:
  // MemoryError when a worker cannot be started (the system's limit on threads or memory):
  // the ones already started are stopped first.
  explicit Pool(int workers) {
    threads_.reserve(static_cast<size_t>(workers));
    for (int i = 0; i < workers; ++i) {
      try {
        threads_.emplace_back([this] { work(); });
      } catch (const std::exception& e) {  // system_error, or bad_alloc for the thread's state
        stop();
        throw MemoryError("set_num_threads: could not start thread " + std::to_string(i + 2) +
                          " of " + std::to_string(workers + 1) + " (" + e.what() +
                          "); the thread count is unchanged");
      }
#if defined(__linux__)
      pthread_setname_np(threads_.back().native_handle(), "ndgrad-worker");  // top, perf, gdb
#endif
    }
  }
  ~Pool() { stop(); }
  int workers() const { return static_cast<int>(threads_.size()); }

  // False when another job is running: the caller then runs its tasks itself.
  bool run(int64_t tasks, const std::function<void(int64_t)>& f) {
    std::unique_lock<std::mutex> busy(submit_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    if (tasks > INT32_MAX) return false;
    bool sleepers;
    caller_cpu_.store(current_cpu(), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(m_);
      // First end the previous job's claims: a worker still holding its (generation, index)
      // fails its compare-and-swap from here on, so it never runs a task of this job by
      // reading this job's count. Then publish the job under a new generation, next task 0.
      ticket_.store(uint64_t(++generation_) << 32 | 0xffffffffu);
      job_ = &f;
      error_ = nullptr;
      tasks_.store(tasks);
      remaining_.store(tasks);
      ticket_.store(uint64_t(++generation_) << 32);
      sleepers = sleepers_ > 0;
    }
    if (sleepers) wake_.notify_all();
    drain(generation_);
    auto done = [&] { return remaining_.load(std::memory_order_acquire) == 0; };
    if (!poll(done)) {
      std::unique_lock<std::mutex> lock(m_);
      done_.wait(lock, done);
    }
    std::lock_guard<std::mutex> lock(m_);
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void stop() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // Claims and runs tasks of job `generation` until none is left. A task is claimed by one
  // compare-and-swap on (generation, next task): a worker that arrives late can never claim a
  // task of a later job under an earlier job's count.
  void drain(uint32_t generation) {
    for (;;) {
      // Sequentially consistent: a count read here that belongs to a later job implies the
      // ticket had already moved on, so the exchange below fails.
      uint64_t ticket = ticket_.load();
      int64_t t;
      do {
        t = int64_t(ticket & 0xffffffffu);
        if ((ticket >> 32) != generation || t >= tasks_.load()) return;
      } while (!ticket_.compare_exchange_weak(ticket, ticket + 1));
      // The job stays installed until its last task is counted off below.
      try {
        (*job_)(t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m_);
        if (!error_) error_ = std::current_exception();
      }
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(m_);  // the caller checks `remaining_` under it
        done_.notify_all();
      }
    }
  }
  void work() {
    inside_worker = true;
    WorkerPlacement place;
    uint32_t seen = 0;
    auto fresh = [&] { return uint32_t(ticket_.load(std::memory_order_acquire) >> 32) != seen; };
    auto avoid_caller = [&] { place.avoid(caller_cpu_.load(std::memory_order_relaxed)); };
    for (;;) {
      if (!poll([&] { return fresh() || stop_.load(std::memory_order_relaxed); }, avoid_caller)) {
        place.release();
        // Tensors a task made here and another thread released go back before it sleeps.
        refcount::drain_if_queued();
        std::unique_lock<std::mutex> lock(m_);
        ++sleepers_;
        wake_.wait(lock, [&] { return stop_ || fresh(); });
        --sleepers_;
      }
      if (stop_.load()) return;
      seen = uint32_t(ticket_.load(std::memory_order_acquire) >> 32);
      avoid_caller();
      drain(seen);
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_, submit_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  std::atomic<int64_t> tasks_{0}, remaining_{0};
  std::atomic<uint64_t> ticket_{0};  // generation << 32 | next task
  uint32_t generation_ = 0;          // under m_; two per job (wraps; compared for equality)
  int sleepers_ = 0;                 // under m_
  std::atomic<bool> stop_{false};    // set under m_
  std::atomic<int> caller_cpu_{-1};  // where the last job was published from
  std::exception_ptr error_;
};

std::atomic<int> num_threads{0};  // 0: not chosen yet
std::mutex pool_mutex;
// Held by each job while it runs, so that set_num_threads on another thread replaces the pool
// without ending the workers of a job in progress. Never destroyed: at exit the workers are
// left asleep rather than joined while other static objects go away.
std::shared_ptr<Pool>& pool = *new std::shared_ptr<Pool>();
int failed_workers = 0;  // a worker count that could not be started, not tried again

// Asked once: glibc answers hardware_concurrency() by reading sysfs, far too slow per op.
int hardware_threads() {
  static const int n =
      std::min(kMaxThreads, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return n;
}

// A pool of `workers` workers in place of the current one; MemoryError (the current one kept)
// when they cannot be started. pool_mutex is held.
void replace_pool(int workers) {
  try {
    pool = std::make_shared<Pool>(workers);
    failed_workers = 0;
  } catch (const std::bad_alloc&) {
    failed_workers = workers;
    throw MemoryError("set_num_threads: no memory for " + std::to_string(workers + 1) +
                      " threads; the thread count is unchanged");
  } catch (const Error&) {
    failed_workers = workers;
    throw;
  }
}

// The pool for this many threads; null when its workers cannot be started (the caller then
// runs the tasks itself, and the start is not tried again for this count).
std::shared_ptr<Pool> pool_for(int threads) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!pool || pool->workers() != threads - 1) {
    if (failed_workers == threads - 1) return nullptr;
    try {
      replace_pool(threads - 1);
    } catch (const Error&) {
      return nullptr;
    }
  }
  return pool;
}

}  // namespace

#if defined(__linux__)
void WorkerPlacement::avoid(int caller_cpu) {
  if (caller_cpu < 0 || caller_cpu >= CPU_SETSIZE || current_cpu() != caller_cpu) return;
  // The set the thread may use, read now (the program may have changed it since it started).
  if (!narrowed_ && pthread_getaffinity_np(pthread_self(), sizeof allowed_, &allowed_) != 0) {
    sched_yield();
    return;
  }
  cpu_set_t away = allowed_;
  CPU_CLR(caller_cpu, &away);
  if (CPU_COUNT(&away) > 0 && pthread_setaffinity_np(pthread_self(), sizeof away, &away) == 0)
    narrowed_ = true;
  else
    sched_yield();
}

void WorkerPlacement::release() {
  if (narrowed_) pthread_setaffinity_np(pthread_self(), sizeof allowed_, &allowed_);
  narrowed_ = false;
}
#else
void WorkerPlacement::avoid(int) {}
void WorkerPlacement::release() {}
#endif

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    throw ValueError("set_num_threads: n must be in [1, " + std::to_string(kMaxThreads) +
                     "], got " + std::to_string(n));
  if (n > 1) {  // start the workers now, so that a failure is reported here, not in an op
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (!pool || pool->workers() != n - 1) replace_pool(n - 1);
  }
  num_threads = n;  // OpenBLAS follows before its next product (kernels/cpu/blas.hpp)
}

int get_num_threads() {
  int n = num_threads.load();
  return n > 0 ? n : hardware_threads();
}

void parallel_for(int64_t tasks, const std::function<void(int64_t)>& f) {
  const int threads = get_num_threads();
  std::shared_ptr<Pool> p;
  if (tasks <= 1 || threads <= 1 || inside_worker || !(p = pool_for(threads)) || !p->run(tasks, f))
    for (int64_t t = 0; t < tasks; ++t) f(t);
}

void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
  const int64_t pieces = std::min<int64_t>(get_num_threads(), n / std::max<int64_t>(grain, 1));
  if (pieces <= 1) {
    f(0, n);
    return;
  }
  auto bound = [&](int64_t p) { return p == pieces ? n : n * p / pieces / 16 * 16; };
  parallel_for(pieces, [&](int64_t p) { f(bound(p), bound(p + 1)); });
}

}  // namespace ndgrad
