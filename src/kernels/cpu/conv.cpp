// The patches of a convolution as columns (im2col) and back (col2im): convolution is then one
// GEMM a batch element (docs/ARCHITECTURE.md, "Convolution"). A plane's patches are its rows of
// the columns, so each (batch, channel) pair is one task with memory of its own.
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

#include "core/thread_pool.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/kernels.hpp"
#include "ndgrad/error.hpp"

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

template <class T, bool kAccumulate>
void patches(const PatchGeometry& g, T* image, T* cols) {
  const int64_t L = g.out_h * g.out_w, kk = g.kernel_h * g.kernel_w;
  parallel_for(g.batch * g.channels, [&](int64_t plane) {
    T* img = image + plane * g.height * g.width;
    T* rows = cols + plane * kk * L;
    for (int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        T* row = rows + (ki * g.kernel_w + kj) * L;
        int64_t w0, w1;
        valid_range(kj * g.dilation_w, g.out_w, g.width, g.stride_w, g.pad_w, &w0, &w1);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          T* r = row + oh * g.out_w;
          const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h;
          if (ih < 0 || ih >= g.height) {
            if constexpr (!kAccumulate) std::fill(r, r + g.out_w, T(0));
            continue;
          }
          T* src = img + ih * g.width - g.pad_w + kj * g.dilation_w;  // + ow * stride
          if constexpr (kAccumulate) {
            for (int64_t ow = w0; ow < w1; ++ow) src[ow * g.stride_w] += r[ow];
          } else {
            std::fill(r, r + w0, T(0));
            if (g.stride_w == 1)
              std::copy(src + w0, src + w1, r + w0);
            else
              for (int64_t ow = w0; ow < w1; ++ow) r[ow] = src[ow * g.stride_w];
            std::fill(r + w1, r + g.out_w, T(0));
          }
        }
      }
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

}  // namespace ndgrad::kernels
