// Numerical edge cases: NaN through clamps and extremes, gradual underflow in the float32
// transcendentals, gradients at the singular points of pow and the kinks of other ops, softmax
// normalization for large logits, and result dtypes that depend on operand kinds, never values.
// Sections follow the items of the hardening issue (#19). Each runs in both float dtypes where it
// applies, over lengths that reach the vectorized bodies and the scalar tails, on strided and
// broadcast views, and past the lazy threshold.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <tuple>

#include "exec/lazy.hpp"
#include "test_util.hpp"

namespace ndgrad {
namespace {

using testing::expect_values;

const DType kFloats[] = {DType::f32, DType::f64};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Lengths around every vector width (4, 8, 16 lanes), with tails, one flat run, and past a
// flat run (kernels::kFlatMax), where the threaded strided loop takes over.
const int64_t kLengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 33, 100, 1000, 70000};

// Exact equality where NaN equals NaN.
bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void expect_same_values(const Tensor& t, const std::vector<double>& want, const std::string& what) {
  const std::vector<double> got = t.to_vector();
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    if (!same(got[i], want[i])) {
      ADD_FAILURE() << what << ": at flat index " << i << " got " << got[i] << ", want " << want[i];
      return;
    }
}

// v with NaN at a few positions: the first, one inside the vector body, and the last.
std::vector<double> with_nans(std::vector<double> v) {
  v[0] = kNaN;
  v[v.size() / 2] = kNaN;
  v.back() = kNaN;
  return v;
}

template <class F>
std::vector<double> map(const std::vector<double>& v, F f) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = f(v[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Item 12: NaN propagation through clamps and extremes, forward and backward.

TEST(Numerics, ReluSignAbsPassNaNThroughAtEveryLength) {
  for (DType dt : kFloats)
    for (int64_t n : kLengths) {
      const std::vector<double> v = with_nans(randn({n}, 11 + n, DType::f64).to_vector());
      const Tensor x = tensor(v, {n}, dt);
      const std::string what = std::string(dtype_name(dt)) + " n=" + std::to_string(n);
      auto rounded = [dt](double d) { return dt == DType::f32 ? double(float(d)) : d; };
      expect_same_values(
          relu(x), map(v, [&](double d) { return std::isnan(d) ? d
                                                 : d > 0       ? rounded(d)
                                                               : 0.0; }),
          "relu " + what);
      expect_same_values(
          sign(x), map(v, [](double d) { return std::isnan(d) ? d : double((d > 0) - (d < 0)); }),
          "sign " + what);
      expect_same_values(abs(x), map(v, [&](double d) { return std::fabs(rounded(d)); }),
                         "abs " + what);
    }
  // Strided and broadcast views go through the strided loop.
  const Tensor m = tensor({kNaN, -1, 2, kNaN, 0, -3}, {2, 3});
  expect_same_values(relu(m.T()), {kNaN, kNaN, 0, 0, 2, 0}, "relu of a transpose");
  expect_same_values(relu(scalar(kNaN).broadcast_to({5})), {kNaN, kNaN, kNaN, kNaN, kNaN},
                     "relu of a broadcast NaN");
  expect_same_values(sign(m.T()), {kNaN, kNaN, -1, 0, 1, -1}, "sign of a transpose");
  // Integers are unchanged.
  expect_values(relu(tensor({-2, 0, 3}, {3}, DType::i64)), {0, 0, 3});
  expect_values(sign(tensor({-2, 0, 3}, {3}, DType::i64)), {-1, 0, 1});
}

TEST(Numerics, ReluBackwardPassesTheGradientAtNaN) {
  // relu passes NaN through as the identity would, and its gradient with it (as PyTorch): in the
  // fused backward and in the differentiable one that create_graph records.
  for (DType dt : kFloats)
    for (int64_t n : {int64_t(9), int64_t(33), int64_t(1000)}) {
      const std::vector<double> v = with_nans(randn({n}, 21 + n, DType::f64).to_vector());
      const Tensor g = randn({n}, 22 + n, dt);
      const std::vector<double> gv = g.to_vector();
      std::vector<double> want(v.size());
      for (size_t i = 0; i < v.size(); ++i) want[i] = std::isnan(v[i]) || v[i] > 0 ? gv[i] : 0.0;
      for (bool create_graph : {false, true}) {
        Tensor x = tensor(v, {n}, dt).requires_grad_();
        const Tensor gx = grad(relu(x), {x}, g, create_graph)[0];
        expect_same_values(gx, want,
                           std::string("relu gradient, create_graph=") +
                               (create_graph ? "1" : "0") + " " + dtype_name(dt));
      }
    }
}

TEST(Numerics, MaximumMinimumPropagateNaNFromEitherOperand) {
  for (DType dt : kFloats)
    for (int64_t n : kLengths) {
      std::vector<double> a = randn({n}, 31 + n, DType::f64).to_vector();
      std::vector<double> b = randn({n}, 32 + n, DType::f64).to_vector();
      a[0] = kNaN;
      b[n / 2] = kNaN;
      b.back() = kNaN;
      if (n > 2) a.back() = kNaN;
      const Tensor ta = tensor(a, {n}, dt), tb = tensor(b, {n}, dt);
      std::vector<double> mx(n), mn(n);
      for (int64_t i = 0; i < n; ++i) {
        const bool nan = std::isnan(a[i]) || std::isnan(b[i]);
        const double fa = dt == DType::f32 ? double(float(a[i])) : a[i];
        const double fb = dt == DType::f32 ? double(float(b[i])) : b[i];
        mx[i] = nan ? kNaN : std::max(fa, fb);
        mn[i] = nan ? kNaN : std::min(fa, fb);
      }
      const std::string what = std::string(dtype_name(dt)) + " n=" + std::to_string(n);
      expect_same_values(maximum(ta, tb), mx, "maximum " + what);
      expect_same_values(maximum(tb, ta), mx, "maximum swapped " + what);
      expect_same_values(minimum(ta, tb), mn, "minimum " + what);
      expect_same_values(minimum(tb, ta), mn, "minimum swapped " + what);
    }
  // A broadcast NaN on either side.
  const Tensor x = tensor({1, -2, 3}, {3});
  expect_same_values(maximum(x, scalar(kNaN)), {kNaN, kNaN, kNaN}, "maximum with a 0-d NaN");
  expect_same_values(minimum(scalar(kNaN), x), {kNaN, kNaN, kNaN}, "minimum with a 0-d NaN");
}

TEST(Numerics, MaximumMinimumGradientGoesToTheNaNOperand) {
  // The NaN operand is the one selected, so it gets the gradient; ties split it evenly.
  for (DType dt : kFloats) {
    const Tensor g = randn({5}, 41, dt);
    const std::vector<double> gv = g.to_vector();
    for (bool is_max : {true, false}) {
      Tensor a = tensor({kNaN, 1, kNaN, 2, 5}, {5}, dt).requires_grad_();
      Tensor b = tensor({1, kNaN, kNaN, 2, 3}, {5}, dt).requires_grad_();
      const Tensor y = is_max ? maximum(a, b) : minimum(a, b);
      const auto gs = grad(y, {a, b}, g);
      const double win_a = is_max ? gv[4] : 0, win_b = is_max ? 0 : gv[4];
      expect_same_values(gs[0], {gv[0], 0, gv[2], gv[3] * 0.5, win_a}, "d/da");
      expect_same_values(gs[1], {0, gv[1], 0, gv[3] * 0.5, win_b}, "d/db");
    }
  }
}

TEST(Numerics, MaxMinReductionsPropagateNaNWhereverItSits) {
  for (DType dt : kFloats)
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(8), int64_t(9), int64_t(40), int64_t(300),
                      int64_t(70000)})
      for (int64_t pos : {int64_t(0), n / 2, n - 1}) {
        std::vector<double> v = randn({n}, 51 + n, DType::f64).to_vector();
        v[pos] = kNaN;
        const Tensor x = tensor(v, {n}, dt);
        const std::string what = std::string(dtype_name(dt)) + " n=" + std::to_string(n) +
                                 " NaN at " + std::to_string(pos);
        EXPECT_TRUE(std::isnan(x.max().item())) << "max " << what;
        EXPECT_TRUE(std::isnan(x.min().item())) << "min " << what;
        EXPECT_EQ(x.argmax(0).item(), pos) << "argmax " << what;
        EXPECT_EQ(x.argmin(0).item(), pos) << "argmin " << what;
      }
  // Along each axis of a matrix and of its transpose (strided), one NaN per row.
  const int64_t rows = 6, cols = 37;
  std::vector<double> v = randn({rows, cols}, 61, DType::f64).to_vector();
  for (int64_t r = 0; r < rows; ++r) v[r * cols + (r * 7) % cols] = kNaN;
  for (DType dt : kFloats) {
    const Tensor m = tensor(v, {rows, cols}, dt);
    expect_same_values(m.max({1}), std::vector<double>(rows, kNaN), "row max");
    expect_same_values(m.T().min({0}), std::vector<double>(rows, kNaN),
                       "column min of the transpose");
    const std::vector<double> col = m.max({0}).to_vector();
    for (int64_t c = 0; c < cols; ++c) {
      bool has_nan = false;
      for (int64_t r = 0; r < rows; ++r) has_nan |= std::isnan(v[r * cols + c]);
      EXPECT_EQ(std::isnan(col[c]), has_nan) << "column " << c;
    }
  }
}

TEST(Numerics, MaxMinReductionGradientGoesToTheNaNElements) {
  // Not NaN everywhere (0/0 from a mask that no element matched): the gradient goes to the NaN
  // elements, split evenly among several, as among tied maxima.
  for (DType dt : kFloats)
    for (bool is_max : {true, false}) {
      Tensor x = tensor({1, kNaN, 3, 2, 5, kNaN, kNaN, 0, 4, 4, 1, 0}, {3, 4}, dt).requires_grad_();
      const Tensor g = randn({3}, 71, dt);
      const std::vector<double> gv = g.to_vector();
      const Tensor y = is_max ? x.max({1}) : x.min({1});
      const std::vector<double> gx = grad(y, {x}, g)[0].to_vector();
      // Row 2 (4, 4, 1, 0) has no NaN: the max's tie splits, the min goes to the 0.
      const double tie = is_max ? gv[2] / 2 : 0;
      const std::vector<double> want = {0,   gv[0],     0,         0,  // one NaN
                                        0,   gv[1] / 2, gv[1] / 2, 0,  // two NaNs
                                        tie, tie,       0,         is_max ? 0 : gv[2]};
      for (size_t i = 0; i < want.size(); ++i)
        EXPECT_TRUE(same(gx[i], want[i])) << dtype_name(dt) << (is_max ? " max" : " min") << " at "
                                          << i << ": got " << gx[i] << " want " << want[i];
    }
}

// ---------------------------------------------------------------------------------------------
// Item 12: gradual underflow in exp and sigmoid.

// Units of the spacing of floats at the correctly rounded result (subnormal spacing below
// FLT_MIN): how far got is from exact.
double float_ulps(double got, double exact) {
  const float want = static_cast<float>(exact);
  if (std::isnan(want) || std::isinf(want)) return same(got, want) ? 0 : 1e9;
  const double ulp = std::max<double>(std::fabs(std::nextafter(want, INFINITY) - want),
                                      std::numeric_limits<float>::denorm_min());
  return std::fabs(got - double(want)) / ulp;
}

TEST(Numerics, Float32ExpAndSigmoidUnderflowGradually) {
  // x from -104 to -87: results below FLT_MIN (1.18e-38) down to the smallest subnormal (1.4e-45).
  std::vector<double> xs;
  for (double x = -104.5; x <= -86.0; x += 0.0371) xs.push_back(double(float(x)));
  const int64_t n = static_cast<int64_t>(xs.size());
  const Tensor x = tensor(xs, {n});
  int nonzero = 0;
  for (const auto& [name, y, ref] :
       std::vector<std::tuple<const char*, Tensor, std::function<double(double)>>>{
           {"exp", exp(x), [](double v) { return std::exp(v); }},
           {"sigmoid", sigmoid(x), [](double v) { return 1 / (1 + std::exp(-v)); }}}) {
    const std::vector<double> got = y.to_vector();
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_LE(float_ulps(got[i], ref(xs[i])), 3) << name << "(" << xs[i] << ") = " << got[i];
      nonzero += got[i] != 0;
    }
  }
  EXPECT_GT(nonzero, 0.9 * 2 * n);  // only the few below ln(2^-150) round to 0
  EXPECT_GT(exp(scalar(-100.0)).item(), 0.0);
  EXPECT_GT(sigmoid(scalar(-100.0)).item(), 0.0);
  // The strided loop, and every lane and tail position of the vectorized one.
  const double want = std::exp(-95.0);
  for (int64_t len : kLengths)
    for (const Tensor& y : {exp(full({len}, -95.0)), sigmoid(full({len}, -95.0))})
      for (double d : y.to_vector()) ASSERT_LE(float_ulps(d, want), 2) << "n=" << len;
  for (double d : exp(full({3, 1}, -95.0).broadcast_to({3, 5}).T()).to_vector())
    EXPECT_LE(float_ulps(d, want), 2) << "exp of a view";
}

