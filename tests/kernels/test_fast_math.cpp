// The vectorized float32 exp/tanh/sigmoid agree with libm to within a few ulp everywhere,
// including the edges (overflow, gradual underflow into subnormals, infinities, NaN); sin,
// cos, erf, erfc and GELU within 2 ulp of float64 over every binade, and the roundings exactly.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/fast_math.hpp"
#include "ndgrad/ndgrad.hpp"
#include "test_util.hpp"

using namespace ndgrad::kernels;

namespace {

double ulps(float got, double exact) {
  const float want = static_cast<float>(exact);  // the correctly rounded float result
  if (std::isnan(want)) return std::isnan(got) ? 0 : 1e9;
  if (std::isinf(want)) return got == want ? 0 : 1e9;
  const double ulp = std::max<double>(std::fabs(std::nextafter(want, INFINITY) - want),
                                      std::numeric_limits<float>::denorm_min());
  return std::fabs(double(got) - double(want)) / ulp;
}

}  // namespace

TEST(FastMath, WithinAFewUlpOfLibmOverTheWholeRange) {
  std::vector<float> xs;
  for (float x = -110.0f; x <= 110.0f; x += 0.0137f) xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-40f, -1e-40f, 88.7f, 88.8f, -87.3f, -87.4f,
                  -88.8f, -103.2f, -103.3f, -103.9f, -104.0f, 0.6249f, 0.6251f})
    xs.push_back(x);
  std::vector<float> e(xs.size()), t(xs.size()), s(xs.size());
  exp_f32_loop(xs.data(), e.data(), static_cast<int64_t>(xs.size()));
  tanh_f32_loop(xs.data(), t.data(), static_cast<int64_t>(xs.size()));
  sigmoid_f32_loop(xs.data(), s.data(), static_cast<int64_t>(xs.size()));
  double worst_e = 0, worst_t = 0, worst_s = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i];
    // Subnormal results too (x from -103.97 to -87.34 for exp, below -88.7 for sigmoid): they
    // count in units of the subnormal spacing, so any flush to 0 fails.
    worst_e = std::max(worst_e, ulps(e[i], std::exp(x)));
    worst_t = std::max(worst_t, ulps(t[i], std::tanh(x)));
    worst_s = std::max(worst_s, ulps(s[i], 1 / (1 + std::exp(-x))));
  }
  EXPECT_LE(worst_e, 3);
  EXPECT_LE(worst_t, 3);
  EXPECT_LE(worst_s, 4);
}

