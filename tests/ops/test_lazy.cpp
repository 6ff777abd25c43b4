// Lazy elementwise results (exec/lazy.hpp): large add/sub/mul/div/neg chains are computed when
// first used, fused into sums. Every test compares with the same ops run eagerly.
#include <cstring>
#include <functional>
#include <random>
#include <tuple>

#include "core/shape.hpp"
#include "exec/lazy.hpp"
#include "ndgrad/optim.hpp"
#include "test_util.hpp"

namespace ndgrad {
namespace {

// The lazy evaluator is what these tests check: on for each, also in a reference-kernels run.
class Lazy : public ::testing::Test {
  lazy::EnabledScope on_{true};
};

constexpr int64_t kRows = 1024, kCols = 1100;  // 1,126,400 elements: above the lazy threshold

// Runs f with lazy results off, then on, and returns both results (computed).
std::pair<Tensor, Tensor> eager_and_lazy(const std::function<Tensor()>& f) {
  lazy::set_enabled(false);
  Tensor eager = f();
  lazy::set_enabled(true);
  Tensor lazy_result = f();
  return {eager, lazy_result};
}

void expect_same_bits(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.dtype(), b.dtype());
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t bytes = static_cast<size_t>(a.numel()) * itemsize(a.dtype());
  EXPECT_EQ(std::memcmp(ca.impl()->data(), cb.impl()->data(), bytes), 0);
}

// Sums in another order of additions: within a few float roundings of the sum of the terms'
// magnitudes (the same axes summed over |terms|).
void expect_sum_close(const Tensor& eager, const Tensor& lazy_result, const Tensor& abs_sum) {
  ASSERT_EQ(eager.shape(), lazy_result.shape());
  const std::vector<double> e = eager.to_vector(), l = lazy_result.to_vector(),
                            m = abs_sum.to_vector();
  ASSERT_EQ(e.size(), m.size());
  for (size_t i = 0; i < e.size(); ++i) EXPECT_NEAR(e[i], l[i], 2e-6 * m[i]) << "at " << i;
}

TEST_F(Lazy, LargeArithmeticIsPendingSmallIsNot) {
  const Tensor x = randn({kRows, kCols}, 1), b = randn({kCols}, 2);
  const Tensor big = x * b + 1.0;
  EXPECT_TRUE(lazy::pending(big));
  const Tensor small = randn({8, 8}, 3) * 2.0;
  EXPECT_FALSE(lazy::pending(small));
  EXPECT_FALSE(lazy::pending(exp(x)));  // transcendental ops stay eager
  const double first = big.to_vector()[5];
  EXPECT_FALSE(lazy::pending(big));  // computed on first use
  EXPECT_EQ(first, big.to_vector()[5]);
}

// Random chains over random broadcast operands, in both dtypes: the computed values are the
// eager ones bit for bit (every op rounds to the dtype in both).
TEST_F(Lazy, RandomChainsMatchEagerBitForBit) {
  std::mt19937 rng(7);
  const std::vector<Shape> operand_shapes = {{kRows, kCols}, {kCols}, {kRows, 1},
                                             {1, kCols},     {},      {2, 1, kCols}};
  for (DType dt : {DType::f32, DType::f64}) {
    for (int trial = 0; trial < 12; ++trial) {
      std::vector<Tensor> inputs;
      for (int i = 0; i < 4; ++i) {
        Shape s = operand_shapes[rng() % (i == 0 ? 1 : operand_shapes.size())];
        inputs.push_back(testing::uniform(s, 100 * trial + i, 0.5, 2.0).to(dt));
      }
      std::vector<int> ops;
      const int length = 1 + rng() % 20;  // past the 16-op program limit sometimes
      for (int k = 0; k < length; ++k) ops.push_back(rng() % 5);
      std::vector<int> picks;
      for (int k = 0; k < length; ++k) picks.push_back(rng() % 4);
      auto chain = [&] {
        Tensor y = inputs[0];
        for (int k = 0; k < length; ++k) {
          const Tensor& z = inputs[picks[k]];
          switch (ops[k]) {
            case 0:
              y = y + z;
              break;
            case 1:
              y = z - y;
              break;
            case 2:
              y = y * z;
              break;
            case 3:
              y = y / z;
              break;
            case 4:
              y = -y;
              break;
          }
        }
        return y;
      };
      auto [eager, lazy_result] = eager_and_lazy(chain);
      SCOPED_TRACE("trial " + std::to_string(trial) + ", " + dtype_name(dt));
      expect_same_bits(eager, lazy_result);
    }
  }
}

TEST_F(Lazy, FusedSumsMatchEagerSums) {
  const Tensor x = randn({4, kRows / 4, kCols}, 11), b = randn({kCols}, 12);
  const Tensor c = randn({4, 1, 1}, 13);
  for (const std::vector<int64_t>& axes :
       std::vector<std::vector<int64_t>>{{}, {0}, {0, 1}, {1}, {2}, {1, 2}, {0, 2}}) {
    for (bool keepdims : {true, false}) {
      auto terms = [&] { return (x + b) * (x - c) / 3.0; };
      auto [eager, lazy_result] = eager_and_lazy([&] { return terms().sum(axes, keepdims); });
      SCOPED_TRACE("axes " + axes_str(axes));
      expect_sum_close(eager, lazy_result, abs(terms()).to(DType::f64).sum(axes, keepdims));
    }
  }
  // Reducing to one value along dims of size 1 at the end: (N, 1) summed over axis 0.
  const Tensor col = randn({kRows * 2, 1}, 14);
  auto [eager, lazy_result] = eager_and_lazy([&] { return (col * 2.0 + 1.0).sum({0}); });
  expect_sum_close(eager, lazy_result, abs(col * 2.0 + 1.0).to(DType::f64).sum({0}));
  // Sums over trailing axes (per-row reductions) run fused when the reduced axes form one run
  // per output value (not (x + b) over axes 1 and 2: b repeats along axis 1): the terms are
  // never computed.
  {
    const Tensor terms = (x + b) * (x - c);
    const Tensor lazy_sum = terms.sum({2});
    EXPECT_TRUE(lazy::pending(terms));
    auto [eager, again] = eager_and_lazy([&] { return ((x + b) * (x - c)).sum({2}); });
    expect_sum_close(eager, lazy_sum, abs(terms).to(DType::f64).sum({2}));
  }
  {
    const Tensor terms = x * x - c;
    const Tensor lazy_sum = terms.sum({1, 2});
    EXPECT_TRUE(lazy::pending(terms));
    auto [eager, again] = eager_and_lazy([&] { return (x * x - c).sum({1, 2}); });
    expect_sum_close(eager, lazy_sum, abs(terms).to(DType::f64).sum({1, 2}));
  }
  // A column broadcast along the reduced axis, and rows of one block plus a partial one.
  const Tensor rows = randn({kRows, kCols}, 15), column = randn({kRows, 1}, 16);
  auto [er, lr] = eager_and_lazy([&] { return (rows * column - 1.0).sum({1}, true); });
  expect_sum_close(er, lr, abs(rows * column - 1.0).to(DType::f64).sum({1}, true));
  // mean goes through the fused sum too.
  auto [em, lm] = eager_and_lazy([&] { return (x * x).mean(); });
  testing::expect_close(em, lm, 1e-5);  // positive terms: relative error bounded
}

TEST_F(Lazy, ViewsOfPendingResultsSeeTheValues) {
  const Tensor x = randn({kRows, kCols}, 21), b = randn({kCols}, 22);
  auto [eager, lazy_result] = eager_and_lazy([&] { return (x - b).transpose(0, 1) * 2.0; });
  expect_same_bits(eager, lazy_result);
  auto [e2, l2] = eager_and_lazy([&] { return ((x + b) * 0.5).reshape({kCols, kRows}); });
  expect_same_bits(e2, l2);
}

// A pending result reads its inputs when it is computed: writing an input in place first
// must not change it. Each in-place path runs the pending computations that read the input.
TEST_F(Lazy, InPlaceWritesToAnInputDoNotChangePendingResults) {
  const Tensor b = randn({kCols}, 32);
  const std::vector<std::function<void(Tensor&)>> writes = {
      [](Tensor& x) { x.copy_(zeros(x.shape())); },
      [](Tensor& x) { x.data_ptr<float>()[3] = 1234.0f; },
      [](Tensor& x) {
        x.requires_grad_();
        x.impl()->grad = ones(x.shape());
        optim::SGD opt({x}, 0.5);
        opt.step();
      },
  };
  for (size_t w = 0; w < writes.size(); ++w) {
    Tensor x = randn({kRows, kCols}, 31);
    lazy::set_enabled(false);
    const Tensor expected = (x + b) * x;
    lazy::set_enabled(true);
    const Tensor y = (x + b) * x;
    ASSERT_TRUE(lazy::pending(y));
    writes[w](x);
    SCOPED_TRACE("write " + std::to_string(w));
    expect_same_bits(expected, y);
  }
}

// ((X + b) * (X + b)).sum() backward: the gradients are the eager ones, computed (not left
// pending) when backward returns, and no pending computation outlives the step.
TEST_F(Lazy, BackwardThroughLazyOpsMatchesEager) {
  const Tensor x0 = randn({kRows, kCols}, 41), b0 = randn({kCols}, 42);
  const Tensor upstream = randn({kRows, kCols}, 43);
  auto step = [&](bool with_upstream) {
    Tensor x = x0.detach().requires_grad_(), b = b0.detach().requires_grad_();
    Tensor y = (x + b) * (x + b);
    if (with_upstream)
      y.backward(upstream);
    else
      y.sum().backward();
    EXPECT_FALSE(lazy::pending(x.grad()));
    return std::make_pair(x.grad(), b.grad());
  };
  for (bool with_upstream : {false, true}) {
    lazy::set_enabled(false);
    auto [gx_e, gb_e] = step(with_upstream);
    lazy::set_enabled(true);
    auto [gx_l, gb_l] = step(with_upstream);
    expect_same_bits(gx_e, gx_l);
    const Tensor terms = abs(x0 + b0) * (with_upstream ? abs(upstream) : ones_like(x0)) * 4.0;
    expect_sum_close(gb_e, gb_l, terms.to(DType::f64).sum({0}));
  }
  EXPECT_EQ(lazy::pending_count(), 0);
  // grad() returns computed values too.
  Tensor x = x0.detach().requires_grad_();
  auto g = grad(((x * 3.0) * (x - 1.0)).sum(), {x});
  EXPECT_FALSE(lazy::pending(g[0]));
  lazy::set_enabled(false);
  Tensor xe = x0.detach().requires_grad_();
  auto ge = grad(((xe * 3.0) * (xe - 1.0)).sum(), {xe});
  lazy::set_enabled(true);
  expect_same_bits(ge[0], g[0]);
}

// A leaf that several broadcasting ops use gets its pending gradients added up and summed
// down once. Here b meets operands of two different broadcast shapes (kept apart), and a small
// eager use as well; the result equals eager evaluation within the rounding of the sums.
TEST_F(Lazy, GradientsSummedDownOnceMatchEager) {
  const Tensor x0 = randn({kRows, kCols}, 51), y0 = randn({2, kRows, kCols}, 52);
  const Tensor b0 = randn({kCols}, 53), up = randn({kRows, kCols}, 54);
  auto step = [&] {
    Tensor x = x0.detach().requires_grad_(), y = y0.detach().requires_grad_();
    Tensor b = b0.detach().requires_grad_();
    Tensor loss = ((x + b) * (x - b) * up).sum() + ((y * b) + b).sum() + (b * 3.0).sum();
    loss.backward();
    EXPECT_FALSE(lazy::pending(b.grad()));
    return std::make_tuple(x.grad(), y.grad(), b.grad());
  };
  lazy::set_enabled(false);
  auto [gx_e, gy_e, gb_e] = step();
  lazy::set_enabled(true);
  auto [gx_l, gy_l, gb_l] = step();
  expect_same_bits(gx_e, gx_l);
  expect_same_bits(gy_e, gy_l);
  // |terms| of b's gradient: 2|b| |up| and |x| |up| per row of x, |y| + 1 per row of y, and 3.
  const Tensor terms = ((abs(x0) + abs(b0) * 2.0) * abs(up) * 2.0).to(DType::f64).sum({0}) +
                       (abs(y0) + 1.0).to(DType::f64).sum({0, 1}) + 3.0;
  expect_sum_close(gb_e, gb_l, terms);
  EXPECT_EQ(lazy::pending_count(), 0);
}

// x and b of x + b receive the same gradient values: x's are computed in the same pass that
// sums b's down (2 or 3 dims, b broadcast over one or two leading ones, 1 and 2 threads).
TEST_F(Lazy, GradientOfALeafComputedWithTheSumOfABroadcastLeaf) {
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (int nd : {2, 3}) {
      const Shape xs = nd == 2 ? Shape{kRows, kCols} : Shape{2, kRows / 2, kCols};
      const Tensor x0 = randn(xs, 61), b0 = randn({kCols}, 62), up = randn(xs, 63);
      auto step = [&] {
        Tensor x = x0.detach().requires_grad_(), b = b0.detach().requires_grad_();
        ((x + b) * (x + b) * up).sum().backward();
        EXPECT_FALSE(lazy::pending(x.grad()));
        return std::make_pair(x.grad(), b.grad());
      };
      lazy::set_enabled(false);
      auto [gx_e, gb_e] = step();
      lazy::set_enabled(true);
      auto [gx_l, gb_l] = step();
      expect_same_bits(gx_e, gx_l);
      std::vector<int64_t> lead(nd - 1);
      for (int d = 0; d < nd - 1; ++d) lead[d] = d;
      const Tensor terms = ((abs(x0) + abs(b0)) * abs(up) * 4.0).to(DType::f64).sum(lead);
      expect_sum_close(gb_e, gb_l, terms);
      EXPECT_EQ(lazy::pending_count(), 0);
    }
  }
  set_num_threads(before);
}

TEST_F(Lazy, UnusedPendingResultsAreDroppedUncomputed) {
  const int64_t before = lazy::pending_count();
  {
    const Tensor x = randn({kRows, kCols}, 51);
    const Tensor y = x * 2.0 + 1.0;
    EXPECT_EQ(lazy::pending_count(), before + 1);  // the chain folded into one program
  }
  EXPECT_EQ(lazy::pending_count(), before);
}

}  // namespace
}  // namespace ndgrad
