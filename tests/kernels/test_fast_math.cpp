// The vectorized float32 exp/tanh/sigmoid agree with libm to within a few ulp everywhere,
// including the edges (overflow, gradual underflow into subnormals, infinities, NaN).
#include <cmath>
#include <limits>

#include "kernels/cpu/fast_math.hpp"
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
