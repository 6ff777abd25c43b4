// Winograd's F(2x2, 3x3) for 3x3 convolutions at stride 1 (winograd.hpp). With the 4x4 input
// patch d of a tile, the 3x3 kernel g and
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1],
// the tile's 2x2 outputs are A^T [sum over channels of (G g G^T) .* (B^T d B)] A: for each of
// the 16 positions xi of the 4x4 transforms, one GEMM (out_channels x channels) times
// (channels x tiles). Its 16 GEMMs of depth C do 16 C multiplications a tile and output channel
// where the direct convolution does 36 C; the transforms are additions (and halvings of the
// weights, exact in binary). Tiles are taken kChunk at a time across the images, so that a
// chunk's transformed inputs and products stay in L2; up to 16 tiles side by side fill a vector.
#include "kernels/cpu/winograd.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/thread_pool.hpp"
#include "kernels/cpu/reference.hpp"
#include "kernels/cpu/sgemm.hpp"
#include "ndgrad/threads.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NDGRAD_WINOGRAD 1
#define NDGRAD_WINOGRAD_AVX512 __attribute__((target("avx512f")))
#endif

namespace ndgrad::kernels {

#ifdef NDGRAD_WINOGRAD

namespace {

constexpr int64_t kChunk = 128;  // tiles a chunk: the GEMMs' columns
// The 16 matrices of transformed inputs (and of products) lie a cache line more than their
// size apart: at a multiple of 4 KiB (C kChunk floats, C a multiple of 8) the 16 loads or
// stores of a tile's transform would all meet in one L1 set and evict each other.
inline int64_t slab(int64_t rows) { return rows * kChunk + 16; }

struct Plan {
  int64_t batch, C, H, W, O, OH, OW, ph, pw;
  int64_t TH, TW, per_image;  // tiles a column, a row, an image
  int64_t stack;              // whole tile rows a vector takes (1: runs along one row)
};

// U[(xi * O + o) * C + c] = (G g G^T)[xi] for kernel g of output channel o, input channel c (in
// double, rounded once).
void transform_weights(const Plan& p, const float* w, bool adjoint, float* U) {
  for (int64_t o = 0; o < p.O; ++o)
    for (int64_t c = 0; c < p.C; ++c) {
      double g[3][3];
      for (int ki = 0; ki < 3; ++ki)
        for (int kj = 0; kj < 3; ++kj)
          g[ki][kj] = adjoint ? double(w[((c * p.O + o) * 3 + (2 - ki)) * 3 + (2 - kj)])
                              : double(w[((o * p.C + c) * 3 + ki) * 3 + kj]);
      double t[4][3];
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[0][j];
        t[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j]);
        t[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j]);
        t[3][j] = g[2][j];
      }
      for (int i = 0; i < 4; ++i) {
        const double u[4] = {t[i][0], 0.5 * (t[i][0] + t[i][1] + t[i][2]),
                             0.5 * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
        for (int j = 0; j < 4; ++j) U[((4 * i + j) * p.O + o) * p.C + c] = float(u[j]);
      }
    }
}

NDGRAD_WINOGRAD_AVX512 inline __mmask16 lanes(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
}

// The lanes [lo, hi) of 16, clipped.
NDGRAD_WINOGRAD_AVX512 inline __mmask16 span(int64_t lo, int64_t hi) {
  return __mmask16(lanes(hi) & ~lanes(lo));
}

// A run of at most 16 tiles: image b, tile row th, tile columns [tw, tw + n), the first the
// chunk's tile number t; or, with rows > 1, that many whole tile rows from th stacked in one
// vector (narrow images, at most 7 tiles a row: n = rows TW). Along a row, 16 tiles' patches
// are 32 + 2 consecutive columns: column j of each tile is an even or odd lane of two loads
// (the loads from the third column on give columns 2 and 3), picked out with a permutation;
// stacked, one load of 16 columns covers a tile row's patches and a permutation a tile row
// puts them in its lanes. The columns outside the image are masked off the loads.
struct Run {
  int64_t b, th, tw, n, t, rows;
};

// The run starting at tile t of the chunk [first, first + count).
inline Run run_at(const Plan& p, int64_t t, int64_t first, int64_t count) {
  const int64_t b = t / p.per_image, r = t % p.per_image, th = r / p.TW, tw = r % p.TW;
  if (p.stack > 1 && tw == 0) {
    const int64_t rows = std::min({p.stack, p.TH - th, (first + count - t) / p.TW});
    if (rows >= 2) return Run{b, th, 0, rows * p.TW, t - first, rows};
  }
  return Run{b, th, tw, std::min({int64_t(16), p.TW - tw, first + count - t}), t - first, 1};
}

