// Post-accumulate gradient hooks (Tensor::register_post_accumulate_grad_hook) and
// queue_callback: what data-parallel training builds on. A leaf's hook runs once per pass, as
// soon as its gradient is final, in the middle of the pass; callbacks run at its end.
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

struct Mlp {
  Tensor w1 = randn({5, 7}, 11).requires_grad_();
  Tensor b1 = randn({7}, 12).requires_grad_();
  Tensor w2 = randn({7, 6}, 13).requires_grad_();
  Tensor w3 = randn({6, 3}, 14).requires_grad_();
  std::vector<Tensor> params() const { return {w1, b1, w2, w3}; }
  Tensor loss(const Tensor& x, const Tensor& upstream) const {
    const Tensor h = relu(matmul(x, w1) + b1);
    // w3 used twice: its total is the sum of both uses
    return (matmul(matmul(h, w2), w3) * upstream).sum() + (w3 * w3).sum();
  }
};

}  // namespace

TEST(PostAccumulateHook, SeesTheFinalGradientOnceAndEarlierLayersLater) {
  const Tensor x = randn({4, 5}, 1), up = randn({4, 3}, 2);
  Mlp plain, hooked;
  plain.loss(x, up).backward();
  std::vector<std::string> order;
  std::vector<Tensor> seen(4);
  const char* names[] = {"w1", "b1", "w2", "w3"};
  for (size_t i = 0; i < 4; ++i)
    hooked.params()[i].register_post_accumulate_grad_hook([&, i](const Tensor& leaf) {
      order.push_back(names[i]);
      seen[i] = leaf.grad().clone();
      // The first layer's gradient is not final when the last layer's hook runs.
      if (i == 3) {
        EXPECT_FALSE(hooked.w1.grad().defined());
      }
    });
  hooked.loss(x, up).backward();
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order.front(), "w3");
  EXPECT_EQ(order.back() == "w1" || order.back() == "b1", true);
  for (size_t i = 0; i < 4; ++i) {
    expect_close(seen[i], plain.params()[i].grad(), 1e-6);
    expect_close(hooked.params()[i].grad(), plain.params()[i].grad(), 1e-6);
  }
}

TEST(PostAccumulateHook, SeesTheAccumulatedGradientOverPasses) {
  const Tensor x = randn({4, 5}, 3);
  Mlp m;
  std::vector<Tensor> seen;
  m.w2.register_post_accumulate_grad_hook(
      [&](const Tensor& leaf) { seen.push_back(leaf.grad().clone()); });
  m.loss(x, randn({4, 3}, 4)).backward();
  const Tensor first = m.w2.grad().clone();
  m.loss(x, randn({4, 3}, 5)).backward();
  ASSERT_EQ(seen.size(), 2u);
  expect_close(seen[0], first, 1e-6);
  expect_close(seen[1], m.w2.grad(), 1e-6);
  EXPECT_GT((seen[1] - seen[0]).abs().max().item(), 1e-3);  // the second pass added something
}

TEST(PostAccumulateHook, BroadcastLeafUsedManyTimesGetsOneCallWithItsSum) {
  const Tensor b = randn({1, 3}, 6).requires_grad_();
  const Tensor x = randn({5, 3}, 7), y = randn({2, 5, 3}, 8), up = randn({2, 5, 3}, 9);
  const auto f = [&] { return (((x + b) * y + b * b) * up).sum() + (b * x).sum(); };
  const Tensor expected = grad(f(), {b})[0];
  int calls = 0;
  b.register_post_accumulate_grad_hook([&](const Tensor& leaf) {
    ++calls;
    expect_close(leaf.grad(), expected, 1e-5);
  });
  f().backward();
  EXPECT_EQ(calls, 1);
  expect_close(b.grad(), expected, 1e-5);
}

