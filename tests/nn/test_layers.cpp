// The convolution, pooling, normalization, dropout and embedding layers: parameters and buffers,
// train/eval, state_dict, initializers, frozen parameters.
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "ndgrad/linalg.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

struct SmallCnn : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Dropout> drop;
  std::shared_ptr<nn::Linear> head;
  explicit SmallCnn(uint64_t seed) {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1, 1, 1, true, seed));
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(4));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.5, seed));
    head = register_module("head", std::make_shared<nn::Linear>(4 * 3 * 3, 2, seed + 1));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = nn::max_pool2d(relu((*bn)((*conv)(x))), 2);
    return (*head)(nn::Flatten()((*drop)(h)));
  }
};

}  // namespace

TEST(Layers, ParametersBuffersAndStateDict) {
  SmallCnn net(3);
  std::vector<std::string> params, buffers;
  for (auto& [n, t] : net.named_parameters()) params.push_back(n);
  for (auto& [n, t] : net.named_buffers()) buffers.push_back(n);
  EXPECT_EQ(params, (std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias",
                                              "head.weight", "head.bias"}));
  EXPECT_EQ(buffers, (std::vector<std::string>{"bn.running_mean", "bn.running_var",
                                               "bn.num_batches_tracked"}));
  EXPECT_EQ(net.conv->weight.shape(), (Shape{4, 1, 3, 3}));
  EXPECT_FALSE(net.bn->running_mean.requires_grad());
  const auto state = net.state_dict();
  EXPECT_EQ(state.size(), 9u);
  // He-uniform weights within their bound sqrt(6 / fan_in), fan_in = 1 * 3 * 3.
  const std::vector<double> w = net.conv->weight.to_vector();
  for (double v : w) EXPECT_LE(std::fabs(v), std::sqrt(6.0 / 9) + 1e-7);

  // Training updates the running statistics and the count; evaluation reads them.
  const Tensor x = randn({8, 1, 6, 6}, 5);
  net.train();
  (void)net(x);
  EXPECT_EQ(net.bn->num_batches_tracked.item(), 1);
  const std::vector<double> rm = net.bn->running_mean.to_vector();
  EXPECT_NE(rm, std::vector<double>(4, 0.0));
  net.eval();
  const Tensor y1 = net(x), y2 = net(x);
  expect_close(y1, y2, 0);  // no dropout, fixed statistics
  EXPECT_EQ(net.bn->running_mean.to_vector(), rm);
  EXPECT_EQ(net.bn->num_batches_tracked.item(), 1);

  // load_state_dict copies parameters and buffers; a bad state changes nothing.
  SmallCnn other(9);
  other.eval();
  other.load_state_dict(state);
  expect_close(other(x), y1, 0);
  auto bad = state;
  bad["bn.running_var"] = zeros({5});
  SmallCnn third(4);
  const std::vector<double> before = third.conv->weight.to_vector();
  expect_error<ValueError>([&] { third.load_state_dict(bad); }, {"bn.running_var", "(5,)", "(4,)"});
  EXPECT_EQ(third.conv->weight.to_vector(), before);
  bad = state;
  bad.erase("bn.num_batches_tracked");
  expect_error<ValueError>([&] { third.load_state_dict(bad); }, {"bn.num_batches_tracked"});
  bad = state;
  bad["extra"] = zeros({1});
  expect_error<ValueError>([&] { third.load_state_dict(bad); }, {"'extra'"});

  // save/load carry the buffers too.
  const std::string path = "/tmp/ndgrad_layers_" + std::to_string(::getpid()) + ".npz";
  net.save(path);
  SmallCnn loaded(11);
  loaded.load(path);
  std::remove(path.c_str());
  loaded.eval();
  expect_close(loaded(x), y1, 0);
  EXPECT_EQ(loaded.bn->num_batches_tracked.item(), 1);
}

TEST(Layers, DropoutFollowsTrainAndEvalAndItsSeed) {
  nn::Dropout a(0.25, 7), b(0.25, 7);
  const Tensor x = ones({1000});
  const Tensor ya = a(x), yb = b(x);
  expect_close(ya, yb, 0);  // same seed, same mask
  const std::vector<double> v = ya.to_vector();
  int zeros_seen = 0;
  for (double e : v) {
    EXPECT_TRUE(e == 0 || std::fabs(e - 1 / 0.75) < 1e-6) << e;
    zeros_seen += e == 0;
  }
  EXPECT_GT(zeros_seen, 180);
  EXPECT_LT(zeros_seen, 320);
  a.eval();
  expect_close(a(x), x, 0);
}

TEST(Layers, FrozenParametersGetNoGradientAndDoNotMove) {
  nn::Sequential net(nn::Conv2d(2, 3, 3, 1, "same", 1, 1, true, 1), nn::ReLU(), nn::Flatten(),
                     nn::Linear(3 * 4 * 4, 2, 2));
  auto conv = std::dynamic_pointer_cast<nn::Conv2d>(net[0]);
  conv->weight.requires_grad_(false);
  const std::vector<double> before = conv->weight.to_vector();
  optim::SGD sgd(net.parameters(), 0.1);
  nn::cross_entropy(net(randn({5, 2, 4, 4}, 3)), tensor({0, 1, 1, 0, 1}, {5}, DType::i64))
      .backward();
  EXPECT_FALSE(conv->weight.grad().defined());
  EXPECT_TRUE(conv->bias.grad().defined());
  sgd.step();
  EXPECT_EQ(conv->weight.to_vector(), before);
}

