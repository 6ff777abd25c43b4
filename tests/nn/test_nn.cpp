// Modules, losses and optimizers against hand computation.
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

struct TwoLayer : nn::Module {
  std::shared_ptr<nn::Linear> first, second;
  Tensor scale;
  TwoLayer() {
    first = register_module("first", std::make_shared<nn::Linear>(3, 4, 1));
    second = register_module("second", std::make_shared<nn::Linear>(4, 2, 2));
    scale = register_parameter("scale", ones({1}));
  }
  Tensor forward(const Tensor& x) override {
    return second->forward(relu(first->forward(x))) * scale;
  }
};

}  // namespace

TEST(Module, RegistersParametersAndSubmodulesWithDottedNames) {
  TwoLayer net;
  auto named = net.named_parameters();
  std::vector<std::string> names;
  for (auto& [n, t] : named) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "first.weight", "first.bias", "second.weight",
                                             "second.bias"}));
  EXPECT_EQ(net.parameters().size(), 5u);
  for (auto& t : net.parameters()) EXPECT_TRUE(t.requires_grad());
  EXPECT_EQ(named[1].second.shape(), (Shape{3, 4}));
  EXPECT_EQ(named[2].second.shape(), (Shape{4}));
  // Handles share the module's storage.
  EXPECT_EQ(named[1].second.impl(), net.first->weight.impl());
  nn::Sequential seq(nn::Linear(2, 3, 0), nn::Tanh(), nn::Linear(3, 1, 1), nn::Sigmoid());
  names.clear();
  for (auto& [n, t] : seq.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(seq.size(), 4u);
}

TEST(Module, TrainEvalPropagatesAndZeroGradClears) {
  TwoLayer net;
  EXPECT_TRUE(net.is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.first->is_training());
  net.train();
  EXPECT_TRUE(net.second->is_training());
  net(randn({5, 3}, 1)).sum().backward();
  EXPECT_TRUE(net.first->weight.grad().defined());
  net.zero_grad();
  for (auto& t : net.parameters()) EXPECT_FALSE(t.grad().defined());
}

TEST(Linear, ForwardAndBackwardMatchHandComputation) {
  nn::Linear lin(3, 2, 7, DType::f64);
  Tensor x = randn({4, 3}, 3, DType::f64);
  Tensor y = lin(x);
  ASSERT_EQ(y.shape(), (Shape{4, 2}));
  std::vector<double> xv = x.to_vector(), w = lin.weight.to_vector(), b = lin.bias.to_vector();
  std::vector<double> expected;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) {
      double s = b[j];
      for (int k = 0; k < 3; ++k) s += xv[i * 3 + k] * w[k * 2 + j];
      expected.push_back(s);
    }
  expect_values(y, expected, 1e-12);
  Tensor G = randn({4, 2}, 4, DType::f64);
  y.backward(G);
  std::vector<double> g = G.to_vector(), dw(6, 0), db(2, 0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) {
      db[j] += g[i * 2 + j];
      for (int k = 0; k < 3; ++k) dw[k * 2 + j] += xv[i * 3 + k] * g[i * 2 + j];
    }
  expect_values(lin.weight.grad(), dw, 1e-12);
  expect_values(lin.bias.grad(), db, 1e-12);
}

TEST(Linear, HeUniformInitIsSeededAndBounded) {
  nn::Linear a(100, 50, 3), b(100, 50, 3), c(100, 50, 4);
  EXPECT_EQ(a.weight.to_vector(), b.weight.to_vector());
  EXPECT_NE(a.weight.to_vector(), c.weight.to_vector());
  const double bound = std::sqrt(6.0 / 100);
  double max_abs = 0;
  for (double w : a.weight.to_vector()) max_abs = std::max(max_abs, std::fabs(w));
  EXPECT_LE(max_abs, bound);
  EXPECT_GT(max_abs, 0.9 * bound);
  for (double v : a.bias.to_vector()) EXPECT_LE(std::fabs(v), 0.1);
  EXPECT_THROW(nn::Linear(0, 3), ValueError);
  EXPECT_THROW(a(ones({2, 99})), ShapeError);
}

