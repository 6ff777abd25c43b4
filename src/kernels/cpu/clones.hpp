#pragma once
// The one SIMD dispatch: what the CPU can run, asked in one place.
// - Hot contiguous loops are compiled for AVX-512, AVX2 and baseline x86-64 (NDGRAD_CLONES),
//   and the loader picks the clone the CPU runs best (no -march: one binary serves every
//   x86-64 machine).
// - Code written for one instruction set (the own GEMM, streaming stores, the OpenBLAS kernels
//   to ask for) checks cpu() once, at its first use.
// Not under sanitizers: their runtimes are not ready when ifunc resolvers run at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define NDGRAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NDGRAD_CLONES
#endif

#include <cstdlib>
#include <cstring>

namespace ndgrad::kernels {

struct CpuFeatures {
  bool avx = false;
  bool avx2 = false;
  bool avx512 = false;    // F, BW, DQ and VL: what the own GEMM and OpenBLAS's SkylakeX kernels use
  bool avx2_fma = false;  // AVX2 and FMA (every AVX2 CPU has both, but each is its own flag)
};
// Detected once (also before the C++ runtime's own detection has run). NDGRAD_MAX_ISA=avx2 or
// baseline caps what it reports, so that the tests run the AVX2 and baseline versions of the
// code that dispatches on it (the fast math loops, the own GEMM, streaming stores) on a newer CPU;
// the compiler's clones (NDGRAD_CLONES) follow the CPU itself.
inline const CpuFeatures& cpu() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    f.avx = __builtin_cpu_supports("avx");
    f.avx2 = __builtin_cpu_supports("avx2");
    f.avx2_fma = f.avx2 && __builtin_cpu_supports("fma");
    f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    if (const char* cap = std::getenv("NDGRAD_MAX_ISA")) {
      const bool baseline = std::strcmp(cap, "baseline") == 0;
      if (baseline || std::strcmp(cap, "avx2") == 0) f.avx512 = false;
      if (baseline) f = CpuFeatures();
    }
    return f;
  }();
  return features;
}

// The version of a function for this CPU (cpu(), capped by NDGRAD_MAX_ISA): AVX-512, AVX2
// with FMA, or baseline x86-64.
template <class Fn>
inline Fn for_cpu(Fn avx512, Fn avx2_fma, Fn baseline) {
  const CpuFeatures& features = cpu();
  return features.avx512 ? avx512 : features.avx2_fma ? avx2_fma : baseline;
}

}  // namespace ndgrad::kernels