TEST(Numerics, TranscendentalsKeepSubnormalsInBothDtypes) {
  // tanh(x) = x and sigmoid(-x) ~ e^-x for tiny or very negative x, f32 and f64 alike.
  for (DType dt : kFloats) {
    const double tiny = dt == DType::f32 ? 1e-40 : 1e-310;  // subnormal in the dtype
    const double tiny_r = dt == DType::f32 ? double(float(tiny)) : tiny;
    expect_same_values(tanh(tensor({tiny, -tiny}, {2}, dt)), {tiny_r, -tiny_r},
                       std::string("tanh of subnormals ") + dtype_name(dt));
    const double deep = dt == DType::f32 ? -95.0 : -720.0;  // exp(deep) is subnormal
    const double e = exp(scalar(deep, dt)).item(), s = sigmoid(scalar(deep, dt)).item();
    EXPECT_GT(e, 0.0) << dtype_name(dt);
    EXPECT_GT(s, 0.0) << dtype_name(dt);
    EXPECT_NEAR(s, e, 2 * std::numeric_limits<double>::denorm_min() + 1e-6 * e) << dtype_name(dt);
  }
}

// ---------------------------------------------------------------------------------------------
// Item 10: gradients at the singular points of pow, and the conventions of the other ops at 0
// and at kinks (PyTorch's).

// Runs f with lazy results on and then off (the two paths for tensors of >= 2^20 elements).
void both_paths(const std::function<void(const std::string&)>& f) {
  f("lazy");
  lazy::set_enabled(false);
  f("eager");
  lazy::set_enabled(true);
}

// PyTorch's pow gradients: d/da = 0 where b == 0, else g b a^(b-1); d/db = 0 where a == 0 and
// b >= 0, else g a^b log(a).
double pow_grad_base(double a, double b, double g) {
  return b == 0 ? 0 : g * b * std::pow(a, b - 1);
}
double pow_grad_exponent(double a, double b, double g) {
  return a == 0 && b >= 0 ? 0 : g * std::pow(a, b) * std::log(a);
}

TEST(Numerics, PowGradientsAtBaseZeroFollowPyTorch) {
  // The cases: pow([0,1,2], 2) has d/dp = 4 ln 2 (not NaN); pow(0, 0) has 0 and 0.
  for (DType dt : kFloats) {
    Tensor a = tensor({0, 1, 2}, {3}, dt).requires_grad_();
    Tensor p = scalar(2.0, dt).requires_grad_();
    const auto gs = grad(pow(a, p).sum(), {a, p});
    expect_values(gs[0], {0, 2, 4}, 1e-6);
    expect_values(gs[1], {4 * std::log(2.0)}, 1e-6);
    Tensor z = scalar(0.0, dt).requires_grad_(), e = scalar(0.0, dt).requires_grad_();
    const auto gz = grad(pow(z, e), {z, e});
    expect_same_values(gz[0], {0}, "d/dbase of 0^0");
    expect_same_values(gz[1], {0}, "d/dexponent of 0^0");
  }
  // Every pairing of a base in {0, 0.5, 2, -1.5} with an exponent in {0, 1, 2, 3, 0.5, -1, -2},
  // elementwise, under a random upstream gradient: inf where the true derivative is infinite,
  // NaN only where the value itself is (a negative base to a fractional power).
  const std::vector<double> bases = {0, 0.5, 2, -1.5}, exps = {0, 1, 2, 3, 0.5, -1, -2};
  std::vector<double> av, bv;
  for (double a : bases)
    for (double b : exps) av.push_back(a), bv.push_back(b);
  const int64_t n = static_cast<int64_t>(av.size());
  for (DType dt : kFloats) {
    const Tensor g = randn({n}, 81, dt);
    const std::vector<double> gv = g.to_vector();
    Tensor a = tensor(av, {n}, dt).requires_grad_(), b = tensor(bv, {n}, dt).requires_grad_();
    const auto gs = grad(pow(a, b), {a, b}, g);
    const std::vector<double> ga = gs[0].to_vector(), gb = gs[1].to_vector();
    const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    for (int64_t i = 0; i < n; ++i) {
      const double wa = pow_grad_base(av[i], bv[i], gv[i]);
      const double wb = pow_grad_exponent(av[i], bv[i], gv[i]);
      const std::string at = std::string(dtype_name(dt)) + " pow(" + std::to_string(av[i]) + ", " +
                             std::to_string(bv[i]) + ")";
      if (std::isfinite(wa))
        EXPECT_NEAR(ga[i], wa, tol * (1 + std::fabs(wa))) << "d/da " << at;
      else
        EXPECT_TRUE(same(ga[i], wa)) << "d/da " << at << ": " << ga[i] << " want " << wa;
      if (std::isfinite(wb))
        EXPECT_NEAR(gb[i], wb, tol * (1 + std::fabs(wb))) << "d/db " << at;
      else
        EXPECT_TRUE(same(gb[i], wb)) << "d/db " << at << ": " << gb[i] << " want " << wb;
    }
  }
}

