// Tensor memory stays flat when tensors cross threads: made on one thread and freed on another
// (a loader and a trainer), freed by a pool of threads, made by short-lived threads. Part of the
// concurrency binary, so that ThreadSanitizer also checks the caches' locking; the resident-size
// bounds are checked only without sanitizers (their allocators keep freed memory on purpose).
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/storage.hpp"
#include "test_util.hpp"

using namespace ndgrad;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kMeasureResident = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kMeasureResident = false;
#else
constexpr bool kMeasureResident = true;
#endif
#else
constexpr bool kMeasureResident = true;
#endif

int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// Batch-like shapes of many sizes: small ones (the per-thread cache) and large ones (the
// shared cache), f32 and f64.
Tensor batch(int step) {
  static const Shape shapes[] = {{128, 784}, {64, 1000}, {300}, {16, 16}, {128, 10}, {2, 70000}};
  const Shape& s = shapes[step % 6];
  return full(s, step, step % 2 ? DType::f64 : DType::f32);
}

// A queue handing tensors from one thread to another, at most 8 waiting (a loader's prefetch).
struct Channel {
  static constexpr size_t kCapacity = 8;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Tensor> items;
  void push(Tensor t) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return items.size() < kCapacity; });
    items.push_back(std::move(t));
    cv.notify_all();
  }
  Tensor pop() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !items.empty(); });
    Tensor t = std::move(items.front());
    items.pop_front();
    cv.notify_all();
    return t;
  }
};

// Runs `steps` of pattern after `warmup` steps, and checks that the resident size grew by less
// than `bound` and that the kept blocks stay within the caches' own bounds.
template <class F>
void expect_flat(const char* what, int warmup, int steps, F pattern) {
  pattern(warmup);
  const int64_t before = resident_bytes();
  pattern(steps);
  const int64_t growth = resident_bytes() - before;
  if (kMeasureResident) {
    EXPECT_LT(growth, 48 << 20) << what << ": resident memory grew by " << growth << " bytes";
  }
  // The shared cache holds at most 1 GiB; here far less is ever freed at once.
  EXPECT_LE(cached_storage_bytes(), size_t(256) << 20) << what;
}

}  // namespace

TEST(MemoryAcrossThreads, MadeByALoaderThreadFreedByTheTrainer) {
  expect_flat("producer/consumer", 300, 3000, [](int steps) {
    Channel channel;
    std::thread loader([&] {
      for (int i = 0; i < steps; ++i) channel.push(batch(i));
    });
    double total = 0;
    for (int i = 0; i < steps; ++i) total += channel.pop().sum().item();
    loader.join();
    EXPECT_GT(total, 0);
  });
}

TEST(MemoryAcrossThreads, MadeByTheCallerFreedByAnotherThread) {
  expect_flat("free on another thread", 300, 3000, [](int steps) {
    Channel channel;
    std::thread freer([&] {
      for (int i = 0; i < steps; ++i) channel.pop();  // dropped here
    });
    for (int i = 0; i < steps; ++i) channel.push(batch(i) * 2.0);
    freer.join();
  });
}

TEST(MemoryAcrossThreads, FreedByAPoolOfThreads) {
  expect_flat("freed by a pool", 300, 3000, [](int steps) {
    constexpr int kThreads = 4;
    Channel channels[kThreads];
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t)
      pool.emplace_back([&, t] {
        for (int i = t; i < steps; i += kThreads) channels[t].pop();
      });
    for (int i = 0; i < steps; ++i) channels[i % kThreads].push(batch(i) + 1.0);
    for (auto& th : pool) th.join();
  });
}

TEST(MemoryAcrossThreads, MadeByShortLivedThreads) {
  expect_flat("short-lived threads", 50, 400, [](int steps) {
    for (int i = 0; i < steps; ++i) {
      Tensor made;
      std::thread worker([&] {
        Tensor scratch = batch(i + 1) * 3.0;  // freed on the worker, which then exits
        made = batch(i) + scratch.sum();
      });
      worker.join();
      EXPECT_EQ(made.numel(), batch(i).numel());
    }
  });
}

TEST(MemoryAcrossThreads, ReleasingTheCacheHandsEverythingBack) {
  std::vector<Tensor> held;
  for (int i = 0; i < 12; ++i) held.push_back(batch(i));
  held.clear();
  EXPECT_GT(cached_storage_bytes(), 0u);
  release_cached_storage();
  EXPECT_EQ(cached_storage_bytes(), 0u);
  // And the memory is still usable afterwards.
  EXPECT_EQ(batch(7).sum().item(), 7.0 * 64 * 1000);
}