TEST(PostAccumulateHook, NotCalledByGradNorWithoutAGradient) {
  const Tensor w = randn({3}, 1).requires_grad_(), v = randn({3}, 2).requires_grad_();
  int calls = 0;
  w.register_post_accumulate_grad_hook([&](const Tensor&) { ++calls; });
  v.register_post_accumulate_grad_hook([&](const Tensor&) { ++calls; });
  (void)grad((w * v).sum(), {w, v});
  EXPECT_EQ(calls, 0);
  // An op whose rule gives w no gradient: w's hook does not run, v's does.
  const CustomOp only_second{"only_second",
                             [](const std::vector<Tensor>& in) { return in[0] * in[1]; },
                             [](const std::vector<Tensor>& in, const Tensor&, const Tensor& g) {
                               return std::vector<Tensor>{Tensor(), g * in[0]};
                             }};
  only_second({w, v}).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(w.grad().defined());
}

TEST(PostAccumulateHook, RunsUnderCreateGraphAndForALeafRoot) {
  const Tensor w = randn({3}, 1).requires_grad_();
  int calls = 0;
  w.register_post_accumulate_grad_hook([&](const Tensor&) { ++calls; });
  (w * w * w).sum().backward(Tensor(), false, true);
  EXPECT_EQ(calls, 1);
  w.backward(randn({3}, 2));
  EXPECT_EQ(calls, 2);
  w.set_grad(Tensor());  // create_graph left a gradient whose graph holds w: broken here
}

TEST(PostAccumulateHook, RefusesNonLeavesAndTensorsWithoutGrad) {
  const Tensor w = randn({3}, 1).requires_grad_();
  EXPECT_THROW((w * 2.0).register_post_accumulate_grad_hook([](const Tensor&) {}), AutogradError);
  EXPECT_THROW(randn({3}, 1).register_post_accumulate_grad_hook([](const Tensor&) {}),
               AutogradError);
  EXPECT_THROW(w.register_post_accumulate_grad_hook(nullptr), ValueError);
  EXPECT_THROW(Tensor().register_post_accumulate_grad_hook([](const Tensor&) {}), AutogradError);
}

TEST(QueueCallback, RunsAfterEveryGradientOnceInOrder) {
  const Tensor x = randn({4, 5}, 1);
  Mlp m;
  std::vector<int> ran;
  m.w3.register_post_accumulate_grad_hook([&](const Tensor&) {
    queue_callback([&] {
      ran.push_back(1);
      for (const Tensor& p : m.params()) EXPECT_TRUE(p.grad().defined());
      queue_callback([&] { ran.push_back(3); });  // queued by a callback: runs after the others
    });
    queue_callback([&] { ran.push_back(2); });
  });
  m.loss(x, randn({4, 3}, 2)).backward();
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
  m.loss(x, randn({4, 3}, 3)).backward();  // queued anew in each pass
  EXPECT_EQ(ran.size(), 6u);
}

TEST(QueueCallback, RefusedOutsideAPassAndNotRunWhenThePassFails) {
  EXPECT_THROW(queue_callback([] {}), AutogradError);
  const Tensor w = randn({3}, 1).requires_grad_(), v = randn({3}, 2).requires_grad_();
  bool ran = false;
  w.register_post_accumulate_grad_hook([&](const Tensor&) { queue_callback([&] { ran = true; }); });
  v.register_hook([](const Tensor&) -> Tensor { throw ValueError("a failing hook"); });
  EXPECT_THROW((w * v).sum().backward(), ValueError);
  EXPECT_FALSE(ran);
  EXPECT_THROW(queue_callback([] {}), AutogradError);  // the failed pass left nothing behind
  const Tensor u = randn({3}, 3).requires_grad_();
  (w * u).sum().backward();
  EXPECT_TRUE(ran);
}

TEST(SetGrad, ReplacesClearsAndChecksShapeAndDtype) {
  const Tensor w = randn({2, 3}, 1).requires_grad_();
  const Tensor g = randn({2, 3}, 2);
  w.set_grad(g);
  expect_close(w.grad(), g, 0);
  (w * 2.0).sum().backward();  // accumulates onto what was set
  expect_close(w.grad(), g + 2.0, 1e-6);
  EXPECT_THROW(w.set_grad(randn({3, 2}, 3)), ShapeError);
  EXPECT_THROW(w.set_grad(randn({2, 3}, 3, DType::f64)), DTypeError);
  expect_close(w.grad(), g + 2.0, 1e-6);  // a refused value changes nothing
  w.set_grad(Tensor());
  EXPECT_FALSE(w.grad().defined());
}