TEST(Numerics, PowGradientsAtBaseZeroOnViewsAndLargeTensors) {
  // Broadcast operands (a column of bases against a row of exponents, the gradients summed back),
  // a strided base, and 2^20 elements, on both paths.
  for (DType dt : kFloats) {
    Tensor a = tensor({0, 0, 1.5, 0, 2, 0}, {2, 3}, dt).requires_grad_();
    Tensor b = tensor({0, 1, 2, 3}, {4}, dt).requires_grad_();
    const Tensor at = a.T().reshape({6, 1});  // 0, 0, 0, 2, 1.5, 0: a strided view, copied
    const Tensor g = randn({6, 4}, 91, dt);
    const auto gs = grad(pow(at, b), {a, b}, g);
    const std::vector<double> gv = g.to_vector(), col = {0, 0, 0, 2, 1.5, 0}, row = {0, 1, 2, 3};
    std::vector<double> want_b(4, 0.0), want_col(6, 0.0);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 4; ++j) {
        want_col[i] += pow_grad_base(col[i], row[j], gv[i * 4 + j]);
        want_b[j] += pow_grad_exponent(col[i], row[j], gv[i * 4 + j]);
      }
    // a's gradient in a's layout: a[r][c] is col[c * 2 + r].
    std::vector<double> want_a(6);
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c) want_a[r * 3 + c] = want_col[c * 2 + r];
    const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    expect_values(gs[0], want_a, tol);
    expect_values(gs[1], want_b, tol);
  }
  both_paths([](const std::string& path) {
    const int64_t n = int64_t(1) << 20;
    std::vector<double> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = i % 3 == 0 ? 0.0 : 1.0 + double(i % 7);
    Tensor a = tensor(v, {n}).requires_grad_();
    Tensor b = scalar(2.0).requires_grad_();
    Tensor e = scalar(0.0).requires_grad_();
    const auto gs = grad(pow(a, b).sum() + pow(a, e).sum(), {a, b, e});
    const std::vector<double> ga = gs[0].to_vector();
    for (int64_t i : {int64_t(0), int64_t(1), int64_t(3), n - 1})
      EXPECT_NEAR(ga[i], 2 * v[i], 1e-5 * (1 + v[i])) << path << " at " << i;
    double want_b = 0;
    for (double x : v) want_b += x == 0 ? 0 : x * x * std::log(x);
    EXPECT_NEAR(gs[1].item(), want_b, 1e-4 * want_b) << path;
    double want_e = 0;
    for (double x : v) want_e += x == 0 ? 0 : std::log(x);
    EXPECT_NEAR(gs[2].item(), want_e, 1e-4 * want_e) << path;
  });
}

TEST(Numerics, PowSecondDerivativesStayDifferentiable) {
  // create_graph: the masked rules are recorded ops, so gradcheck of the first derivative (with
  // random weights) passes at regular points...
  const Tensor wa = randn({3, 4}, 101, DType::f64), wb = randn({3, 4}, 102, DType::f64);
  const Tensor up = randn({3, 4}, 103, DType::f64);
  auto first = [&](const std::vector<Tensor>& x) {
    const auto gs = grad(pow(x[0], x[1]), {x[0], x[1]}, up, true);
    return gs[0] * wa + gs[1] * wb;
  };
  const GradcheckResult r = gradcheck(
      first, {testing::uniform({3, 4}, 104, 0.5, 2), testing::away_from_zero({3, 4}, 105)});
  EXPECT_TRUE(r.ok) << r.report;
  auto first_scalar = [&](const std::vector<Tensor>& x) {
    return grad(pow(x[0], 2.5), {x[0]}, up, true)[0] * wa;
  };
  const GradcheckResult rs = gradcheck(first_scalar, {testing::uniform({3, 4}, 106, 0.5, 2)});
  EXPECT_TRUE(rs.ok) << rs.report;
  // ... and at base 0 the second derivatives are finite: d2(a^2)/da2 = 2, and d/da of the
  // (masked, constant 0) exponent gradient is 0.
  Tensor a = tensor({0, 0}, {2}, DType::f64).requires_grad_();
  Tensor b = tensor({2, 3}, {2}, DType::f64).requires_grad_();
  const auto gs = grad(pow(a, b).sum(), {a, b}, Tensor(), true);
  const auto gaa = grad(gs[0].sum(), {a, b}, Tensor(), false);
  expect_same_values(gaa[0], {2, 0}, "d2/da2 at 0");
  const auto gba = grad(gs[1].sum(), {a, b}, Tensor(), false);
  expect_same_values(gba[0], {0, 0}, "d2/dadb at 0");
  expect_same_values(gba[1], {0, 0}, "d2/db2 at 0");
}

TEST(Numerics, PowScalarExponentGradientsAtZeroFollowPyTorch) {
  // d/dx x^p = p x^(p-1), and 0 for p == 0: at x = 0 that is 0 for p = 0, 2, 3; g for p = 1;
  // inf for 0 < p < 1 and for p < 0 (the derivative is infinite there); never NaN.
  for (DType dt : kFloats) {
    const Tensor g = tensor({1.5, -2}, {2}, dt);
    for (double p : {0.0, 1.0, 2.0, 3.0, 0.5, -1.0}) {
      Tensor x = tensor({0, 2}, {2}, dt).requires_grad_();
      const std::vector<double> gx = grad(pow(x, p), {x}, g)[0].to_vector();
      const double at0 = p == 0 ? 0 : p == 1 ? 1.5 : p > 1 ? 0 : kInf * (p > 0 ? 1 : -1) * 1.5;
      EXPECT_TRUE(same(gx[0], at0)) << "p=" << p << ": " << gx[0] << " want " << at0;
      EXPECT_NEAR(gx[1], -2 * pow_grad_base(2, p, 1), 1e-5) << "p=" << p;
    }
  }
}

TEST(Numerics, ZeroAndKinkGradientConventionsMatchPyTorch) {
  // At x = 0: sqrt and log have infinite derivatives (g / 0: +-inf by g's sign), a / b at b = 0
  // too; abs, relu and sign give 0. maximum/minimum split a tie evenly; max/min reductions split
  // the gradient evenly among tied extremes (torch.amax's convention).
  for (DType dt : kFloats) {
    const Tensor g = tensor({2, -3}, {2}, dt);
    Tensor x = tensor({0, 0}, {2}, dt).requires_grad_();
    expect_same_values(grad(sqrt(x), {x}, g)[0], {kInf, -kInf}, "sqrt at 0");
    expect_same_values(grad(log(x), {x}, g)[0], {kInf, -kInf}, "log at 0");
    expect_same_values(grad(abs(x), {x}, g)[0], {0, 0}, "abs at 0");
    expect_same_values(grad(relu(x), {x}, g)[0], {0, 0}, "relu at 0");
    Tensor num = tensor({1, 1}, {2}, dt).requires_grad_();
    expect_same_values(grad(num / x, {num}, g)[0], {kInf, -kInf}, "d(a/b)/da at b = 0");
    Tensor a = tensor({1, 2}, {2}, dt).requires_grad_(),
           b = tensor({1, 2}, {2}, dt).requires_grad_();
    const auto gm = grad(maximum(a, b), {a, b}, g);
    expect_same_values(gm[0], {1, -1.5}, "maximum tie, a");
    expect_same_values(gm[1], {1, -1.5}, "maximum tie, b");
    Tensor t = tensor({3, 1, 3, 3}, {4}, dt).requires_grad_();
    expect_values(grad(t.max(), {t})[0], {1.0 / 3, 0, 1.0 / 3, 1.0 / 3}, 1e-6);
  }
}

// ---------------------------------------------------------------------------------------------
// Item 11: softmax and log_softmax stay normalized for large float32 logits; their gradients
// stay exact; their errors name them.

