// The convolution's patch copies (im2col) and their adjoint (col2im) against plain loops, for
// random geometries: padding wider or narrower than the kernel, dilation, stride, output rows
// fewer than the image's, kernels larger than the image. The "same width" geometries (stride
// 1, the output as wide as the image) take the shifted copies, float32 on AVX-512 the masked
// ones: each must give the plain loop's values, the sums in the same order (equal bits), in
// the op (unfold, fold) and inside the convolution.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/kernels.hpp"
#include "ndgrad/threads.hpp"
#include "test_util.hpp"

using namespace ndgrad;

namespace {

struct Geometry {
  kernels::PatchGeometry g;
  std::string what;
};

// A random geometry; same_width: stride 1 and padding that keeps the width.
bool random_geometry(std::mt19937_64& rng, bool same_width, Geometry* out) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  kernels::PatchGeometry g{};
  g.batch = pick(1, 2);
  g.channels = pick(1, 3);
  g.height = pick(1, 19);
  g.width = pick(1, 37);
  g.kernel_h = pick(1, 5);
  g.kernel_w = pick(1, 5);
  g.dilation_h = pick(1, 3);
  g.dilation_w = pick(1, 3);
  g.stride_h = same_width ? 1 : pick(1, 3);
  g.stride_w = same_width ? 1 : pick(1, 3);
  g.pad_h = pick(0, 3);
  g.pad_w = pick(0, 3);
  if (same_width) {
    const int64_t span = g.dilation_w * (g.kernel_w - 1);
    if (span % 2) return false;
    g.pad_w = span / 2;
    if (pick(0, 1)) g.pad_h = g.dilation_h * (g.kernel_h - 1) / 2;
  }
  const int64_t h = g.height + 2 * g.pad_h - g.dilation_h * (g.kernel_h - 1),
                w = g.width + 2 * g.pad_w - g.dilation_w * (g.kernel_w - 1);
  if (h <= 0 || w <= 0) return false;
  g.out_h = (h - 1) / g.stride_h + 1;
  g.out_w = (w - 1) / g.stride_w + 1;
  out->g = g;
  out->what = "image " + std::to_string(g.batch) + "x" + std::to_string(g.channels) + "x" +
              std::to_string(g.height) + "x" + std::to_string(g.width) + " kernel " +
              std::to_string(g.kernel_h) + "x" + std::to_string(g.kernel_w) + " dilation " +
              std::to_string(g.dilation_h) + "," + std::to_string(g.dilation_w) + " padding " +
              std::to_string(g.pad_h) + "," + std::to_string(g.pad_w) + " stride " +
              std::to_string(g.stride_h) + "," + std::to_string(g.stride_w);
  return true;
}

// The input position of column entry (plane, ki, kj, oh, ow), or -1 in the padding.
int64_t source(const kernels::PatchGeometry& g, int64_t plane, int64_t ki, int64_t kj, int64_t oh,
               int64_t ow) {
  const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h,
                iw = ow * g.stride_w - g.pad_w + kj * g.dilation_w;
  if (ih < 0 || ih >= g.height || iw < 0 || iw >= g.width) return -1;
  return (plane * g.height + ih) * g.width + iw;
}

