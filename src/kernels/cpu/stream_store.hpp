#pragma once
// Writing large outputs past the caches.
//
// An output much larger than the per-core caches is written once and read later from memory
// anyway. A normal store first reads each cache line from memory (read-for-ownership) only to
// overwrite it, so a large fill moves twice the bytes it writes. Non-temporal stores skip that
// read. Measured on the benchmark machine (1 thread): 64 MiB fill 8.1 -> 3.6 ms, 64 MiB
// scaled copy 11.7 -> 9.5 ms, and the same ratios at 16 MiB.
#include <cstdint>

namespace ndgrad::kernels {

// Outputs at least this large (in bytes, over the whole op) are streamed.
constexpr int64_t kStreamBytes = int64_t(4) << 20;

// Copies bytes from src to dst (both 64-byte aligned) with non-temporal stores: 32-byte stores
// where the CPU has AVX, 16-byte ones otherwise (a plain copy off x86).
void stream_copy(char* dst, const char* src, int64_t bytes);
// Repeats a 64-byte pattern (64-byte aligned) over bytes (a multiple of 64) at dst (64-byte
// aligned) with non-temporal stores.
void stream_fill(char* dst, const char* pattern, int64_t bytes);
// Orders the non-temporal stores before everything after it (they are weakly ordered). Once per
// thread and kernel: fencing every block stalls the write-combining buffers.
void stream_fence();

// Writes n results to out. f(dst, begin, count) computes the results for elements
// [begin, begin + count) into dst[0, count). With stream set, whole cache lines of results are
// computed a block at a time into a buffer that stays in L1 and streamed to out from there
// (the caller fences with stream_fence() before the results are used); the rest, and every
// result without stream, f writes to out directly. The blocks are 1 KiB: sixteen lines of
// stores drain while the next block is computed, where 16 KiB of them stalled the core until
// they had left (cold 4M-float floor 2.6 -> 2.2 ms, erf 3.6 -> 3.2 ms, 1 thread).
//
// The inputs named after f are contiguous runs of n values that f reads at the same indices:
// while streaming, each block first asks for the lines of theirs 4 KiB ahead. A loop that computes
// for a while between reads (erf, sin) otherwise waits on their misses: cold 4M-float erf
// 3.2 -> 2.7 ms, floor 2.1 -> 1.9 ms.
template <class T>
inline void prefetch_ahead(const T* in, int64_t first, int64_t count, int64_t n) {
  static_assert(sizeof(T) <= 64, "one prefetch a cache line");
  constexpr int64_t ahead = 4096 / sizeof(T), line = 64 / sizeof(T);
  const int64_t end = first + count + ahead < n ? first + count + ahead : n;
  for (int64_t i = first + ahead; i < end; i += line) __builtin_prefetch(in + i);
}
template <class R, class F, class... In>
void write_run(R* out, int64_t n, bool stream, F&& f, const In*... in) {
  constexpr int64_t kBlockBytes = 1024;
  if (!stream || n * static_cast<int64_t>(sizeof(R)) < 4096) {
    f(out, 0, n);
    return;
  }
  alignas(64) R buf[kBlockBytes / sizeof(R)];
  int64_t i = 0;
  const uintptr_t misaligned = reinterpret_cast<uintptr_t>(out) % 64;
  if (misaligned) {  // a few elements, up to the first cache-line boundary
    i = static_cast<int64_t>((64 - misaligned) / sizeof(R));
    f(out, 0, i);
  }
  for (;;) {
    int64_t bytes = (n - i) * static_cast<int64_t>(sizeof(R));
    bytes = (bytes < kBlockBytes ? bytes : kBlockBytes) / 64 * 64;
    if (bytes == 0) break;
    const int64_t count = bytes / static_cast<int64_t>(sizeof(R));
    (prefetch_ahead(in, i, count, n), ...);
    f(buf, i, count);
    stream_copy(reinterpret_cast<char*>(out + i), reinterpret_cast<const char*>(buf), bytes);
    i += count;
  }
  if (i < n) f(out + i, i, n - i);
}

// Sets n elements at out to v; streamed like write_run.
template <class R>
void fill_run(R* out, int64_t n, R v, bool stream) {
  if (!stream || n * static_cast<int64_t>(sizeof(R)) < 4096) {
    for (int64_t i = 0; i < n; ++i) out[i] = v;
    return;
  }
  int64_t i = 0;
  for (; reinterpret_cast<uintptr_t>(out + i) % 64 != 0; ++i) out[i] = v;
  alignas(64) R pattern[64 / sizeof(R)];
  for (R& p : pattern) p = v;
  const int64_t lines = (n - i) * static_cast<int64_t>(sizeof(R)) / 64;
  stream_fill(reinterpret_cast<char*>(out + i), reinterpret_cast<const char*>(pattern), lines * 64);
  for (i += lines * 64 / static_cast<int64_t>(sizeof(R)); i < n; ++i) out[i] = v;
}

}  // namespace ndgrad::kernels