// softmax of each row of a (rows, cols) row-major matrix, in long double.
std::vector<double> softmax_rows(const std::vector<double>& v, int64_t rows, int64_t cols) {
  std::vector<double> out(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    long double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < cols; ++c) m = std::max<long double>(m, v[r * cols + c]);
    for (int64_t c = 0; c < cols; ++c) s += std::exp(v[r * cols + c] - m);
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = double(std::exp(v[r * cols + c] - m) / s);
  }
  return out;
}

TEST(Numerics, SoftmaxStaysNormalizedForLargeLogits) {
  // Logits of scale up to 1e30 along either axis, of a matrix and of its transpose (a strided
  // view): softmax sums to 1 and matches a long double reference; log_softmax is its log.
  const int64_t rows = 5, cols = 7;
  for (DType dt : kFloats)
    for (double scale : {1.0, 1e4, 1e7, 1e8, 1e12, 1e30})
      for (bool transposed : {false, true})
        for (int64_t axis : {int64_t(-1), int64_t(0)}) {
          // Rows of ties and near-ties too: spread 3 keeps some differences at a few ulps.
          Tensor base = randn({rows, cols}, 111, dt) * (scale > 1 ? 3.0 : 1.0) + scale;
          Tensor x = transposed ? base.T() : base;
          if (axis == 0) x = x.T();  // normalize along the logical rows either way
          const Tensor p = nn::softmax(x, axis), lp = nn::log_softmax(x, axis);
          const Tensor pr = axis == 0 ? p.T() : p, lpr = axis == 0 ? lp.T() : lp;
          const Tensor xr = axis == 0 ? x.T() : x;
          const int64_t r = xr.shape()[0], c = xr.shape()[1];
          const std::vector<double> want = softmax_rows(xr.to_vector(), r, c);
          const std::string what = std::string(dtype_name(dt)) + " scale " + std::to_string(scale) +
                                   (transposed ? " transposed" : "") + " axis " +
                                   std::to_string(axis);
          const double tol = dt == DType::f32 ? 2e-6 : 1e-14;
          const std::vector<double> got = pr.to_vector(), lgot = lpr.to_vector();
          for (size_t i = 0; i < want.size(); ++i) {
            EXPECT_NEAR(got[i], want[i], tol) << what << " softmax at " << i;
            EXPECT_NEAR(std::exp(lgot[i]), want[i], 2 * tol) << what << " log_softmax at " << i;
          }
          expect_values(pr.sum({1}), std::vector<double>(r, 1.0), tol * c);
          expect_values(exp(lpr).sum({1}), std::vector<double>(r, 1.0), 2 * tol * c);
        }
}

TEST(Numerics, SoftmaxOfLargeTensorsStaysNormalized) {
  // 2^20 elements: the shift and the normalization go through the lazy path, and the eager one.
  both_paths([](const std::string& path) {
    const int64_t rows = 1024, cols = 1024;
    for (int64_t axis : {int64_t(1), int64_t(0)}) {
      const Tensor x = randn({rows, cols}, 121) * 4.0 + 1e8;
      const Tensor p = nn::softmax(x, axis), lp = nn::log_softmax(x, axis);
      for (const Tensor& s : {p.sum({axis}), exp(lp).sum({axis})})
        for (double v : s.to_vector()) ASSERT_NEAR(v, 1.0, 1e-4) << path << " axis " << axis;
    }
  });
}

TEST(Numerics, SoftmaxGradientsAreExactAndShiftInvariant) {
  // d log_softmax = g - softmax * sum(g) and d softmax = p * (g - sum(g * p)), per row, under a
  // random upstream gradient: exact for large float32 logits, with tied maxima (the shift's
  // max must pass no gradient, or pass one that cancels), and after adding a constant.
  const int64_t rows = 3, cols = 4;
  for (DType dt : kFloats)
    for (double offset : {0.0, 1e8}) {
      std::vector<double> shifted = {1, 3, 3, 0, 2, 2, 2, 2, -1, 5, 4, 5};
      for (double& e : shifted) e += offset;
      // The reference from the logits as stored (float32 rounds 1e8 + 1 to a multiple of 8).
      const std::vector<double> stored = tensor(shifted, {rows, cols}, dt).to_vector();
      const Tensor g = randn({rows, cols}, 131, dt);
      const std::vector<double> gv = g.to_vector();
      const std::vector<double> sp = softmax_rows(stored, rows, cols);
      std::vector<double> want_log(sp.size()), want_soft(sp.size());
      for (int64_t r = 0; r < rows; ++r) {
        double gsum = 0, gp = 0;
        for (int64_t c = 0; c < cols; ++c) {
          gsum += gv[r * cols + c];
          gp += gv[r * cols + c] * sp[r * cols + c];
        }
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t i = r * cols + c;
          want_log[i] = gv[i] - sp[i] * gsum;
          want_soft[i] = sp[i] * (gv[i] - gp);
        }
      }
      const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
      Tensor x = tensor(shifted, {rows, cols}, dt).requires_grad_();
      expect_values(grad(nn::log_softmax(x, 1), {x}, g)[0], want_log, tol);
      expect_values(grad(nn::softmax(x, -1), {x}, g)[0], want_soft, tol);
      const Tensor xt = tensor(shifted, {rows, cols}, dt).T().requires_grad_();
      expect_values(grad(nn::log_softmax(xt, 0), {xt}, g.T())[0].T(), want_log, tol);
      // Second derivatives through the shift: gradcheck of the gradient (random weights).
      if (dt == DType::f64 && offset == 0) {
        const Tensor w = randn({rows, cols}, 132, DType::f64);
        auto first = [&](const std::vector<Tensor>& in) {
          return grad(nn::log_softmax(in[0], 1) * nn::softmax(in[0], 1), {in[0]}, g, true)[0] * w;
        };
        const GradcheckResult r = gradcheck(first, {testing::away_from_zero({rows, cols}, 133)});
        EXPECT_TRUE(r.ok) << r.report;
      }
    }
}

TEST(Numerics, CrossEntropyOfLargeLogitsIsExact) {
  // The fused kernel: the loss matches a long double reference, and its gradient's rows (the
  // softmax minus the one-hot, over B) sum to 0.
  const int64_t rows = 4, cols = 6;
  const Tensor labels = tensor({1, 0, 5, 3}, {rows}, DType::i64);
  for (DType dt : kFloats)
    for (double offset : {0.0, 1e7, 1e8, 1e30}) {
      const Tensor base = randn({rows, cols}, 141, dt) * 3.0 + offset;
      const std::vector<double> v = base.to_vector();
      const std::vector<double> p = softmax_rows(v, rows, cols);
      double want = 0;
      for (int64_t r = 0; r < rows; ++r)
        want -= std::log(p[r * cols + int64_t(labels.to_vector()[r])]);
      want /= rows;
      Tensor x = base.detach().requires_grad_();
      const Tensor loss = nn::cross_entropy(x, labels);
      const std::string what = std::string(dtype_name(dt)) + " offset " + std::to_string(offset);
      EXPECT_NEAR(loss.item(), want, (dt == DType::f32 ? 1e-5 : 1e-12) * (1 + want)) << what;
      const Tensor gx = grad(loss, {x})[0];
      for (double s : gx.sum({1}).to_vector()) EXPECT_NEAR(s, 0.0, 1e-6) << what;
    }
}

TEST(Numerics, SoftmaxErrorsNameTheFunctionCalled) {
  const Tensor m = ones({2, 3});
  for (const auto& [name, f] : std::vector<std::pair<std::string, std::function<Tensor()>>>{
           {"softmax", [&] { return nn::softmax(m, 2); }},
           {"log_softmax", [&] { return nn::log_softmax(m, -3); }},
           {"softmax", [&] { return nn::softmax(ones({3}, DType::i64)); }},
           {"log_softmax", [&] { return nn::log_softmax(Tensor()); }}}) {
    try {
      f();
      ADD_FAILURE() << name << ": no error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(name + ":", 0) == 0 || what.rfind(name + " ", 0) == 0, true)
          << "'" << what << "' does not start with " << name;
      EXPECT_EQ(what.find("logsumexp"), std::string::npos) << what;
    }
  }
  EXPECT_THROW(nn::softmax(m, 2), AxisError);
  EXPECT_THROW(nn::log_softmax(ones({3}, DType::i64)), DTypeError);
}

// ---------------------------------------------------------------------------------------------
// Item 14: result dtypes follow operand kinds, never a scalar's value; `/` is true division;
// floor_divide is NumPy's //.

enum class Op { add, sub, mul, div, floor_div, less, equal };
const Op kOps[] = {Op::add, Op::sub, Op::mul, Op::div, Op::floor_div, Op::less, Op::equal};
const char* op_name(Op op) {
  const char* names[] = {"+", "-", "*", "/", "floor_divide", "<", "=="};
  return names[static_cast<int>(op)];
}
bool is_comparison(Op op) { return op == Op::less || op == Op::equal; }

