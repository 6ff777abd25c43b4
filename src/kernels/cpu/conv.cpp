// The patches of a convolution as columns (im2col) and back (col2im): convolution is then one
// GEMM a batch element (docs/ARCHITECTURE.md, "Convolution"). A plane's patches are its rows of
// the columns, so each (batch, channel) pair is one task with memory of its own.
#include <algorithm>
#include <cmath>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/thread_pool.hpp"
#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/kernels.hpp"
#include "kernels/cpu/reference.hpp"
#include "kernels/cpu/sgemm.hpp"
#include "kernels/cpu/winograd.hpp"
#include "ndgrad/error.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad::kernels {

namespace {

// The output positions ow whose input column ow * stride - pad + offset lies in [0, width):
// [first, last).
void valid_range(int64_t offset, int64_t out, int64_t extent, int64_t stride, int64_t pad,
                 int64_t* first, int64_t* last) {
  // ow * stride >= pad - offset and ow * stride < extent + pad - offset.
  const int64_t lo = pad - offset, hi = extent + pad - offset;  // [lo, hi) for ow * stride
  int64_t f = lo <= 0 ? 0 : (lo - 1) / stride + 1;  // ceil(lo / stride), without overflow
  int64_t l = hi <= 0 ? 0 : (hi - 1) / stride + 1;
  *first = std::min(f, out);
  *last = std::max(*first, std::min(l, out));
}

// One (batch, channel) plane's patches: image (height, width) and its kk rows of L columns.
// kAccumulate: the rows are added back into the image (col2im) instead of copied out.
// (Row pieces are short, 7 to 28 elements: copied by a loop, not by calls to memmove.)
template <class T, bool kAccumulate>
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void plane_patches(
    const PatchGeometry& g, T* img, T* rows) {
  const int64_t L = g.out_h * g.out_w;
  for (int64_t ki = 0; ki < g.kernel_h; ++ki)
    for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
      T* row = rows + (ki * g.kernel_w + kj) * L;
      int64_t w0, w1;
      valid_range(kj * g.dilation_w, g.out_w, g.width, g.stride_w, g.pad_w, &w0, &w1);
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        T* r = row + oh * g.out_w;
        const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h;
        if (ih < 0 || ih >= g.height) {
          if constexpr (!kAccumulate)
            for (int64_t ow = 0; ow < g.out_w; ++ow) r[ow] = T(0);
          continue;
        }
        T* src = img + ih * g.width - g.pad_w + kj * g.dilation_w;  // + ow * stride
        if constexpr (kAccumulate) {
          if (g.stride_w == 1)
            for (int64_t ow = w0; ow < w1; ++ow) src[ow] += r[ow];
          else
            for (int64_t ow = w0; ow < w1; ++ow) src[ow * g.stride_w] += r[ow];
        } else {
          for (int64_t ow = 0; ow < w0; ++ow) r[ow] = T(0);
          if (g.stride_w == 1)
            for (int64_t ow = w0; ow < w1; ++ow) r[ow] = src[ow];
          else
            for (int64_t ow = w0; ow < w1; ++ow) r[ow] = src[ow * g.stride_w];
          for (int64_t ow = w1; ow < g.out_w; ++ow) r[ow] = T(0);
        }
      }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define NDGRAD_CONV_AVX512 __attribute__((target("avx512f")))
// The low count lanes of 16 (none for count <= 0).
NDGRAD_CONV_AVX512 inline __mmask16 lanes_mask(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
}

// plane_patches for float at column stride 1: a row piece is one masked load and store (or a
// load, add and store back) per 16 columns, the columns outside the image masked off (a masked
// load does not touch them). Rows are 7 to 28 columns in typical layers: a call per row piece
// or the compiler's scalar loop tail cost more than the copy.
template <bool kAccumulate>
NDGRAD_CONV_AVX512 void plane_patches_avx512(const PatchGeometry& g, float* img, float* rows) {
  const int64_t L = g.out_h * g.out_w;
  for (int64_t ki = 0; ki < g.kernel_h; ++ki)
    for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
      float* row = rows + (ki * g.kernel_w + kj) * L;
      int64_t w0, w1;
      valid_range(kj * g.dilation_w, g.out_w, g.width, 1, g.pad_w, &w0, &w1);
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        float* r = row + oh * g.out_w;
        const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h;
        const bool inside = ih >= 0 && ih < g.height;
        if (kAccumulate && !inside) continue;
        float* src = img + (inside ? ih : 0) * g.width - g.pad_w + kj * g.dilation_w;  // + ow
        for (int64_t j = 0; j < g.out_w; j += 16) {
          const __mmask16 in = inside ? __mmask16(lanes_mask(w1 - j) & ~lanes_mask(w0 - j)) : 0;
          if constexpr (kAccumulate) {
            const __m512 sum =
                _mm512_add_ps(_mm512_maskz_loadu_ps(in, src + j), _mm512_maskz_loadu_ps(in, r + j));
            _mm512_mask_storeu_ps(src + j, in, sum);
          } else {
            _mm512_mask_storeu_ps(r + j, lanes_mask(g.out_w - j),
                                  _mm512_maskz_loadu_ps(in, src + j));
          }
        }
      }
    }
}
#endif

// At stride 1 with the output as wide as the image ("same" padding across), the patch block of
// kernel position (ki, kj) is the image shifted by shift = (ki dh - ph) W + kj dw - pw over
// whole rows: one contiguous copy (or add), long enough to vectorize, then the few entries that
// wrapped around a row's end put right. Rows are 7 to 28 columns in typical layers, so a loop
// per row piece spends more on its bounds than on the copy.
bool same_width(const PatchGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.out_w == g.width;
}

