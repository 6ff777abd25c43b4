// The portable GEMM (used where no BLAS exists) and the BLAS path agree with a naive product
// for every layout the ops hand them: row-major, column-major (transposed views), batched.
#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "kernels/cpu/kernels.hpp"
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
  const Tensor c = matmul(ones({64, 64}), ones({64, 64}));
  EXPECT_EQ(c.to_vector()[0], 64.0);
  if (!std::getenv("NDGRAD_NO_BLAS") && openblas_mapped()) {
    void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
    if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(h, nullptr);
    auto get = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_num_threads"));
    ASSERT_NE(get, nullptr);
    EXPECT_EQ(get(), 1);  // the count asked for before the load was applied
    set_num_threads(2);
    EXPECT_EQ(get(), 2);  // and later changes too
    dlclose(h);
  }
  set_num_threads(before);
}
