// The portable GEMM (used where no BLAS exists) and the BLAS path agree with a naive product
// for every layout the ops hand them: row-major, column-major (transposed views), batched.
#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/sgemm.hpp"
#include "ndgrad/threads.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

std::vector<double> naive(const std::vector<double>& a, const std::vector<double>& b, int64_t n,
                          int64_t k, int64_t m) {
  std::vector<double> c(n * m, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j)
      for (int64_t p = 0; p < k; ++p) c[i * m + j] += a[i * k + p] * b[p * m + j];
  return c;
}

}  // namespace

TEST(MatmulKernel, PortableAndBlasMatchNaiveInEveryLayout) {
  const int64_t n = 7, k = 5, m = 6;
  for (DType dt : {DType::f32, DType::f64, DType::i64})
    for (bool a_transposed : {false, true})
      for (bool b_transposed : {false, true})
        for (bool use_blas : {false, true}) {
          Tensor a = (randn({n, k}, 1, DType::f64) * 4.0).to(DType::i64).to(dt);
          Tensor b = (randn({k, m}, 2, DType::f64) * 4.0).to(DType::i64).to(dt);
          // The same values, stored column-major when "transposed".
          Tensor av = a_transposed ? a.T().contiguous().T() : a;
          Tensor bv = b_transposed ? b.T().contiguous().T() : b;
          Tensor c = zeros({n, m}, dt);
          Shape as = av.strides(), bs = bv.strides(), cs = c.strides();
          auto ptr = [](const Tensor& t) { return reinterpret_cast<char*>(t.impl()->data()); };
          kernels::batched_matmul(dt, {}, n, k, m, {ptr(c), cs.data(), dt},
                                  {ptr(av), as.data(), dt}, {ptr(bv), bs.data(), dt}, use_blas);
          expect_values(c, naive(a.to_vector(), b.to_vector(), n, k, m), 1e-6);
        }
}

TEST(MatmulKernel, BatchedWithBroadcastBatch) {
  Tensor a = randn({3, 4, 2}, 3, DType::f64);
  Tensor b = randn({2, 5}, 4, DType::f64).broadcast_to({3, 2, 5});
  for (bool use_blas : {false, true}) {
    Tensor c = zeros({3, 4, 5}, DType::f64);
    Shape as = a.strides(), bs = b.strides(), cs = c.strides();
    kernels::batched_matmul(DType::f64, {3}, 4, 2, 5, {c.impl()->data(), cs.data(), DType::f64},
                            {a.impl()->data(), as.data(), DType::f64},
                            {b.impl()->data(), bs.data(), DType::f64}, use_blas);
    std::vector<double> av = a.to_vector(), bv = b.contiguous().to_vector(), cv = c.to_vector();
    for (int64_t i = 0; i < 3; ++i) {
      auto ref = naive(std::vector<double>(av.begin() + i * 8, av.begin() + i * 8 + 8),
                       std::vector<double>(bv.begin(), bv.begin() + 10), 4, 2, 5);
      for (int64_t j = 0; j < 20; ++j) EXPECT_NEAR(cv[i * 20 + j], ref[j], 1e-12);
    }
  }
}

