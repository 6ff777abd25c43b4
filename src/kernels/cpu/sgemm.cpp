#include "kernels/cpu/sgemm.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <utility>

#include "core/thread_pool.hpp"
#include "kernels/cpu/clones.hpp"
#include "ndgrad/threads.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NDGRAD_HAVE_OWN_SGEMM 1
#define NDGRAD_AVX512 __attribute__((target("avx512f")))
#endif

namespace ndgrad::kernels {

#ifdef NDGRAD_HAVE_OWN_SGEMM

namespace {

// The register tile: up to kRows rows of c by 64 columns (four 16-float vectors), 24 of the 32
// vector registers as accumulators. Each depth step loads 4 vectors of the packed right
// operand and broadcasts 6 floats of the left one for 24 FMAs; this CPU issues about one
// broadcast per cycle, so the 12 x 32 tile's 12 broadcasts and 2 loads kept its FMA units
// waiting (6 x 64 is 1.05-1.15x faster on the MLP's products and 1024^3). The left operand's
// tile (6 x kDepth floats) stays in L1 while the panels of the packed right operand (kDepth x
// 64 floats each, kPanels of them: 512 KiB) stream from L2.
constexpr int kVecs = 4;
constexpr int kRows = 6;
constexpr int kCols = 16 * kVecs;
constexpr int64_t kDepth = 256;
constexpr int64_t kPanels = 512 / kCols;
// Rows of the one-vector tile where every panel is that narrow (n <= 16).
constexpr int kNarrowRows = 12;
// Rows one pack_a call packs (one masked vector per depth step): the rows of consecutive tiles.
constexpr int kPackedRows = 16;
static_assert(kRows <= kPackedRows && kNarrowRows <= kPackedRows);
// Products of fewer flops than this run on one thread: waking the pool costs more.
constexpr double kParallelFlops = 4e6;

struct alignas(64) Buffers {
  float b[kDepth * kCols * kPanels];
  float a[kDepth * kPackedRows];
};

Buffers& buffers() {
  thread_local std::unique_ptr<Buffers> buf;
  if (!buf) buf.reset(new Buffers);
  return *buf;
}

NDGRAD_AVX512 inline __mmask16 low_mask(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
}

// c[0..R) x [0..16 V) (= or +=) sum over p of a(i, p) * bp[p * kCols + j], where a(i, p) is
// a[i * lda + p] for ROWS (a row-major operand read in place) and a[p * lda + i] otherwise (a
// packed panel, or a column-major operand). Columns from nj on are neither read nor written.
// With PACK, row p of the panel is read from b_src + p * bs0 (contiguous columns, the masked
// ones read as zero) and written to bp as it is used: the first row tile of a block packs the
// right operand, so its reads from L3 overlap the products instead of a packing pass.
// V < kVecs: a panel of at most 16 V columns (the last one, or a classifier's 10 outputs);
// only the first 16 V floats of each packed row are written and read.
// Without accumulate, a non-null bias adds bias[i] to row i (convolution's bias: no fill of c
// first, no read of it back).
template <int R, bool ROWS, bool PACK, int V>
NDGRAD_AVX512 void tile(int64_t kc, const float* __restrict a, int64_t lda, float* __restrict bp,
                        float* c, int64_t ldc, int64_t nj, bool accumulate,
                        const float* __restrict b_src, int64_t bs0, const float* bias) {
  __mmask16 m[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) m[v] = low_mask(nj - 16 * v);
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    __m512 b[V];
    if (PACK) {
      const float* src = b_src + p * bs0;
      // The row 8 ahead: its lines arrive while these products run.
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        _mm_prefetch(reinterpret_cast<const char*>(src + 8 * bs0 + 16 * v), _MM_HINT_T0);
        b[v] = _mm512_maskz_loadu_ps(m[v], src + 16 * v);
        _mm512_store_ps(bp + kCols * p + 16 * v, b[v]);
      }
    } else {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) b[v] = _mm512_load_ps(bp + kCols * p + 16 * v);
    }
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(ROWS ? a[i * lda + p] : a[p * lda + i]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(av, b[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      if (accumulate)
        acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_maskz_loadu_ps(m[v], row + 16 * v));
      else if (bias)
        acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_set1_ps(bias[i]));
      _mm512_mask_storeu_ps(row + 16 * v, m[v], acc[i][v]);
    }
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, float*, float*, int64_t, int64_t, bool,
                        const float*, int64_t, const float*);