TEST(FastMath, EdgesAndSpecialValues) {
  const float inf = INFINITY, nan = NAN;
  EXPECT_EQ(exp_f32(inf), inf);
  EXPECT_EQ(exp_f32(-inf), 0.0f);
  EXPECT_EQ(exp_f32(100.0f), inf);
  EXPECT_EQ(exp_f32(-200.0f), 0.0f);
  EXPECT_TRUE(std::isnan(exp_f32(nan)));
  EXPECT_EQ(tanh_f32(inf), 1.0f);
  EXPECT_EQ(tanh_f32(-inf), -1.0f);
  EXPECT_TRUE(std::isnan(tanh_f32(nan)));
  EXPECT_EQ(sigmoid_f32(-inf), 0.0f);
  EXPECT_EQ(sigmoid_f32(inf), 1.0f);
  EXPECT_EQ(exp_f32(0.0f), 1.0f);
  EXPECT_EQ(tanh_f32(0.0f), 0.0f);
  // Gradual underflow: the smallest subnormal, and 0 only past ln(2^-150).
  EXPECT_EQ(exp_f32(-103.28f), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(exp_f32(-104.0f), 0.0f);
  EXPECT_GT(exp_f32(-90.0f), 0.0f);
  EXPECT_LT(exp_f32(-90.0f), std::numeric_limits<float>::min());
  EXPECT_EQ(sigmoid_f32(-95.0f), exp_f32(-95.0f));
  EXPECT_EQ(tanh_f32(1e-40f), 1e-40f);
}

namespace {

// Inputs for the sweeps: a dense grid around 0, every binade from the smallest subnormal to
// FLT_MAX (a few values in each, both signs), random bit patterns (NaN and inf among them),
// floats next to multiples of pi/2, integers and halves.
std::vector<float> sweep_inputs() {
  std::vector<float> xs;
  for (float x = -40.0f; x <= 40.0f; x += 0.00731f) xs.push_back(x);
  for (int e = -149; e <= 127; ++e)
    for (float m : {1.0f, 1.1234567f, 1.5f, 1.7320508f, 1.9999999f}) {
      const float v = std::ldexp(m, e);
      xs.push_back(v);
      xs.push_back(-v);
    }
  uint32_t state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 1664525u + 1013904223u;
    float v;
    std::memcpy(&v, &state, sizeof v);
    xs.push_back(v);
  }
  for (int64_t k = -100000; k <= 100000; k += 7) {
    const float v = static_cast<float>(static_cast<double>(k) * 1.5707963267948966);
    xs.push_back(v);
    xs.push_back(std::nextafter(v, INFINITY));
    xs.push_back(std::nextafter(v, -INFINITY));
  }
  // Both sides of GELU's table edges (its quarters of |x|, its end, the tail bound), a few ulps
  // each way.
  std::vector<float> edges = {7.87f, 8.0f};
  for (int i = 0; i < 32; ++i) edges.push_back((static_cast<float>(i) + 0.5f) / 4);
  for (float e : edges) {
    float below = e, above = e;
    for (int k = 0; k < 4; ++k) {
      for (float v : {below, above}) {
        xs.push_back(v);
        xs.push_back(-v);
      }
      below = std::nextafter(below, 0.0f);
      above = std::nextafter(above, INFINITY);
    }
  }
  for (float v :
       {0.0f,        -0.0f,      0.5f,        -0.5f,      1.5f,        -1.5f,      2.5f,
        -2.5f,       8388607.5f, -8388607.5f, 8388608.0f, 16777215.0f, 1048575.9f, 1048576.0f,
        -1048576.0f, 1e30f,      -1e30f,      INFINITY,   -INFINITY,   NAN,        -NAN})
    xs.push_back(v);
  return xs;
}

// The largest error in ulp of f (a loop) against the float64 function want over xs; NaN must
// give NaN, and a zero result the reference's sign.
template <class Want>
double worst_ulps(void (*f)(const float*, float*, int64_t), float (*one)(float),
                  const std::vector<float>& xs, Want want, float* worst_x) {
  std::vector<float> y(xs.size());
  f(xs.data(), y.data(), static_cast<int64_t>(xs.size()));
  double worst = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double exact = want(static_cast<double>(xs[i]));
    double u = ulps(y[i], exact);
    if (static_cast<float>(exact) == 0 && std::signbit(y[i]) != std::signbit(exact)) u = 1e9;
    // The one-element function (broadcast and strided runs) gives the loop's result.
    const float single = one(xs[i]);
    if (!(single == y[i] || (single != single && y[i] != y[i]))) u = 1e9;
    if (u > worst) {
      worst = u;
      *worst_x = xs[i];
    }
  }
  return worst;
}

}  // namespace

TEST(FastMath, SinCosErfGeluWithinTwoUlpOfFloat64) {
  const std::vector<float> xs = sweep_inputs();
  float at = 0;
  // sin and cos of every float input, huge ones too (past the reduction's bound the loops use
  // libm, which reduces exactly); inf and NaN give NaN.
  EXPECT_LE(worst_ulps(
                sin_f32_loop, sin_f32, xs, [](double x) { return std::sin(x); }, &at),
            2)
      << "sin at " << at;
  EXPECT_LE(worst_ulps(
                cos_f32_loop, cos_f32, xs, [](double x) { return std::cos(x); }, &at),
            2)
      << "cos at " << at;
  EXPECT_LE(worst_ulps(
                erf_f32_loop, erf_f32, xs, [](double x) { return std::erf(x); }, &at),
            2)
      << "erf at " << at;
  EXPECT_LE(worst_ulps(
                erfc_f32_loop, erfc_f32, xs, [](double x) { return std::erfc(x); }, &at),
            2)
      << "erfc at " << at;
  // The exact GELU against x erfc(-x / sqrt 2) / 2 in double, accurate on the negative side
  // too (-inf gives NaN, as x (1 + erf) does).
  auto gelu = [](double x) {
    return x == -INFINITY ? NAN : 0.5 * x * std::erfc(-x * 0.70710678118654752440);
  };
  EXPECT_LE(worst_ulps(gelu_f32_loop, gelu_f32, xs, gelu, &at), 2) << "gelu at " << at;
}