// The output rows [oh0, oh1) whose input row for kernel row ki is inside the image.
void valid_rows(const PatchGeometry& g, int64_t ki, int64_t* oh0, int64_t* oh1) {
  valid_range(ki * g.dilation_h, g.out_h, g.height, 1, g.pad_h, oh0, oh1);
}

template <class T>
inline __attribute__((always_inline)) void shifted_columns(const PatchGeometry& g, const T* img,
                                                           T* rows) {
  const int64_t W = g.width, L = g.out_h * W, HW = g.height * W;
  for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
    int64_t oh0, oh1;
    valid_rows(g, ki, &oh0, &oh1);
    for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
      T* r = rows + (ki * g.kernel_w + kj) * L;
      const int64_t s = kj * g.dilation_w - g.pad_w;
      const int64_t shift = (ki * g.dilation_h - g.pad_h) * W + s;
      // Positions p read img[p + shift]; those outside [0, HW) are padding anyway.
      const int64_t p0 = std::max(oh0 * W, -shift), p1 = std::min(oh1 * W, HW - shift);
      for (int64_t p = 0; p < p0; ++p) r[p] = T(0);
      for (int64_t p = p0; p < p1; ++p) r[p] = img[p + shift];
      for (int64_t p = std::max(p0, p1); p < L; ++p) r[p] = T(0);
      int64_t w0, w1;  // the columns inside the image; the others wrapped around: padding
      valid_range(kj * g.dilation_w, g.out_w, W, 1, g.pad_w, &w0, &w1);
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        for (int64_t ow = 0; ow < w0; ++ow) r[oh * W + ow] = T(0);
        for (int64_t ow = w1; ow < W; ++ow) r[oh * W + ow] = T(0);
      }
    }
  }
}

// The adjoint: rows (a scratch copy: its wrapped-around entries are zeroed here) added back
// into img, the kernel row's kw blocks summed in one pass over the image where all of them
// reach, each on its own at the ends.
template <class T>
inline __attribute__((always_inline)) void shifted_columns_back(const PatchGeometry& g, T* img,
                                                                T* rows) {
  const int64_t W = g.width, L = g.out_h * W, HW = g.height * W, kw = g.kernel_w;
  for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
    int64_t oh0, oh1;
    valid_rows(g, ki, &oh0, &oh1);
    if (oh0 >= oh1) continue;
    const int64_t dh = (ki * g.dilation_h - g.pad_h) * W;
    int64_t lo = 0, hi = HW;  // where every kj's block reaches
    for (int64_t kj = 0; kj < kw; ++kj) {
      T* r = rows + (ki * kw + kj) * L;
      int64_t w0, w1;
      valid_range(kj * g.dilation_w, g.out_w, W, 1, g.pad_w, &w0, &w1);
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        for (int64_t ow = 0; ow < w0; ++ow) r[oh * W + ow] = T(0);
        for (int64_t ow = w1; ow < W; ++ow) r[oh * W + ow] = T(0);
      }
      const int64_t shift = dh + kj * g.dilation_w - g.pad_w;
      lo = std::max(lo, oh0 * W + shift);
      hi = std::min(hi, oh1 * W + shift);
    }
    hi = std::max(lo, hi);
    // The ends, block by block: q in this block's reach outside [lo, hi).
    for (int64_t kj = 0; kj < kw; ++kj) {
      const T* r = rows + (ki * kw + kj) * L;
      const int64_t shift = dh + kj * g.dilation_w - g.pad_w;
      const int64_t q0 = std::max<int64_t>(0, oh0 * W + shift),
                    q1 = std::min<int64_t>(HW, oh1 * W + shift);
      for (int64_t q = q0; q < std::min(q1, lo); ++q) img[q] += r[q - shift];
      for (int64_t q = std::max(q0, hi); q < q1; ++q) img[q] += r[q - shift];
    }
    // The middle: each image element once, its kw terms added in order.
    const T* base[16];
    if (kw <= 16) {
      for (int64_t kj = 0; kj < kw; ++kj)
        base[kj] = rows + (ki * kw + kj) * L - (dh + kj * g.dilation_w - g.pad_w);
      if (kw == 3) {
        for (int64_t q = lo; q < hi; ++q) img[q] = img[q] + base[0][q] + base[1][q] + base[2][q];
      } else {
        for (int64_t q = lo; q < hi; ++q) {
          T sum = img[q];
          for (int64_t kj = 0; kj < kw; ++kj) sum += base[kj][q];
          img[q] = sum;
        }
      }
    } else {
      for (int64_t kj = 0; kj < kw; ++kj) {
        const T* r = rows + (ki * kw + kj) * L - (dh + kj * g.dilation_w - g.pad_w);
        for (int64_t q = lo; q < hi; ++q) img[q] += r[q];
      }
    }
  }
}

// (The zero fills are a few elements: loops, not calls to memset.)
NDGRAD_CLONES __attribute__((optimize("no-tree-loop-distribute-patterns"))) void
shifted_columns_f32(const PatchGeometry& g, const float* img, float* rows) {
  shifted_columns(g, img, rows);
}
NDGRAD_CLONES __attribute__((optimize("no-tree-loop-distribute-patterns"))) void
shifted_columns_back_f32(const PatchGeometry& g, float* img, float* rows) {
  shifted_columns_back(g, img, rows);
}