template <bool ROWS, bool PACK, int V, int... I>
constexpr std::array<TileFn, sizeof...(I)> tile_table(std::integer_sequence<int, I...>) {
  return {&tile<I + 1, ROWS, PACK, V>...};
}
// kTiles<ROWS, PACK, V>[r - 1]: the tile of r rows and V vectors.
template <bool ROWS, bool PACK, int V>
constexpr auto kTiles = tile_table<ROWS, PACK, V>(
    std::make_integer_sequence<int, V == 1 ? std::max(kRows, kNarrowRows) : kRows>{});

template <int V>
TileFn tile_for(bool rows_in_place, bool pack, int r) {
  return rows_in_place ? (pack ? kTiles<true, true, V> : kTiles<true, false, V>)[r - 1]
                       : (pack ? kTiles<false, true, V> : kTiles<false, false, V>)[r - 1];
}
// out[v - 1]: the tile of r rows and v vectors, for v = 1 .. kVecs (only one vector for the
// taller rows of narrow products).
template <int... V>
void tiles_for(bool rows_in_place, bool pack, int r, TileFn* out,
               std::integer_sequence<int, V...>) {
  ((out[V] = V == 0 || r <= kRows ? tile_for<V + 1>(rows_in_place, pack, r) : nullptr), ...);
}

// A gather's element offsets i * stride for i < 16, when they fit its 32-bit indices.
NDGRAD_AVX512 inline bool gather_offsets(int64_t stride, __m512i& idx) {
  if (stride <= 0 || stride > INT32_MAX / 32) return false;
  idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(int(stride)));
  return true;
}

// Transposes the 16 x 16 block in r (r[i] is row i) in place: afterwards r[j] holds column j.
// (GCC 12 warns that the shuffles' unused pass-through operand, _mm512_undefined_ps, may be
// uninitialized; it is never read.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
NDGRAD_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  // Pairs of rows interleaved within each 128-bit lane, then groups of four rows: lane L of
  // r[4g + c] then holds column 4L + c of rows 4g .. 4g + 3.
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  // Column 4L + c is lane L of r[c], r[4 + c], r[8 + c] and r[12 + c]: 128-bit lanes picked
  // across the groups (0x88 takes lanes 0 and 2 of each source, 0xDD lanes 1 and 3).
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __m512 lo_even = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    const __m512 lo_odd = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
    const __m512 hi_even = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    const __m512 hi_odd = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
    t[c] = _mm512_shuffle_f32x4(lo_even, hi_even, 0x88);
    t[8 + c] = _mm512_shuffle_f32x4(lo_even, hi_even, 0xDD);
    t[4 + c] = _mm512_shuffle_f32x4(lo_odd, hi_odd, 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(lo_odd, hi_odd, 0xDD);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}
#pragma GCC diagnostic pop

// pack_b for a b whose columns are contiguous (bs0 == 1: the transposed weight in an input's
// gradient): 16 columns x 16 rows are read as 16 vectors and transposed in registers instead
// of gathering each packed row with stride bs1 (W2^T: 18 us gathered).
NDGRAD_AVX512 void pack_b_columns(int64_t kc, int64_t cols, const float* b, int64_t bs1,
                                  float* dst) {
  for (int64_t j0 = 0; j0 < cols; j0 += kCols, dst += kc * kCols) {
    const int64_t nj = std::min<int64_t>(kCols, cols - j0);
    for (int64_t p0 = 0; p0 < kc; p0 += 16) {
      const int64_t np = std::min<int64_t>(16, kc - p0);
      const __mmask16 mp = low_mask(np);
      for (int64_t h = 0; h < kCols; h += 16) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
          r[i] = h + i < nj ? _mm512_maskz_loadu_ps(mp, b + (j0 + h + i) * bs1 + p0)
                            : _mm512_setzero_ps();
        transpose16(r);
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
          if (i < np) _mm512_store_ps(dst + (p0 + i) * kCols + h, r[i]);
      }
    }
  }
}