// The logarithms (every float: log 0.89 ulp, log2 1.46, log10 0.91 at worst, bench/NOTES.md),
// SiLU and the tanh GELU from exp_f32, against float64 over the same sweeps.
TEST(FastMath, LogsSiluGeluTanhAgainstFloat64) {
  const std::vector<float> xs = sweep_inputs();
  float at = 0;
  EXPECT_LE(worst_ulps(
                log_f32_loop, log_f32, xs, [](double x) { return std::log(x); }, &at),
            2)
      << "log at " << at;
  EXPECT_LE(worst_ulps(
                log2_f32_loop, log2_f32, xs, [](double x) { return std::log2(x); }, &at),
            2)
      << "log2 at " << at;
  EXPECT_LE(worst_ulps(
                log10_f32_loop, log10_f32, xs, [](double x) { return std::log10(x); }, &at),
            2)
      << "log10 at " << at;
  // x / (1 + e^-x): exp_f32's error, the sum's and the quotient's.
  EXPECT_LE(worst_ulps(
                silu_f32_loop, silu_f32, xs, [](double x) { return x / (1 + std::exp(-x)); }, &at),
            3)
      << "silu at " << at;
  // The tanh GELU of the float inner value u (rounded in float, as every implementation does):
  // x / (1 + e^(-2u)) in double, so that the test measures the rest of the computation.
  auto gelu_tanh = [](double x) {
    const double u = static_cast<double>(gelu_tanh_inner(static_cast<float>(x)));
    return x / (1 + std::exp(-2 * u));
  };
  EXPECT_LE(worst_ulps(gelu_tanh_f32_loop, gelu_tanh_f32, xs, gelu_tanh, &at), 3)
      << "gelu_tanh at " << at;
}

// expm1 and log1p (exp_f32's polynomial, the logarithm), softplus and SELU from them.
TEST(FastMath, Expm1Log1pSoftplusSeluAgainstFloat64) {
  const std::vector<float> xs = sweep_inputs();
  float at = 0;
  EXPECT_LE(worst_ulps(
                expm1_f32_loop, expm1_f32, xs, [](double x) { return std::expm1(x); }, &at),
            2)
      << "expm1 at " << at;
  EXPECT_LE(worst_ulps(
                log1p_f32_loop, log1p_f32, xs, [](double x) { return std::log1p(x); }, &at),
            2)
      << "log1p at " << at;
  // log1p(e^-|x|) passes exp_f32's error on (a relative error of e is one of the result for
  // very negative x).
  auto softplus = [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); };
  EXPECT_LE(worst_ulps(softplus_f32_loop, softplus_f32, xs, softplus, &at), 3)
      << "softplus at " << at;
  auto selu = [](double x) {
    return x > 0 ? 1.0507009873554804934 * x : 1.7580993408473768599 * std::expm1(x);
  };
  EXPECT_LE(worst_ulps(selu_f32_loop, selu_f32, xs, selu, &at), 3) << "selu at " << at;
}