#ifdef NDGRAD_CONV_AVX512
// The shifted copies of a "same width" geometry (same_width) for float with AVX-512, a whole
// plane in 16-lane blocks with no per-row work: block b of kernel position k's row takes the
// lanes forward[k][b] from the image shifted by shift[k] and zeros the others (the padding and
// the entries that wrapped around a row's end); the adjoint adds, to block b of the image, the
// lanes back[k][b] of every kernel position's row in turn (the plain loop's order of additions,
// so the same sums). The masks are made once a call: a plane's are the same for all of them.
class ShiftedPlanes {
 public:
  // for_back: the adjoint's masks (else the copy's).
  ShiftedPlanes(const PatchGeometry& g, bool for_back)
      : g_(g),
        L_(g.out_h * g.out_w),
        HW_(g.height * g.width),
        kk_(g.kernel_h * g.kernel_w),
        blocks_(((for_back ? HW_ : L_) + 15) / 16),
        shift_(size_t(kk_)),
        masks_(size_t(kk_ * blocks_), 0) {
    const int64_t W = g.width;
    for (int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        const int64_t k = ki * g.kernel_w + kj;
        const int64_t dh = ki * g.dilation_h - g.pad_h, dw = kj * g.dilation_w - g.pad_w;
        shift_[size_t(k)] = dh * W + dw;
        for (int64_t b = 0; b < blocks_; ++b) {
          unsigned m = 0;
          for (int lane = 0; lane < 16; ++lane) {
            const int64_t pos = 16 * b + lane;
            bool in;
            if (for_back) {  // image position pos: its patch entry's output row and column
              const int64_t oh = pos / W - dh, ow = pos % W - dw;
              in = pos < HW_ && oh >= 0 && oh < g.out_h && ow >= 0 && ow < W;
            } else {  // patch entry pos: its input row and column
              const int64_t ih = pos / W + dh, iw = pos % W + dw;
              in = pos < L_ && ih >= 0 && ih < g.height && iw >= 0 && iw < W;
            }
            if (in) m |= 1u << lane;
          }
          masks_[size_t(k * blocks_ + b)] = __mmask16(m);
        }
      }
  }

  NDGRAD_CONV_AVX512 void copy(const float* img, float* rows) const {
    for (int64_t k = 0; k < kk_; ++k) {
      float* r = rows + k * L_;
      const float* src = img + shift_[size_t(k)];  // + p: read only in the masked lanes
      const __mmask16* m = masks_.data() + k * blocks_;
      for (int64_t b = 0; b < blocks_; ++b)
        _mm512_mask_storeu_ps(r + 16 * b, lanes_mask(L_ - 16 * b),
                              _mm512_maskz_loadu_ps(m[b], src + 16 * b));
    }
  }

  NDGRAD_CONV_AVX512 void add_back(float* img, const float* rows) const {
    for (int64_t b = 0; b < blocks_; ++b) {
      const int64_t q = 16 * b;
      const __mmask16 out = lanes_mask(HW_ - q);
      __m512 sum = _mm512_maskz_loadu_ps(out, img + q);
      for (int64_t k = 0; k < kk_; ++k)
        sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(masks_[size_t(k * blocks_ + b)],
                                                       rows + k * L_ + q - shift_[size_t(k)]));
      _mm512_mask_storeu_ps(img + q, out, sum);
    }
  }

 private:
  PatchGeometry g_;
  int64_t L_, HW_, kk_, blocks_;
  std::vector<int64_t> shift_;
  std::vector<__mmask16> masks_;
};
#endif

// plane_patches by the fastest loop that applies. With kAccumulate, rows is scratch the call
// may change (the shifted loop zeroes its padding entries).
template <class T, bool kAccumulate>
void plane_patches_fast(const PatchGeometry& g, T* img, T* rows) {
  if (reference_kernels()) return plane_patches<T, kAccumulate>(g, img, rows);
  if (same_width(g)) {
    if constexpr (std::is_same_v<T, float>) {
      if constexpr (kAccumulate)
        shifted_columns_back_f32(g, img, rows);
      else
        shifted_columns_f32(g, img, rows);
    } else {
      if constexpr (kAccumulate)
        shifted_columns_back(g, img, rows);
      else
        shifted_columns(g, img, rows);
    }
    return;
  }
#ifdef NDGRAD_CONV_AVX512
  if constexpr (std::is_same_v<T, float>) {
    // (Not to add back: a row piece's load would wait on the previous, overlapping one's store.)
    if (!kAccumulate && g.stride_w == 1 && cpu().avx512)
      return plane_patches_avx512<kAccumulate>(g, img, rows);
  }
#endif
  plane_patches<T, kAccumulate>(g, img, rows);
}

// plane_patches_fast with what it decides made once a call (the masked shifted planes' masks).
template <class T, bool kAccumulate>
class PlanePatches {
 public:
  explicit PlanePatches(const PatchGeometry& g) : g_(g) {
#ifdef NDGRAD_CONV_AVX512
    if constexpr (std::is_same_v<T, float>)
      if (!reference_kernels() && same_width(g) && cpu().avx512) masked_.emplace(g, kAccumulate);
#endif
  }
  // True when the rows are only read, also with kAccumulate.
  bool rows_read_only() const { return !kAccumulate || masked_.has_value(); }
  void operator()(T* img, T* rows) const {
#ifdef NDGRAD_CONV_AVX512
    if constexpr (std::is_same_v<T, float>) {
      if (masked_) {
        if constexpr (kAccumulate)
          masked_->add_back(img, rows);
        else
          masked_->copy(img, rows);
        return;
      }
    }
#endif
    plane_patches_fast<T, kAccumulate>(g_, img, rows);
  }

