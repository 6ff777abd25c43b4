// The convolution's patch copies (im2col) and their adjoint (col2im) against plain loops, for
// random geometries: padding wider or narrower than the kernel, dilation, stride, output rows
// fewer than the image's, kernels larger than the image. The "same width" geometries (stride
// 1, the output as wide as the image) take the shifted copies, float32 on AVX-512 the masked
// ones: each must give the plain loop's values, the sums in the same order (equal bits), in
// the op (unfold, fold) and inside the convolution.
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/kernels.hpp"
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
  kernels::conv2d_forward(dt, c, reinterpret_cast<const char*>(image.data()),
                          reinterpret_cast<const char*>(w.data()),
                          reinterpret_cast<const char*>(bias.data()),
                          reinterpret_cast<char*>(y.data()));
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