// 2^x, tan, cbrt, the hyperbolic functions and their inverses, atan, asin, acos (Cephes's float
// reductions and polynomials over the lane types), logit and mish, against float64 over the
// sweeps (and the one-element functions equal to the loops). The bounds are in whole ulp from
// the correctly rounded result: half an ulp above the worst error found over all floats.
TEST(FastMath, TanCbrtHyperbolicInverseTrigExp2LogitMishAgainstFloat64) {
  const std::vector<float> xs = sweep_inputs();
  float at = 0;
  using Loop = void (*)(const float*, float*, int64_t);
  using One = float (*)(float);
  struct Case {
    const char* name;
    Loop loop;
    One one;
    double (*want)(double);
    double bound;
  };
  const Case cases[] = {
      {"exp2", exp2_f32_loop, exp2_f32, [](double x) { return std::exp2(x); }, 2},
      // Cephes's tanf polynomial: 2.7 ulp below 2^12, 3.8 up to 2^20 (libm beyond).
      {"tan", tan_f32_loop, tan_f32, [](double x) { return std::tan(x); }, 4},
      {"cbrt", cbrt_f32_loop, cbrt_f32, [](double x) { return std::cbrt(x); }, 1},
      {"sinh", sinh_f32_loop, sinh_f32, [](double x) { return std::sinh(x); }, 2},
      {"cosh", cosh_f32_loop, cosh_f32, [](double x) { return std::cosh(x); }, 2},
      {"atan", atan_f32_loop, atan_f32, [](double x) { return std::atan(x); }, 3},
      {"asin", asin_f32_loop, asin_f32, [](double x) { return std::asin(x); }, 3},
      {"acos", acos_f32_loop, acos_f32, [](double x) { return std::acos(x); }, 2},
      // log(|x| + sqrt(x^2 + 1)) loses up to 3.8 ulp just above 1/2 (the sum's rounding).
      {"asinh", asinh_f32_loop, asinh_f32, [](double x) { return std::asinh(x); }, 4},
      {"acosh", acosh_f32_loop, acosh_f32, [](double x) { return std::acosh(x); }, 3},
      {"atanh", atanh_f32_loop, atanh_f32, [](double x) { return std::atanh(x); }, 2},
      // logit as the functor defines it in float: log of the float x / (1 - x).
      {"logit", logit_f32_loop, logit_f32,
       [](double x) {
         const float xf = static_cast<float>(x);
         return std::log(static_cast<double>(xf / (1.0f - xf)));
       },
       1},
      {"mish", mish_f32_loop, mish_f32,
       [](double x) {
         return x * std::tanh(std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))));
       },
       4},
  };
  for (const Case& c : cases)
    EXPECT_LE(worst_ulps(c.loop, c.one, xs, c.want, &at), c.bound) << c.name << " at " << at;
  const float inf = INFINITY, pi_2 = 1.57079637f;
  for (int k = -149; k <= 127; k += 7) EXPECT_EQ(exp2_f32(float(k)), std::ldexp(1.0f, k)) << k;
  EXPECT_EQ(exp2_f32(128.0f), inf);
  EXPECT_EQ(exp2_f32(-151.0f), 0.0f);
  EXPECT_EQ(sinh_f32(89.0f), static_cast<float>(std::sinh(89.0)));  // past exp's overflow
  EXPECT_EQ(cosh_f32(-89.0f), static_cast<float>(std::cosh(89.0)));
  EXPECT_EQ(sinh_f32(-90.0f), -inf);
  EXPECT_EQ(cosh_f32(inf), inf);
  EXPECT_EQ(cosh_f32(-inf), inf);
  EXPECT_TRUE(std::signbit(sinh_f32(-0.0f)));
  EXPECT_EQ(atan_f32(inf), pi_2);
  EXPECT_EQ(atan_f32(-inf), -pi_2);
  EXPECT_EQ(asin_f32(1.0f), pi_2);
  EXPECT_EQ(asin_f32(-1.0f), -pi_2);
  EXPECT_EQ(acos_f32(1.0f), 0.0f);
  EXPECT_EQ(acos_f32(-1.0f), 3.14159274f);
  EXPECT_EQ(acos_f32(0.0f), pi_2);
  EXPECT_TRUE(std::isnan(asin_f32(1.0001f)));
  EXPECT_TRUE(std::isnan(acos_f32(-1.5f)));
  EXPECT_EQ(acosh_f32(1.0f), 0.0f);
  EXPECT_EQ(acosh_f32(inf), inf);
  EXPECT_TRUE(std::isnan(acosh_f32(0.999f)));
  EXPECT_EQ(asinh_f32(-inf), -inf);
  EXPECT_EQ(asinh_f32(3e38f), static_cast<float>(std::asinh(3e38)));
  EXPECT_TRUE(std::signbit(asinh_f32(-0.0f)));
  EXPECT_EQ(atanh_f32(1.0f), inf);
  EXPECT_EQ(atanh_f32(-1.0f), -inf);
  EXPECT_TRUE(std::isnan(atanh_f32(1.5f)));
  EXPECT_EQ(logit_f32(0.0f), -inf);
  EXPECT_EQ(logit_f32(1.0f), inf);
  EXPECT_TRUE(std::isnan(logit_f32(2.0f)));
  EXPECT_EQ(mish_f32(inf), inf);
  EXPECT_TRUE(std::signbit(tan_f32(-0.0f)));
  // -0 kept by the odd functions, in the loops too.
  for (Loop loop :
       {tanh_f32_loop, sinh_f32_loop, asinh_f32_loop, atanh_f32_loop, atan_f32_loop, asin_f32_loop,
        cbrt_f32_loop, tan_f32_loop, expm1_f32_loop, log1p_f32_loop, erf_f32_loop, sin_f32_loop}) {
    const float z = -0.0f;
    float out = 1.0f;
    loop(&z, &out, 1);
    EXPECT_TRUE(out == 0.0f && std::signbit(out));
  }
  EXPECT_TRUE(std::signbit(tanh_f32(-0.0f)));
  // A signalling NaN comes back quiet, as from libm.
  const float snan = std::numeric_limits<float>::signaling_NaN();
  for (const Case& c : cases) {
    const float r = c.one(snan);
    uint32_t bits;
    std::memcpy(&bits, &r, sizeof bits);
    EXPECT_TRUE(std::isnan(r) && (bits & 0x00400000u) != 0) << c.name;
  }
  EXPECT_TRUE(std::isnan(tan_f32(inf)));
  EXPECT_EQ(tan_f32(1e30f), std::tan(1e30f));  // past the reduction's bound: libm
  for (int i = -300; i <= 300; i += 7) {       // cubes' roots exactly
    const float c = static_cast<float>(i) * static_cast<float>(i) * static_cast<float>(i);
    EXPECT_EQ(cbrt_f32(c), static_cast<float>(i)) << c;
  }
  EXPECT_EQ(cbrt_f32(0x1p-149f), 0x1p-50f * std::cbrt(0x1p1f));
  EXPECT_EQ(cbrt_f32(-inf), -inf);
  EXPECT_TRUE(std::signbit(cbrt_f32(-0.0f)));
  EXPECT_TRUE(std::isnan(mish_f32(-inf)));  // -inf tanh(0), as x tanh(softplus(x)) gives
  for (float v : {NAN, -NAN}) {
    for (const Case& c : cases) EXPECT_TRUE(std::isnan(c.one(v))) << c.name;
  }
}

