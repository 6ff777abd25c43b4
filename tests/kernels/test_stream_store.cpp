// Large outputs are streamed past the caches: every element still gets its value, whatever
// the length and alignment of the run, and ops big enough to stream agree with small ones.
#include <cstring>
#include <vector>

#include "kernels/cpu/stream_store.hpp"
#include "ndgrad/threads.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

TEST(StreamStore, EveryLengthAndAlignmentGetsEveryValue) {
  std::vector<float> storage(40000 + 64);
  for (int64_t n : {0, 1, 15, 1023, 1024, 1025, 4096, 4097, 12345, 40000}) {
    for (int offset : {0, 1, 3, 8, 15}) {
      float* out = storage.data() + offset;
      for (bool stream : {false, true}) {
        std::fill(storage.begin(), storage.end(), -1.0f);
        kernels::write_run(out, n, stream, [&](float* d, int64_t begin, int64_t count) {
          for (int64_t i = 0; i < count; ++i) d[i] = static_cast<float>(begin + i) * 0.5f;
        });
        kernels::stream_fence();
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(out[i], static_cast<float>(i) * 0.5f) << "n " << n << " offset " << offset;
        // Nothing outside the run is touched.
        for (int64_t i = 0; i < offset; ++i) ASSERT_EQ(storage[i], -1.0f);
        for (size_t i = offset + n; i < storage.size(); ++i) ASSERT_EQ(storage[i], -1.0f);

        std::fill(storage.begin(), storage.end(), -1.0f);
        kernels::fill_run(out, n, 2.5f, stream);
        kernels::stream_fence();
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(out[i], 2.5f) << "n " << n << " offset " << offset;
        for (int64_t i = 0; i < offset; ++i) ASSERT_EQ(storage[i], -1.0f);
        for (size_t i = offset + n; i < storage.size(); ++i) ASSERT_EQ(storage[i], -1.0f);
      }
    }
  }
}

TEST(StreamStore, LargeOpsGiveTheSameValuesAsScalarCode) {
  // (2048, 1024) floats: 8 MiB outputs, above the streaming threshold, split across threads or
  // not; broadcast rows, a broadcast value and a fill take the streaming paths too.
  const Tensor x = randn({2048, 1024}, 1), b = randn({1024}, 2);
  const std::vector<double> xs = x.to_vector(), bs = b.to_vector();
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const std::vector<double> sum = (x + b).to_vector(), scaled = (x * 3.0).to_vector(),
                              filled = full({2048, 1024}, 0.25).to_vector(),
                              spread =
                                  scalar(1.5).broadcast_to({2048, 1024}).contiguous().to_vector();
    ASSERT_EQ(sum.size(), xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      ASSERT_EQ(static_cast<float>(sum[i]),
                static_cast<float>(xs[i]) + static_cast<float>(bs[i % 1024]))
          << i;
      ASSERT_EQ(static_cast<float>(scaled[i]), static_cast<float>(xs[i]) * 3.0f) << i;
      ASSERT_EQ(filled[i], 0.25) << i;
      ASSERT_EQ(spread[i], 1.5) << i;
    }
  }
  set_num_threads(before);
}