template <class L, class R>
Tensor apply(Op op, const L& a, const R& b) {
  switch (op) {
    case Op::add:
      return a + b;
    case Op::sub:
      return a - b;
    case Op::mul:
      return a * b;
    case Op::div:
      return a / b;
    case Op::floor_div:
      return floor_divide(a, b);
    case Op::less:
      return a < b;
    case Op::equal:
      return a == b;
  }
  return Tensor();
}

// The value op gives in a result of dtype dt, from double operands.
double reference(Op op, double a, double b, DType dt) {
  double r = 0;
  switch (op) {
    case Op::add:
      r = a + b;
      break;
    case Op::sub:
      r = a - b;
      break;
    case Op::mul:
      r = a * b;
      break;
    case Op::div:
      r = a / b;
      break;
    case Op::floor_div:
      r = dt == DType::i64 && b == 0 ? 0 : std::floor(a / b);
      break;
    case Op::less:
      return a < b;
    case Op::equal:
      return a == b;
  }
  return dt == DType::f32 ? double(float(r)) : r;
}

// The documented result dtype; nullopt-like `refused` when the op refuses the operands.
struct Expected {
  DType dtype;
  bool refused;
};
// Arithmetic on two tensors: promote_types (bool < i64 < f32 < f64), bool with bool refused;
// `/` gives f32 where that is not floating. Comparisons give bool.
Expected tensor_tensor(Op op, DType a, DType b) {
  if (is_comparison(op)) return {DType::boolean, false};
  const DType p = promote_types(a, b);
  if (op == Op::div) return {is_floating(p) ? p : DType::f32, false};
  return {p, p == DType::boolean};
}
// With a scalar: a floating tensor keeps its dtype; otherwise a floating scalar gives f32 and an
// integer one i64. `/` gives f32 where that is not floating.
Expected tensor_scalar(Op op, DType t, bool floating_scalar) {
  if (is_comparison(op)) return {DType::boolean, false};
  const DType r = is_floating(t) ? t : floating_scalar ? DType::f32 : DType::i64;
  if (op == Op::div) return {is_floating(r) ? r : DType::f32, false};
  return {r, false};
}

const DType kAllDTypes[] = {DType::f32, DType::f64, DType::i64, DType::boolean};

std::vector<double> operand_values(DType dt, int which) {
  if (dt == DType::boolean)
    return which ? std::vector<double>{1, 1, 0, 1, 0} : std::vector<double>{1, 0, 1, 1, 0};
  return which ? std::vector<double>{2, -1, 3, 1, 5} : std::vector<double>{1, 2, -3, 7, -4};
}

void check_cell(const std::string& cell, const std::function<Tensor()>& f, const Expected& want,
                const std::function<double(size_t)>& ref) {
  if (want.refused) {
    EXPECT_THROW(f(), DTypeError) << cell;
    return;
  }
  Tensor r;
  try {
    r = f();
  } catch (const std::exception& e) {
    ADD_FAILURE() << cell << ": " << e.what();
    return;
  }
  ASSERT_EQ(r.dtype(), want.dtype)
      << cell << ": got " << dtype_name(r.dtype()) << ", want " << dtype_name(want.dtype);
  const std::vector<double> got = r.to_vector();
  for (size_t i = 0; i < got.size(); ++i) {
    const double w = ref(i);
    if (std::isfinite(w))
      EXPECT_NEAR(got[i], w, 1e-6 * (1 + std::fabs(w))) << cell << " at " << i;
    else
      EXPECT_TRUE(same(got[i], w)) << cell << " at " << i << ": " << got[i] << " want " << w;
  }
}

TEST(Numerics, PromotionTableTensorTensorEveryCell) {
  for (DType da : kAllDTypes)
    for (DType db : kAllDTypes)
      for (Op op : kOps) {
        const std::vector<double> va = operand_values(da, 0), vb = operand_values(db, 1);
        const Tensor a = tensor(va, {5}, da), b = tensor(vb, {5}, db);
        const Expected want = tensor_tensor(op, da, db);
        const std::string cell =
            std::string(dtype_name(da)) + " " + op_name(op) + " " + dtype_name(db);
        check_cell(
            cell, [&] { return apply(op, a, b); }, want,
            [&](size_t i) { return reference(op, va[i], vb[i], want.dtype); });
      }
}

// Every tensor dtype with a scalar of type S (value v), on either side, for every op.
template <class S>
void scalar_cells(const char* type_name, S v) {
  constexpr bool floating = std::is_floating_point_v<S>;
  for (DType dt : kAllDTypes)
    for (Op op : kOps)
      for (bool scalar_first : {false, true}) {
        const std::vector<double> vt = operand_values(dt, 0);
        const Tensor t = tensor(vt, {5}, dt);
        const Expected want = tensor_scalar(op, dt, floating);
        // The scalar as the op sees it: rounded to a floating result dtype.
        const double sv = want.dtype == DType::f32 ? double(float(v)) : double(v);
        const std::string cell =
            scalar_first ? std::string(type_name) + " " + op_name(op) + " " + dtype_name(dt)
                         : std::string(dtype_name(dt)) + " " + op_name(op) + " " + type_name;
        check_cell(
            cell, [&] { return scalar_first ? apply(op, v, t) : apply(op, t, v); }, want,
            [&](size_t i) {
              return scalar_first ? reference(op, sv, vt[i], want.dtype)
                                  : reference(op, vt[i], sv, want.dtype);
            });
      }
}

TEST(Numerics, PromotionTableTensorScalarEveryCell) {
  scalar_cells<int>("int", 3);
  scalar_cells<int64_t>("int64_t", -3);
  scalar_cells<long long>("long long", 2);
  scalar_cells<unsigned>("unsigned", 3u);
  scalar_cells<uint64_t>("uint64_t", 2u);
  scalar_cells<unsigned char>("unsigned char", 2);
  scalar_cells<bool>("bool", true);
  scalar_cells<double>("double", 2.5);
  scalar_cells<double>("double (integral value)", -2.0);
  scalar_cells<float>("float", -2.5f);
  scalar_cells<long double>("long double", 0.5L);
}

TEST(Numerics, ResultDTypeNeverDependsOnAScalarsValue) {
  const Tensor i = tensor({1, 2, -3}, {3}, DType::i64), b = tensor({1, 0, 1}, {3}, DType::boolean);
  const Tensor f = ones({3}), d = ones({3}, DType::f64);
  for (double v : {2.0, 2.5, 0.0, -1.0, 1e19, -1e300, kNaN, kInf}) {
    EXPECT_EQ((i + v).dtype(), DType::f32) << v;
    EXPECT_EQ((v * i).dtype(), DType::f32) << v;
    EXPECT_EQ((i / v).dtype(), DType::f32) << v;
    EXPECT_EQ((v / i).dtype(), DType::f32) << v;
    EXPECT_EQ(floor_divide(i, v).dtype(), DType::f32) << v;
    EXPECT_EQ((b - v).dtype(), DType::f32) << v;
    EXPECT_EQ((f + v).dtype(), DType::f32) << v;
    EXPECT_EQ((d + v).dtype(), DType::f64) << v;
  }
  for (int64_t v : {int64_t(0), int64_t(-1), int64_t(2), std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()}) {
    EXPECT_EQ((i + v).dtype(), DType::i64) << v;
    EXPECT_EQ((v * b).dtype(), DType::i64) << v;
    EXPECT_EQ(floor_divide(i, v).dtype(), DType::i64) << v;
    EXPECT_EQ((i / v).dtype(), DType::f32) << v;
    EXPECT_EQ((f * v).dtype(), DType::f32) << v;
    EXPECT_EQ((d - v).dtype(), DType::f64) << v;
  }
  // The cases: i64 / 2.0 and i64 / 2.5 are both f32 true division, 2.0 / i64 too.
  const Tensor x = tensor({1, 2, 3, -3}, {4}, DType::i64);
  expect_values(x / 2.0, {0.5, 1, 1.5, -1.5});
  expect_values(x / 2.5, {0.4, 0.8, 1.2, -1.2});
  expect_values(x / 2, {0.5, 1, 1.5, -1.5});
  expect_values(2.0 / x, {2, 1, 2.0 / 3, -2.0 / 3});
  EXPECT_EQ((2.0 / x).dtype(), DType::f32);
}