// The ops whose loops compute what the one-element functor computes: the same bits as libm's
// sqrt and the plain expressions.
TEST(FastMath, ExactLoopsEqualTheirExpressions) {
  const std::vector<float> xs = sweep_inputs();
  const int64_t n = static_cast<int64_t>(xs.size());
  std::vector<float> y(xs.size());
  auto same = [](float a, float b) {
    return (a != a && b != b) || (a == b && std::signbit(a) == std::signbit(b));
  };
  struct Case {
    const char* name;
    void (*loop)(const float*, float*, int64_t);
    float (*want)(float);
  };
  const Case cases[] = {
      {"abs", abs_f32_loop, [](float v) { return v < 0 ? 0.0f - v : v; }},
      {"sqrt", sqrt_f32_loop, [](float v) { return std::sqrt(v); }},
      {"rsqrt", rsqrt_f32_loop, [](float v) { return 1.0f / std::sqrt(v); }},
      {"hardsigmoid", hardsigmoid_f32_loop,
       [](float v) { return v != v ? v : std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f; }},
      {"hardswish", hardswish_f32_loop,
       [](float v) { return v != v ? v : v * (std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f); }},
  };
  for (const Case& c : cases) {
    c.loop(xs.data(), y.data(), n);
    int bad = 0;
    for (size_t i = 0; i < xs.size(); ++i)
      if (!same(y[i], c.want(xs[i])) && ++bad <= 3)
        ADD_FAILURE() << c.name << "(" << xs[i] << ") = " << y[i];
    EXPECT_EQ(bad, 0) << c.name;
  }
}

// ctest runs this suite again with NDGRAD_MAX_ISA=avx2 and =baseline (FastMath.max_isa_*): the
// cap must have taken effect, or those runs would test the AVX-512 versions once more.
TEST(FastMath, MaxIsaCapTakesEffect) {
  const char* cap = std::getenv("NDGRAD_MAX_ISA");
  if (cap == nullptr) GTEST_SKIP() << "NDGRAD_MAX_ISA is not set";
  const std::string isa = cap;
  ASSERT_TRUE(isa == "avx2" || isa == "baseline") << isa;
  EXPECT_FALSE(cpu().avx512);
  if (isa == "baseline") {
    EXPECT_FALSE(cpu().avx || cpu().avx2 || cpu().avx2_fma);
  }
}

TEST(FastMath, SinCosSpecialValuesAsLibm) {
  const float inf = INFINITY;
  EXPECT_TRUE(std::isnan(sin_f32(inf)));
  EXPECT_TRUE(std::isnan(cos_f32(-inf)));
  EXPECT_TRUE(std::isnan(sin_f32(NAN)));
  EXPECT_TRUE(std::signbit(sin_f32(-0.0f)) && sin_f32(-0.0f) == 0.0f);
  EXPECT_TRUE(std::signbit(erf_f32(-0.0f)) && erf_f32(-0.0f) == 0.0f);
  EXPECT_TRUE(std::signbit(gelu_f32(-0.0f)) && gelu_f32(-0.0f) == 0.0f);
  EXPECT_EQ(cos_f32(0.0f), 1.0f);
  EXPECT_EQ(erf_f32(inf), 1.0f);
  EXPECT_EQ(erf_f32(-inf), -1.0f);
  EXPECT_EQ(erfc_f32(-inf), 2.0f);
  EXPECT_EQ(erfc_f32(inf), 0.0f);
  EXPECT_EQ(gelu_f32(inf), inf);
  EXPECT_TRUE(std::isnan(gelu_f32(-inf)));
  EXPECT_TRUE(std::isnan(erf_f32(NAN)) && std::isnan(gelu_f32(NAN)));
  // A huge argument in the middle of a vectorized run: its lane is libm's, its neighbours not.
  std::vector<float> xs(37, 0.5f), y(37);
  xs[17] = 1e30f;
  xs[18] = NAN;
  sin_f32_loop(xs.data(), y.data(), 37);
  EXPECT_EQ(y[17], std::sin(1e30f));
  EXPECT_TRUE(std::isnan(y[18]));
  EXPECT_EQ(y[16], sin_f32(0.5f));
}