 private:
  PatchGeometry g_;
#ifdef NDGRAD_CONV_AVX512
  std::optional<ShiftedPlanes> masked_;
#else
  std::optional<int> masked_;
#endif
};

template <class T, bool kAccumulate>
void patches(const PatchGeometry& g, T* image, T* cols) {
  const int64_t L = g.out_h * g.out_w, kk = g.kernel_h * g.kernel_w;
  const PlanePatches<T, kAccumulate> fast(g);
  parallel_for(g.batch * g.channels, [&](int64_t plane) {
    T* img = image + plane * g.height * g.width;
    T* rows = cols + plane * kk * L;
    // (fold's columns are its input, read-only: unless the fast loop only reads them, the plain
    // loop adds them back)
    if (fast.rows_read_only())
      fast(img, rows);
    else
      plane_patches<T, true>(g, img, rows);
  });
}

}  // namespace

void im2col(DType dtype, const PatchGeometry& g, const char* image, char* cols) {
  if (g.batch * g.channels * g.out_h * g.out_w == 0) return;  // (empty: the data may be null)
  // A copy: by element size, so every dtype (the storage ones too) takes the same loop.
  dispatch_bytes(dtype, [&](auto tag) {
    using T = decltype(tag);
    patches<T, false>(g, reinterpret_cast<T*>(const_cast<char*>(image)),
                      reinterpret_cast<T*>(cols));
  });
}

void col2im(DType dtype, const PatchGeometry& g, const char* cols, char* image) {
  if (g.batch * g.channels * g.height * g.width == 0) return;
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw DTypeError(std::string("internal: no col2im for ") + dtype_name(dtype));
    } else {
      T* img = reinterpret_cast<T*>(image);
      std::fill(img, img + g.batch * g.channels * g.height * g.width, T(0));
      if (g.out_h * g.out_w > 0)
        patches<T, true>(g, img, reinterpret_cast<T*>(const_cast<char*>(cols)));
    }
  });
}

namespace {

// c (m x n, row stride ldc) = a (m x k) b (k x n), or c += a b with accumulate; a's element
// (i, p) at a[i * as0 + p * as1], b's (p, j) at b[p * bs0 + j * bs1], one of each pair of
// strides 1. Without accumulate, a non-null row_bias is added to each row (row_bias[i] + the
// row's product). The own sgemm for float where the CPU has it, BLAS, else a plain loop.
template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t as0, int64_t as1, const T* b,
          int64_t bs0, int64_t bs1, T* c, int64_t ldc, bool accumulate,
          const T* row_bias = nullptr) {
  if constexpr (std::is_same_v<T, float>) {
    if (own_sgemm_available() && !reference_kernels()) {
      own_sgemm(m, n, k, a, as0, as1, b, bs0, bs1, c, ldc, accumulate, row_bias);
      return;
    }
  }
  if (!accumulate && row_bias) {  // the product added onto the bias
    for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, row_bias[i]);
    accumulate = true;
  }
  const Blas& lib = blas();
  const Layout la = layout_of(m, k, as0, as1), lb = layout_of(k, n, bs0, bs1);
  BlasCall call;
  if (lib.loaded() && std::max({m, n, k, la.ld, lb.ld, ldc}) <= INT32_MAX && call.begin()) {
    const int ta = la.trans ? kTrans : kNoTrans, tb = lb.trans ? kTrans : kNoTrans;
    if constexpr (std::is_same_v<T, float>)
      lib.sgemm(kRowMajor, ta, tb, int(m), int(n), int(k), 1.0f, a, int(la.ld), b, int(lb.ld),
                accumulate ? 1.0f : 0.0f, c, int(ldc));
    else
      lib.dgemm(kRowMajor, ta, tb, int(m), int(n), int(k), 1.0, a, int(la.ld), b, int(lb.ld),
                accumulate ? 1.0 : 0.0, c, int(ldc));
    return;
  }
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (!accumulate) std::fill(row, row + n, T(0));
    for (int64_t p = 0; p < k; ++p) {
      const T av = a[i * as0 + p * as1];
      const T* brow = b + p * bs0;
      for (int64_t j = 0; j < n; ++j) row[j] += av * brow[j * bs1];
    }
  }
}

// How many tasks a convolution splits its images over: one an image range, each GEMM then on
// one thread (its products are small: a few tens of MFLOP). The own sgemm only: BLAS runs its
// own threads, which would oversubscribe the cores from inside ours.
template <class T>
int64_t image_tasks(int64_t batch) {
  if constexpr (std::is_same_v<T, float>) {
    const int threads = get_num_threads();
    if (threads > 1 && own_sgemm_available() && !reference_kernels())
      return std::min<int64_t>(batch, 4 * int64_t(threads));
  }
  return 1;
}

// A thread's scratch columns, kept between calls (a training step converts the same shapes
// again); more than 16 MB are given back after the call.
template <class T>
class Scratch {
 public:
  Scratch(int slot, int64_t n) : b_(buffers()[slot]) {
    if (b_.size < n) {  // uninitialized: every use writes before it reads
      b_.data.reset();
      b_.data.reset(new T[size_t(n)]);
      b_.size = n;
    }
  }
  ~Scratch() {
    if (b_.size * int64_t(sizeof(T)) > (int64_t(16) << 20)) b_.data.reset(), b_.size = 0;
  }
  T* data() { return b_.data.get(); }