// Packs columns [j0, j0 + cols) of rows [0, kc) of b (b already at the first row) into panels
// of kc x kCols floats, zero beyond the last column.
NDGRAD_AVX512 void pack_b(int64_t kc, int64_t cols, const float* b, int64_t bs0, int64_t bs1,
                          float* dst) {
  if (bs0 == 1 && bs1 != 1) return pack_b_columns(kc, cols, b, bs1, dst);
  __m512i idx;
  const bool gather = bs1 != 1 && gather_offsets(bs1, idx);
  for (int64_t j0 = 0; j0 < cols; j0 += kCols, dst += kc * kCols) {
    const int64_t nj = std::min<int64_t>(kCols, cols - j0);
    const float* src = b + j0 * bs1;
    for (int64_t p = 0; p < kc; ++p, src += bs0) {
      float* d = dst + p * kCols;
      if (bs1 == 1) {
        for (int64_t h = 0; h < kCols; h += 16)
          _mm512_store_ps(d + h, _mm512_maskz_loadu_ps(low_mask(nj - h), src + h));
      } else if (gather) {
        for (int64_t h = 0; h < kCols; h += 16)
          _mm512_store_ps(d + h, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), low_mask(nj - h),
                                                          idx, src + h * bs1, 4));
      } else {
        for (int64_t j = 0; j < kCols; ++j) d[j] = j < nj ? src[j * bs1] : 0.0f;
      }
    }
  }
}

// Packs rows [0, r) x depth [0, kc) of a (a at the first element) as kc groups of r floats.
NDGRAD_AVX512 void pack_a(int64_t kc, int r, const float* a, int64_t as0, int64_t as1, float* dst) {
  const __mmask16 m = low_mask(r);
  __m512i idx;
  const bool gather = as0 != 1 && gather_offsets(as0, idx);
  for (int64_t p = 0; p < kc; ++p, a += as1, dst += r) {
    if (as0 == 1)
      _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, a));
    else if (gather)
      _mm512_mask_storeu_ps(dst, m, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, a, 4));
    else
      for (int i = 0; i < r; ++i) dst[i] = a[i * as0];
  }
}

struct Problem {
  int64_t m, n, k;
  const float* a;
  int64_t as0, as1;
  const float* b;
  int64_t bs0, bs1;
  float* c;
  int64_t ldc;
  bool accumulate;
  const float* bias;
};