// The roundings are exact: the same bits as libm's (the sign of zeros included) everywhere.
TEST(FastMath, RoundingsEqualLibm) {
  const std::vector<float> xs = sweep_inputs();
  std::vector<float> y(xs.size());
  const int64_t n = static_cast<int64_t>(xs.size());
  auto same = [](float a, float b) {
    return (a != a && b != b) || (a == b && std::signbit(a) == std::signbit(b));
  };
  struct Case {
    const char* name;
    void (*loop)(const float*, float*, int64_t);
    float (*one)(float);
    float (*libm)(float);
  };
  const Case cases[] = {
      {"floor", floor_f32_loop, floor_f32, [](float v) { return std::floor(v); }},
      {"ceil", ceil_f32_loop, ceil_f32, [](float v) { return std::ceil(v); }},
      {"trunc", trunc_f32_loop, trunc_f32, [](float v) { return std::trunc(v); }},
      {"nearbyint", nearbyint_f32_loop, nearbyint_f32, [](float v) { return std::nearbyint(v); }},
      {"frac", frac_f32_loop, frac_f32, [](float v) { return v - std::trunc(v); }},
  };
  for (const Case& c : cases) {
    c.loop(xs.data(), y.data(), n);
    int bad = 0;
    for (size_t i = 0; i < xs.size(); ++i)
      if (!same(y[i], c.libm(xs[i])) || !same(c.one(xs[i]), y[i])) {
        if (++bad <= 3) ADD_FAILURE() << c.name << "(" << xs[i] << ") = " << y[i];
      }
    EXPECT_EQ(bad, 0) << c.name;
  }
}

// Every vectorized loop gives the same bits in place (y == x: an op written over a temporary)
// as into a buffer of its own, with inputs that take each loop's fallback lanes (huge
// arguments, far tails, NaN, infinities) mixed among ordinary ones.
TEST(FastMath, LoopsInPlaceOrOverlappingEqualOutOfPlace) {
  using Loop = void (*)(const float*, float*, int64_t);
  const std::pair<const char*, Loop> loops[] = {
      {"exp", exp_f32_loop},     {"tanh", tanh_f32_loop},         {"sigmoid", sigmoid_f32_loop},
      {"sin", sin_f32_loop},     {"cos", cos_f32_loop},           {"erf", erf_f32_loop},
      {"erfc", erfc_f32_loop},   {"gelu", gelu_f32_loop},         {"floor", floor_f32_loop},
      {"ceil", ceil_f32_loop},   {"round", nearbyint_f32_loop},   {"trunc", trunc_f32_loop},
      {"frac", frac_f32_loop},   {"log", log_f32_loop},           {"log2", log2_f32_loop},
      {"log10", log10_f32_loop}, {"silu", silu_f32_loop},         {"gelu_tanh", gelu_tanh_f32_loop},
      {"abs", abs_f32_loop},     {"sqrt", sqrt_f32_loop},         {"expm1", expm1_f32_loop},
      {"log1p", log1p_f32_loop}, {"softplus", softplus_f32_loop}, {"selu", selu_f32_loop}};
  std::vector<float> x;
  // -7.82 and -7.86 fall on both sides of GELU's tail bound (-7.87) as they are scaled.
  const float specials[] = {5.0f,  10.0f,      1e30f,    -7.0f,     3e6f,   -1e20f,
                            0.25f, -0.0f,      INFINITY, -INFINITY, NAN,    4.5f,
                            -5.7f, 1048576.5f, 27.0f,    -30.0f,    -7.82f, -7.86f};
  const int kinds = static_cast<int>(sizeof specials / sizeof specials[0]);
  for (int i = 0; i < 1000; ++i) x.push_back(specials[i % kinds] * (1.0f + 1e-3f * (i % 7)));
  for (const auto& [name, loop] : loops) {
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(300), int64_t(1000)}) {
      std::vector<float> out(static_cast<size_t>(n)), in_place(x.begin(), x.begin() + n);
      loop(x.data(), out.data(), n);
      loop(in_place.data(), in_place.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        uint32_t a, b;
        std::memcpy(&a, &out[static_cast<size_t>(i)], 4);
        std::memcpy(&b, &in_place[static_cast<size_t>(i)], 4);
        ASSERT_EQ(a, b) << name << " n=" << n << " at " << i << " x=" << x[static_cast<size_t>(i)];
      }
      // An output that overlaps the input starting a few elements before it (as memmove
      // forward): each result is still the function of its own input (the lanes redone with
      // libm read the inputs again).
      for (int64_t shift : {int64_t(-5), int64_t(-1)}) {
        std::vector<float> buf(static_cast<size_t>(n + 10));
        const int64_t in_at = 5, out_at = 5 + shift;
        std::copy(x.begin(), x.begin() + n, buf.begin() + in_at);
        loop(buf.data() + in_at, buf.data() + out_at, n);
        for (int64_t i = 0; i < n; ++i) {
          uint32_t a, b;
          std::memcpy(&a, &out[static_cast<size_t>(i)], 4);
          std::memcpy(&b, &buf[static_cast<size_t>(out_at + i)], 4);
          ASSERT_EQ(a, b) << name << " n=" << n << " shift " << shift << " at " << i
                          << " x=" << x[static_cast<size_t>(i)];
        }
      }
    }
  }
}