 private:
  struct Buffer {
    std::unique_ptr<T[]> data;
    int64_t size = 0;
  };
  static Buffer* buffers() {
    thread_local Buffer b[2];
    return b;
  }
  Buffer& b_;
};

// The sum of n contiguous values: float in 16 running sums (a vector's lanes), double in order.
NDGRAD_CLONES double row_sum(const float* v, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += v[i + j];
  double s = 0;
  for (int j = 0; j < 16; ++j) s += double(acc[j]);
  for (; i < n; ++i) s += double(v[i]);
  return s;
}
double row_sum(const double* v, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += v[i];
  return s;
}

// A 1x1 kernel at stride 1 without padding: an image is its own columns.
bool pointwise(const PatchGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
         g.pad_w == 0;
}

template <class T>
const T* image_columns(const PatchGeometry& g, const PlanePatches<T, false>& copy, const T* image,
                       T* cols) {
  if (pointwise(g)) return image;
  const int64_t plane = g.height * g.width, rows = g.kernel_h * g.kernel_w * g.out_h * g.out_w;
  for (int64_t ch = 0; ch < g.channels; ++ch)
    copy(const_cast<T*>(image) + ch * plane, cols + ch * rows);
  return cols;
}

template <class T>
void conv_forward(const ConvGeometry& c, const T* x, const T* w, const T* bias, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_applies(c) && winograd_conv3x3(c, x, w, bias, false, y)) return;
  }
  const PatchGeometry& g = c.patches;
  const int64_t L = g.out_h * g.out_w, G = c.groups, og = c.out_channels / G;
  const int64_t ck = g.channels / G * g.kernel_h * g.kernel_w;
  const int64_t tasks = image_tasks<T>(g.batch);
  const PlanePatches<T, false> copy(g);
  auto images = [&](int64_t t) {
    Scratch<T> cols(0, pointwise(g) ? 0 : ck * G * L);
    for (int64_t b = g.batch * t / tasks; b < g.batch * (t + 1) / tasks; ++b) {
      const T* cb = image_columns(g, copy, x + b * g.channels * g.height * g.width, cols.data());
      T* yb = y + b * c.out_channels * L;
      for (int64_t gi = 0; gi < G; ++gi)
        gemm<T>(og, L, ck, w + gi * og * ck, ck, 1, cb + gi * ck * L, L, 1, yb + gi * og * L, L,
                false, bias ? bias + gi * og : nullptr);
    }
  };
  if (tasks > 1)
    parallel_for(tasks, images);
  else
    images(0);
}

template <class T>
void conv_backward(const ConvGeometry& c, const T* x, const T* w, const T* gy, T* gx, T* gw,
                   T* gb) {
  const PatchGeometry& g = c.patches;
  const int64_t L = g.out_h * g.out_w, G = c.groups, O = c.out_channels, og = O / G;
  const int64_t kk = g.kernel_h * g.kernel_w, ck = g.channels / G * kk;
  const int64_t plane = g.height * g.width, wsize = O * ck;
  const int64_t tasks = image_tasks<T>(g.batch);
  // The weight gradient a group at a time as (ck, og) += cols gy^T: the GEMM reads the columns
  // in place and packs (transposes) only gy, the smaller operand when og <= ck; else as
  // (og, ck) += gy cols^T.
  const bool transposed = og <= ck;
  const PlanePatches<T, false> copy(g);
  const PlanePatches<T, true> add_back(g);
  if constexpr (std::is_same_v<T, float>) {
    // The input's gradient as the adjoint convolution of gy (3x3 at stride 1: padding 2 - p),
    // by Winograd where it applies.
    if (gx && g.pad_h <= 2 && g.pad_w <= 2) {
      ConvGeometry a{g, g.channels, 1};
      a.patches.channels = O;
      a.patches.height = g.out_h;
      a.patches.width = g.out_w;
      a.patches.pad_h = 2 - g.pad_h;
      a.patches.pad_w = 2 - g.pad_w;
      a.patches.out_h = g.height;
      a.patches.out_w = g.width;
      if (winograd_applies(c) && winograd_applies(a) &&
          winograd_conv3x3(a, gy, w, nullptr, true, gx))
        gx = nullptr;
    }
  }
  std::vector<T> wacc(gw ? size_t(tasks * wsize) : 0, T(0));
  std::vector<double> bacc(gb ? size_t(tasks * O) : 0, 0.0);
  auto images = [&](int64_t t) {
    Scratch<T> cols(0, gw && !pointwise(g) ? ck * G * L : 0);
    Scratch<T> dcols(1, gx && !pointwise(g) ? ck * G * L : 0);
    T* aw = gw ? wacc.data() + t * wsize : nullptr;
    for (int64_t b = g.batch * t / tasks; b < g.batch * (t + 1) / tasks; ++b) {
      const T* gyb = gy + b * O * L;
      if (gw) {
        const T* cb = image_columns(g, copy, x + b * g.channels * plane, cols.data());
        for (int64_t gi = 0; gi < G; ++gi) {
          if (transposed)
            gemm<T>(ck, og, L, cb + gi * ck * L, L, 1, gyb + gi * og * L, 1, L, aw + gi * og * ck,
                    og, true);
          else
            gemm<T>(og, ck, L, gyb + gi * og * L, L, 1, cb + gi * ck * L, 1, L, aw + gi * og * ck,
                    ck, true);
        }
      }
      if (gb) {
        double* ab = bacc.data() + t * O;
        for (int64_t o = 0; o < O; ++o) ab[o] += row_sum(gyb + o * L, L);
      }
      if (gx) {
        T* gxb = gx + b * g.channels * plane;
        T* dc = pointwise(g) ? gxb : dcols.data();
        for (int64_t gi = 0; gi < G; ++gi)  // the columns' gradient, W^T gy
          gemm<T>(ck, L, og, w + gi * og * ck, 1, ck, gyb + gi * og * L, L, 1, dc + gi * ck * L, L,
                  false);
        if (!pointwise(g)) {
          std::fill(gxb, gxb + g.channels * plane, T(0));
          for (int64_t ch = 0; ch < g.channels; ++ch) add_back(gxb + ch * plane, dc + ch * kk * L);
        }
      }
    }
  };
  if (tasks > 1)
    parallel_for(tasks, images);
  else
    images(0);
  if (gw) {
    for (int64_t t = 1; t < tasks; ++t)
      for (int64_t i = 0; i < wsize; ++i) wacc[i] += wacc[t * wsize + i];
    if (!transposed) {
      std::copy(wacc.begin(), wacc.begin() + wsize, gw);
    } else {
      for (int64_t gi = 0; gi < G; ++gi)
        for (int64_t o = 0; o < og; ++o)
          for (int64_t q = 0; q < ck; ++q)
            gw[(gi * og + o) * ck + q] = wacc[gi * og * ck + q * og + o];
    }
  }
  if (gb)
    for (int64_t o = 0; o < O; ++o) {
      double s = 0;
      for (int64_t t = 0; t < tasks; ++t) s += bacc[t * O + o];
      gb[o] = T(s);
    }
}