TEST(Numerics, IntegerScalarsAreExact) {
  // Integer scalars with an i64 tensor stay integers, past 2^53 too.
  const int64_t big = (int64_t(1) << 62) + 1;
  const Tensor t = tensor({0, 1, -1}, {3}, DType::i64);
  const Tensor s = t + big;
  ASSERT_EQ(s.dtype(), DType::i64);
  const int64_t* p = s.contiguous().data_ptr<int64_t>();
  EXPECT_EQ(p[0], big);
  EXPECT_EQ(p[1], big + 1);
  EXPECT_EQ(p[2], big - 1);
  EXPECT_EQ((s == big).to_vector(), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ((s > big).to_vector(), (std::vector<double>{0, 1, 0}));
  // A floating scalar compares with an i64 tensor in f64: 3 < 3.5, and 2^40 + 1 != 2^40.
  const Tensor u = tensor({3, 4, 1099511627777.0}, {3}, DType::i64);
  EXPECT_EQ((u < 3.5).to_vector(), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ((3.5 >= u).to_vector(), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ((u == 1099511627776.0).to_vector(), (std::vector<double>{0, 0, 0}));
  // An unsigned value beyond i64 is refused, naming the op; within range it works.
  EXPECT_THROW(t + std::numeric_limits<uint64_t>::max(), ValueError);
  try {
    (void)(t < std::numeric_limits<uint64_t>::max());
    ADD_FAILURE() << "no error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("less"), std::string::npos) << e.what();
  }
  EXPECT_EQ((t * uint64_t(3)).to_vector(), (std::vector<double>{0, 3, -3}));
}

TEST(Numerics, TrueDivisionOfIntegersIsRoundedOnce) {
  // i64 / i64 is the f64 quotient rounded to f32 once: for integers past 2^24 that is not the
  // quotient of their f32 roundings.
  std::vector<double> a, b;
  for (int64_t x = (int64_t(1) << 25); x < (int64_t(1) << 25) + 300; ++x)
    for (int64_t y = 3; y < 14; ++y) a.push_back(double(x)), b.push_back(double(y));
  const int64_t n = static_cast<int64_t>(a.size());
  const Tensor q = tensor(a, {n}, DType::i64) / tensor(b, {n}, DType::i64);
  ASSERT_EQ(q.dtype(), DType::f32);
  const std::vector<double> got = q.to_vector();
  int differs = 0;
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(got[i], double(float(a[i] / b[i]))) << a[i] << " / " << b[i];
    differs += float(a[i] / b[i]) != float(a[i]) / float(b[i]);
  }
  EXPECT_GT(differs, 0);  // the check can tell the two apart
  // Division by zero as in NumPy: inf, -inf, NaN; bool operands divide too.
  expect_same_values(tensor({1, -1, 0}, {3}, DType::i64) / tensor({0, 0, 0}, {3}, DType::i64),
                     {kInf, -kInf, kNaN}, "i64 / 0");
  const Tensor tb = tensor({1, 0, 1}, {3}, DType::boolean);
  expect_same_values(tb / tb, {1, kNaN, 1}, "bool / bool");
  // Large tensors, through the lazy path and the eager one.
  both_paths([](const std::string& path) {
    const int64_t big = int64_t(1) << 20;
    const Tensor num = arange(big, DType::i64) - big / 2, den = full({big}, 4, DType::i64);
    const Tensor r = num / den;
    ASSERT_EQ(r.dtype(), DType::f32) << path;
    const std::vector<double> v = r.to_vector();
    for (int64_t i : {int64_t(0), int64_t(1), big / 2 - 1, big - 1})
      EXPECT_EQ(v[i], double(i - big / 2) / 4) << path << " at " << i;
  });
}

TEST(Numerics, FloorDivideFollowsNumPy) {
  // Integers: the quotient rounded toward -inf, for every combination of signs; 0 on division by
  // 0 (no SIGFPE); INT64_MIN // -1 wraps.
  const std::vector<double> ia = {7, -7, 7, -7, 6, -6, 0, 1, -1, 5, -5, 0};
  const std::vector<double> ib = {2, 2, -2, -2, 3, -3, 4, 7, 7, 0, 0, 0};
  const std::vector<double> iq = {3, -4, -4, 3, 2, 2, 0, 0, -1, 0, 0, 0};
  const Tensor ta = tensor(ia, {12}, DType::i64), tb = tensor(ib, {12}, DType::i64);
  const Tensor q = floor_divide(ta, tb);
  ASSERT_EQ(q.dtype(), DType::i64);
  expect_same_values(q, iq, "i64 floor_divide");
  const int64_t lowest = std::numeric_limits<int64_t>::min();
  const Tensor low = full({1}, double(lowest), DType::i64);
  EXPECT_EQ(floor_divide(low, int64_t(-1)).contiguous().data_ptr<int64_t>()[0], lowest);
  EXPECT_EQ(floor_divide(low, int64_t(2)).contiguous().data_ptr<int64_t>()[0], lowest / 2);
  // Scalar forms, either side.
  expect_same_values(floor_divide(ta, -2), {-4, 3, -4, 3, -3, 3, 0, -1, 0, -3, 2, 0}, "i64 // -2");
  expect_same_values(floor_divide(-7, tb), {-4, -4, 3, 3, -3, 2, -2, -1, -1, 0, 0, 0}, "-7 // i64");
  // Floats: NumPy's divmod-based result (1 // 0.1 is 9, where floor(1 / 0.1) is 10), signed
  // zeros, and a / b for b == 0.
  for (DType dt : kFloats) {
    const std::vector<double> fa = {7.5, -7.5, 7.5, -7.5, 1, -1, 0, 1, -1, 0.5, -0.5, 3};
    const std::vector<double> fb = {2, 2, -2, -2, 0, 0, 0, kInf, kInf, 0.25, 0.25, -kInf};
    const std::vector<double> fq = {3, -4, -4, 3, kInf, -kInf, kNaN, 0, -1, 2, -2, -1};
    const Tensor r = floor_divide(tensor(fa, {12}, dt), tensor(fb, {12}, dt));
    ASSERT_EQ(r.dtype(), dt);
    expect_same_values(r, fq, std::string("floor_divide ") + dtype_name(dt));
    EXPECT_EQ(floor_divide(scalar(1.0, dt), scalar(0.1, dt)).item(), 9.0) << dtype_name(dt);
    EXPECT_TRUE(std::signbit(floor_divide(scalar(0.0, dt), -4.0).item())) << dtype_name(dt);
    EXPECT_TRUE(std::signbit(floor_divide(scalar(-0.0, dt), 4.0).item())) << dtype_name(dt);
    EXPECT_FALSE(std::signbit(floor_divide(scalar(0.0, dt), 4.0).item())) << dtype_name(dt);
    EXPECT_EQ(floor_divide(scalar(-0.5, dt), 4.0).item(), -1.0) << dtype_name(dt);
  }
  // Mixed dtypes promote; bool is refused with the op's name; a broadcast row and a strided
  // view go through the strided loop.
  EXPECT_EQ(floor_divide(ta, 2.5).dtype(), DType::f32);
  expect_values(floor_divide(tensor({7, -7}, {2}, DType::i64), tensor({2.5, 2.5}, {2})), {2, -3});
  try {
    floor_divide(tensor({1}, {1}, DType::boolean), tensor({1}, {1}, DType::boolean));
    ADD_FAILURE() << "no error";
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("floor_divide"), std::string::npos) << e.what();
  }
  const Tensor m = tensor({7, -7, 8, -9, 10, 11}, {2, 3}, DType::i64);
  expect_same_values(floor_divide(m.T(), tensor({2, -3}, {2}, DType::i64)), {3, 3, -4, -4, 4, -4},
                     "strided // broadcast row");
  // Not differentiable: no graph even from a tensor that requires grad.
  Tensor x = tensor({1.5, -2.5}, {2}).requires_grad_();
  EXPECT_FALSE(floor_divide(x, 2.0).requires_grad());
}

TEST(Numerics, FloorDivideOfLargeTensors) {
  both_paths([](const std::string& path) {
    const int64_t n = int64_t(1) << 20;
    const Tensor num = arange(n, DType::i64) - n / 2;
    for (DType dt : {DType::i64, DType::f32, DType::f64}) {
      const Tensor r = floor_divide(num.to(dt), full({n}, -3.0, dt));
      ASSERT_EQ(r.dtype(), dt) << path;
      const std::vector<double> v = r.to_vector();
      for (int64_t i : {int64_t(0), int64_t(1), n / 2 - 1, n / 2, n / 2 + 1, n - 1})
        EXPECT_EQ(v[i], std::floor(double(i - n / 2) / -3))
            << path << " " << dtype_name(dt) << " at " << i;
    }
  });
}

// Issue #22, item 2: piecewise-constant ops pass zero gradients (PyTorch's), not "no
// gradient": their results require grad, and backward through them fills x.grad with zeros.
TEST(Numerics, PiecewiseConstantOpsPassZeroGradients) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor values = tensor({-2.5, -1.2, -0.5, 0.0, 0.5, 1.5, 2.5, 3.7}, {8}, dt);
    for (const auto& [name, f] : std::vector<std::pair<std::string, Tensor (*)(const Tensor&)>>{
             {"floor", [](const Tensor& x) { return floor(x); }},
             {"ceil", [](const Tensor& x) { return ceil(x); }},
             {"round", [](const Tensor& x) { return round(x); }},
             {"trunc", [](const Tensor& x) { return trunc(x); }},
             {"sign", [](const Tensor& x) { return sign(x); }}}) {
      Tensor x = values.detach().requires_grad_();
      const Tensor y = f(x);
      ASSERT_TRUE(y.requires_grad()) << name;
      y.sum().backward();
      ASSERT_TRUE(x.grad().defined()) << name;
      EXPECT_EQ(x.grad().dtype(), dt) << name;
      expect_values(x.grad(), std::vector<double>(8, 0.0), 0);
      // Under a product: d(floor(x) * x)/dx = floor(x), the zero derivative times x added.
      Tensor z = values.detach().requires_grad_();
      (f(z) * z).sum().backward();
      expect_values(z.grad(), f(values).to_vector(), 0);
    }
    Tensor x = values.detach().requires_grad_();
    frac(x).sum().backward();  // x - trunc(x): the gradient is g
    expect_values(x.grad(), std::vector<double>(8, 1.0), 0);
  }
  // Bool results never require grad (PyTorch's rule), so their inputs get no gradient from them.
  Tensor x = tensor({1.0, std::nan(""), -INFINITY}, {3}, DType::f64).requires_grad_();
  for (const Tensor& b : {x > 0.0, isnan(x), isinf(x), isfinite(x), logical_not(x),
                          logical_and(x, x), logical_or(x, 0.0), logical_xor(x, 1)}) {
    EXPECT_EQ(b.dtype(), DType::boolean);
    EXPECT_FALSE(b.requires_grad());
  }
}