template <class T>
void check(const Geometry& geo, std::mt19937_64& rng, DType dt) {
  const kernels::PatchGeometry& g = geo.g;
  const int64_t planes = g.batch * g.channels, kk = g.kernel_h * g.kernel_w, L = g.out_h * g.out_w,
                image_size = planes * g.height * g.width;
  std::normal_distribution<double> normal;
  std::vector<T> image(static_cast<size_t>(image_size)),
      cols(static_cast<size_t>(planes * kk * L), T(-7));
  for (T& v : image) v = T(normal(rng));
  kernels::im2col(dt, g, reinterpret_cast<const char*>(image.data()),
                  reinterpret_cast<char*>(cols.data()));
  // The adjoint of random columns, in the plain loop's order: kernel position by position.
  std::vector<T> grads(cols.size());
  for (T& v : grads) v = T(normal(rng));
  std::vector<T> expected_back(size_t(image_size), T(0)), back(size_t(image_size), T(-7));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (int64_t kj = 0; kj < g.kernel_w; ++kj)
        for (int64_t oh = 0; oh < g.out_h; ++oh)
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            const int64_t at = ((p * kk + ki * g.kernel_w + kj) * g.out_h + oh) * g.out_w + ow;
            const int64_t s = source(g, p, ki, kj, oh, ow);
            ASSERT_EQ(cols[size_t(at)], s < 0 ? T(0) : image[size_t(s)])
                << geo.what << " " << dtype_name(dt) << ": column entry " << at;
            if (s >= 0) expected_back[size_t(s)] += grads[size_t(at)];
          }
  const std::vector<T> grads_before = grads;
  kernels::col2im(dt, g, reinterpret_cast<const char*>(grads.data()),
                  reinterpret_cast<char*>(back.data()));
  for (int64_t i = 0; i < image_size; ++i)
    ASSERT_EQ(back[size_t(i)], expected_back[size_t(i)])
        << geo.what << " " << dtype_name(dt) << ": image entry " << i;
  ASSERT_EQ(grads, grads_before) << geo.what << ": col2im changed its input";

  // The convolution's own copies (float32 takes the masked ones on AVX-512): with one output
  // channel a column row, the weights one-hot, its output is the columns and its input's
  // gradient the adjoint of the output's gradient, exactly (each sum has one nonzero term).
  const int64_t rows = g.channels * kk;
  std::vector<T> w(static_cast<size_t>(rows * rows), T(0)), y(cols.size(), T(-7)),
      gx(size_t(image_size), T(-7));
  for (int64_t o = 0; o < rows; ++o) w[size_t(o * rows + o)] = T(1);
  const kernels::ConvGeometry c{g, rows, 1};
  kernels::conv2d_forward(dt, c, reinterpret_cast<const char*>(image.data()),
                          reinterpret_cast<const char*>(w.data()), nullptr,
                          reinterpret_cast<char*>(y.data()));
  ASSERT_EQ(y, cols) << geo.what << " " << dtype_name(dt) << ": the convolution's columns";
  // With a bias: each output the column entry plus its channel's bias, one rounding.
  std::vector<T> bias(static_cast<size_t>(rows));
  for (T& v : bias) v = T(normal(rng));
  kernels::conv2d_forward(
      dt, c, reinterpret_cast<const char*>(image.data()), reinterpret_cast<const char*>(w.data()),
      reinterpret_cast<const char*>(bias.data()), reinterpret_cast<char*>(y.data()));
  for (int64_t i = 0; i < int64_t(y.size()); ++i)
    ASSERT_EQ(y[size_t(i)], T(cols[size_t(i)] + bias[size_t(i / L % rows)]))
        << geo.what << " " << dtype_name(dt) << ": the convolution with a bias at " << i;
  kernels::conv2d_backward(dt, c, reinterpret_cast<const char*>(image.data()),
                           reinterpret_cast<const char*>(w.data()),
                           reinterpret_cast<const char*>(grads.data()),
                           reinterpret_cast<char*>(gx.data()), nullptr, nullptr);
  for (int64_t i = 0; i < image_size; ++i)
    ASSERT_EQ(gx[size_t(i)], expected_back[size_t(i)])
        << geo.what << " " << dtype_name(dt) << ": the convolution's input gradient at " << i;
}

}  // namespace