TEST(Losses, CrossEntropyEqualsLogSoftmaxNll) {
  Tensor logits = randn({5, 4}, 1, DType::f64) * 3.0;
  Tensor labels = tensor({0, 3, 1, 1, 2}, {5}, DType::i64);
  Tensor ls = nn::log_softmax(logits, 1);
  std::vector<double> l = ls.to_vector(), lab = labels.to_vector();
  double nll = 0;
  for (int i = 0; i < 5; ++i) nll -= l[i * 4 + static_cast<int>(lab[i])] / 5;
  EXPECT_NEAR(nn::cross_entropy(logits, labels).item(), nll, 1e-12);
  expect_values(nn::softmax(logits).sum({1}), {1, 1, 1, 1, 1}, 1e-12);
  // Stable for huge logits.
  Tensor big = tensor({1000, 1000, -1000, 1000}, {2, 2}, DType::f64);  // rows: log 2, 0
  EXPECT_NEAR(nn::cross_entropy(big, tensor({0, 1}, {2}, DType::i64)).item(), std::log(2.0) / 2,
              1e-9);
}

TEST(Losses, CrossEntropyGradientIsFusedAndCorrect) {
  Tensor labels = tensor({2, 0, 1}, {3}, DType::i64);
  auto f = [&](const std::vector<Tensor>& x) { return nn::cross_entropy(x[0], labels); };
  GradcheckResult r = gradcheck(f, {randn({3, 4}, 2, DType::f64)});
  EXPECT_TRUE(r.ok) << r.report;
  Tensor logits = randn({3, 4}, 2, DType::f64).requires_grad_();
  Tensor loss = nn::cross_entropy(logits, labels);
  EXPECT_STREQ(loss.grad_fn_name(), "cross_entropy");
  loss.backward(scalar(2.0, DType::f64));
  std::vector<double> p = nn::softmax(logits.detach()).to_vector(), g = logits.grad().to_vector();
  for (int i = 0; i < 3; ++i)
    for (int c = 0; c < 4; ++c) {
      double onehot = c == static_cast<int>(labels.to_vector()[i]) ? 1 : 0;
      EXPECT_NEAR(g[i * 4 + c], 2.0 * (p[i * 4 + c] - onehot) / 3, 1e-12);
    }
  // Second derivatives through the fused rule.
  auto gg = [&](const std::vector<Tensor>& x) {
    return grad(nn::cross_entropy(x[0] * x[0], labels), {x[0]}, Tensor(), true)[0];
  };
  GradcheckResult r2 = gradcheck(gg, {randn({3, 4}, 5, DType::f64)});
  EXPECT_TRUE(r2.ok) << r2.report;
}

TEST(Losses, BadLabelsAreErrors) {
  Tensor logits = randn({3, 4}, 1);
  EXPECT_THROW(nn::cross_entropy(logits, tensor({0, 4, 1}, {3}, DType::i64)), ValueError);
  EXPECT_THROW(nn::cross_entropy(logits, tensor({0, -1, 1}, {3}, DType::i64)), ValueError);
  EXPECT_THROW(nn::cross_entropy(logits, tensor({0, 1, 1}, {3})), DTypeError);
  EXPECT_THROW(nn::cross_entropy(logits, tensor({0, 1}, {2}, DType::i64)), ShapeError);
  EXPECT_THROW(nn::cross_entropy(randn({3}, 1), tensor({0}, {1}, DType::i64)), ShapeError);
  try {
    nn::cross_entropy(logits, tensor({0, 7, 1}, {3}, DType::i64));
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("label 7 at index 1"), std::string::npos) << e.what();
  }
}

