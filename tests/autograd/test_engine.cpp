// Engine semantics: accumulation, retain_graph, create_graph, no-grad, detach, the functional
// form, gradcheck's own sensitivity, deep graphs and teardown.
#include <thread>

#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

TEST(Engine, GradientsAccumulateWhenATensorIsUsedTwice) {
  Tensor x = randn({3}, 1, DType::f64).requires_grad_();
  Tensor y = x * x + x;  // dy/dx = 2x + 1
  Tensor g = randn({3}, 2, DType::f64);
  y.backward(g);
  std::vector<double> xv = x.to_vector(), gv = g.to_vector(), expected;
  for (size_t i = 0; i < 3; ++i) expected.push_back(gv[i] * (2 * xv[i] + 1));
  expect_values(x.grad(), expected, 1e-12);
  // A second backward (fresh graph) adds to .grad; zero_grad clears it.
  (x * 3.0).sum().backward();
  for (auto& e : expected) e += 3;
  expect_values(x.grad(), expected, 1e-12);
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

// y - x with x a leaf: x's gradient is subtracted from its accumulator instead of adding a
// negated copy. Covers the first contribution, in-place accumulation (several uses, a second
// backward onto an existing .grad), a broadcast leaf summed down first, and grad()'s results.
TEST(Engine, SubtractedLeafGradientsAccumulate) {
  Tensor x = randn({3, 5}, 11, DType::f64).requires_grad_();
  Tensor v = randn({5}, 12, DType::f64).requires_grad_();
  const Tensor a = randn({3, 5}, 13, DType::f64), c = randn({3, 5}, 14, DType::f64),
               w1 = randn({3, 5}, 15, DType::f64), w2 = randn({3, 5}, 16, DType::f64),
               g = randn({3, 5}, 17, DType::f64);
  auto f = [&] { return ((a - x) - x) * w1 + (x - v) * w2 + (c - v) - x; };
  // d/dx = -2 w1 + w2 - 1, d/dv = -w2 - 1 (summed over rows), times g.
  const std::vector<double> w1v = w1.to_vector(), w2v = w2.to_vector(), gv = g.to_vector();
  std::vector<double> dx(15), dv(5, 0.0);
  for (size_t i = 0; i < 15; ++i) {
    dx[i] = gv[i] * (-2 * w1v[i] + w2v[i] - 1);
    dv[i % 5] += gv[i] * (-w2v[i] - 1);
  }
  f().backward(g);
  expect_values(x.grad(), dx, 1e-12);
  expect_values(v.grad(), dv, 1e-12);
  f().backward(g);  // onto the existing buffers, in place
  std::vector<double> dx2 = dx, dv2 = dv;
  for (auto& e : dx2) e *= 2;
  for (auto& e : dv2) e *= 2;
  expect_values(x.grad(), dx2, 1e-12);
  expect_values(v.grad(), dv2, 1e-12);
  const std::vector<Tensor> r = grad(f(), {x, v}, g);
  expect_values(r[0], dx, 1e-12);
  expect_values(r[1], dv, 1e-12);
  expect_values(x.grad(), dx2, 1e-12);  // grad() leaves .grad alone
}

// Accumulation in place past the size where the pool splits it (2 threads), both dtypes and
// both signs: x.grad = g * (a + b - 1) exactly, element by element.
TEST(Engine, LargeGradientsAccumulateInPlaceOnSeveralThreads) {
  const int before = get_num_threads();
  set_num_threads(2);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = randn({300, 400}, 21, dt).requires_grad_();
    const Tensor a = randn({300, 400}, 22, dt), b = randn({300, 400}, 23, dt),
                 g = randn({300, 400}, 24, dt);
    (x * a + x * b - x).backward(g);
    const std::vector<double> av = a.to_vector(), bv = b.to_vector(), gv = g.to_vector();
    std::vector<double> expected(av.size());
    for (size_t i = 0; i < av.size(); ++i) expected[i] = gv[i] * av[i] + gv[i] * bv[i] - gv[i];
    expect_values(x.grad(), expected, dt == DType::f32 ? 1e-5 : 1e-12);
  }
  set_num_threads(before);
}