// Rows [r0, r1) by columns [c0, c1) of the product (c0 a multiple of 32), on this thread.
NDGRAD_AVX512 void run_block(const Problem& q, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  if (r0 >= r1 || c0 >= c1) return;
  Buffers& buf = buffers();
  const bool rows_in_place = q.as1 == 1;
  // Contiguous rows of b at most 1 KiB apart (the layers of an MLP) are packed by the first row
  // tile as it goes. Rows further apart meet in fewer L1 sets, where they evict the tile's
  // operands (0.97-0.99 of the packing pass at 1024^3); they, and a transposed or strided b,
  // are packed before the first tile.
  const bool pack_in_tile = q.bs1 == 1 && q.bs0 <= 256;
  // Row tiles of balanced heights (no thin last tile): 128 rows are 18 x 6 + 4 x 5. Where
  // every panel is one vector wide, taller tiles: 6 products per 7 loads would leave the FMA
  // units half idle.
  const int64_t rows = r1 - r0;
  const int max_rows = c1 - c0 <= 16 ? std::max(kRows, kNarrowRows) : kRows;
  const int64_t tiles = (rows + max_rows - 1) / max_rows;
  for (int64_t jc = c0; jc < c1; jc += kPanels * kCols) {
    const int64_t cols = std::min<int64_t>(kPanels * kCols, c1 - jc);
    for (int64_t pc = 0; pc < q.k; pc += kDepth) {
      const int64_t kc = std::min<int64_t>(kDepth, q.k - pc);
      const float* b_src = q.b + pc * q.bs0 + jc * q.bs1;
      if (!pack_in_tile) pack_b(kc, cols, b_src, q.bs0, q.bs1, buf.b);
      auto height = [&](int64_t t) { return int(rows / tiles + (t < rows % tiles ? 1 : 0)); };
      // A packed a holds the rows of consecutive tiles, up to kPackedRows: a
      // column-major a then reads each of its lines once for 12 rows, not twice for 6.
      int64_t packed_from = r0, packed_rows = 0;
      int64_t i0 = r0;
      for (int64_t t = 0; t < tiles; ++t) {
        const int r = height(t);
        const float* at = q.a + i0 * q.as0 + pc * q.as1;
        int64_t lda = q.as0;
        if (!rows_in_place) {
          if (i0 >= packed_from + packed_rows) {
            int g = r;
            for (int64_t u = t + 1; u < tiles && g + height(u) <= kPackedRows; ++u) g += height(u);
            pack_a(kc, g, at, q.as0, q.as1, buf.a);
            packed_from = i0;
            packed_rows = g;
          }
          at = buf.a + (i0 - packed_from);
          lda = packed_rows;
        }
        const bool pack = pack_in_tile && t == 0;
        TileFn fs[kVecs];
        tiles_for(rows_in_place, pack, r, fs, std::make_integer_sequence<int, kVecs>{});
        for (int64_t j0 = 0; j0 < cols; j0 += kCols) {
          const int64_t nj = std::min<int64_t>(kCols, cols - j0);
          fs[(nj + 15) / 16 - 1](kc, at, lda, buf.b + j0 * kc, q.c + i0 * q.ldc + jc + j0, q.ldc,
                                 nj, pc > 0 || q.accumulate, b_src + j0, q.bs0,
                                 q.bias ? q.bias + i0 : nullptr);
        }
        i0 += r;
      }
    }
  }
}

}  // namespace

bool own_sgemm_available() { return cpu().avx512; }

void own_sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t as0, int64_t as1,
               const float* b, int64_t bs0, int64_t bs1, float* c, int64_t ldc, bool accumulate,
               const float* row_bias) {
  const Problem q{
      m, n, k, a, as0, as1, b, bs0, bs1, c, ldc, accumulate, accumulate ? nullptr : row_bias};
  const int threads = get_num_threads();
  const int64_t panels = (n + kCols - 1) / kCols;
  if (threads <= 1 || 2.0 * double(m) * double(n) * double(k) < kParallelFlops) {
    run_block(q, 0, m, 0, n);
    return;
  }
  // Several tasks per thread, claimed as threads free up: a thread slowed by another program
  // on its core does less of the work. Each task packs the part of b its columns need, and of
  // a (unless a is read in place) the part its rows need: split the columns into whole 64-column
  // panels, unless splitting the rows packs less in all (a packed a with more rows than b has
  // columns, or fewer panels than threads: rows split 8 ways would each pack all of b).
  const int64_t row_tiles = (m + kRows - 1) / kRows;
  const bool by_rows = panels < threads || (q.as1 != 1 && m > n && row_tiles >= 2 * threads);
  if (!by_rows) {
    const int64_t tasks = std::min<int64_t>(4 * threads, panels);
    parallel_for(tasks, [&](int64_t t) {
      run_block(q, 0, m, panels * t / tasks * kCols, std::min(n, panels * (t + 1) / tasks * kCols));
    });
  } else {
    const int64_t tasks = std::min<int64_t>(4 * threads, m);
    parallel_for(tasks, [&](int64_t t) { run_block(q, m * t / tasks, m * (t + 1) / tasks, 0, n); });
  }
}

#else

bool own_sgemm_available() { return false; }
void own_sgemm(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t,
               int64_t, float*, int64_t, bool, const float*) {}

#endif

}  // namespace ndgrad::kernels