TEST(Losses, MseLossAndTheShapeTrap) {
  Tensor p = tensor({1, 2, 3}, {3}, DType::f64).requires_grad_();
  Tensor t = tensor({1, 0, 5}, {3}, DType::f64);
  Tensor l = nn::mse_loss(p, t);
  EXPECT_NEAR(l.item(), (0 + 4 + 4) / 3.0, 1e-12);
  l.backward();
  expect_values(p.grad(), {0, 4.0 / 3, -4.0 / 3}, 1e-12);
  // (200,1) against (200,) would silently become (200,200): refused.
  EXPECT_THROW(nn::mse_loss(ones({200, 1}), ones({200})), ShapeError);
}

TEST(Optim, SgdStepsMatchHandComputedUpdates) {
  Tensor p = tensor({1.0, -2.0}, {2}, DType::f64).requires_grad_();
  optim::SGD sgd({p}, 0.1, 0.9, 0.01);
  std::vector<double> pv = {1.0, -2.0}, v = {0, 0};
  for (int step = 0; step < 3; ++step) {
    sgd.zero_grad();
    (p * p * p).sum().backward();  // g = 3p^2
    sgd.step();
    for (int i = 0; i < 2; ++i) {
      double g = 3 * pv[i] * pv[i] + 0.01 * pv[i];
      v[i] = step == 0 ? g : 0.9 * v[i] + g;
      pv[i] -= 0.1 * v[i];
    }
    expect_values(p, pv, 1e-12);
  }
  EXPECT_FALSE(p.grad_fn_name());  // updates record no graph
  EXPECT_TRUE(p.is_leaf());
  // Plain SGD: p -= lr g.
  Tensor q = tensor({0.5}, {1}, DType::f64).requires_grad_();
  optim::SGD plain({q}, 0.2);
  (q * q).sum().backward();
  plain.step();
  expect_values(q, {0.5 - 0.2 * 1.0}, 1e-12);
}