// The permutations of stacked runs: lanes [q TW, (q + 1) TW) are tile row q's.
struct Stack {
  __mmask16 rows[16];      // tile row q's lanes
  __m512i columns[16][4];  // patch column j of tile row q's tiles: lanes of the row's load
  __m512i outputs[16];     // tile row q's two output columns interleaved (the second from 16 on)
};

NDGRAD_WINOGRAD_AVX512 void make_stack(const Plan& p, Stack* s) {
  for (int64_t q = 0; q < p.stack; ++q) {
    alignas(64) int32_t cols[4][16] = {}, outs[16] = {};
    for (int64_t lane = 0; lane < 16; ++lane) {
      const int64_t tw = lane - q * p.TW;
      if (tw >= 0 && tw < p.TW)
        for (int j = 0; j < 4; ++j) cols[j][lane] = int32_t(2 * tw + j);
      outs[lane] = int32_t((lane & 1 ? 16 : 0) + q * p.TW + lane / 2);
    }
    s->rows[q] = span(q * p.TW, (q + 1) * p.TW);
    for (int j = 0; j < 4; ++j) s->columns[q][j] = _mm512_load_si512(cols[j]);
    s->outputs[q] = _mm512_load_si512(outs);
  }
}

// B^T d B of 16 tiles from e = d B (each patch row's columns combined), stored to V (the
// first tile's column, step apart from one xi to the next) in the lanes out.
NDGRAD_WINOGRAD_AVX512 inline void store_inputs(__m512 e[4][4], float* v, int64_t step,
                                                __mmask16 out) {
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {  // B^T (d B): the rows combined
    _mm512_mask_storeu_ps(v + (0 + j) * step, out, _mm512_sub_ps(e[0][j], e[2][j]));
    _mm512_mask_storeu_ps(v + (4 + j) * step, out, _mm512_add_ps(e[1][j], e[2][j]));
    _mm512_mask_storeu_ps(v + (8 + j) * step, out, _mm512_sub_ps(e[2][j], e[1][j]));
    _mm512_mask_storeu_ps(v + (12 + j) * step, out, _mm512_sub_ps(e[1][j], e[3][j]));
  }
}

NDGRAD_WINOGRAD_AVX512 inline void combine_columns(__m512 d0, __m512 d1, __m512 d2, __m512 d3,
                                                   __m512 e[4]) {
  e[0] = _mm512_sub_ps(d0, d2);
  e[1] = _mm512_add_ps(d1, d2);
  e[2] = _mm512_sub_ps(d2, d1);
  e[3] = _mm512_sub_ps(d1, d3);
}

// A non-finite lane of v turns a lane of the running check (0 while all are finite) into NaN.
NDGRAD_WINOGRAD_AVX512 inline __m512 check(__m512 sum, __m512 v) {
  return _mm512_add_ps(sum, _mm512_sub_ps(v, v));
}
NDGRAD_WINOGRAD_AVX512 inline bool all_finite(__m512 sum) {
  return _mm512_cmp_ps_mask(sum, sum, _CMP_UNORD_Q) == 0;
}

// A stacked run's transformed inputs; false when one of the values read is not finite.
NDGRAD_WINOGRAD_AVX512 bool stacked_inputs(const Plan& p, const Stack& s, const Run& r,
                                           const float* x, float* V) {
  const int64_t plane = p.H * p.W, step = slab(p.C);
  const __mmask16 inside = span(p.pw, p.pw + p.W);  // of the 16 columns from -pw
  int64_t at[16][4];  // patch row i of tile row q: its first column's offset
  bool in[16][4];     // the row inside the image
  for (int64_t q = 0; q < r.rows; ++q)
    for (int i = 0; i < 4; ++i) {
      const int64_t row = 2 * (r.th + q) - p.ph + i;
      in[q][i] = row >= 0 && row < p.H;
      at[q][i] = row * p.W - p.pw;
    }
  const float* ch = x + r.b * p.C * plane;
  float* v = V + r.t;
  __m512 sum = _mm512_setzero_ps();
  for (int64_t c = 0; c < p.C; ++c, ch += plane, v += kChunk) {
    __m512 e[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      __m512 d[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
      for (int64_t q = 0; q < r.rows; ++q) {
        if (!in[q][i]) continue;
        const __m512 row = _mm512_maskz_loadu_ps(inside, ch + at[q][i]);
        sum = check(sum, row);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j)
          d[j] = _mm512_mask_permutexvar_ps(d[j], s.rows[q], s.columns[q][j], row);
      }
      combine_columns(d[0], d[1], d[2], d[3], e[i]);
    }
    store_inputs(e, v, step, lanes(r.n));
  }
  return all_finite(sum);
}