TEST(Numerics, RoundingOpsFollowNumPy) {
  // Half to even (std::nearbyint under the default rounding mode), as np.round and torch.round.
  expect_values(
      round(tensor({0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 3.2}, {8}, DType::f64)),
      {0, 2, 2, -0.0, -2, -2, 0, 3}, 0);
  EXPECT_TRUE(std::signbit(round(scalar(-0.4, DType::f64)).item()));
  expect_values(floor(tensor({-1.5, 1.5}, {2})), {-2, 1}, 0);
  expect_values(ceil(tensor({-1.5, 1.5}, {2})), {-1, 2}, 0);
  expect_values(trunc(tensor({-1.5, 1.5}, {2})), {-1, 1}, 0);
  expect_values(frac(tensor({-1.25, 1.75}, {2})), {-0.25, 0.75}, 0);
  // Integer tensors keep their values and dtype; bool is refused, frac needs floating.
  const Tensor ints = tensor({-7, 0, 9007199254740993.0, 3}, {4}, DType::i64);
  for (const Tensor& r : {floor(ints), ceil(ints), round(ints), trunc(ints)}) {
    EXPECT_EQ(r.dtype(), DType::i64);
    expect_values(r, ints.to_vector(), 0);
  }
  const Tensor flags = tensor({1, 0}, {2}, DType::boolean);
  testing::expect_error<DTypeError>([&] { floor(flags); }, {"floor"});
  testing::expect_error<DTypeError>([&] { frac(ints); }, {"frac"});
  // NaN and infinities pass through.
  const Tensor special = tensor({std::nan(""), INFINITY, -INFINITY}, {3}, DType::f32);
  const std::vector<double> r = round(special).to_vector();
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_EQ(r[1], INFINITY);
  EXPECT_EQ(r[2], -INFINITY);
}

TEST(Numerics, FmodAndRemainderSignRules) {
  // fmod: the sign of a (C's); remainder: the sign of b (NumPy's, Python's).
  const Tensor a = tensor({7, -7, 7, -7, 6}, {5}, DType::f64);
  const Tensor b = tensor({3, 3, -3, -3, 3}, {5}, DType::f64);
  expect_values(fmod(a, b), {1, -1, 1, -1, 0}, 0);
  expect_values(remainder(a, b), {1, 2, -2, -1, 0}, 0);
  EXPECT_TRUE(std::signbit(remainder(scalar(6.0, DType::f64), -3.0).item()));  // -0.0
  EXPECT_TRUE(std::isnan(remainder(scalar(1.0, DType::f64), 0.0).item()));
  EXPECT_TRUE(std::isnan(fmod(scalar(1.0, DType::f64), 0.0).item()));
  // Integers: the same rules; division by 0 gives 0 and INT64_MIN by -1 does not trap.
  const Tensor ai = a.to(DType::i64), bi = b.to(DType::i64);
  EXPECT_EQ(fmod(ai, bi).dtype(), DType::i64);
  expect_values(fmod(ai, bi), {1, -1, 1, -1, 0}, 0);
  expect_values(remainder(ai, bi), {1, 2, -2, -1, 0}, 0);
  expect_values(fmod(ai, int64_t(0)), {0, 0, 0, 0, 0}, 0);
  expect_values(remainder(ai, int64_t(0)), {0, 0, 0, 0, 0}, 0);
  const Tensor lowest = full({}, -9223372036854775808.0, DType::i64);
  EXPECT_EQ(fmod(lowest, int64_t(-1)).item(), 0.0);
  EXPECT_EQ(remainder(lowest, int64_t(-1)).item(), 0.0);
  // Gradients: d/da = g, d/db = -g trunc(a / b) (fmod), -g floor(a / b) (remainder).
  Tensor x = a.detach().requires_grad_(), y = b.detach().requires_grad_();
  (fmod(x, y) + 2.0 * remainder(x, y)).sum().backward();
  expect_values(x.grad(), {3, 3, 3, 3, 3}, 0);
  expect_values(y.grad(), {-2 - 2 * 2, 2 - 2 * -3, 2 - 2 * -3, -2 - 2 * 2, -2 - 2 * 2}, 0);
}

TEST(Numerics, BitwiseLogicalAndPredicates) {
  const Tensor a = tensor({12, -1, 0, 5}, {4}, DType::i64),
               b = tensor({10, 7, 3, -6}, {4}, DType::i64);
  expect_values(bitwise_and(a, b), {8, 7, 0, 0}, 0);
  expect_values(bitwise_or(a, b), {14, -1, 3, -1}, 0);
  expect_values(bitwise_xor(a, b), {6, -8, 3, -1}, 0);
  expect_values(bitwise_not(a), {-13, 0, -1, -6}, 0);
  expect_values(bitwise_and(a, int64_t(4)), {4, 4, 0, 4}, 0);
  const Tensor p = tensor({1, 1, 0, 0}, {4}, DType::boolean),
               q = tensor({1, 0, 1, 0}, {4}, DType::boolean);
  EXPECT_EQ(bitwise_and(p, q).dtype(), DType::boolean);
  expect_values(bitwise_and(p, q), {1, 0, 0, 0}, 0);
  expect_values(bitwise_or(p, q), {1, 1, 1, 0}, 0);
  expect_values(bitwise_xor(p, q), {0, 1, 1, 0}, 0);
  expect_values(bitwise_not(p), {0, 0, 1, 1}, 0);
  EXPECT_EQ(bitwise_or(p, a).dtype(), DType::i64);  // promoted
  testing::expect_error<DTypeError>([&] { bitwise_and(a, a.to(DType::f32)); },
                                    {"bitwise_and", "integer and bool", "f32"});
  testing::expect_error<DTypeError>([&] { bitwise_not(a.to(DType::f64)); },
                                    {"bitwise_not", "integer and bool", "f64"});
  testing::expect_error<DTypeError>([&] { bitwise_xor(a, 1.5); }, {"bitwise_xor"});
  // Shifts as NumPy's: counts outside [0, 64) shift every bit out (the sign for right shifts),
  // left shifts wrap.
  const Tensor v = tensor({1, -8, 5, -5, 3, -1, 7}, {7}, DType::i64),
               n = tensor({3, 1, 64, 70, -1, 63, 0}, {7}, DType::i64);
  expect_values(left_shift(v, n), {8, -16, 0, 0, 0, -9223372036854775808.0, 7}, 0);
  expect_values(right_shift(v, n), {0, -4, 0, -1, 0, -1, 7}, 0);
  expect_values(left_shift(tensor({1LL << 62}, {1}, DType::i64), int64_t(1)),
                {-9223372036854775808.0}, 0);
  expect_values(left_shift(p, q), {1, 1, 0, 0}, 0);
  expect_values(right_shift(p, q), {0, 1, 0, 0}, 0);
  testing::expect_error<DTypeError>([&] { left_shift(a.to(DType::f32), a); }, {"left_shift"});
  // Logical ops: any dtypes, a bool result; NaN counts as true.
  const Tensor f = tensor({0.0, std::nan(""), -2.0, 0.0}, {4}, DType::f32);
  expect_values(logical_and(f, a), {0, 1, 0, 0}, 0);
  expect_values(logical_or(f, p), {1, 1, 1, 0}, 0);
  expect_values(logical_xor(f, 1), {1, 0, 0, 1}, 0);
  expect_values(logical_not(f), {1, 0, 0, 1}, 0);
  expect_values(logical_not(a), {0, 0, 1, 0}, 0);
  // Predicates: every dtype, bool results.
  const Tensor s = tensor({std::nan(""), INFINITY, -INFINITY, 1.0}, {4}, DType::f64);
  expect_values(isnan(s), {1, 0, 0, 0}, 0);
  expect_values(isinf(s), {0, 1, 1, 0}, 0);
  expect_values(isfinite(s), {0, 0, 0, 1}, 0);
  expect_values(isnan(a), {0, 0, 0, 0}, 0);
  expect_values(isfinite(p), {1, 1, 1, 1}, 0);
  EXPECT_EQ(isnan(a).dtype(), DType::boolean);
  // Large (past the lazy threshold) and strided inputs.
  const Tensor big = rand({300, 400}, 7, DType::f32) - 0.5;
  const Tensor mask = big / (big > 0.0).to(DType::f32);  // inf where big > 0 is false... or NaN
  EXPECT_EQ(isfinite(mask).to(DType::i64).sum().item() + isinf(mask).to(DType::i64).sum().item() +
                isnan(mask).to(DType::i64).sum().item(),
            300.0 * 400.0);
  expect_values(isfinite(mask.T()).T(), isfinite(mask).to_vector(), 0);
}

