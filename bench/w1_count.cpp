// W1's ops, for counting instructions and atomic operations rather than timing them on a noisy
// machine:
//   valgrind --tool=callgrind --collect-bus=yes ./build/bench/bench_w1_count 200 alone
//   valgrind --tool=callgrind --collect-bus=yes ./build/bench/bench_w1_count 200 foreign
// "Ir" is instructions, "Ge" locked (atomic) instructions; divide by iterations * 101 for the
// per-op figures. alone: the process has no other thread. foreign: another thread exists (and
// sleeps) throughout, as in most real programs; from its start, libstdc++ makes every
// std::shared_ptr copy and release a locked instruction, which ndgrad's own handles avoid
// (ndgrad/ref.hpp).
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "ndgrad/ndgrad.hpp"

int main(int argc, char** argv) {
  namespace nd = ndgrad;
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  const bool foreign = argc > 2 && std::strcmp(argv[2], "foreign") == 0;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread other;
  if (foreign)
    other = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return stop; });
    });
  nd::set_num_threads(1);
  nd::Tensor x = nd::randn({8, 8}, 1).requires_grad_();
  for (int it = 0; it < iterations; ++it) {
    nd::Tensor y = x;
    for (int i = 0; i < 25; ++i) y = nd::tanh(y * 1.0001 + 0.5) - x;
    y.sum().backward();
    x.zero_grad();
  }
  if (foreign) {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    other.join();
  }
  std::printf("%d iterations of 101 ops, %s\n", iterations,
              foreign ? "a foreign thread asleep throughout" : "no other thread");
}