// V[xi * slab(C) + c * kChunk + t] for the chunk's tiles; false when one of the values read is
// not finite: the transforms mix a tile's 4x4 patch, so an infinity or NaN would reach all
// four of its outputs, where the direct sum leaves it in the windows that hold it.
NDGRAD_WINOGRAD_AVX512 bool transform_inputs(const Plan& p, const float* x, int64_t first,
                                             int64_t count, float* V) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const int64_t plane = p.H * p.W, step = slab(p.C);  // step: from one xi to the next
  Stack stack;
  if (p.stack > 1) make_stack(p, &stack);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t t = first; t < first + count;) {
    const Run r = run_at(p, t, first, count);
    t += r.n;
    if (r.rows > 1) {
      if (!stacked_inputs(p, stack, r, x, V)) return false;
      continue;
    }
    const int64_t col = 2 * r.tw - p.pw;  // the first tile's first column
    // Loads at col (columns 0, 1) and col + 2 (columns 2, 3), 32 lanes each.
    const __mmask16 m0 = span(-col, p.W - col), m1 = span(-col - 16, p.W - col - 16),
                    m2 = span(-col - 2, p.W - col - 2), m3 = span(-col - 18, p.W - col - 18);
    const __mmask16 out = lanes(r.n);
    bool row_in[4];
    for (int i = 0; i < 4; ++i) {
      const int64_t row = 2 * r.th - p.ph + i;
      row_in[i] = row >= 0 && row < p.H;
    }
    const float* base = x + r.b * p.C * plane + (2 * r.th - p.ph) * p.W + col;
    float* v = V + r.t;
    for (int64_t c = 0; c < p.C; ++c, base += plane, v += kChunk) {
      __m512 e[4][4];  // d B: each row's columns combined
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        if (!row_in[i]) {
          e[i][0] = e[i][1] = e[i][2] = e[i][3] = _mm512_setzero_ps();
          continue;
        }
        const float* q = base + i * p.W;
        const __m512 a0 = _mm512_maskz_loadu_ps(m0, q), a1 = _mm512_maskz_loadu_ps(m1, q + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(m2, q + 2), b1 = _mm512_maskz_loadu_ps(m3, q + 18);
        sum = check(check(check(sum, a0), a1), b1);  // (b0's columns are a0's and a1's)
        const __m512 d0 = _mm512_permutex2var_ps(a0, even, a1),
                     d1 = _mm512_permutex2var_ps(a0, odd, a1),
                     d2 = _mm512_permutex2var_ps(b0, even, b1),
                     d3 = _mm512_permutex2var_ps(b0, odd, b1);
        combine_columns(d0, d1, d2, d3, e[i]);
      }
      store_inputs(e, v, step, out);
    }
  }
  return all_finite(sum);
}

// y's 2x2 outputs of the chunk's tiles from M[xi * slab(O) + o * kChunk + t], plus the bias: a
// run's two output columns interleaved back into its two output rows.
NDGRAD_WINOGRAD_AVX512 void transform_outputs(const Plan& p, const float* M, const float* bias,
                                              int64_t first, int64_t count, float* y) {
  const __m512i lo_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_half = _mm512_add_epi32(lo_half, _mm512_set1_epi32(8));
  const int64_t plane = p.OH * p.OW, step = slab(p.O);
  Stack stack;
  if (p.stack > 1) make_stack(p, &stack);
  for (int64_t t = first; t < first + count;) {
    const Run r = run_at(p, t, first, count);
    t += r.n;
    const int64_t col = 2 * r.tw, cols = std::min(2 * (r.rows > 1 ? p.TW : r.n), p.OW - col);
    const __mmask16 lo = lanes(cols), hi = lanes(cols - 16), in = lanes(r.n);
    const bool row1 = 2 * r.th + 1 < p.OH;
    float* base = y + r.b * p.O * plane + 2 * r.th * p.OW + col;
    const float* m = M + r.t;
    for (int64_t o = 0; o < p.O; ++o, base += plane, m += kChunk) {
      __m512 s[2][4];  // A^T m
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m512 m0 = _mm512_maskz_loadu_ps(in, m + (0 + j) * step),
                     m1 = _mm512_maskz_loadu_ps(in, m + (4 + j) * step),
                     m2 = _mm512_maskz_loadu_ps(in, m + (8 + j) * step),
                     m3 = _mm512_maskz_loadu_ps(in, m + (12 + j) * step);
        s[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        s[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
      }
      const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
#pragma GCC unroll 2
      for (int i = 0; i < 2; ++i) {  // (A^T m) A
        if (i == 1 && !row1 && r.rows == 1) break;
        __m512 y0 = _mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]);
        __m512 y1 = _mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]);
        if (bias) y0 = _mm512_add_ps(y0, b), y1 = _mm512_add_ps(y1, b);
        if (r.rows > 1) {  // each tile row's lanes, interleaved, to its output row
          for (int64_t q = 0; q < r.rows; ++q)
            if (2 * (r.th + q) + i < p.OH)
              _mm512_mask_storeu_ps(base + (2 * q + i) * p.OW, lo,
                                    _mm512_permutex2var_ps(y0, stack.outputs[q], y1));
          continue;
        }
        float* row = base + i * p.OW;
        _mm512_mask_storeu_ps(row, lo, _mm512_permutex2var_ps(y0, lo_half, y1));
        _mm512_mask_storeu_ps(row + 16, hi, _mm512_permutex2var_ps(y0, hi_half, y1));
      }
    }
  }
}

