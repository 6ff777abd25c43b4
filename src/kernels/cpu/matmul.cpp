// Matrix products: float32 on AVX-512 CPUs by ndgrad's own kernel (sgemm.hpp); otherwise
// OpenBLAS when it can be opened at run time (see blas.hpp), a cache-friendly portable loop
// where it cannot.
// The batch dims go through the same strided loop as every other kernel.
#include <algorithm>
#include <array>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/reference.hpp"
#include "kernels/cpu/sgemm.hpp"
#include "kernels/cpu/strided_loop.hpp"

namespace ndgrad::kernels {

namespace {

template <class T>
void portable_gemm(int64_t n, int64_t k, int64_t m, const T* a, int64_t as0, int64_t as1,
                   const T* b, int64_t bs0, int64_t bs1, T* c) {
  std::fill(c, c + n * m, T(0));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < k; ++p) {
      const T av = a[i * as0 + p * as1];
      const T* brow = b + p * bs0;
      T* crow = c + i * m;
      if (bs1 == 1)
        for (int64_t j = 0; j < m; ++j) crow[j] = wrap_add(crow[j], wrap_mul(av, brow[j]));
      else
        for (int64_t j = 0; j < m; ++j) crow[j] = wrap_add(crow[j], wrap_mul(av, brow[j * bs1]));
    }
}

template <class T>
void gemm(int64_t n, int64_t k, int64_t m, const T* a, int64_t as0, int64_t as1, const T* b,
          int64_t bs0, int64_t bs1, T* c, bool use_blas) {
  if (n == 0 || m == 0) return;
  if (k == 0) {
    std::fill(c, c + n * m, T(0));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (use_blas && own_sgemm_available() && !reference_kernels()) {
      own_sgemm(n, m, k, a, as0, as1, b, bs0, bs1, c, m);
      return;
    }
  }
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    const Blas& lib = blas();
    BlasCall call;
    if (use_blas && lib.loaded() && call.begin()) {
      Layout la = layout_of(n, k, as0, as1), lb = layout_of(k, m, bs0, bs1);
      const int ta = la.trans ? kTrans : kNoTrans, tb = lb.trans ? kTrans : kNoTrans;
      const int N = int(n), M = int(m), K = int(k);
      if constexpr (std::is_same_v<T, float>)
        lib.sgemm(kRowMajor, ta, tb, N, M, K, 1.0f, a, int(la.ld), b, int(lb.ld), 0.0f, c, M);
      else
        lib.dgemm(kRowMajor, ta, tb, N, M, K, 1.0, a, int(la.ld), b, int(lb.ld), 0.0, c, M);
      return;
    }
  }
  portable_gemm(n, k, m, a, as0, as1, b, bs0, bs1, c);
}

}  // namespace

bool gemm_compatible(int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  if (rows > INT32_MAX || cols > INT32_MAX) return false;
  bool row_major = (cols == 1 || s1 == 1) && (rows == 1 || s0 >= std::max<int64_t>(cols, 1));
  bool col_major = (rows == 1 || s0 == 1) && (cols == 1 || s1 >= std::max<int64_t>(rows, 1));
  return row_major || col_major;
}

void batched_matmul(DType dtype, const Dims& batch, int64_t n, int64_t k, int64_t m, Operand c,
                    Operand a, Operand b, bool use_blas) {
  const int nb = static_cast<int>(batch.size());
  if (n == 0 || m == 0 || k == 0) {  // empty operands own no memory: never step through them
    int64_t count = n * m;
    for (int64_t d : batch) count *= d;
    fill(c.data, dtype, count, 0.0);
    return;
  }
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      const int64_t as0 = a.strides[nb], as1 = a.strides[nb + 1];
      const int64_t bs0 = b.strides[nb], bs1 = b.strides[nb + 1];
      int64_t sc[kMaxDims], sa[kMaxDims], sb[kMaxDims];
      for (int d = 0; d < nb; ++d) {
        sc[d] = c.strides[d] * int64_t(sizeof(T));
        sa[d] = a.strides[d] * int64_t(sizeof(T));
        sb[d] = b.strides[d] * int64_t(sizeof(T));
      }
      StridedLoop<3> loop(nb, batch.data(), {sc, sa, sb});
      loop.run({c.data, a.data, b.data}, [&](char* const* p, const int64_t* s, int64_t count) {
        for (int64_t i = 0; i < count; ++i)
          gemm<T>(n, k, m, reinterpret_cast<const T*>(p[1] + i * s[1]), as0, as1,
                  reinterpret_cast<const T*>(p[2] + i * s[2]), bs0, bs1,
                  reinterpret_cast<T*>(p[0] + i * s[0]), use_blas);
      });
    }
  });
}

}  // namespace ndgrad::kernels