// Elementwise backward rules may write their result over the gradient they were handed when
// nothing else holds it. Never over the caller's gradient, nor over one whose memory a leaf's
// .grad shares (w's below), nor when both inputs of a product need it.
TEST(Engine, GradientsWrittenInPlaceLeaveSharedValuesIntact) {
  Tensor x = randn({4, 6}, 31, DType::f64).requires_grad_();
  Tensor w = randn({4, 6}, 32, DType::f64).requires_grad_();
  const Tensor G = randn({4, 6}, 33, DType::f64);
  const std::vector<double> g_before = G.to_vector();
  Tensor b = tanh(x) + w;
  Tensor c = relu(tanh(b) * w) * 3.0;
  c.backward(G);
  EXPECT_EQ(G.to_vector(), g_before);
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector(), gv = G.to_vector();
  std::vector<double> dx(24), dw(24);
  for (size_t i = 0; i < 24; ++i) {
    const double ta = std::tanh(xv[i]), bv = ta + wv[i], tb = std::tanh(bv);
    const double r = tb * wv[i] > 0 ? 3.0 * gv[i] : 0.0;  // d c / d (tanh(b) * w)
    const double db = r * wv[i] * (1 - tb * tb);
    dw[i] = db + r * tb;
    dx[i] = db * (1 - ta * ta);
  }
  expect_values(x.grad(), dx, 1e-12);
  expect_values(w.grad(), dw, 1e-12);

  // v's first gradient is the one tanh(v2 + v) hands on to tanh(v2): v.grad shares its memory.
  Tensor v = randn({4, 6}, 34, DType::f64).requires_grad_();
  Tensor v2 = randn({4, 6}, 35, DType::f64).requires_grad_();
  (tanh(tanh(v2) + v) * 3.0).backward(G);
  const std::vector<double> vv = v.to_vector(), v2v = v2.to_vector();
  std::vector<double> dv(24), dv2(24);
  for (size_t i = 0; i < 24; ++i) {
    const double t2 = std::tanh(v2v[i]), tb = std::tanh(t2 + vv[i]);
    dv[i] = 3.0 * gv[i] * (1 - tb * tb);
    dv2[i] = dv[i] * (1 - t2 * t2);
  }
  expect_values(v.grad(), dv, 1e-12);
  expect_values(v2.grad(), dv2, 1e-12);
}

TEST(Engine, DiamondGraphSumsBothPaths) {
  Tensor x = tensor({0.5, -1.0}, {2}, DType::f64).requires_grad_();
  Tensor a = exp(x), b = a * 2.0, c = a * a, d = b + c;  // d = 2e^x + e^{2x}
  d.backward(tensor({1.0, -3.0}, {2}, DType::f64));
  std::vector<double> xv = x.to_vector();
  expect_values(x.grad(),
                {2 * std::exp(xv[0]) + 2 * std::exp(2 * xv[0]),
                 -3 * (2 * std::exp(xv[1]) + 2 * std::exp(2 * xv[1]))},
                1e-12);
}

TEST(Engine, SecondBackwardThroughFreedGraphIsAnError) {
  Tensor x = randn({3}, 3).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward();
  Tensor before = x.grad().contiguous();
  EXPECT_THROW(y.backward(), AutogradError);
  try {
    y.backward();
  } catch (const AutogradError& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
  expect_close(x.grad(), before, 0);  // the failed call changed nothing
}

TEST(Engine, RetainGraphAllowsASecondBackward) {
  Tensor x = randn({3}, 4, DType::f64).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward(ones({}, DType::f64), true);
  y.backward();
  std::vector<double> xv = x.to_vector(), expected;
  for (double v : xv) expected.push_back(4 * v);
  expect_values(x.grad(), expected, 1e-12);
}

TEST(Engine, CreateGraphGivesSecondDerivatives) {
  Tensor x = tensor({0.3, -0.7, 1.2}, {3}, DType::f64).requires_grad_();
  Tensor y = (x * x * x).sum();  // dy/dx = 3x^2, d2y/dx2 = 6x
  auto g = grad(y, {x}, Tensor(), true);
  ASSERT_TRUE(g[0].requires_grad());
  expect_values(g[0], {0.27, 1.47, 4.32}, 1e-12);
  auto g2 = grad(g[0].sum(), {x});
  expect_values(g2[0], {1.8, -4.2, 7.2}, 1e-12);
}

TEST(Engine, SecondDerivativesOfSavedOutputOpsPassGradcheck) {
  // Gradients of gradients for ops that reuse their output in backward (exp, tanh, sigmoid,
  // sqrt) and for broadcasting and matmul, checked against finite differences.
  auto grad_of = [](std::function<Tensor(const Tensor&, const Tensor&)> f) {
    return [f](const std::vector<Tensor>& in) {
      Tensor x = in[0], w = in[1];
      Tensor y = f(x, w);
      Tensor v = randn(y.shape(), 99, DType::f64);
      return grad((y * v).sum(), {x}, Tensor(), true)[0];
    };
  };
  const Tensor x = away_from_zero({3, 4}, 5), w = away_from_zero({4}, 6);
  const Tensor xp = uniform({3, 4}, 7, 0.5, 2.0);
  for (auto f : std::vector<std::function<Tensor(const Tensor&, const Tensor&)>>{
           [](const Tensor&a, const Tensor&b) { return exp(a * b); },
           [](const Tensor&a, const Tensor&b) { return tanh(a + b) * b; },
           [](const Tensor&a, const Tensor&b) { return sigmoid(a) * b; },
           [](const Tensor&a, const Tensor&b) { return (a * a).sum({1}, true) * b; },
           [](const Tensor&a, const Tensor&b) { return matmul(a * a, b); },
           [](const Tensor&a, const Tensor&b) { return logsumexp(a * b, {-1}); },
       }) {
    GradcheckResult r = gradcheck(grad_of(f), {x, w});
    EXPECT_TRUE(r.ok) << r.report;
  }
  GradcheckResult r =
      gradcheck(grad_of([](const Tensor& a, const Tensor& b) { return sqrt(a) * b; }), {xp, w});
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(Engine, GradcheckCatchesAWrongGradient) {
  // x * x.detach() has derivative 2x in truth but backward sees only x.
  GradcheckResult r =
      gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[0].detach(); },
                {away_from_zero({3, 2}, 9)});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("MISMATCHED"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("element"), std::string::npos) << r.report;
  EXPECT_GT(r.max_abs_error, 0.1);
}

