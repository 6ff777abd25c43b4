// The founding texts' examples, exactly as they give them.
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

TEST(Founding, ColumnPlusRowBroadcastGradient) {
  // a (3,1) column [0,1,2] plus b (1,4) row [0,1,2,3]; c.sum().backward().
  Tensor a = tensor({0, 1, 2}, {3, 1}).requires_grad_();
  Tensor b = tensor({0, 1, 2, 3}, {1, 4}).requires_grad_();
  Tensor c = a + b;
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  expect_values(c, {0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5});
  c.sum().backward();
  EXPECT_EQ(a.grad().shape(), (Shape{3, 1}));
  EXPECT_EQ(b.grad().shape(), (Shape{1, 4}));
  expect_values(a.grad(), {4, 4, 4});
  expect_values(b.grad(), {3, 3, 3, 3});
}

TEST(Founding, ManualBroadcastToThenAdd) {
  Tensor a = tensor({0, 1, 2}, {3, 1}).requires_grad_();
  Tensor b = tensor({0, 1, 2, 3}, {1, 4}).requires_grad_();
  Tensor c = a.broadcast_to({3, 4}) + b.broadcast_to({3, 4});
  c.sum().backward();
  expect_values(a.grad(), {4, 4, 4});
  expect_values(b.grad(), {3, 3, 3, 3});
}

TEST(Founding, BiasGradientIsBatchSumOfRandomUpstream) {
  // h2 = X1 W2 + b2, b2 of shape (M) broadcast over the batch.
  const int64_t B = 5, N = 4, M = 3;
  Tensor X1 = randn({B, N}, 1, DType::f64);
  Tensor W2 = randn({N, M}, 2, DType::f64).requires_grad_();
  Tensor b2 = randn({M}, 3, DType::f64).requires_grad_();
  Tensor h2 = matmul(X1, W2) + b2;
  Tensor G = randn({B, M}, 4, DType::f64);
  h2.backward(G);
  std::vector<double> g = G.to_vector(), x = X1.to_vector();
  std::vector<double> db(M, 0.0), dW(N * M, 0.0);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t k = 0; k < M; ++k) {
      db[k] += g[i * M + k];
      for (int64_t n = 0; n < N; ++n) dW[n * M + k] += x[i * N + n] * g[i * M + k];
    }
  EXPECT_EQ(b2.grad().shape(), (Shape{M}));
  expect_values(b2.grad(), db, 1e-12);
  expect_values(W2.grad(), dW, 1e-12);
}

TEST(Founding, BroadcastNotNTimesUpstream) {
  // Seed 001's "n * dl/dz" only holds for constant upstream gradients: check the sum rule.
  Tensor b = tensor({1, 2}, {2}, DType::f64).requires_grad_();
  Tensor z = zeros({3, 2}, DType::f64) + b;
  Tensor G = tensor({1, 10, 2, 20, 3, 30}, {3, 2}, DType::f64);
  z.backward(G);
  expect_values(b.grad(), {6, 60});
}

TEST(Founding, TransposeExample) {
  Tensor X = tensor({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor Y = X.T();
  EXPECT_EQ(Y.shape(), (Shape{3, 2}));
  expect_values(Y, {1, 4, 2, 5, 3, 6});
  // Random upstream gradient: X.grad must be its transpose.
  Tensor G = randn({3, 2}, 7);
  Y.backward(G);
  expect_close(X.grad(), G.T().contiguous());
}

TEST(Founding, ReshapeExample) {
  Tensor X = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 4}).requires_grad_();
  Tensor Y = X.reshape({6, 2});
  EXPECT_EQ(Y.shape(), (Shape{6, 2}));
  expect_values(Y, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Tensor G = randn({6, 2}, 8);
  Y.backward(G);
  EXPECT_EQ(X.grad().shape(), (Shape{3, 4}));
  expect_values(X.grad(), G.to_vector());
}

TEST(Founding, SumKeepdimsExample) {
  Tensor X = tensor({0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5}, {3, 4}).requires_grad_();
  EXPECT_DOUBLE_EQ(X.sum().item(), 30);
  EXPECT_DOUBLE_EQ(X.mean().item(), 2.5);
  expect_values(X.sum({0}), {3, 6, 9, 12});
  expect_values(X.sum({1}), {6, 10, 14});
  Tensor S = X.sum({1}, true);
  EXPECT_EQ(S.shape(), (Shape{3, 1}));
  expect_values(S, {6, 10, 14});
  Tensor G = tensor({1, -2, 3}, {3, 1});
  S.backward(G);
  expect_values(X.grad(), {1, 1, 1, 1, -2, -2, -2, -2, 3, 3, 3, 3});
}

TEST(Founding, FiniteDifferencesOnTanh3xMinus2) {
  auto f = [](const std::vector<Tensor>& in) { return tanh(3.0 * in[0] - 2.0); };
  Tensor X = rand({3, 4}, 11, DType::f64);
  GradcheckResult r = gradcheck(f, {X});
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_LT(r.max_abs_error, 1e-7);
  // And the gradient itself: 3 (1 - tanh^2(3x - 2)).
  Tensor x = X.detach().requires_grad_();
  f({x}).sum().backward();
  std::vector<double> xv = X.to_vector(), expected;
  for (double v : xv) expected.push_back(3 * (1 - std::pow(std::tanh(3 * v - 2), 2)));
  expect_values(x.grad(), expected, 1e-12);
}

TEST(Founding, FullFormJacobianOfBroadcastIsOnesKronIdentity) {
  // d(broadcast of b (M) to (B, M)) / db has shape (B, M, M) = 1^B (x) I^M.
  const int64_t B = 3, M = 4;
  Tensor b = randn({M}, 5, DType::f64);
  Tensor J = jacobian([&](const Tensor& x) { return zeros({B, M}, DType::f64) + x; }, b);
  EXPECT_EQ(J.shape(), (Shape{B, M, M}));
  std::vector<double> expected;
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < M; ++j)
      for (int64_t k = 0; k < M; ++k) expected.push_back(j == k ? 1 : 0);
  expect_values(J, expected, 0);
  // Contracting the full form with G gives the compact form: the batch sum of G.
  Tensor G = randn({B, M}, 6, DType::f64);
  Tensor compact = (G.reshape({B, M, 1}) * J).sum({0, 1});
  expect_close(compact, G.sum({0}), 1e-12);
}

TEST(Founding, FullFormJacobianOfXAIsFourDimensional) {
  // p = X A with X (N, n), A (n, m): dp/dX is N x m x N x n, with entries A[l, j] delta(i, k).
  const int64_t N = 3, n = 4, m = 2;
  Tensor X = randn({N, n}, 7, DType::f64);
  Tensor A = randn({n, m}, 8, DType::f64);
  Tensor J = jacobian([&](const Tensor& x) { return matmul(x, A); }, X);
  EXPECT_EQ(J.shape(), (Shape{N, m, N, n}));
  std::vector<double> a = A.to_vector(), j = J.to_vector();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < m; ++c)
      for (int64_t k = 0; k < N; ++k)
        for (int64_t l = 0; l < n; ++l)
          EXPECT_DOUBLE_EQ(j[flat_index({i, c, k, l}, J.shape())], i == k ? a[l * m + c] : 0.0);
}
