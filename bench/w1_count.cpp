// W1's ops (25 x tanh(y * 1.0001 + 0.5) - x on 8x8, then sum and backward: 101 ops), with or
// without another thread in the process.
//
// Counting instructions and atomic operations, which a noisy machine cannot hide:
//   valgrind --tool=callgrind --collect-bus=yes ./build/bench/bench_w1_count 200 alone
//   valgrind --tool=callgrind --collect-bus=yes ./build/bench/bench_w1_count 200 idle
// "Ir" is instructions, "Ge" locked (atomic) instructions; divide by iterations * 101.
// Timing: ./build/bench/bench_w1_count 30000 busy prints the median time per op; run the modes
// alternately, several times each.
//
// alone: the process has no other thread. idle: another thread exists throughout and sleeps
// (most real programs: a GUI, a server, a data loader). busy: it computes on the other core.
// From the first other thread on, libstdc++ makes every std::shared_ptr copy and release a
// locked instruction; ndgrad's own handles avoid them (ndgrad/ref.hpp).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "ndgrad/ndgrad.hpp"

int main(int argc, char** argv) {
  namespace nd = ndgrad;
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  const char* mode = argc > 2 ? argv[2] : "alone";
  const bool idle = std::strcmp(mode, "idle") == 0, busy = std::strcmp(mode, "busy") == 0;
  if (!idle && !busy && std::strcmp(mode, "alone") != 0) {
    std::fprintf(stderr, "usage: bench_w1_count [iterations] [alone|idle|busy]\n");
    return 2;
  }
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<bool> stop_busy{false};
  std::thread other;
  if (idle)
    other = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return stop; });
    });
  if (busy)
    other = std::thread([&] {
      volatile double v = 1;
      while (!stop_busy.load(std::memory_order_relaxed)) v = v * 1.0000001 + 1e-9;
    });
  nd::set_num_threads(1);
  nd::Tensor x = nd::randn({8, 8}, 1).requires_grad_();
  std::vector<double> times;
  times.reserve(iterations);
  for (int it = 0; it < iterations; ++it) {
    const auto t0 = std::chrono::steady_clock::now();
    nd::Tensor y = x;
    for (int i = 0; i < 25; ++i) y = nd::tanh(y * 1.0001 + 0.5) - x;
    y.sum().backward();
    x.zero_grad();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (other.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    stop_busy = true;
    cv.notify_all();
    other.join();
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  std::printf("%d iterations of 101 ops, %s: median %.3f us/op\n", iterations,
              idle   ? "another thread asleep throughout"
              : busy ? "another thread computing throughout"
                     : "no other thread",
              times[times.size() / 2] * 1e6 / 101);
}
