// explain_broadcast, strict broadcasting scopes, and the DOT export of the backward graph.
#include <thread>

#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

TEST(Explain, ColumnAgainstRow) {
  BroadcastExplanation e = explain_broadcast({3, 1}, {1, 4});
  EXPECT_TRUE(e.compatible);
  EXPECT_EQ(e.result, (Shape{3, 4}));
  ASSERT_EQ(e.dims.size(), 2u);
  EXPECT_EQ(e.dims[0].axis, 1);  // right to left
  EXPECT_EQ(e.grad_a.summed_axes, (std::vector<int64_t>{1}));
  EXPECT_EQ(e.grad_a.squeezed, 0);
  EXPECT_EQ(e.grad_b.summed_axes, (std::vector<int64_t>{0}));
  EXPECT_NE(e.text.find("Result shape: (3,4)"), std::string::npos) << e.text;
  EXPECT_NE(e.text.find("a (3,1): sum over axes [1]"), std::string::npos) << e.text;
}

TEST(Explain, RankPromotionIsPaddingThenSqueezing) {
  BroadcastExplanation e = explain_broadcast({2, 3, 4}, {4});
  EXPECT_EQ(e.b_padded, (Shape{1, 1, 4}));
  EXPECT_EQ(e.grad_b.summed_axes, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(e.grad_b.squeezed, 2);
  EXPECT_TRUE(e.grad_a.summed_axes.empty());
  EXPECT_NE(e.text.find("b: (4,) -> (1,1,4)"), std::string::npos) << e.text;
  EXPECT_NE(e.text.find("drop the 2 leading padded axes"), std::string::npos) << e.text;
  // The reductions it describes are exactly what the engine does.
  Tensor x = randn({2, 3, 4}, 1).requires_grad_(), b = randn({4}, 2).requires_grad_();
  Tensor g = randn({2, 3, 4}, 3);
  (x * 0.0 + b).backward(g);
  expect_close(b.grad(), g.sum(e.grad_b.summed_axes), 1e-6);
}

TEST(Explain, IncompatibleNamesTheFirstFailingPair) {
  BroadcastExplanation e = explain_broadcast({3, 4}, {2, 1, 5});
  EXPECT_FALSE(e.compatible);
  EXPECT_EQ(e.failing_axis, 2);
  EXPECT_NE(e.text.find("axis 2 (-1): 4 vs 5 -> INCOMPATIBLE"), std::string::npos) << e.text;
  EXPECT_NE(e.text.find("operands could not be broadcast together with shapes (3,4) (2,1,5)"),
            std::string::npos);
}

TEST(Strict, CatchesTheColumnVersusVectorBug) {
  Tensor pred = randn({200, 1}, 1), target = randn({200}, 2);
  EXPECT_EQ((pred - target).shape(), (Shape{200, 200}));  // the silent bug, without strict mode
  StrictBroadcastGuard strict;
  const int line = __LINE__ + 2;
  try {
    Tensor loss = (pred - target).mean();  // this line is the call site
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("sub"), std::string::npos) << what;
    EXPECT_NE(what.find("(200,1) and (200,)"), std::string::npos) << what;
    // The line, read from the debug information in-process, and the function it is in.
    EXPECT_NE(what.find("test_explain.cpp:" + std::to_string(line) + " (in "), std::string::npos)
        << what;
    EXPECT_NE(what.find("CatchesTheColumnVersusVectorBug"), std::string::npos) << what;
  }
}

TEST(Strict, LevelsScopesThreadsAndWhatStaysAllowed) {
  Tensor m = randn({3, 4}, 1), v = randn({4}, 2), col = randn({3, 1}, 3);
  {
    StrictBroadcastGuard guard(StrictBroadcast::no_rank_promotion);
    EXPECT_THROW(m + v, ShapeError);
    EXPECT_NO_THROW(m + col);  // same rank: allowed at this level
    EXPECT_NO_THROW(m * 2.0);  // 0-d values always are
    {
      StrictBroadcastGuard inner(StrictBroadcast::no_implicit);
      EXPECT_THROW(m + col, ShapeError);
      EXPECT_NO_THROW(m + col.broadcast_to({3, 4}));  // explicit is always allowed
      EXPECT_THROW(where(m > 0.0, m, col), ShapeError);
      EXPECT_THROW(maximum(m, v), ShapeError);
      bool other_thread_strict = true;
      std::thread t(
          [&] { other_thread_strict = strict_broadcast_level() != StrictBroadcast::off; });
      t.join();
      EXPECT_FALSE(other_thread_strict);
      // The library's own broadcasting (backward, composites, modules) is not the user's.
      Tensor x = randn({5, 4}, 4).requires_grad_();
      nn::Linear lin(4, 3, 1);
      Tensor loss = nn::cross_entropy(lin(x), tensor({0, 1, 2, 0, 1}, {5}, DType::i64));
      EXPECT_NO_THROW(loss.backward());
      EXPECT_NO_THROW(logsumexp(m, {1}, true));
      EXPECT_NO_THROW(nn::softmax(m));
    }
    EXPECT_EQ(strict_broadcast_level(), StrictBroadcast::no_rank_promotion);
  }
  EXPECT_EQ(strict_broadcast_level(), StrictBroadcast::off);
  EXPECT_NO_THROW(m + v);
}

