// Tensors over memory the caller owns (from_blob) and memory handed out (expose_memory).
#include <gtest/gtest.h>

#include <ndgrad/ndgrad.hpp>
#include <vector>

using namespace ndgrad;

TEST(FromBlob, SharesTheMemoryWithAnyStridesAndReleasesItOnceWhenTheLastViewGoes) {
  std::vector<double> memory = {0, 1, 2, 3, 4, 5};
  int released = 0;
  {
    // A (3,2) view read backwards along axis 0: element (0,0) is memory[4], strides (-2, 1).
    Tensor t = from_blob(memory.data() + 4, {3, 2}, {-2, 1}, DType::f64, [&] { ++released; });
    EXPECT_EQ(t.to_vector(), (std::vector<double>{4, 5, 2, 3, 0, 1}));
    Tensor col = t.select(1, 0);  // a view: keeps the memory
    t = Tensor();
    EXPECT_EQ(released, 0);
    memory[2] = 20;  // the owner's write is seen
    EXPECT_EQ(col.to_vector(), (std::vector<double>{4, 20, 0}));
    {
      NoGradGuard no_grad;
      col.index_put_({1}, 7.0);  // and a write through the tensor reaches the owner's memory
    }
    EXPECT_EQ(memory[2], 7);
    Tensor y = col * 2.0;  // a result in memory of its own
    col = Tensor();
    EXPECT_EQ(released, 1);
    EXPECT_EQ(y.to_vector(), (std::vector<double>{8, 14, 0}));
  }
  EXPECT_EQ(released, 1);
}

TEST(FromBlob, BadArgumentsThrowWithoutReleasing) {
  float x[4] = {};
  int released = 0;
  auto count = [&] { ++released; };
  EXPECT_THROW(from_blob(x, {2, 2}, {1}, DType::f32, count), ValueError);
  EXPECT_THROW(from_blob(x, {-1}, {1}, DType::f32, count), ValueError);
  EXPECT_THROW(from_blob(nullptr, {2}, {1}, DType::f32, count), ValueError);
  EXPECT_THROW(from_blob(reinterpret_cast<char*>(x) + 1, {2}, {1}, DType::f32, count), ValueError);
  EXPECT_THROW(from_blob(x, {2, 2}, {INT64_MAX / 2, 1}, DType::f32, count), ValueError);
  EXPECT_EQ(released, 0);
  Tensor empty_one = from_blob(nullptr, {0, 3}, {3, 1}, DType::f32, count);  // no elements
  EXPECT_EQ(empty_one.numel(), 0);
}

TEST(FromBlob, LargeResultsOverExposedMemoryAreComputedWhenTheOpIsCalled) {
  // Large elementwise results are otherwise left pending and read their inputs later: over
  // memory that its owner may write at any moment, they must read it now.
  const int64_t n = int64_t(1) << 21;
  std::vector<float> memory(n, 1.0f);
  Tensor t = from_blob(memory.data(), {n}, {1}, DType::f32);
  Tensor doubled = t * 2.0f;
  memory[0] = 100;
  EXPECT_EQ(doubled[0].item(), 2.0);

  Tensor own = ones({n});
  float* p = static_cast<float*>(expose_memory(own));
  Tensor tripled = own * 3.0f;
  p[0] = 100;
  EXPECT_EQ(tripled[0].item(), 3.0);
}

TEST(ExposeMemory, ComputesPendingValuesFirst) {
  const int64_t n = int64_t(1) << 21;
  Tensor x = ones({n});
  Tensor y = x + x;  // pending (a large lazy result) until its values are needed
  const float* p = static_cast<const float*>(expose_memory(y));
  EXPECT_EQ(p[0], 2.0f);
  EXPECT_EQ(p[n - 1], 2.0f);
}

TEST(FromBlob, OpsNeverWriteTheirResultOverTheCallersMemory) {
  // Ops write their result over a temporary operand's memory when nothing else holds it; a
  // from_blob tensor's memory is its owner's, temporary or not, small or large, any op form.
  for (int64_t n : {int64_t(6), int64_t(1) << 21}) {
    std::vector<float> memory(static_cast<size_t>(n), 1.0f);
    auto blob = [&] { return from_blob(memory.data(), {n}, {1}, DType::f32); };
    Tensor sum = blob() + 1.0f;
    Tensor product = 2.0f * blob();
    Tensor both = blob() * blob();
    Tensor negated = -blob();
    Tensor e = exp(blob());
    for (const Tensor* r : {&sum, &product, &both, &negated, &e}) (void)r->to_vector();
    for (float v : memory) ASSERT_EQ(v, 1.0f) << "n = " << n;
    EXPECT_EQ(sum[n - 1].item(), 2.0);
    EXPECT_EQ(product[0].item(), 2.0);
    EXPECT_EQ(negated[0].item(), -1.0);
    EXPECT_FLOAT_EQ(float(e[0].item()), 2.7182817f);
    EXPECT_EQ(both[0].item(), 1.0);
  }
}
