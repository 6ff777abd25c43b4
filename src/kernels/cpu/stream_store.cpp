#include "kernels/cpu/stream_store.hpp"

#include <cstring>

#include "kernels/cpu/clones.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ndgrad::kernels {

#if defined(__x86_64__)
namespace {

__attribute__((target("avx"))) void stream_copy_avx(char* dst, const char* src, int64_t bytes) {
  for (int64_t k = 0; k < bytes; k += 32)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + k),
                        _mm256_load_si256(reinterpret_cast<const __m256i*>(src + k)));
}

__attribute__((target("avx"))) void stream_fill_avx(char* dst, const char* pattern, int64_t bytes) {
  const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(pattern));
  const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(pattern + 32));
  for (int64_t k = 0; k < bytes; k += 64) {
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + k), lo);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + k + 32), hi);
  }
}

void stream_fill_sse2(char* dst, const char* pattern, int64_t bytes) {
  __m128i p[4];
  for (int j = 0; j < 4; ++j) p[j] = _mm_load_si128(reinterpret_cast<const __m128i*>(pattern) + j);
  for (int64_t k = 0; k < bytes; k += 64)
    for (int j = 0; j < 4; ++j) _mm_stream_si128(reinterpret_cast<__m128i*>(dst + k) + j, p[j]);
}

void stream_copy_sse2(char* dst, const char* src, int64_t bytes) {
  for (int64_t k = 0; k < bytes; k += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + k),
                     _mm_load_si128(reinterpret_cast<const __m128i*>(src + k)));
}

}  // namespace

void stream_copy(char* dst, const char* src, int64_t bytes) {
  (cpu().avx ? stream_copy_avx : stream_copy_sse2)(dst, src, bytes);
}
void stream_fill(char* dst, const char* pattern, int64_t bytes) {
  (cpu().avx ? stream_fill_avx : stream_fill_sse2)(dst, pattern, bytes);
}
void stream_fence() { _mm_sfence(); }
#else
void stream_copy(char* dst, const char* src, int64_t bytes) {
  std::memcpy(dst, src, static_cast<size_t>(bytes));
}
void stream_fill(char* dst, const char* pattern, int64_t bytes) {
  for (int64_t k = 0; k < bytes; k += 64) std::memcpy(dst + k, pattern, 64);
}
void stream_fence() {}
#endif

}  // namespace ndgrad::kernels