TEST(Layers, ShapeErrorsNameTheLayer) {
  nn::Conv2d conv(3, 4, 3);
  expect_error<ShapeError>([&] { conv(zeros({2, 5, 8, 8})); }, {"conv2d", "5 channels", "3"});
  expect_error<ShapeError>([&] { conv(zeros({2, 3, 2, 2})); }, {"conv2d", "kernel (3, 3)"});
  nn::BatchNorm2d bn(4);
  expect_error<ShapeError>([&] { bn(zeros({2, 3, 5, 5})); }, {"BatchNorm2d", "(batch, 4"});
  expect_error<ValueError>([] { nn::Conv2d(3, 4, 3, 1, 0, 1, 2); }, {"Conv2d", "groups (2)"});
  expect_error<ValueError>([] { nn::GroupNorm(4, 6); }, {"GroupNorm", "num_groups (4)"});
  nn::ModuleList list;
  list.push_back(std::make_shared<nn::Identity>());
  EXPECT_EQ(list.size(), 1u);
  expect_error<ValueError>([&] { list(zeros({1})); }, {"ModuleList"});
}

TEST(Layers, InitializersDrawFromTheirLaws) {
  Generator g(3);
  Tensor w = zeros({64, 32, 3, 3});  // fan_in 32 * 9, fan_out 64 * 9
  nn::init::kaiming_uniform_(w, 0, nn::init::FanMode::fan_in, &g);
  const double bound = std::sqrt(2.0) * std::sqrt(3.0 / (32 * 9));
  const std::vector<double> v = w.to_vector();
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  EXPECT_LE(m, bound + 1e-7);
  EXPECT_GT(m, 0.99 * bound);
  nn::init::kaiming_normal_(w, 0, nn::init::FanMode::fan_out, &g);
  EXPECT_NEAR(w.std().item(), std::sqrt(2.0 / (64 * 9)), 0.02 * std::sqrt(2.0 / (64 * 9)));
  Tensor lin = zeros({300, 100});  // Linear's (in, out): fan_in 300, fan_out 100
  nn::init::xavier_normal_(lin, 1.0, &g);
  EXPECT_NEAR(lin.std().item(), std::sqrt(2.0 / 400), 0.03 * std::sqrt(2.0 / 400));
  nn::init::xavier_uniform_(lin, 2.0, &g);
  EXPECT_LE(lin.abs().max().item(), 2 * std::sqrt(6.0 / 400) + 1e-7);
  nn::init::constant_(lin, 0.5);
  EXPECT_EQ(lin.min().item(), 0.5);
  EXPECT_EQ(lin.max().item(), 0.5);
  for (const Shape& s : {Shape{5, 8}, Shape{8, 5}, Shape{4, 2, 3}}) {
    Tensor q = zeros(s, DType::f64);
    nn::init::orthogonal_(q, 1.0, &g);
    const Tensor q2 = q.reshape({s[0], -1});
    const Tensor gram = s[0] <= q2.size(1) ? matmul(q2, q2.mT()) : matmul(q2.mT(), q2);
    expect_close(gram, eye(gram.size(0), DType::f64), 1e-12);
  }
  // On a parameter: in place, not recorded.
  nn::Linear layer(4, 3);
  nn::init::zeros_(layer.weight);
  EXPECT_TRUE(layer.weight.requires_grad());
  EXPECT_EQ(layer.weight.abs().sum().item(), 0);
}

// BatchNorm1d in float32 (the op of its own): two training steps update the running statistics
// with momentum (the unbiased variance) and count them; evaluation then normalizes by them. The
// expected values are the formulas in float64.
TEST(Layers, BatchNormRunningStatisticsThroughItsOwnOp) {
  nn::BatchNorm1d bn(3, 1e-5, 0.25);
  const Tensor x1 = randn({6, 3, 5}, 11), x2 = randn({6, 3, 5}, 12) * 2.0 + 1.0;
  Tensor rm = zeros({3}, DType::f64), rv = ones({3}, DType::f64);
  for (const Tensor& x : {x1, x2}) {
    const Tensor xd = x.to(DType::f64);
    const Tensor y = bn(x);
    const Tensor mean = xd.mean({0, 2}, true), var = xd.var({0, 2}, 0.0, true);
    expect_close(y, (xd - mean) * rsqrt(var + 1e-5), 1e-4);
    rm = rm * 0.75 + mean.reshape({3}) * 0.25;
    rv = rv * 0.75 + xd.var({0, 2}, 1.0) * 0.25;
  }
  EXPECT_EQ(bn.num_batches_tracked.item(), 2);
  expect_close(bn.running_mean, rm, 1e-5);
  expect_close(bn.running_var, rv, 1e-5);
  bn.eval();
  const Tensor x3 = randn({4, 3, 5}, 13);
  const Tensor expected =
      (x3.to(DType::f64) - rm.reshape({1, 3, 1})) * rsqrt(rv.reshape({1, 3, 1}) + 1e-5);
  expect_close(bn(x3), expected, 1e-4);
  EXPECT_EQ(bn.num_batches_tracked.item(), 2);  // evaluation leaves them
}