#ifdef NDGRAD_CONV_AVX512
#define NDGRAD_POOL_AVX512 NDGRAD_CONV_AVX512
#endif

// 2x2 windows at stride 2, every element inside the plane (the common pooling), a row of
// windows at a time, without branches (the comparisons are as likely one way as the other).
// libtorch's order and rule: a larger value or a NaN takes the place.
bool pairs(const PoolGeometry& p) {
  return p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 &&
         p.pad_w == 0 && 2 * p.out_h <= p.height && 2 * p.out_w <= p.width;
}

template <class T>
inline __attribute__((always_inline)) void pair_row(const T* r0, const T* r1, int64_t out_w,
                                                    int64_t base, int64_t width, T* out,
                                                    int64_t* idx) {
  for (int64_t ow = 0; ow < out_w; ++ow) {
    const T v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
    // (| and not ||: both sides evaluated, the selects compile without branches)
    const bool c1 = (v1 > v0) | (v1 != v1);
    const T b1 = c1 ? v1 : v0;
    const int64_t a1 = c1 ? 1 : 0;
    const bool c2 = (v2 > b1) | (v2 != v2);
    const T b2 = c2 ? v2 : b1;
    const int64_t a2 = c2 ? width : a1;
    const bool c3 = (v3 > b2) | (v3 != v3);
    out[ow] = c3 ? v3 : b2;
    idx[ow] = base + 2 * ow + (c3 ? width + 1 : a2);
  }
}
#ifdef NDGRAD_POOL_AVX512
// 16 windows at a time (a row of windows is often shorter than a vector: 14 or 7 of them, so
// the compiler's loop, which vectorizes whole vectors, would leave all of it to its scalar tail).
NDGRAD_POOL_AVX512 void pair_row_avx512(const float* r0, const float* r1, int64_t out_w,
                                        int64_t base, int64_t width, float* out, int64_t* idx) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lanes2 =
      _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
  const __m512i one = _mm512_set1_epi32(1), w0 = _mm512_set1_epi32(int(width)),
                w1 = _mm512_set1_epi32(int(width + 1));
  for (int64_t ow = 0; ow < out_w; ow += 16) {
    const int64_t n = std::min<int64_t>(16, out_w - ow);
    const __mmask16 lo = lanes_mask(2 * n), hi = lanes_mask(2 * n - 16), m = lanes_mask(n);
    const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ow),
                 a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ow + 16);
    const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ow),
                 b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ow + 16);
    const __m512 v0 = _mm512_permutex2var_ps(a0, even, a1),
                 v1 = _mm512_permutex2var_ps(a0, odd, a1);
    const __m512 v2 = _mm512_permutex2var_ps(b0, even, b1),
                 v3 = _mm512_permutex2var_ps(b0, odd, b1);
    // A larger value or a NaN takes the place.
    __mmask16 c = _mm512_cmp_ps_mask(v1, v0, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q);
    __m512 best = _mm512_mask_blend_ps(c, v0, v1);
    __m512i at = _mm512_maskz_mov_epi32(c, one);
    c = _mm512_cmp_ps_mask(v2, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v2, v2, _CMP_UNORD_Q);
    best = _mm512_mask_blend_ps(c, best, v2);
    at = _mm512_mask_blend_epi32(c, at, w0);
    c = _mm512_cmp_ps_mask(v3, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v3, v3, _CMP_UNORD_Q);
    best = _mm512_mask_blend_ps(c, best, v3);
    at = _mm512_add_epi32(_mm512_mask_blend_epi32(c, at, w1), lanes2);
    _mm512_mask_storeu_ps(out + ow, m, best);
    const __m512i start = _mm512_set1_epi64(base + 2 * ow);
    _mm512_mask_storeu_epi64(
        idx + ow, __mmask8(m),
        _mm512_add_epi64(start, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(at))));
    _mm512_mask_storeu_epi64(
        idx + ow + 8, __mmask8(m >> 8),
        _mm512_add_epi64(start, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(at, 1))));
  }
}