TEST(Optim, AdamStepsMatchHandComputedUpdates) {
  Tensor p = tensor({1.0, -2.0}, {2}, DType::f64).requires_grad_();
  optim::Adam adam({p}, 0.01, 0.9, 0.999, 1e-8);
  std::vector<double> pv = {1.0, -2.0}, m = {0, 0}, v = {0, 0};
  for (int t = 1; t <= 3; ++t) {
    adam.zero_grad();
    (p * p).sum().backward();  // g = 2p
    adam.step();
    for (int i = 0; i < 2; ++i) {
      double g = 2 * pv[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
      pv[i] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
    }
    expect_values(p, pv, 1e-10);
  }
}

TEST(Optim, LargeParametersUpdatedBySeveralThreadsFollowTheFormulas) {
  // Long enough (and of odd length) to be split across threads in pieces.
  const int64_t n = 300001;
  const int before = get_num_threads();
  set_num_threads(2);
  const Tensor r = randn({n}, 11, DType::f64);
  const std::vector<double> rv = r.to_vector();
  Tensor p = randn({n}, 12, DType::f64).requires_grad_();
  Tensor q = randn({n}, 12, DType::f64).requires_grad_();  // the same values, its own memory
  std::vector<double> pv = p.to_vector(), qv = pv, vel(n, 0.0), m(n, 0.0), v(n, 0.0);
  optim::SGD sgd({p}, 0.1, 0.9);
  optim::Adam adam({q}, 0.01);
  for (int t = 1; t <= 2; ++t) {
    sgd.zero_grad();
    adam.zero_grad();
    (p * r).sum().backward();  // gradient r
    (q * r).sum().backward();
    sgd.step();
    adam.step();
    for (int64_t i = 0; i < n; ++i) {
      vel[i] = t == 1 ? rv[i] : 0.9 * vel[i] + rv[i];
      pv[i] -= 0.1 * vel[i];
      m[i] = 0.9 * m[i] + 0.1 * rv[i];
      v[i] = 0.999 * v[i] + 0.001 * rv[i] * rv[i];
      const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
      qv[i] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
    }
    const std::vector<double> got_p = p.to_vector(), got_q = q.to_vector();
    double worst_p = 0, worst_q = 0;
    for (int64_t i = 0; i < n; ++i) {
      worst_p = std::max(worst_p, std::fabs(got_p[i] - pv[i]));
      worst_q = std::max(worst_q, std::fabs(got_q[i] - qv[i]));
    }
    EXPECT_LT(worst_p, 1e-12) << "SGD, step " << t;
    EXPECT_LT(worst_q, 1e-10) << "Adam, step " << t;
  }
  set_num_threads(before);
}

// Each operation of a float32 update rounds on its own (no fused multiply-add in the AVX2 and
// AVX-512 clones), so training gives the same parameters on every x86-64 CPU.
TEST(Optim, Float32SgdRoundsEachOperationAsWritten) {
  auto mul = [](float a, float b) {
    volatile float r = a * b;
    return float(r);
  };
  auto add = [](float a, float b) {
    volatile float r = a + b;
    return float(r);
  };
  for (const double wd : {0.0, 0.01}) {
    for (const int64_t n : {int64_t(1000), int64_t(70001)}) {  // one piece; pieces on threads
      const Tensor r = randn({n}, 21);
      Tensor p = randn({n}, 22).requires_grad_();
      const std::vector<double> rd = r.to_vector(), pd = p.to_vector();
      std::vector<float> g(rd.begin(), rd.end()), pv(pd.begin(), pd.end()), v(n);
      optim::SGD sgd({p}, 0.05, 0.9, wd);
      const float lr = float(0.05), mu = float(0.9), decay = float(wd);
      for (int step = 0; step < 3; ++step) {
        sgd.zero_grad();
        (p * r).sum().backward();  // gradient r
        sgd.step();
        for (int64_t i = 0; i < n; ++i) {
          // PyTorch's order: d = g + decay p, then v = mu v + d. Without weight decay the
          // library adds no decay term; adding 0 * p changes no value.
          const float d = add(g[i], mul(decay, pv[i]));
          v[i] = step == 0 ? d : add(mul(mu, v[i]), d);
          pv[i] = pv[i] - mul(lr, v[i]);
        }
        const std::vector<double> got = p.to_vector();
        int64_t differ = 0;
        for (int64_t i = 0; i < n; ++i) differ += float(got[i]) != pv[i];
        EXPECT_EQ(differ, 0) << "weight decay " << wd << ", n " << n << ", step " << step;
      }
    }
  }
}

TEST(Optim, BadArgumentsAreErrors) {
  Tensor p = ones({2}).requires_grad_();
  EXPECT_THROW(optim::SGD({p}, -1.0), ValueError);
  EXPECT_THROW(optim::SGD({p}, 0.1, 1.5), ValueError);
  EXPECT_THROW(optim::Adam({p}, 0.1, 1.0), ValueError);
  optim::SGD frozen({ones({2})}, 0.1);  // a frozen leaf (no requires_grad) is taken, skipped
  frozen.step();
  expect_close(frozen.params()[0], ones({2}), 0);
  EXPECT_THROW(optim::SGD({p * 2.0}, 0.1), ValueError);  // not a leaf
  Tensor before = p.detach().contiguous();
  optim::SGD sgd({p}, 0.1);
  sgd.step();  // no gradient yet: nothing changes
  expect_close(p, before, 0);
}

TEST(Training, LossFallsOnASmallInMemoryDataset) {
  // Three Gaussian blobs in 2-D, classified by a small MLP.
  const int64_t n = 300;
  Tensor centers = tensor({0, 3, 3, -2, -3, -1}, {3, 2});
  std::vector<double> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<double>(i % 3);
  Tensor y = tensor(labels, {n}, DType::i64);
  std::vector<int64_t> rows(n);
  for (int64_t i = 0; i < n; ++i) rows[i] = i % 3;
  Tensor x = data::gather_rows(centers, rows) + randn({n, 2}, 5) * 0.8;
  nn::Sequential model(nn::Linear(2, 16, 1), nn::ReLU(), nn::Linear(16, 3, 2));
  optim::SGD opt(model.parameters(), 0.1, 0.9);
  data::BatchIterator batches(x, y, 32, true, 7);
  auto epoch_loss = [&] {
    NoGradGuard g;
    return nn::cross_entropy(model(x), y).item();
  };
  const double initial = epoch_loss();
  for (int epoch = 0; epoch < 2; ++epoch) {
    batches.start_epoch();
    Tensor bx, by;
    while (batches.next(bx, by)) {
      opt.zero_grad();
      nn::cross_entropy(model(bx), by).backward();
      opt.step();
    }
  }
  const double final_loss = epoch_loss();
  EXPECT_LT(final_loss, 0.5 * initial);
  Tensor pred = model(x).argmax(1);
  EXPECT_GT((pred == y).sum().item() / n, 0.9);
}

TEST(Data, BatchIteratorCoversEverySampleOnceWithASeededShuffle) {
  Tensor x = arange(10).reshape({10, 1});
  Tensor y = arange(10, DType::i64);
  data::BatchIterator a(x, y, 4, true, 3), b(x, y, 4, true, 3), c(x, y, 4, false, 0);
  EXPECT_EQ(a.num_batches(), 3);
  std::vector<double> seen_a, seen_b, seen_c;
  Tensor bx, by;
  std::vector<int64_t> sizes;
  while (a.next(bx, by)) {
    sizes.push_back(bx.shape()[0]);
    auto v = by.to_vector();
    expect_values(bx.flatten(), v);  // inputs and labels stay paired
    seen_a.insert(seen_a.end(), v.begin(), v.end());
  }
  while (b.next(bx, by))
    for (double v : by.to_vector()) seen_b.push_back(v);
  while (c.next(bx, by))
    for (double v : by.to_vector()) seen_c.push_back(v);
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(seen_a, seen_b);  // deterministic for a seed
  EXPECT_NE(seen_a, seen_c);  // and shuffled
  std::vector<double> sorted = seen_a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, seen_c);  // a permutation
  a.start_epoch();
  std::vector<double> epoch2;
  while (a.next(bx, by))
    for (double v : by.to_vector()) epoch2.push_back(v);
  EXPECT_NE(epoch2, seen_a);  // a new order each epoch
}

