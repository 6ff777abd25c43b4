// A training loop of 10,000 steps keeps its memory flat: no graph, gradient or buffer survives
// a step.
#include <unistd.h>

#include <fstream>

#include "test_util.hpp"

using namespace ndgrad;

namespace {

// Resident set size in bytes, from /proc.
int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace

TEST(Memory, TenThousandTrainingStepsKeepMemoryFlat) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's quarantine keeps freed memory resident; in this build "
                  "LeakSanitizer checks for leaks instead";
#endif
  nn::Sequential model(nn::Linear(32, 64, 1), nn::ReLU(), nn::Linear(64, 10, 2));
  optim::Adam opt(model.parameters(), 1e-3);
  const Tensor x = randn({16, 32}, 3);
  const Tensor y = (rand({16}, 4, DType::f64) * 10.0).to(DType::i64);
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = nn::cross_entropy(model(x), y);
    loss.backward();
    opt.step();
    return loss.item();
  };
  for (int i = 0; i < 1000; ++i) step();  // warm up: allocator pools, lazy state
  const int64_t before = resident_bytes();
  double last = 0;
  for (int i = 0; i < 9000; ++i) last = step();
  const int64_t growth = resident_bytes() - before;
  EXPECT_LT(growth, 4 << 20) << "memory grew by " << growth << " bytes over 9000 steps";
  EXPECT_LT(last, 0.1);  // and it did train
}