TEST(Numerics, ParameterizedFunctionsEdges) {
  // clamp: NaN passes, without a gradient (PyTorch's); hardtanh passes NaN with its gradient.
  Tensor x = tensor({std::nan(""), -2.0, 0.5, 2.0}, {4}, DType::f64).requires_grad_();
  const Tensor c = clamp(x, -1.0, 1.0);
  const std::vector<double> cv = c.to_vector();
  EXPECT_TRUE(std::isnan(cv[0]));
  EXPECT_EQ(cv[1], -1.0);
  EXPECT_EQ(cv[3], 1.0);
  c.sum().backward();
  expect_values(x.grad(), {0, 0, 1, 0}, 0);
  Tensor h = x.detach().requires_grad_();
  hardtanh(h).sum().backward();
  const std::vector<double> hg = h.grad().to_vector();
  EXPECT_EQ(hg[0], 1.0);
  EXPECT_EQ(hg[1], 0.0);
  testing::expect_error<ValueError>([&] { clamp(x, std::nullopt, std::nullopt); },
                                    {"clamp", "min and max"});
  testing::expect_error<ValueError>([&] { clamp(x, Tensor(), Tensor()); }, {"clamp"});
  testing::expect_error<ValueError>([&] { hardtanh(x, 1.0, -1.0); }, {"hardtanh"});
  testing::expect_error<ValueError>([&] { gelu(x, "fast"); }, {"gelu", "tanh"});
  testing::expect_error<DTypeError>([&] { leaky_relu(tensor({1}, {1}, DType::i64)); },
                                    {"leaky_relu"});
  // An i64 tensor with number bounds: f32, as the operators with a floating scalar.
  const Tensor ci = clamp(tensor({-5, 0, 5}, {3}, DType::i64), -1.5, 2.0);
  EXPECT_EQ(ci.dtype(), DType::f32);
  expect_values(ci, {-1.5, 0, 2}, 0);
  // Integer bounds keep an integer tensor's dtype (as i + 2 does); either may be absent.
  const Tensor ii = clamp(tensor({-5, 0, 5}, {3}, DType::i64), -1, 2);
  EXPECT_EQ(ii.dtype(), DType::i64);
  expect_values(ii, {-1, 0, 2}, 0);
  const Tensor iu = clip(tensor({1, 7, 200}, {3}, DType::u8), 2, 100u);
  EXPECT_EQ(iu.dtype(), DType::u8);
  expect_values(iu, {2, 7, 100}, 0);
  expect_values(clamp(tensor({-5, 0, 5}, {3}, DType::i64), std::nullopt, 1), {-5, 0, 1}, 0);
  EXPECT_EQ(clamp(tensor({-5, 0, 5}, {3}, DType::i64), 0).dtype(), DType::i64);
  EXPECT_EQ(clamp(x, 0, 1).dtype(), x.dtype());  // integer bounds with a floating tensor
  // nan_to_num: the dtype's largest finite values by default.
  const Tensor n = nan_to_num(tensor({std::nan(""), INFINITY, -INFINITY, 2.0}, {4}, DType::f32));
  expect_values(n, {0, std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest(), 2},
                0);
  const Tensor i = tensor({3, -4}, {2}, DType::i64);
  const Tensor ni = nan_to_num(i);
  EXPECT_EQ(ni.dtype(), DType::i64);
  expect_values(ni, {3, -4}, 0);
  // lerp is exact at both ends; gelu(t, "tanh") is the row gelu_tanh.
  const Tensor a = tensor({0.1, -3.0}, {2}, DType::f64), b = tensor({0.7, 1e-17}, {2}, DType::f64);
  expect_values(lerp(a, b, 1.0), b.to_vector(), 0);
  expect_values(lerp(a, b, 0.0), a.to_vector(), 0);
  expect_values(gelu(a, "tanh"), gelu_tanh(a).to_vector(), 0);
  expect_values(gelu(a, "none"), gelu(a).to_vector(), 0);
}

// t's dtype and values.
void expect_dtype_values(const Tensor& t, DType dtype, const std::vector<double>& values) {
  EXPECT_EQ(t.dtype(), dtype);
  EXPECT_EQ(t.to_vector(), values);
}

// pow of two integer tensors is the exact power, wrapping as the dtype does (NumPy's and
// PyTorch's), past 2^53 too; a negative exponent is a ValueError naming pow; an integer base
// with a floating exponent gives the floating dtype (f32 for a number).
TEST(Numerics, IntegerPowersAreExact) {
  const Tensor base = tensor({3, -3, 7, 0, 1, -1, 2, 2}, {8}, DType::i64);
  const Tensor exps = tensor({39, 39, 0, 0, 5, 3, 62, 64}, {8}, DType::i64);
  const Tensor p = pow(base, exps);
  ASSERT_EQ(p.dtype(), DType::i64);
  const int64_t* v = p.data_ptr<int64_t>();
  int64_t want3 = 1;
  for (int i = 0; i < 39; ++i) want3 *= 3;  // 4052555153018976267: not exact in f64
  EXPECT_EQ(v[0], want3);
  EXPECT_EQ(v[1], -want3);
  EXPECT_EQ(v[2], 1);
  EXPECT_EQ(v[3], 1);  // 0^0
  EXPECT_EQ(v[4], 1);
  EXPECT_EQ(v[5], -1);
  EXPECT_EQ(v[6], int64_t(1) << 62);
  EXPECT_EQ(v[7], 0);  // 2^64 wraps to 0
  expect_dtype_values(pow(tensor({3, 200}, {2}, DType::u8), int64_t(2)), DType::u8,
                      {9, 64});  // wraps
  expect_dtype_values(pow(int64_t(2), tensor({0, 3, 7}, {3}, DType::i8)), DType::i8, {1, 8, -128});
  expect_dtype_values(
      pow(tensor({1, 0, 1}, {3}, DType::boolean), tensor({2, 3, 0}, {3}, DType::i64)), DType::i64,
      {1, 0, 1});
  EXPECT_EQ(pow(base, 2.0).dtype(), DType::f32);
  EXPECT_EQ(pow(base, ones({8}, DType::f64)).dtype(), DType::f64);
  EXPECT_EQ(pow(2.0, base).dtype(), DType::f32);
  testing::expect_error<ValueError>(
      [&] {
        pow(base, tensor({1, -2}, {2, 1}, DType::i64));
      },
      {"pow", "negative", "-2"});
  testing::expect_error<ValueError>([&] { pow(base, int64_t(-1)); }, {"pow", "negative"});
  testing::expect_error<DTypeError>(
      [&] { pow(ones({2}, DType::boolean), ones({2}, DType::boolean)); }, {"pow", "bool"});
  // A floating base with an integer exponent: the gradient reaches the base.
  Tensor x = tensor({1.5, 2, -0.5}, {3}, DType::f64);
  x.requires_grad_();
  pow(x, tensor({2, 3, 1}, {3}, DType::i64)).sum().backward();
  expect_dtype_values(x.grad(), DType::f64, {3, 12, 1});
}

}  // namespace
}  // namespace ndgrad
