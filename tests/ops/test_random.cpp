// Random numbers: Philox's published answers, recorded values (the same on every platform),
// reproducibility (seeds, states, splits, thread counts), the distributions' statistics with
// fixed seeds, gradients of the reparameterized normal, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "ndgrad/ndgrad.hpp"
#include "test_util.hpp"

namespace nd = ndgrad;
using nd::DType;
using nd::Generator;
using nd::Tensor;
using nd::testing::expect_error;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector(); }

uint64_t bits(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}
double var_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / v.size();
}

// Pearson's chi-square statistic of counts against expected counts.
double chi_square(const std::vector<double>& counts, const std::vector<double>& expected) {
  double c = 0;
  for (size_t i = 0; i < counts.size(); ++i)
    c += (counts[i] - expected[i]) * (counts[i] - expected[i]) / expected[i];
  return c;
}

}  // namespace

TEST(Philox, PublishedKnownAnswers) {
  auto check = [](uint64_t key, uint64_t counter, uint64_t domain, std::array<uint32_t, 4> want) {
    const nd::PhiloxBlock b = nd::philox(key, counter, domain);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(b.w[i], want[i]) << "word " << i;
  };
  // Random123's known-answer vectors for Philox4x32-10 (counter words c0..c3, key words k0, k1).
  check(0, 0, 0, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  check(~0ull, ~0ull, ~0ull, {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  check(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull,
        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

// The recipes of docs/API.md, bit for bit: a change here changes every seeded program's values.
TEST(Random, RecordedValuesAreTheSameOnEveryPlatform) {
  Generator g(42);
  const std::vector<double> u = values(g.rand({3}, DType::f64));
  // unit53 of the first three 64-bit halves of blocks 0, 0, 1 of key 42.
  for (int i = 0; i < 3; ++i) {
    const nd::PhiloxBlock b = nd::philox(42, i / 2);
    const uint64_t h =
        i % 2 ? (uint64_t{b.w[3]} << 32 | b.w[2]) : (uint64_t{b.w[1]} << 32 | b.w[0]);
    EXPECT_EQ(u[i], (h >> 11) * 0x1.0p-53);
  }
  const std::vector<double> z = values(Generator(42).randn({4}, DType::f64));
  const uint64_t want[4] = {13827540420413489962ull, 4607344655611254625ull,
                            13832508518807105483ull, 4601296721755212231ull};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(bits(z[i]), want[i]) << "value " << i << " = " << z[i];
  const std::vector<double> r = values(Generator(7).randint(-5, 1000, {4}));
  const double want_int[4] = {748, 794, 3, 246};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r[i], want_int[i]) << "value " << i;
}

// The IEEE-only log, sin and cos agree with libm's Box-Muller to a few ulp.
TEST(Random, NormalsAgreeWithLibmBoxMuller) {
  Generator g(2024);
  const std::vector<double> z = values(g.randn({20000}, DType::f64));
  double worst = 0;
  for (size_t i = 0; i < z.size(); i += 2) {
    const nd::PhiloxBlock b = nd::philox(2024, i / 2);
    const uint64_t h0 = uint64_t{b.w[1]} << 32 | b.w[0], h1 = uint64_t{b.w[3]} << 32 | b.w[2];
    const double v = ((h0 >> 11) + 1) * 0x1.0p-53, t = (h1 >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2 * std::log(v));
    const double z0 = r * std::cos(2 * M_PI * t), z1 = r * std::sin(2 * M_PI * t);
    worst = std::max({worst, std::abs(z[i] - z0), std::abs(z[i + 1] - z1)});
  }
  EXPECT_LT(worst, 1e-14);
}

TEST(Random, SameSeedSameValuesAndTheStreamMovesOn) {
  Generator a(5), b(5);
  const std::vector<double> x = values(a.randn({100}));
  EXPECT_EQ(x, values(b.randn({100})));
  EXPECT_NE(x, values(a.randn({100})));  // the next call continues the stream
  EXPECT_NE(values(Generator(5).rand({10})), values(Generator(6).rand({10})));
}

TEST(Random, DefaultGeneratorAndManualSeed) {
  nd::manual_seed(123);
  const std::vector<double> x = values(nd::randn({50}));
  const std::vector<double> y = values(nd::rand({7, 3}));
  nd::manual_seed(123);
  EXPECT_EQ(values(nd::randn({50})), x);
  EXPECT_EQ(values(nd::rand({7, 3})), y);
  EXPECT_EQ(nd::default_generator().initial_seed(), 123u);
  EXPECT_EQ(values(Generator(123).randn({50})), x);
}

TEST(Random, StatesRestoreAndCopiesContinueOnTheirOwn) {
  Generator g(9);
  (void)g.rand({33});
  const Generator::State s = g.get_state();
  Generator copy = g;
  const std::vector<double> next = values(g.randn({17}, DType::f64));
  EXPECT_EQ(values(copy.randn({17}, DType::f64)), next);
  g.set_state(s);
  EXPECT_EQ(values(g.randn({17}, DType::f64)), next);
}

TEST(Random, SplitsAreReproducibleAndDistinct) {
  Generator p(77), q(77);
  Generator a = p.split(), b = p.split();
  Generator a2 = q.split();
  const std::vector<double> va = values(a.rand({64}));
  EXPECT_EQ(va, values(a2.rand({64})));
  EXPECT_NE(va, values(b.rand({64})));
  EXPECT_NE(va, values(Generator(77).rand({64})));
  EXPECT_NE(a.initial_seed(), b.initial_seed());
}

// Counter-based: the values do not depend on how many threads computed them.
TEST(Random, ValuesDoNotDependOnTheThreadCount) {
  const nd::Shape shape{1 << 20};
  const int before = nd::get_num_threads();
  nd::set_num_threads(1);
  const std::vector<double> one = values(Generator(3).randn(shape));
  const std::vector<double> ione = values(Generator(3).randint(0, 10, shape));
  nd::set_num_threads(2);
  EXPECT_EQ(values(Generator(3).randn(shape)), one);
  EXPECT_EQ(values(Generator(3).randint(0, 10, shape)), ione);
  nd::set_num_threads(before);
}

TEST(Random, ConcurrentDrawsFromOneGeneratorGetDisjointValues) {
  Generator g(1);
  std::vector<double> a, b;
  std::thread t1([&] { a = values(g.rand({1000}, DType::f64)); });
  std::thread t2([&] { b = values(g.rand({1000}, DType::f64)); });
  t1.join();
  t2.join();
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  std::vector<double> want = values(Generator(1).rand({2000}, DType::f64));
  std::sort(all.begin(), all.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(all, want);  // together, exactly the first 2000 values of the stream
}

TEST(Random, UniformMomentsAndRange) {
  for (DType dt : {DType::f32, DType::f64}) {
    const std::vector<double> u = values(Generator(11).rand({1 << 20}, dt));
    const double n = u.size();
    EXPECT_NEAR(mean_of(u), 0.5, 5 * std::sqrt(1.0 / 12 / n));
    EXPECT_NEAR(var_of(u), 1.0 / 12, 5 * std::sqrt(1.0 / 180 / n));
    EXPECT_GE(*std::min_element(u.begin(), u.end()), 0.0);
    EXPECT_LT(*std::max_element(u.begin(), u.end()), 1.0);
    const std::vector<double> w = values(Generator(12).uniform(-3.0, 5.0, {100000}, dt));
    EXPECT_NEAR(mean_of(w), 1.0, 5 * 8 / std::sqrt(12.0 * w.size()));
    EXPECT_GE(*std::min_element(w.begin(), w.end()), -3.0);
    EXPECT_LT(*std::max_element(w.begin(), w.end()), 5.0);
  }
  // A width below f32's resolution near high: rounding must not reach high.
  const double lo = 1.0, hi = 1.0 + 0x1.0p-22;
  const std::vector<double> v = values(Generator(13).uniform(lo, hi, {100000}, DType::f32));
  EXPECT_LT(*std::max_element(v.begin(), v.end()), hi);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), lo);
  EXPECT_EQ(values(Generator(1).uniform(2.0, 2.0, {3})), std::vector<double>(3, 2.0));
}

// Kolmogorov-Smirnov against the normal distribution, and the moments.
TEST(Random, NormalDistribution) {
  for (DType dt : {DType::f32, DType::f64}) {
    std::vector<double> z = values(Generator(21).randn({100000}, dt));
    const double n = z.size();
    EXPECT_NEAR(mean_of(z), 0.0, 5 / std::sqrt(n));
    EXPECT_NEAR(var_of(z), 1.0, 5 * std::sqrt(2 / n));
    std::sort(z.begin(), z.end());
    double d = 0;
    for (size_t i = 0; i < z.size(); ++i) {
      const double cdf = 0.5 * std::erfc(-z[i] / std::sqrt(2.0));
      d = std::max({d, std::abs(cdf - i / n), std::abs(cdf - (i + 1) / n)});
    }
    EXPECT_LT(d, 1.63 / std::sqrt(n));  // the 1% critical value
  }
  const std::vector<double> w = values(Generator(22).normal(3.0, 0.5, {100000}, DType::f64));
  EXPECT_NEAR(mean_of(w), 3.0, 5 * 0.5 / std::sqrt(w.size()));
  EXPECT_NEAR(std::sqrt(var_of(w)), 0.5, 0.01);
  // An odd count: the last pair's second value is dropped, the first agrees.
  const std::vector<double> odd = values(Generator(23).randn({5}, DType::f64));
  const std::vector<double> even = values(Generator(23).randn({6}, DType::f64));
  EXPECT_EQ(odd, std::vector<double>(even.begin(), even.begin() + 5));
}

TEST(Random, RandintIsUniformOverItsRange) {
  const std::vector<double> r = values(Generator(31).randint(-3, 7, {200000}));
  std::vector<double> counts(10, 0);
  for (double x : r) {
    ASSERT_GE(x, -3);
    ASSERT_LT(x, 7);
    ASSERT_EQ(x, std::floor(x));
    counts[static_cast<size_t>(x + 3)] += 1;
  }
  EXPECT_LT(chi_square(counts, std::vector<double>(10, r.size() / 10.0)), 27.88);  // 9 dof, 0.1%
  // The whole i64 range, and a range of one value.
  const Tensor wide = Generator(32).randint(INT64_MIN, INT64_MAX, {1000});
  EXPECT_EQ(wide.dtype(), DType::i64);
  EXPECT_EQ(values(Generator(33).randint(4, 5, {6})), std::vector<double>(6, 4.0));
  EXPECT_EQ(Generator(1).randint(0, 10, {3}, DType::f32).dtype(), DType::f32);
  EXPECT_EQ(nd::randint(10, {4}).dtype(), DType::i64);
}

TEST(Random, BernoulliFollowsEachProbability) {
  const Tensor p = nd::tensor({0.0, 0.25, 1.0, 0.9}, {4}, DType::f64);
  std::vector<double> hits(4, 0);
  Generator g(41);
  const int n = 20000;
  const Tensor draws = g.bernoulli(p.broadcast_to({n, 4}).contiguous());
  EXPECT_EQ(draws.dtype(), DType::f64);
  const std::vector<double> v = values(draws);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < 4; ++j) hits[j] += v[i * 4 + j];
  EXPECT_EQ(hits[0], 0);
  EXPECT_EQ(hits[2], n);
  EXPECT_NEAR(hits[1] / n, 0.25, 5 * std::sqrt(0.25 * 0.75 / n));
  EXPECT_NEAR(hits[3] / n, 0.9, 5 * std::sqrt(0.9 * 0.1 / n));
  const std::vector<double> s = values(g.bernoulli(0.3, {50000}, DType::boolean));
  EXPECT_NEAR(mean_of(s), 0.3, 5 * std::sqrt(0.21 / 50000));
}

TEST(Random, PermutationsAreUniform) {
  Generator g(51);
  std::map<std::vector<double>, double> seen;
  const int n = 6000;
  for (int i = 0; i < n; ++i) seen[values(g.permutation(3))] += 1;
  ASSERT_EQ(seen.size(), 6u);
  std::vector<double> counts;
  for (auto& [perm, c] : seen) counts.push_back(c);
  EXPECT_LT(chi_square(counts, std::vector<double>(6, n / 6.0)), 20.52);  // 5 dof, 0.1%
  std::vector<double> big = values(g.permutation(1000));
  std::sort(big.begin(), big.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(big[i], i);
  EXPECT_EQ(nd::randperm(0).numel(), 0);
  EXPECT_EQ(values(nd::randperm(1)), std::vector<double>{0});
}

TEST(Random, PermutationOfATensorShufflesRowsAndCarriesGradients) {
  const Tensor t = nd::randn({5, 3}, 1, DType::f64).requires_grad_();
  Generator g(61), g2(61);
  const Tensor s = g.permutation(t);
  const std::vector<double> order = values(g2.permutation(5));
  const std::vector<double> tv = values(t), sv = values(s);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(sv[i * 3 + j], tv[order[i] * 3 + j]);
  const Tensor up = nd::randn({5, 3}, 2, DType::f64);
  (s * up).sum().backward();
  const std::vector<double> gv = values(t.grad()), uv = values(up);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(gv[order[i] * 3 + j], uv[i * 3 + j]);
}

TEST(Random, MultinomialWithReplacement) {
  const Tensor w = nd::tensor({1, 0, 2, 5}, {4}, DType::f32);
  const int n = 80000;
  const std::vector<double> v = values(Generator(71).multinomial(w, n, true));
  std::vector<double> counts(4, 0);
  for (double x : v) counts[static_cast<size_t>(x)] += 1;
  EXPECT_EQ(counts[1], 0);  // a zero weight is never drawn
  EXPECT_LT(chi_square({counts[0], counts[2], counts[3]}, {n / 8.0, n / 4.0, n * 5 / 8.0}),
            13.82);  // 2 dof, 0.1%
  // Rows on their own.
  const Tensor rows = nd::tensor({0, 1, 1, 0}, {2, 2});
  const std::vector<double> r = values(Generator(72).multinomial(rows, 5, true));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r[i], 1);
    EXPECT_EQ(r[5 + i], 0);
  }
}

TEST(Random, MultinomialWithoutReplacement) {
  const Tensor w = nd::tensor({1, 0, 2, 5, 2}, {5}, DType::f64);
  Generator g(81);
  std::vector<double> first(5, 0);
  const int n = 8000;
  for (int i = 0; i < n; ++i) {
    const std::vector<double> d = values(g.multinomial(w, 4));
    std::set<double> distinct(d.begin(), d.end());
    ASSERT_EQ(distinct.size(), 4u);
    ASSERT_EQ(distinct.count(1), 0u);
    first[static_cast<size_t>(d[0])] += 1;
  }
  // The first draw is proportional to the weights, as one draw with replacement.
  EXPECT_LT(
      chi_square({first[0], first[2], first[3], first[4]}, {n / 10.0, n / 5.0, n / 2.0, n / 5.0}),
      16.27);  // 3 dof, 0.1%
  expect_error<nd::ValueError>([&] { g.multinomial(w, 5); }, {"4 nonzero weights"});
}

TEST(Random, NormalOfTensorsIsDifferentiable) {
  const Tensor mean = nd::randn({3, 1}, 1, DType::f64).requires_grad_();
  const Tensor sd = (nd::rand({1, 4}, 2, DType::f64) + 0.5).detach().requires_grad_();
  Generator g(91), g2(91);
  const Tensor x = g.normal(mean, sd);
  EXPECT_EQ(x.shape(), (nd::Shape{3, 4}));
  const Tensor eps = g2.randn({3, 4}, DType::f64);
  nd::testing::expect_close(x, mean + sd * eps, 1e-15);
  const Tensor up = nd::randn({3, 4}, 3, DType::f64);
  (x * up).sum().backward();
  nd::testing::expect_close(mean.grad(), up.sum({1}, true), 1e-12);
  nd::testing::expect_close(sd.grad(), (up * eps).sum({0}, true), 1e-12);
}

TEST(Random, BadInputIsAClearError) {
  Generator g(1);
  expect_error<nd::ValueError>([&] { g.randint(5, 5, {2}); }, {"randint", "low < high"});
  expect_error<nd::DTypeError>([&] { g.randint(0, 2, {2}, DType::boolean); }, {"randint"});
  expect_error<nd::DTypeError>([&] { g.rand({2}, DType::i64); }, {"rand", "floating"});
  expect_error<nd::ValueError>([&] { g.uniform(2.0, 1.0, {2}); }, {"uniform", "low <= high"});
  expect_error<nd::ValueError>([&] { g.normal(0.0, -1.0, {2}); }, {"normal", "std >= 0"});
  expect_error<nd::ValueError>([&] { g.normal(nd::zeros({2}), nd::full({2}, -1.0)); },
                               {"normal", "std >= 0"});
  expect_error<nd::ValueError>(
      [&] {
        g.bernoulli(nd::tensor({0.5, 1.5}, {2}));
      },
      {"bernoulli", "[0, 1]", "1.5", "index 1"});
  expect_error<nd::ValueError>([&] { g.bernoulli(std::nan(""), {2}); }, {"bernoulli"});
  expect_error<nd::DTypeError>([&] { g.bernoulli(nd::ones({2}, DType::i64)); }, {"bernoulli"});
  expect_error<nd::ValueError>([&] { g.permutation(-1); }, {"permutation", ">= 0"});
  expect_error<nd::ShapeError>([&] { g.permutation(nd::scalar(1.0)); }, {"permutation", "0-d"});
  expect_error<nd::ValueError>(
      [&] {
        g.multinomial(nd::tensor({1, -1}, {2}), 1);
      },
      {"multinomial", ">= 0"});
  expect_error<nd::ValueError>(
      [&] {
        g.multinomial(nd::zeros({2, 3}), 1, true);
      },
      {"multinomial", "row 0", "no positive weight"});
  expect_error<nd::ShapeError>(
      [&] {
        g.multinomial(nd::ones({2, 2, 2}), 1);
      },
      {"multinomial", "(2,2,2)"});
  expect_error<nd::ValueError>([&] { g.rand({-1}); }, {"rand", "negative dimension"});
  // A failed call draws nothing: the stream is where it was.
  EXPECT_EQ(values(g.rand({3})), values(Generator(1).rand({3})));
}

// What the review of the generator found: strict broadcasting, infinite std, bounds a floating
// dtype cannot hold, tiny weights, and a refused allocation that must draw nothing.
TEST(Random, EdgesOfTheDistributionsAndTheStream) {
  Generator g(3);
  {
    nd::StrictBroadcastGuard strict;  // the broadcast of mean and std is by design
    EXPECT_EQ(g.normal(nd::zeros({3, 1}), nd::ones({1, 4})).shape(), (nd::Shape{3, 4}));
  }
  expect_error<nd::ValueError>(
      [&] { g.normal(nd::zeros({2}), nd::full({2}, std::numeric_limits<double>::infinity())); },
      {"normal", "finite"});
  expect_error<nd::ValueError>([&] { g.randint(33554438, 33554439, {4}, DType::f32); },
                               {"randint", "16777216"});
  EXPECT_EQ(values(Generator(1).randint(16777210, 16777216, {3}, DType::f32)).size(), 3u);
  expect_error<nd::ValueError>([&] { g.randint(0, 300, {4}, DType::u8); }, {"randint", "u8"});
  expect_error<nd::ValueError>([&] { g.randint(-129, 0, {4}, DType::i8); }, {"randint", "i8"});
  for (double x : values(Generator(5).randint(0, 256, {500}, DType::u8)))
    ASSERT_TRUE(x >= 0 && x < 256);
  EXPECT_EQ(nd::cumsum(nd::ones({3}, DType::u8), 0, DType::i32).dtype(), DType::i32);
  EXPECT_EQ(values(nd::cumsum(nd::full({3}, 100, DType::i64), 0, DType::i8)),
            (std::vector<double>{100, -56, 44}));  // wrapped, as NumPy's int8 accumulation
  expect_error<nd::ValueError>([&] { g.uniform(0.1, 0.1 + 1e-12, {4}); }, {"uniform", "f32"});
  expect_error<nd::ValueError>([&] { g.uniform(0.0, 1e300, {4}); }, {"uniform", "f32"});
  for (double x : values(Generator(4).uniform(0.1, 0.1 + 1e-7, {1000})))
    ASSERT_TRUE(x >= 0.1 && x < 0.1 + 1e-7) << x;
  // Subnormal weights: still proportional without replacement.
  const Tensor tiny = nd::tensor({1e-310, 1e-310}, {2}, DType::f64);
  double zeros_drawn = 0;
  for (int i = 0; i < 1000; ++i) zeros_drawn += g.multinomial(tiny, 1).item() == 0;
  EXPECT_NEAR(zeros_drawn, 500, 5 * std::sqrt(250.0));
  // cumsum/cumprod in bool: or and and of the truth values (NumPy's).
  const Tensor v = nd::tensor({1, 2, 0, 3}, {4}, DType::i64);
  EXPECT_EQ(nd::cumsum(v, 0, DType::boolean).dtype(), DType::boolean);
  EXPECT_EQ(values(nd::cumsum(v, 0, DType::boolean)), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(values(nd::cumprod(v, 0, DType::boolean)), (std::vector<double>{1, 1, 0, 0}));
  // A refused allocation draws nothing.
  const Generator::State before = g.get_state();
  expect_error<nd::MemoryError>([&] { g.rand({int64_t(1) << 46}); }, {"rand"});
  EXPECT_EQ(g.get_state().offset, before.offset);
}