namespace {

bool openblas_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("libopenblas") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(Blas, LoadedOnFirstMatmulWithTheThreadCountAskedForBefore) {
  // Run alone (as ctest runs each test), this process has not loaded OpenBLAS yet: setting the
  // thread count must not load it (a program without matmul never starts its threads).
  const bool mapped_before = openblas_mapped();
  const int before = get_num_threads();
  set_num_threads(1);
  if (!mapped_before) {
    EXPECT_FALSE(openblas_mapped());
  }
  // float64: float32 products on AVX-512 CPUs do not use OpenBLAS (sgemm.hpp).
  const Tensor c = matmul(ones({64, 64}, DType::f64), ones({64, 64}, DType::f64));
  EXPECT_EQ(c.to_vector()[0], 64.0);
  if (!std::getenv("NDGRAD_NO_BLAS") && openblas_mapped()) {
    void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
    if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(h, nullptr);
    auto get = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_num_threads"));
    ASSERT_NE(get, nullptr);
    EXPECT_EQ(get(), 1);  // the count asked for before the load was applied
    set_num_threads(2);   // later changes too, from the next product on
    EXPECT_EQ(matmul(ones({64, 64}, DType::f64), ones({64, 64}, DType::f64)).to_vector()[0], 64.0);
    EXPECT_EQ(get(), 2);
    dlclose(h);
  }
  set_num_threads(before);
}

namespace {

// One own_sgemm call on random operands stored with the given strides (padding between rows,
// columns and around the result filled with a sentinel), checked against a float64 product:
// every element within the float32 rounding bound of its sum, nothing outside c written.
void check_own_sgemm(std::mt19937_64& rng, int64_t m, int64_t n, int64_t k, int a_layout,
                     int b_layout) {
  std::normal_distribution<float> normal;
  // layout 0: rows contiguous, 1: columns contiguous, 2: neither (every other element).
  auto strides = [](int layout, int64_t rows, int64_t cols, int64_t& s0, int64_t& s1) {
    if (layout == 0)
      s0 = cols + 3, s1 = 1;
    else if (layout == 1)
      s0 = 1, s1 = rows + 5;
    else
      s0 = 2 * cols + 1, s1 = 2;
  };
  int64_t as0, as1, bs0, bs1;
  strides(a_layout, m, k, as0, as1);
  strides(b_layout, k, n, bs0, bs1);
  std::vector<float> a((m - 1) * as0 + (k - 1) * as1 + 1), b((k - 1) * bs0 + (n - 1) * bs1 + 1);
  for (auto& x : a) x = normal(rng);
  for (auto& x : b) x = normal(rng);
  const int64_t ldc = n + 7;
  const float sentinel = 12345.0f;
  std::vector<float> c(m * ldc + 16, sentinel);
  kernels::own_sgemm(m, n, k, a.data(), as0, as1, b.data(), bs0, bs1, c.data() + 8, ldc);
  for (int64_t i = 0; i < 8; ++i) ASSERT_EQ(c[i], sentinel);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[8 + i * ldc + j];
      if (j >= n) {
        ASSERT_EQ(got, sentinel) << "written outside the result at row " << i << " col " << j;
        continue;
      }
      double ref = 0, mag = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double t = double(a[i * as0 + p * as1]) * double(b[p * bs0 + j * bs1]);
        ref += t;
        mag += std::fabs(t);
      }
      ASSERT_NEAR(got, ref, 1.2e-7 * double(k + 2) * mag + 1e-30)
          << m << "x" << n << "x" << k << " layouts " << a_layout << b_layout << " at (" << i
          << ", " << j << ")";
    }
  for (int64_t i = 8 + m * ldc; i < int64_t(c.size()); ++i) ASSERT_EQ(c[i], sentinel);
}

}  // namespace

TEST(OwnSgemm, MatchesFloat64ProductForEveryShapeEdgeAndLayout) {
  if (!kernels::own_sgemm_available()) GTEST_SKIP() << "this CPU has no AVX-512";
  std::mt19937_64 rng(42);
  const int before = get_num_threads();
  // Row counts around the 6-row tile, the 12-row one of outputs at most 16 wide and the 16
  // rows packed at once; column counts around each of the 64-column panel's four vectors and
  // the 512-column block; depths around the 256-deep block; both threading splits.
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (int64_t m : {1, 5, 6, 7, 13, 25, 130})
      for (int64_t n : {1, 16, 17, 33, 48, 65, 520})
        for (int64_t k : {1, 255, 257, 600})
          for (int al = 0; al < 3; ++al)
            for (int bl = 0; bl < 3; ++bl) {
              if (m * n * k > 200000 && (al + 2 * bl) % 4) continue;  // keep the big ones few
              check_own_sgemm(rng, m, n, k, al, bl);
              if (::testing::Test::HasFatalFailure()) {
                set_num_threads(before);
                return;
              }
            }
  }
  set_num_threads(before);
}