// The gradient of 16 windows at a time, interleaved back into the two rows.
NDGRAD_POOL_AVX512 void pair_back_row_avx512(const float* g, const int64_t* idx, int64_t out_w,
                                             int64_t base, int64_t width, float* r0, float* r1) {
  const __m512i lo_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_half = _mm512_add_epi32(lo_half, _mm512_set1_epi32(8));
  const __m512i lanes2 = _mm512_slli_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7), 1);
  const __m512i w0 = _mm512_set1_epi32(int(width)), w1 = _mm512_set1_epi32(int(width + 1));
  for (int64_t ow = 0; ow < out_w; ow += 16) {
    const int64_t n = std::min<int64_t>(16, out_w - ow);
    const __mmask16 lo = lanes_mask(2 * n), hi = lanes_mask(2 * n - 16), m = lanes_mask(n);
    const __m512 v = _mm512_maskz_loadu_ps(m, g + ow);
    const __m512i start = _mm512_add_epi64(_mm512_set1_epi64(base + 2 * ow), lanes2);
    const __m512i i0 = _mm512_sub_epi64(_mm512_maskz_loadu_epi64(__mmask8(m), idx + ow), start);
    const __m512i i1 = _mm512_sub_epi64(_mm512_maskz_loadu_epi64(__mmask8(m >> 8), idx + ow + 8),
                                        _mm512_add_epi64(start, _mm512_set1_epi64(16)));
    // Each window's offset of its maximum: 0, 1, width or width + 1.
    const __m512i at = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(i0)),
                                          _mm512_cvtepi64_epi32(i1), 1);
    const __m512 e0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_setzero_si512()), v);
    const __m512 e1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_set1_epi32(1)), v);
    const __m512 e2 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, w0), v);
    const __m512 e3 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, w1), v);
    _mm512_mask_storeu_ps(r0 + 2 * ow, lo, _mm512_permutex2var_ps(e0, lo_half, e1));
    _mm512_mask_storeu_ps(r0 + 2 * ow + 16, hi, _mm512_permutex2var_ps(e0, hi_half, e1));
    _mm512_mask_storeu_ps(r1 + 2 * ow, lo, _mm512_permutex2var_ps(e2, lo_half, e3));
    _mm512_mask_storeu_ps(r1 + 2 * ow + 16, hi, _mm512_permutex2var_ps(e2, hi_half, e3));
  }
}
#endif

void pair_row_f32(const float* r0, const float* r1, int64_t out_w, int64_t base, int64_t width,
                  float* out, int64_t* idx) {
#ifdef NDGRAD_POOL_AVX512
  if (cpu().avx512 && width < (int64_t(1) << 30))
    return pair_row_avx512(r0, r1, out_w, base, width, out, idx);
#endif
  pair_row(r0, r1, out_w, base, width, out, idx);
}
NDGRAD_CLONES void pair_row_f64(const double* r0, const double* r1, int64_t out_w, int64_t base,
                                int64_t width, double* out, int64_t* idx) {
  pair_row(r0, r1, out_w, base, width, out, idx);
}
inline void pair_row_any(const float* r0, const float* r1, int64_t out_w, int64_t base,
                         int64_t width, float* out, int64_t* idx) {
  pair_row_f32(r0, r1, out_w, base, width, out, idx);
}
inline void pair_row_any(const double* r0, const double* r1, int64_t out_w, int64_t base,
                         int64_t width, double* out, int64_t* idx) {
  pair_row_f64(r0, r1, out_w, base, width, out, idx);
}

// The gradient of a row of such windows: each element written once (g where the window's
// maximum was, else 0), again without branches.
template <class T>
inline __attribute__((always_inline)) void pair_back_row(const T* g, const int64_t* idx,
                                                         int64_t out_w, int64_t base, int64_t width,
                                                         T* r0, T* r1) {
  for (int64_t ow = 0; ow < out_w; ++ow) {
    const int64_t at = idx[ow] - base - 2 * ow;
    const T v = g[ow];
    r0[2 * ow] = at == 0 ? v : T(0);
    r0[2 * ow + 1] = at == 1 ? v : T(0);
    r1[2 * ow] = at == width ? v : T(0);
    r1[2 * ow + 1] = at == width + 1 ? v : T(0);
  }
}
void pair_back_row_f32(const float* g, const int64_t* idx, int64_t out_w, int64_t base,
                       int64_t width, float* r0, float* r1) {
#ifdef NDGRAD_POOL_AVX512
  if (cpu().avx512 && width < (int64_t(1) << 30))
    return pair_back_row_avx512(g, idx, out_w, base, width, r0, r1);
#endif
  pair_back_row(g, idx, out_w, base, width, r0, r1);
}
NDGRAD_CLONES void pair_back_row_f64(const double* g, const int64_t* idx, int64_t out_w,
                                     int64_t base, int64_t width, double* r0, double* r1) {
  pair_back_row(g, idx, out_w, base, width, r0, r1);
}
inline void pair_back_row_any(const float* g, const int64_t* idx, int64_t out_w, int64_t base,
                              int64_t width, float* r0, float* r1) {
  pair_back_row_f32(g, idx, out_w, base, width, r0, r1);
}
inline void pair_back_row_any(const double* g, const int64_t* idx, int64_t out_w, int64_t base,
                              int64_t width, double* r0, double* r1) {
  pair_back_row_f64(g, idx, out_w, base, width, r0, r1);
}