// Tiles [t0, t1) on this thread, a chunk at a time in thread-local buffers; false (and y
// partly written) at the first chunk whose inputs are not all finite.
bool run_tiles(const Plan& p, const float* x, const float* U, const float* bias, float* y,
               int64_t t0, int64_t t1) {
  bool finite = true;
  thread_local std::vector<float> V, M;
  V.resize(size_t(16 * slab(p.C)));
  M.resize(size_t(16 * slab(p.O)));
  for (int64_t first = t0; first < t1; first += kChunk) {
    const int64_t count = std::min(kChunk, t1 - first);
    if (!transform_inputs(p, x, first, count, V.data())) {
      finite = false;
      break;
    }
    for (int64_t xi = 0; xi < 16; ++xi)
      own_sgemm(p.O, count, p.C, U + xi * p.O * p.C, p.C, 1, V.data() + xi * slab(p.C), kChunk, 1,
                M.data() + xi * slab(p.O), kChunk);
    transform_outputs(p, M.data(), bias, first, count, y);
  }
  // Kept for the next call (a training step converts the same shapes again) unless large.
  for (std::vector<float>* buf : {&V, &M})
    if (buf->size() * sizeof(float) > (size_t(16) << 20)) std::vector<float>().swap(*buf);
  return finite;
}

}  // namespace

bool winograd_applies(const ConvGeometry& c) {
  const PatchGeometry& g = c.patches;
  if (g.kernel_h != 3 || g.kernel_w != 3 || g.stride_h != 1 || g.stride_w != 1 ||
      g.dilation_h != 1 || g.dilation_w != 1 || c.groups != 1)
    return false;
  if (g.channels < 16 || c.out_channels < 16 || g.out_h < 1 || g.out_w < 1) return false;
  return own_sgemm_available() && !reference_kernels();
}

bool winograd_conv3x3(const ConvGeometry& c, const float* x, const float* w, const float* bias,
                      bool adjoint, float* y) {
  const PatchGeometry& g = c.patches;
  for (int64_t i = 0; i < c.out_channels * g.channels * 9; ++i)
    if (!std::isfinite(w[i])) return false;
  Plan p{g.batch, g.channels, g.height, g.width, c.out_channels, g.out_h, g.out_w, g.pad_h, g.pad_w,
         0,       0,          0,        1};
  p.TH = (p.OH + 1) / 2;
  p.TW = (p.OW + 1) / 2;
  p.per_image = p.TH * p.TW;
  // Stacked tile rows where a row's patches fit one load of 16 columns.
  if (2 * p.TW + 2 <= 16) p.stack = 16 / p.TW;
  std::vector<float> U(size_t(16 * p.O * p.C));
  transform_weights(p, w, adjoint, U.data());
  const int64_t tiles = p.batch * p.per_image, chunks = (tiles + kChunk - 1) / kChunk;
  const int threads = get_num_threads();
  const int64_t tasks = threads > 1 ? std::min<int64_t>(chunks, 4 * int64_t(threads)) : 1;
  std::atomic<bool> finite{true};
  auto task = [&](int64_t t) {
    if (finite.load(std::memory_order_relaxed) &&
        !run_tiles(p, x, U.data(), bias, y, std::min(tiles, chunks * t / tasks * kChunk),
                   std::min(tiles, chunks * (t + 1) / tasks * kChunk)))
      finite.store(false, std::memory_order_relaxed);
  };
  if (tasks > 1)
    parallel_for(tasks, task);
  else
    task(0);
  return finite.load();
}

#else

bool winograd_applies(const ConvGeometry&) { return false; }
bool winograd_conv3x3(const ConvGeometry&, const float*, const float*, const float*, bool, float*) {
  return false;
}

#endif

}  // namespace ndgrad::kernels