// The same through the ops: a temporary's memory is written over (sin(x * 1.0)) and must give
// what the op gives on a tensor it cannot write over.
TEST(FastMath, OpsOverTemporariesEqualOpsOverLeaves) {
  namespace nd = ndgrad;
  const nd::Tensor x = nd::tile(nd::tensor({5, 10, 1e30, -7, 3e6, -1e20, 0.25, 40}, {8}), {40});
  using Fn = nd::Tensor (*)(const nd::Tensor&);
  const std::pair<const char*, Fn> ops[] = {
      {"sin", [](const nd::Tensor& t) { return nd::sin(t); }},
      {"cos", [](const nd::Tensor& t) { return nd::cos(t); }},
      {"erfc", [](const nd::Tensor& t) { return nd::erfc(t); }},
      {"gelu", [](const nd::Tensor& t) { return nd::gelu(t); }},
      {"exp", [](const nd::Tensor& t) { return nd::exp(t); }}};
  for (const auto& [name, f] : ops) {
    const std::vector<double> want = f(x).to_vector(), got = f(x * 1.0).to_vector();
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_TRUE(want[i] == got[i] || (std::isnan(want[i]) && std::isnan(got[i])))
          << name << " at " << i << ": " << got[i] << " against " << want[i];
  }
}

// float32 running sums accumulate in float64 and round each output once, along the last axis
// (blocks of four, vectorized) and along any other (one column at a time): within half an ulp
// of the float64 running sum (plus float64's own rounding), where float32 accumulation drifts
// by many ulp over a few thousand values. The NDGRAD_MAX_ISA reruns check each version.
TEST(FastMath, Float32CumsumIsTheFloat64RunningSumRounded) {
  using ndgrad::DType;
  uint32_t seed = 7;
  for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4099}) {
    std::vector<float> v(static_cast<size_t>(3 * n));
    for (float& e : v) {
      seed = seed * 1664525u + 1013904223u;
      e = static_cast<float>((int32_t(seed) >> 8) * 0x1p-20) * ((seed & 0x30) ? 1.0f : 1000.0f);
    }
    const ndgrad::Tensor rows =
        ndgrad::tensor(std::vector<double>(v.begin(), v.end()), {3, n}, DType::f32);
    const std::vector<std::vector<double>> got = {
        ndgrad::cumsum(rows, 1).to_vector(),
        ndgrad::cumsum(rows.T().contiguous(), 0).T().contiguous().to_vector()};
    for (int64_t r = 0; r < 3; ++r) {
      double sum = 0, abs_sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        const size_t i = static_cast<size_t>(r * n + k);
        sum += v[i];
        abs_sum += std::fabs(v[i]);
        const float want = static_cast<float>(sum);
        const double half_ulp = 0.5 * (std::nextafter(std::fabs(want), INFINITY) - std::fabs(want));
        for (int axis = 0; axis < 2; ++axis)
          ASSERT_LE(std::fabs(got[axis][i] - sum), half_ulp + 0x1p-45 * abs_sum)
              << "n " << n << " row " << r << " k " << k
              << (axis ? " along axis 0" : " along axis 1");
      }
    }
  }
  // -0.0 first stays -0.0; an infinity or NaN carries on from where it is met.
  const ndgrad::Tensor z = ndgrad::cumsum(ndgrad::tensor({-0.0, -0.0, 1}, {3}, DType::f32), 0);
  EXPECT_TRUE(std::signbit(z.to_vector()[0]) && std::signbit(z.to_vector()[1]));
  std::vector<double> special(20, 1.0);
  special[5] = INFINITY;
  special[9] = -INFINITY;
  const std::vector<double> s =
      ndgrad::cumsum(ndgrad::tensor(special, {20}, DType::f32), 0).to_vector();
  for (size_t k = 0; k < 20; ++k) {
    if (k < 5) {
      EXPECT_EQ(s[k], double(k + 1));
    } else if (k < 9) {
      EXPECT_EQ(s[k], INFINITY) << k;
    } else {
      EXPECT_TRUE(std::isnan(s[k])) << k;
    }
  }
}

