#include "kernels/cpu/stream_store.hpp"

#include <cstring>

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

void stream_copy_sse2(char* dst, const char* src, int64_t bytes) {
  for (int64_t k = 0; k < bytes; k += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + k),
                     _mm_load_si128(reinterpret_cast<const __m128i*>(src + k)));
}

using CopyFn = void (*)(char*, const char*, int64_t);
const CopyFn chosen = __builtin_cpu_supports("avx") ? stream_copy_avx : stream_copy_sse2;

}  // namespace

void stream_copy(char* dst, const char* src, int64_t bytes) { chosen(dst, src, bytes); }
void stream_fence() { _mm_sfence(); }
#else
void stream_copy(char* dst, const char* src, int64_t bytes) {
  std::memcpy(dst, src, static_cast<size_t>(bytes));
}
void stream_fence() {}
#endif

}  // namespace ndgrad::kernels