TEST(OwnSgemm, PropagatesNaNAndInfinity) {
  if (!kernels::own_sgemm_available()) GTEST_SKIP() << "this CPU has no AVX-512";
  const int64_t m = 13, n = 35, k = 9;
  std::vector<float> a(m * k, 1.0f), b(k * n, 2.0f), c(m * n);
  a[5 * k + 3] = std::nanf("");
  b[4 * n + 34] = INFINITY;
  kernels::own_sgemm(m, n, k, a.data(), k, 1, b.data(), n, 1, c.data(), n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float v = c[i * n + j];
      if (i == 5)
        EXPECT_TRUE(std::isnan(v)) << j;
      else if (j == 34)
        EXPECT_EQ(v, INFINITY) << i;
      else
        EXPECT_EQ(v, 2.0f * k) << i << " " << j;
    }
}

TEST(OwnSgemm, SameBitsOnOneAndTwoThreads) {
  // Every element is summed in the same order whichever task computes it, so a product does
  // not depend on the thread count (both splits: by column panels and by rows).
  if (!kernels::own_sgemm_available()) GTEST_SKIP() << "this CPU has no AVX-512";
  const int before = get_num_threads();
  for (auto [m, n, k] : {std::array<int64_t, 3>{300, 200, 700}, {700, 40, 300}}) {
    std::vector<float> a(m * k), b(k * n), c1(m * n), c2(m * n);
    std::mt19937_64 rng(7);
    std::normal_distribution<float> normal;
    for (auto& x : a) x = normal(rng);
    for (auto& x : b) x = normal(rng);
    for (bool a_columns : {false, true}) {  // a row-major (read in place) or column-major (packed)
      const int64_t as0 = a_columns ? 1 : k, as1 = a_columns ? m : 1;
      set_num_threads(1);
      kernels::own_sgemm(m, n, k, a.data(), as0, as1, b.data(), n, 1, c1.data(), n);
      set_num_threads(2);
      kernels::own_sgemm(m, n, k, a.data(), as0, as1, b.data(), n, 1, c2.data(), n);
      EXPECT_EQ(c1, c2) << m << "x" << n << "x" << k << " a_columns " << a_columns;
    }
  }
  set_num_threads(before);
}

// matmul in float32 (the own GEMM on AVX-512 CPUs) through the op layer: 1-D operands, batch
// broadcasting, transposed views, products large enough to be split over threads, and the
// backward rules' transposed products, against the same computation in float64. Random
// inputs and random upstream gradients.
TEST(MatmulKernel, Float32OpAndGradientsMatchFloat64) {
  std::vector<std::pair<Shape, Shape>> cases = matmul_cases();
  cases.push_back({{130, 300}, {300, 70}});  // split over threads (> 4 MFLOP)
  cases.push_back({{3, 37, 50}, {50, 33}});  // batched, edges of the tiles
  uint64_t seed = 100;
  for (bool transposed : {false, true})
    for (const auto& [sa, sb] : cases) {
      // The same values, as f64 leaves and as f32 leaves; optionally stored transposed.
      auto make = [&](const Shape& s) {
        Tensor v = randn(s, ++seed, DType::f64);
        if (transposed && s.size() >= 2) v = v.transpose(-1, -2).contiguous().transpose(-1, -2);
        return v;
      };
      const Tensor a64 = make(sa).requires_grad_(), b64 = make(sb).requires_grad_();
      const Tensor a32 = a64.detach().to(DType::f32).requires_grad_();
      const Tensor b32 = b64.detach().to(DType::f32).requires_grad_();
      const Tensor y64 = matmul(a64, b64), y32 = matmul(a32, b32);
      const Tensor up = randn(y64.shape(), ++seed, DType::f64);
      (y64 * up).sum().backward();
      (y32 * up.to(DType::f32)).sum().backward();
      const int64_t k = sa.back();
      const double tol = 1e-6 * double(k + 4);  // float32 rounding of k-term sums of N(0,1)
      const std::string what =
          shape_str(sa) + " @ " + shape_str(sb) + (transposed ? " (transposed storage)" : "");
      SCOPED_TRACE(what);
      expect_close(y32, y64, tol);
      expect_close(a32.grad(), a64.grad(), tol * 8);
      expect_close(b32.grad(), b64.grad(), tol * 8);
    }
}