// var over columns (a leading axis) in each version (the NDGRAD_MAX_ISA reruns): blocks of 1024
// rows merged (the last one partial, rows not a multiple of the eight a sweep takes), columns
// past the vector width, a spread far below the mean; against two passes in long double.
// Also: an outlier in a block's first row (the block's shift), columns past the 4096 a chunk
// takes (and the threads' split of them), several slices before the axis.
TEST(FastMath, VarianceOverColumnsInEveryVersion) {
  struct Case {
    int64_t outer, rows, cols;
  };
  for (const Case& k : {Case{1, 2605, 37}, Case{1, 70, 4100}, Case{3, 131, 20}}) {
    const int64_t outer = k.outer, rows = k.rows, cols = k.cols;
    std::vector<double> vals(static_cast<size_t>(outer * rows * cols));
    uint32_t seed = 11;
    for (double& v : vals) {
      seed = seed * 1664525u + 1013904223u;
      v = static_cast<float>(300.0 + double(int32_t(seed) >> 8) * 0x1p-23);
    }
    for (int64_t c = 0; c < cols; c += 3) vals[static_cast<size_t>(c)] = 0.0;  // row 0 outliers
    for (ndgrad::DType dt : {ndgrad::DType::f32, ndgrad::DType::f64}) {
      const std::vector<double> got =
          ndgrad::var(ndgrad::tensor(vals, {outer, rows, cols}, dt), {1}).to_vector();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t c = 0; c < cols; ++c) {
          auto at = [&](int64_t r) { return vals[static_cast<size_t>((o * rows + r) * cols + c)]; };
          long double sum = 0, sq = 0;
          for (int64_t r = 0; r < rows; ++r) sum += at(r);
          const long double mu = sum / rows;
          for (int64_t r = 0; r < rows; ++r) sq += (at(r) - mu) * (at(r) - mu);
          const double want = static_cast<double>(sq / (rows - 1));
          ASSERT_NEAR(got[static_cast<size_t>(o * cols + c)], want,
                      want * (dt == ndgrad::DType::f32 ? 1e-7 : 1e-14))
              << ndgrad::dtype_name(dt) << " " << outer << "x" << rows << "x" << cols << " slice "
              << o << " column " << c;
        }
    }
  }
}

// A variance too large for float64 is inf, not NaN: the blocks whose shifted squares overflow
// are redone in two passes, whose mean (a sum of x / m) no longer overflows itself.
TEST(FastMath, VarianceThatOverflowsIsInfinite) {
  for (int64_t rows : {1000, 2048, 5000}) {
    std::vector<double> vals(static_cast<size_t>(2 * rows));
    for (size_t i = 0; i < vals.size(); ++i) vals[i] = (i / 2) % 2 ? 1.5e306 : -1.5e306;
    const ndgrad::Tensor t = ndgrad::tensor(vals, {rows, 2}, ndgrad::DType::f64);
    for (double v : ndgrad::var(t, {0}).to_vector()) EXPECT_EQ(v, INFINITY) << rows << " rows";
    EXPECT_EQ(ndgrad::var(t.T().contiguous(), {1}).to_vector()[0], INFINITY) << rows;
  }
}
