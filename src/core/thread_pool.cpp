#include "core/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/blas.hpp"
#include "ndgrad/error.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad {

namespace {

thread_local bool inside_worker = false;

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return static_cast<int>(threads_.size()); }

  // False when another job is running: the caller then runs its tasks itself.
  bool run(int64_t tasks, const std::function<void(int64_t)>& f) {
    std::unique_lock<std::mutex> busy(submit_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(m_);
      job_ = &f;
      tasks_ = tasks;
      next_.store(0);
      remaining_ = tasks;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock<std::mutex> lock(m_);
    done_.wait(lock, [&] { return remaining_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void drain() {
    for (;;) {
      const int64_t t = next_.fetch_add(1);
      if (t >= tasks_) return;
      try {
        (*job_)(t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(m_);
      if (--remaining_ == 0) done_.notify_all();
    }
  }
  void work() {
    inside_worker = true;
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(m_);
        wake_.wait(lock, [&] { return stop_ || (generation_ != seen && job_); });
        if (stop_) return;
        seen = generation_;
      }
      drain();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_, submit_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t tasks_ = 0, remaining_ = 0;
  std::atomic<int64_t> next_{0};
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

std::atomic<int> num_threads{0};  // 0: not chosen yet
std::mutex pool_mutex;
Pool* pool = nullptr;

// Asked once: glibc answers hardware_concurrency() by reading sysfs, far too slow per op.
int hardware_threads() {
  static const int n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return n;
}

Pool* pool_for(int threads) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!pool || pool->workers() != threads - 1) {
    delete pool;  // only between jobs: set_num_threads is not called while kernels run
    pool = new Pool(threads - 1);
  }
  return pool;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: n must be >= 1, got " + std::to_string(n));
  num_threads = n;
  kernels::blas_set_num_threads(n);
}

int get_num_threads() {
  int n = num_threads.load();
  return n > 0 ? n : hardware_threads();
}

void parallel_for(int64_t tasks, const std::function<void(int64_t)>& f) {
  const int threads = get_num_threads();
  if (tasks <= 1 || threads <= 1 || inside_worker || !pool_for(threads)->run(tasks, f))
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
