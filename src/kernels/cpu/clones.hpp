#pragma once
// Hot contiguous loops are compiled for AVX-512, AVX2 and baseline x86-64, and the loader picks
// the clone the CPU runs best (no -march, so one binary serves every x86-64 machine).
// Not under sanitizers: their runtimes are not ready when ifunc resolvers run at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define NDGRAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NDGRAD_CLONES
#endif