TEST(Data, Normalization) {
  Tensor x = tensor({1, 2, 3, 4}, {4}, DType::f64);
  auto [m, s] = data::mean_std(x);
  EXPECT_DOUBLE_EQ(m, 2.5);
  EXPECT_NEAR(s, std::sqrt(1.25), 1e-12);
  auto [m2, s2] = data::mean_std(data::standardize(x, m, s));
  EXPECT_NEAR(m2, 0, 1e-12);
  EXPECT_NEAR(s2, 1, 1e-12);
  EXPECT_THROW(data::standardize(x, 0, 0), ValueError);
  EXPECT_THROW(data::gather_rows(x, {4}), IndexError);
  // An alias of index_select: differentiable, negative rows from the end.
  Tensor w = tensor({1, 2, 3}, {3}, DType::f64).requires_grad_();
  const Tensor picked = data::gather_rows(w, {2, -1, 0});
  EXPECT_EQ(picked.to_vector(), (std::vector<double>{3, 3, 1}));
  (picked * tensor({1, 2, 4}, {3}, DType::f64)).sum().backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{4, 0, 3}));
}

TEST(Data, GatherRowsCopiesEachChosenRowWithOneOrSeveralThreads) {
  // Rows wide enough, and enough of them, for the copy to be split across threads.
  const int64_t n = 1000, width = 784;
  const Tensor x = randn({n, width}, 21);
  const std::vector<double> xv = x.to_vector();
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < 333; ++i) rows.push_back((i * 7919) % n);
  const int before = get_num_threads();
  std::vector<Tensor> kept;  // alive, so no result is written over memory holding the last one
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const Tensor g = data::gather_rows(x, rows);
    kept.push_back(g);
    ASSERT_EQ(g.shape(), (Shape{333, width}));
    const std::vector<double> gv = g.to_vector();
    for (size_t i = 0; i < rows.size(); ++i)
      for (int64_t c = 0; c < width; ++c)
        ASSERT_EQ(gv[i * width + c], xv[rows[i] * width + c]) << "row " << i;
  }
  set_num_threads(before);
}
