// The one iterator: dims ordered by stride and coalesced; results on strided, transposed and
// broadcast operands equal a naive index-by-index computation.
#include "kernels/cpu/strided_loop.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;
using ndgrad::kernels::StridedLoop;

TEST(StridedLoop, ContiguousOperandsCoalesceToOneDim) {
  const int64_t shape[] = {2, 3, 4};
  const int64_t s[] = {48, 16, 4};
  StridedLoop<2> loop(3, shape, {s, s});
  ASSERT_EQ(loop.ndim(), 1);
  EXPECT_EQ(loop.size(0), 24);
}

TEST(StridedLoop, BroadcastOperandKeepsStrideZeroAndSizeOneDimsDrop) {
  const int64_t shape[] = {3, 1, 4};
  const int64_t out[] = {16, 16, 4}, bias[] = {0, 0, 4};
  StridedLoop<2> loop(3, shape, {out, bias});
  ASSERT_EQ(loop.ndim(), 2);
  EXPECT_EQ(loop.size(0), 4);
  EXPECT_EQ(loop.stride(1, 0), 4);
  EXPECT_EQ(loop.stride(1, 1), 0);
}

TEST(StridedLoop, ReductionOutputPutsTheInputsSmallestStrideInside) {
  // Sum over axis 1 of a (5, 6) row-major input: output strides (4, 0).
  const int64_t shape[] = {5, 6};
  const int64_t out[] = {4, 0}, in[] = {24, 4};
  StridedLoop<2> loop(2, shape, {out, in});
  ASSERT_EQ(loop.ndim(), 2);
  EXPECT_EQ(loop.stride(1, 0), 4);  // inner dim walks the input contiguously
  EXPECT_EQ(loop.stride(0, 0), 0);
}

TEST(StridedLoop, VisitsEveryElementOnceInAnyLayout) {
  const int64_t shape[] = {3, 5, 2};
  const int64_t strides[] = {10, 1, 5};  // a permuted layout
  StridedLoop<1> loop(3, shape, {strides});
  std::vector<int> seen(30, 0);
  char* base = nullptr;
  loop.run({base}, [&](char* const* p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) seen[reinterpret_cast<intptr_t>(p[0]) + i * s[0]]++;
  });
  for (int c : seen) EXPECT_EQ(c, 1);
}

TEST(StridedLoop, ElementwiseOnViewsMatchesNaive) {
  Tensor a = randn({4, 3, 5}, 1, DType::f64);
  Tensor b = randn({5, 1, 3}, 2, DType::f64);
  Tensor at = a.permute({2, 0, 1});  // (5, 4, 3), non-contiguous
  Tensor r = at * b + exp(at) - b.transpose(0, 2).transpose(0, 2);
  ASSERT_EQ(r.shape(), (Shape{5, 4, 3}));
  std::vector<double> av = a.to_vector(), bv = b.to_vector(), expected;
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t k = 0; k < 3; ++k) {
        double x = av[j * 15 + k * 5 + i], y = bv[i * 3 + k];
        expected.push_back(x * y + std::exp(x) - y);
      }
  expect_values(r, expected, 1e-12);
}

TEST(StridedLoop, ZeroSizedShapesDoNothing) {
  Tensor a = zeros({0, 3});
  Tensor r = a + ones({3});
  EXPECT_EQ(r.shape(), (Shape{0, 3}));
  EXPECT_EQ(r.numel(), 0);
  EXPECT_EQ(a.sum({0}).shape(), (Shape{3}));
  expect_values(a.sum({0}), {0, 0, 0});
}