// matmul broadcasts its batch dims; strict mode checks them as it checks elementwise shapes. A
// plain matrix against a batch is allowed, as a 0-d value against any shape.
TEST(Strict, MatmulBatchDims) {
  const Tensor batch = randn({2, 3, 4}, 1), w = randn({4, 5}, 2), per_item = randn({2, 4, 5}, 3);
  const Tensor column_batch = randn({2, 1, 3, 4}, 4), row_batch = randn({1, 7, 4, 5}, 5);
  const Tensor one_item = randn({1, 4, 5}, 6), deeper = randn({7, 2, 4, 5}, 7);
  {
    StrictBroadcastGuard guard(StrictBroadcast::no_rank_promotion);
    EXPECT_NO_THROW(matmul(batch, w));
    EXPECT_NO_THROW(matmul(batch, one_item));  // same batch rank
    EXPECT_THROW(matmul(batch, deeper), ShapeError);
  }
  StrictBroadcastGuard strict;
  EXPECT_NO_THROW(matmul(batch, w));
  EXPECT_NO_THROW(batch.matmul(per_item));
  EXPECT_THROW(matmul(batch, one_item), ShapeError);
  const int line = __LINE__ + 2;
  try {
    Tensor y = column_batch.matmul(row_batch);  // this line is the call site
    ADD_FAILURE() << "no error, shape " << shape_str(y.shape());
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("matmul (batch dims)"), std::string::npos) << what;
    EXPECT_NE(what.find("(2,1) and (1,7)"), std::string::npos) << what;
    EXPECT_NE(what.find("test_explain.cpp:" + std::to_string(line)), std::string::npos) << what;
  }
  // A linear layer on a batch of sequences, and its backward, which sums over the batch.
  const Tensor x = randn({2, 3, 4}, 8).requires_grad_();
  nn::Linear lin(4, 5, 9);
  EXPECT_NO_THROW(lin(x).sum().backward());
  EXPECT_EQ(lin.weight.grad().shape(), (Shape{4, 5}));
}

TEST(Dot, TwoLayerNetworkGraph) {
  Tensor X = randn({5, 4}, 1);
  Tensor W1 = randn({4, 3}, 2).requires_grad_(), b1 = randn({3}, 3).requires_grad_();
  Tensor h = relu(matmul(X, W1) + b1);
  std::string dot = to_dot(h.sum());
  EXPECT_EQ(dot.rfind("digraph backward {", 0), 0u) << dot;
  for (const char* op : {"\"sum\"", "\"relu\"", "\"add\"", "\"matmul\""})
    EXPECT_NE(dot.find(op), std::string::npos) << op << "\n" << dot;
  // The bias edge is where the engine sums: (3,) gets axes [0] of (5,3), the padding dropped.
  EXPECT_NE(dot.find("label=\"(3,)\\ngrad: sum axes [0], drop 1 leading\""), std::string::npos)
      << dot;
  EXPECT_NE(dot.find("leaf (4,3)"), std::string::npos) << dot;
  EXPECT_NE(dot.find("constant (5,4)"), std::string::npos) << dot;  // X needs no gradient
  EXPECT_NE(dot.find("output ()"), std::string::npos) << dot;
  EXPECT_EQ(std::count(dot.begin(), dot.end(), '{'), std::count(dot.begin(), dot.end(), '}'));
}

TEST(Dot, SharedNodesAppearOnceAndBatchedMatmulSumsBatchAxes) {
  Tensor a = randn({2, 3, 4}, 1).requires_grad_(), w = randn({4, 5}, 2).requires_grad_();
  Tensor t = tanh(a);
  std::string dot = to_dot(matmul(t, w) * t.sum({2}, true));
  EXPECT_EQ(std::count(dot.begin(), dot.end(), '\n') > 5, true);
  size_t first = dot.find("label=\"tanh\"");
  ASSERT_NE(first, std::string::npos) << dot;
  EXPECT_EQ(dot.find("label=\"tanh\"", first + 1), std::string::npos) << "tanh listed twice\n"
                                                                      << dot;
  EXPECT_NE(dot.find("(4,5)\\ngrad: sum axes [0], drop 1 leading"), std::string::npos) << dot;
}