template <class T>
void pool_forward(const PoolGeometry& p, const T* x, T* y, int64_t* indices) {
  const int64_t plane = p.height * p.width, L = p.out_h * p.out_w;
  const bool two = pairs(p) && !reference_kernels();
  parallel_range(p.planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(L, 1)),
                 [&](int64_t p0, int64_t p1) {
                   for (int64_t pl = p0; pl < p1; ++pl) {
                     const T* img = x + pl * plane;
                     T* out = y + pl * L;
                     int64_t* idx = indices + pl * L;
                     if (two) {
                       for (int64_t oh = 0; oh < p.out_h; ++oh) {
                         const T* r0 = img + 2 * oh * p.width;
                         pair_row_any(r0, r0 + p.width, p.out_w, 2 * oh * p.width, p.width,
                                      out + oh * p.out_w, idx + oh * p.out_w);
                       }
                       continue;
                     }
                     for (int64_t oh = 0; oh < p.out_h; ++oh) {
                       const int64_t h0 = oh * p.stride_h - p.pad_h;
                       for (int64_t ow = 0; ow < p.out_w; ++ow) {
                         const int64_t w0 = ow * p.stride_w - p.pad_w;
                         T best = -std::numeric_limits<T>::infinity();
                         int64_t at = -1;  // the first element inside the image, when all are -inf
                         for (int64_t ki = 0; ki < p.kernel_h; ++ki) {
                           const int64_t ih = h0 + ki * p.dilation_h;
                           if (ih < 0 || ih >= p.height) continue;
                           for (int64_t kj = 0; kj < p.kernel_w; ++kj) {
                             const int64_t iw = w0 + kj * p.dilation_w;
                             if (iw < 0 || iw >= p.width) continue;
                             const T v = img[ih * p.width + iw];
                             if (at < 0) at = ih * p.width + iw;
                             if (v > best || std::isnan(v)) best = v, at = ih * p.width + iw;
                           }
                         }
                         out[oh * p.out_w + ow] = best;
                         idx[oh * p.out_w + ow] = at;
                       }
                     }
                   }
                 });
}

template <class T>
void pool_backward(const PoolGeometry& p, const T* gy, const int64_t* indices, T* gx) {
  const int64_t plane = p.height * p.width, L = p.out_h * p.out_w;
  const bool two = pairs(p) && !reference_kernels();
  parallel_range(p.planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(plane, 1)),
                 [&](int64_t p0, int64_t p1) {
                   for (int64_t pl = p0; pl < p1; ++pl) {
                     T* img = gx + pl * plane;
                     const T* g = gy + pl * L;
                     const int64_t* idx = indices + pl * L;
                     if (two) {  // disjoint windows: each element written once, no zero-fill first
                       for (int64_t oh = 0; oh < p.out_h; ++oh) {
                         T* r0 = img + 2 * oh * p.width;
                         T* r1 = r0 + p.width;
                         std::fill(r0 + 2 * p.out_w, r0 + p.width, T(0));
                         std::fill(r1 + 2 * p.out_w, r1 + p.width, T(0));
                         pair_back_row_any(g + oh * p.out_w, idx + oh * p.out_w, p.out_w,
                                           2 * oh * p.width, p.width, r0, r1);
                       }
                       std::fill(img + 2 * p.out_h * p.width, img + plane, T(0));
                       continue;
                     }
                     std::fill(img, img + plane, T(0));
                     for (int64_t o = 0; o < L; ++o)
                       if (idx[o] >= 0) img[idx[o]] += g[o];
                   }
                 });
}

}  // namespace

void conv2d_forward(DType dtype, const ConvGeometry& c, const char* x, const char* w,
                    const char* bias, char* y) {
  dispatch_f32_f64(dtype, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    conv_forward<T>(c, reinterpret_cast<const T*>(x), reinterpret_cast<const T*>(w),
                    reinterpret_cast<const T*>(bias), reinterpret_cast<T*>(y));
  });
}

void conv2d_backward(DType dtype, const ConvGeometry& c, const char* x, const char* w,
                     const char* gy, char* gx, char* gw, char* gb) {
  dispatch_f32_f64(dtype, "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    conv_backward<T>(c, reinterpret_cast<const T*>(x), reinterpret_cast<const T*>(w),
                     reinterpret_cast<const T*>(gy), reinterpret_cast<T*>(gx),
                     reinterpret_cast<T*>(gw), reinterpret_cast<T*>(gb));
  });
}

void max_pool2d_forward(DType dtype, const PoolGeometry& p, const char* x, char* y,
                        int64_t* indices) {
  dispatch_f32_f64(dtype, "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    pool_forward<T>(p, reinterpret_cast<const T*>(x), reinterpret_cast<T*>(y), indices);
  });
}

void max_pool2d_backward(DType dtype, const PoolGeometry& p, const char* gy, const int64_t* indices,
                         char* gx) {
  dispatch_f32_f64(dtype, "max_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    pool_backward<T>(p, reinterpret_cast<const T*>(gy), indices, reinterpret_cast<T*>(gx));
  });
}

}  // namespace ndgrad::kernels