TEST(Engine, NoGradGuardRecordsNothingAndIsPerThread) {
  Tensor x = randn({2}, 1).requires_grad_();
  {
    NoGradGuard guard;
    EXPECT_FALSE(is_grad_enabled());
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    bool other_thread_enabled = false;
    std::thread t([&] { other_thread_enabled = is_grad_enabled(); });
    t.join();
    EXPECT_TRUE(other_thread_enabled);
    { NoGradGuard nested; }
    EXPECT_FALSE(is_grad_enabled());
  }
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Engine, DetachSharesDataWithoutHistory) {
  Tensor x = randn({2, 2}, 1).requires_grad_();
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.data_ptr<float>(), y.data_ptr<float>());
  (x * d).sum().backward();
  expect_close(x.grad(), d);
}

TEST(Engine, FunctionalGradLeavesDotGradAlone) {
  Tensor x = randn({3}, 1, DType::f64).requires_grad_();
  Tensor w = randn({3}, 2, DType::f64).requires_grad_();
  Tensor unused = randn({3}, 3, DType::f64).requires_grad_();
  Tensor h = x * w;  // a non-leaf input
  Tensor y = (h * h).sum();
  auto g = grad(y, {x, h, unused});
  expect_close(g[0], 2.0 * h * w, 1e-12);
  expect_close(g[1], 2.0 * h, 1e-12);
  expect_values(g[2], {0, 0, 0}, 0);
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(Engine, StoredGradientsAreContiguousBuffers) {
  Tensor b = randn({4}, 1).requires_grad_();
  b.broadcast_to({3, 4}).sum().backward();
  EXPECT_TRUE(b.grad().is_contiguous());
  EXPECT_EQ(b.grad().strides(), (Shape{1}));
  expect_values(b.grad(), {3, 3, 3, 3});
  Tensor s = scalar(2.0).requires_grad_();
  (s.broadcast_to({5, 5}) * 1.0).sum().backward();
  expect_values(s.grad(), {25});
}

TEST(Engine, MixedPrecisionGradientsComeBackInTheInputsDType) {
  Tensor a = randn({3}, 1, DType::f32).requires_grad_();
  Tensor b = randn({3}, 2, DType::f64).requires_grad_();
  Tensor y = a * b;
  EXPECT_EQ(y.dtype(), DType::f64);
  y.sum().backward();
  EXPECT_EQ(a.grad().dtype(), DType::f32);
  EXPECT_EQ(b.grad().dtype(), DType::f64);
  expect_values(a.grad(), b.to_vector(), 1e-6);
}

TEST(Engine, MillionOpChainRunsBackwardAndIsDestroyedWithoutStackOverflow) {
  Tensor x = scalar(0.5, DType::f64).requires_grad_();
  Tensor y = x;
  const int n = 1000000;
  for (int i = 0; i < n; ++i) y = y * 1.0000001 - 1e-9 * i / n;
  y.backward();
  EXPECT_NEAR(x.grad().item(), std::pow(1.0000001, n), 1e-9);
  y = Tensor();  // graph of a million nodes freed here
  // And one that is dropped without ever running backward.
  Tensor z = x;
  for (int i = 0; i < n; ++i) z = tanh(z) + x;
  z = Tensor();
}

TEST(Engine, GraphsThatAreDroppedLeaveNothingAlive) {
  // Each graph is made and dropped twice: the first time may fill per-thread caches (the 0-d
  // constants of scalar operands); after the second, the tensors, storages and nodes this
  // thread owns must be as many as after the first.
  auto twice = [](const char* what, auto&& make_and_drop) {
    make_and_drop();
    const int64_t before = refcount::owned_by_this_thread();
    make_and_drop();
    EXPECT_EQ(refcount::owned_by_this_thread(), before)
        << what << ": a reference cycle keeps the graph alive";
  };
  twice("dropped", [] {
    Tensor x = randn({4}, 1).requires_grad_();
    Tensor y = exp(tanh(x) * x);  // exp and tanh save their own outputs
    EXPECT_GT(refcount::owned_by_this_thread(), 6);
  });
  twice("retained backward", [] {
    Tensor x = randn({4}, 2).requires_grad_();
    Tensor y = sigmoid(x) * sqrt(abs(x));
    y.sum().backward(ones({}), true);
  });
  twice("create_graph", [] {  // the gradient's graph refers back to the forward graph
    Tensor x = randn({4}, 3).requires_grad_();
    Tensor y = exp(tanh(x) * x).sum();
    std::vector<Tensor> g = grad(y, {x}, Tensor(), true);
    g[0].sum().backward();
    x.zero_grad();
  });
}