TEST(ConvKernel, PatchesAndTheirAdjointMatchPlainLoopsForEveryGeometry) {
  std::mt19937_64 rng(2026);
  int same = 0, other = 0;
  for (int trial = 0; trial < 1200; ++trial) {
    Geometry geo;
    const bool want_same = trial % 2 == 0;
    if (!random_geometry(rng, want_same, &geo)) continue;
    (want_same ? same : other)++;
    check<float>(geo, rng, DType::f32);
    check<double>(geo, rng, DType::f64);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(same, 200);  // the shifted copies were reached
  EXPECT_GT(other, 200);
}

// 3x3 convolutions at stride 1 with enough channels take Winograd's F(2x2, 3x3) in float32
// (forward, and the input's gradient as the adjoint convolution; the weights' gradient stays
// direct, checked here too): within a few float roundings
// of the float64 direct convolution, measured against the sum of the products' magnitudes (an
// index or a mask wrong by one is off by whole terms), for odd and even sizes, images smaller
// than a tile, every padding 0-2, with and without a bias, on one thread and two (equal bits).
TEST(ConvKernel, WinogradMatchesTheDirectConvolution) {
  std::mt19937_64 rng(7);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::normal_distribution<double> normal;
  const int threads_before = get_num_threads();
  for (int trial = 0; trial < 150; ++trial) {
    kernels::PatchGeometry g{};
    g.batch = pick(1, 3);
    g.channels = pick(16, 40);
    g.height = trial < 4 ? trial + 1 : pick(1, 19);
    g.width = trial < 4 ? 4 - trial : pick(1, 37);
    g.kernel_h = g.kernel_w = 3;
    g.dilation_h = g.dilation_w = g.stride_h = g.stride_w = 1;
    g.pad_h = pick(0, 2);
    g.pad_w = pick(0, 2);
    g.out_h = g.height + 2 * g.pad_h - 2;
    g.out_w = g.width + 2 * g.pad_w - 2;
    if (g.out_h <= 0 || g.out_w <= 0) continue;
    const kernels::ConvGeometry c{g, pick(16, 40), 1};
    const bool with_bias = pick(0, 1);
    const std::string what = "x " + std::to_string(g.batch) + "x" + std::to_string(g.channels) +
                             "x" + std::to_string(g.height) + "x" + std::to_string(g.width) +
                             " to " + std::to_string(c.out_channels) + " channels, padding " +
                             std::to_string(g.pad_h) + "," + std::to_string(g.pad_w);
    const int64_t nx = g.batch * g.channels * g.height * g.width,
                  nw = c.out_channels * g.channels * 9,
                  ny = g.batch * c.out_channels * g.out_h * g.out_w;
    std::vector<double> x(static_cast<size_t>(nx)), w(static_cast<size_t>(nw)),
        b(static_cast<size_t>(c.out_channels)), gy(static_cast<size_t>(ny));
    for (auto* v : {&x, &w, &b, &gy})
      for (double& e : *v) e = double(float(normal(rng)));
    // Every fifth shape an infinity and a NaN in x and in gy: they must stay in the windows
    // that hold them, as in the direct sum (Winograd would spread them over the tile).
    const bool special = trial % 5 == 4;
    if (special)
      for (auto* v : {&x, &gy}) {
        (*v)[size_t(pick(0, int64_t(v->size()) - 1))] = INFINITY;
        (*v)[size_t(pick(0, int64_t(v->size()) - 1))] = NAN;
      }
    auto abs_of = [](std::vector<double> v) {
      for (double& e : v) e = std::fabs(e);
      return v;
    };
    auto f32 = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
    auto chars = [](auto& v) { return reinterpret_cast<char*>(v.data()); };
    // float64, direct: the values and the bounds (the same sums of magnitudes).
    std::vector<double> y64(static_cast<size_t>(ny)), bound_y(static_cast<size_t>(ny)),
        gx64(static_cast<size_t>(nx)), bound_gx(static_cast<size_t>(nx)),
        gw64(static_cast<size_t>(nw)), bound_gw(static_cast<size_t>(nw));
    std::vector<double> ax = abs_of(x), aw = abs_of(w), ab = abs_of(b), agy = abs_of(gy);
    kernels::conv2d_forward(DType::f64, c, chars(x), chars(w), with_bias ? chars(b) : nullptr,
                            chars(y64));
    kernels::conv2d_forward(DType::f64, c, chars(ax), chars(aw), with_bias ? chars(ab) : nullptr,
                            chars(bound_y));
    kernels::conv2d_backward(DType::f64, c, chars(x), chars(w), chars(gy), chars(gx64), chars(gw64),
                             nullptr);
    kernels::conv2d_backward(DType::f64, c, chars(ax), chars(aw), chars(agy), chars(bound_gx),
                             chars(bound_gw), nullptr);
    std::vector<float> xf = f32(x), wf = f32(w), bf = f32(b), gyf = f32(gy);
    std::vector<float> y_first, gx_first;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> y(static_cast<size_t>(ny), -7.0f), gx(static_cast<size_t>(nx), -7.0f),
          gw(static_cast<size_t>(nw), -7.0f);
      kernels::conv2d_forward(DType::f32, c, chars(xf), chars(wf), with_bias ? chars(bf) : nullptr,
                              chars(y));
      kernels::conv2d_backward(DType::f32, c, chars(xf), chars(wf), chars(gyf), chars(gx),
                               chars(gw), nullptr);
      // 2e-6 of the bound: 33 float roundings (Winograd's measured worst, 10).
      auto agree = [&](const std::vector<float>& got, const std::vector<double>& want,
                       const std::vector<double>& bound, const char* name) {
        for (size_t i = 0; i < got.size(); ++i) {
          const std::string at = what + (special ? " (an inf and a NaN)" : "") + ": " + name + " " +
                                 std::to_string(i) + ", " + std::to_string(threads) + " thread(s)";
          if (std::isnan(want[i]))
            ASSERT_TRUE(std::isnan(got[i])) << at << ": " << got[i];
          else if (std::isinf(want[i]))
            ASSERT_EQ(double(got[i]), want[i]) << at;
          else
            ASSERT_NEAR(got[i], want[i], 2e-6 * bound[i] + 1e-30) << at;
        }
      };
      agree(y, y64, bound_y, "output");
      agree(gx, gx64, bound_gx, "input gradient");
      agree(gw, gw64, bound_gw, "weight gradient");
      if (::testing::Test::HasFatalFailure()) return;
      if (threads == 1) {
        y_first = y;
        gx_first = gx;
      } else {
        auto bits = [](const std::vector<float>& v) {  // (NaN == NaN as bits)
          std::vector<uint32_t> u(v.size());
          std::memcpy(u.data(), v.data(), v.size() * sizeof(float));
          return u;
        };
        ASSERT_EQ(bits(y), bits(y_first)) << what << ": one thread and two";
        ASSERT_EQ(bits(gx), bits(gx_first)) << what << ": one thread and two";
      }
    }
  }
  set_num_threads(threads_before);
}
