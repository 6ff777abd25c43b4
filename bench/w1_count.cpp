// W1's ops, for counting instructions rather than timing them on a noisy machine:
//   valgrind --tool=callgrind ./build/bench/bench_w1_count 200
// A second thread is started (and joined) first: from then on libstdc++ updates shared_ptr
// reference counts with locked instructions, as in any program that uses threads (libtorch's,
// or ndgrad's pool); a program that never starts one would hide their cost.
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "ndgrad/ndgrad.hpp"

int main(int argc, char** argv) {
  namespace nd = ndgrad;
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  std::thread([] {}).join();
  nd::set_num_threads(1);
  nd::Tensor x = nd::randn({8, 8}, 1).requires_grad_();
  for (int it = 0; it < iterations; ++it) {
    nd::Tensor y = x;
    for (int i = 0; i < 25; ++i) y = nd::tanh(y * 1.0001 + 0.5) - x;
    y.sum().backward();
    x.zero_grad();
  }
  std::printf("%d iterations of 101 ops\n", iterations);
}
