#pragma once
// Raw CPU loops. They see pointers, strides and dtypes; never a tensor graph.
#include <cstdint>
#include <vector>

#include "core/dims.hpp"
#include "kernels/cpu/op_info.hpp"
#include "kernels/cpu/reference.hpp"
#include "ndgrad/dtype.hpp"

namespace ndgrad::kernels {

// One operand of a kernel: its first element, its strides (in elements) over the whole
// iteration shape (0 on broadcast or reduced axes), and its dtype.
struct Operand {
  char* data;
  const int64_t* strides;
  DType dtype;
};

// The op table's reductions (ndgrad/op_table.def).
enum class ReduceOp {
#define NDGRAD_REDUCTION_OP(name, ...) name,
#include "ndgrad/op_table.def"
};

// What a caller already knows of a small op: out contiguous, each input contiguous in the same
// layout (step 1) or one value (step 0), n < kFlatMax elements (one thread, no streaming).
// unary() and binary() then run the flat loop without examining strides.
constexpr int64_t kFlatMax = int64_t(1) << 16;
struct FlatRun {
  int64_t n;
  int64_t a_step, b_step;
};
// out = op(in); out and in share a dtype, or out is boolean for a predicate. flat: as for
// binary (b_step unused).
void unary(UnaryOp op, const Dims& shape, Operand out, Operand in, const FlatRun* flat = nullptr);
// out = op(a, b); a and b share a dtype; out has it too, or boolean for comparisons (and the
// logical ops).
void binary(BinaryOp op, const Dims& shape, Operand out, Operand a, Operand b,
            const FlatRun* flat = nullptr);
// The flat-run loop of one op for one input dtype, looked up in a table made from the op table:
// a small op with a FlatRun calls it directly instead of dispatching on the dtype and the op at
// each call. Null in reference mode and where the op has no kernel for the dtype (then unary()
// or binary() says so). out may be an input (in place).
using FlatUnaryFn = void (*)(char* out, const char* in, const FlatRun& run);
using FlatBinaryFn = void (*)(char* out, const char* a, const char* b, const FlatRun& run);
// (Inline: every small op asks, twice.)
constexpr unsigned kFlatDTypes = 4;  // f32, f64, i64, bool: the compute dtypes
namespace detail {
extern const FlatUnaryFn kFlatUnary[kNumUnaryOps][kFlatDTypes];
extern const FlatBinaryFn kFlatBinary[kNumBinaryOps][kFlatDTypes];
}  // namespace detail
inline FlatUnaryFn flat_unary(UnaryOp op, DType dtype) {
  const auto i = static_cast<unsigned>(op), d = static_cast<unsigned>(dtype);
  if (i >= kNumUnaryOps || d >= kFlatDTypes || reference_kernels()) return nullptr;
  return detail::kFlatUnary[i][d];
}
inline FlatBinaryFn flat_binary(BinaryOp op, DType dtype) {
  const auto i = static_cast<unsigned>(op), d = static_cast<unsigned>(dtype);
  if (i >= kNumBinaryOps || d >= kFlatDTypes || reference_kernels()) return nullptr;
  return detail::kFlatBinary[i][d];
}
// out = cond ? a : b; cond boolean; out, a, b share a dtype.
void where(const Dims& shape, Operand out, Operand cond, Operand a, Operand b);
// out = in, converting dtype.
void copy(const Dims& shape, Operand out, Operand in);
// Sets n contiguous elements to value.
void fill(char* data, DType dtype, int64_t n, double value);
// Reduces in over shape into out: a fresh contiguous buffer of out_numel elements, seen
// through strides that are 0 along the reduced axes. The kernel fills it with the identity.
void reduce(ReduceOp op, const Dims& shape, Operand out, int64_t out_numel, Operand in);
// The variance over the middle axis of a contiguous f32 or f64 (outer, n, inner) block: the sum
// of squared deviations from the mean over divisor, into outer * inner results (one pass over
// memory; fast_math.hpp's var_row and var_cols).
void variance(DType dtype, int64_t outer, int64_t n, int64_t inner, const char* in, char* out,
              double divisor);
// Index of the max (or min) along one axis: shape is the output's, in's strides skip the axis.
void arg_reduce(bool is_max, const Dims& shape, Operand out, Operand in, int64_t axis_size,
                int64_t axis_stride);

// A 2-d convolution's geometry: the image (batch, channels, height, width) and its patches as
// columns (batch, channels * kernel_h * kernel_w, out_h * out_w), both contiguous. Patch (oh, ow)
// element (ki, kj) is image row oh * stride_h - pad_h + ki * dilation_h (and the same for
// columns); outside the image it is 0.
struct PatchGeometry {
  int64_t batch, channels, height, width;
  int64_t kernel_h, kernel_w, dilation_h, dilation_w, pad_h, pad_w, stride_h, stride_w;
  int64_t out_h, out_w;
};
// The columns of image (any dtype: a copy).
void im2col(DType dtype, const PatchGeometry& g, const char* image, char* cols);
// The image whose patches the columns hold, overlapping patches summed: im2col's adjoint. Not
// for bool or the storage dtypes.
void col2im(DType dtype, const PatchGeometry& g, const char* cols, char* image);
// A 2-d convolution as one op: patches (the input (batch, channels, height, width) and the
// kernel's geometry) and the output's channels, in groups. f32 or f64, every size positive.
struct ConvGeometry {
  PatchGeometry patches;
  int64_t out_channels, groups;
};
// y (batch, out_channels, out_h, out_w) = each group's weights (out_channels / groups,
// channels / groups * kh * kw) times its columns, plus bias (null: none). A GEMM an image,
// straight into y's layout; the images split over the threads.
void conv2d_forward(DType dtype, const ConvGeometry& c, const char* x, const char* w,
                    const char* bias, char* y);
// Its gradients from gy (y's layout), each only where its pointer is not null: gx (x's
// layout) the columns' gradient W^T gy folded back, gw (w's) the sum over images of gy times
// the columns transposed, gb the sum of gy over images and positions.
void conv2d_backward(DType dtype, const ConvGeometry& c, const char* x, const char* w,
                     const char* gy, char* gx, char* gw, char* gb);
// Max pooling of planes (height, width), windows at (o * stride - pad + k * dilation), out_h x
// out_w of them, each with at least one element inside the plane.
struct PoolGeometry {
  int64_t planes, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h,
      dilation_w, out_h, out_w;
};
// y: each window's maximum (a NaN is the maximum; all -inf: -inf); indices: where in its plane
// (row * width + column) it was, libtorch's choice: the first maximum, the last NaN, the first
// element inside the plane when none is larger than -inf. f32 or f64.
void max_pool2d_forward(DType dtype, const PoolGeometry& p, const char* x, char* y,
                        int64_t* indices);
// gx (planes, height, width) = gy scattered to indices (summed where windows share one).
void max_pool2d_backward(DType dtype, const PoolGeometry& p, const char* gy, const int64_t* indices,
                         char* gx);

// Layer normalization of contiguous rows (rows, n), f32 or f64 (kernels/cpu/norm.cpp): y = (x -
// mean) rstd w + b, w and b per column (null: none), the statistics in double; each row's mean
// and rstd = 1 / sqrt(biased variance + eps) written out for the backward.
void layer_norm_forward(DType dtype, int64_t rows, int64_t n, const char* x, const char* w,
                        const char* b, double eps, char* y, char* mean, char* rstd);
// Its gradients from gy, each only where its pointer is not null: gx = rstd (g w - mean(g w) -
// xhat mean(g w xhat)) along each row, gw the column sums of g xhat, gb those of g.
void layer_norm_backward(DType dtype, int64_t rows, int64_t n, const char* x, const char* w,
                         const char* mean, const char* rstd, const char* gy, char* gx, char* gw,
                         char* gb);
// Batch normalization of contiguous x (batch, channels, inner) per channel, f32 or f64.
struct NormGeometry {
  int64_t batch, channels, inner;
};
// training: each channel's mean, rstd and biased variance written out (double sums);
// otherwise mean and rstd are read (the running statistics'). y = (x - mean) rstd w + b (w and
// b per channel, null: none).
void batch_norm_forward(DType dtype, const NormGeometry& geo, const char* x, const char* w,
                        const char* b, double eps, bool training, char* y, char* mean, char* rstd,
                        char* var);
// Its gradients, each only where its pointer is not null: gw = sum(g xhat), gb = sum(g) over
// batch and inner positions; gx = w rstd (g - mean(g) - xhat mean(g xhat)) in training, w
// rstd g in evaluation (the statistics constants).
void batch_norm_backward(DType dtype, const NormGeometry& geo, const char* x, const char* w,
                         const char* mean, const char* rstd, const char* gy, bool training,
                         char* gx, char* gw, char* gb);

// Scans along the middle axis of a contiguous (outer, n, inner) block into a contiguous out of
// the same layout and dtype: running sum, product, log-add-exp (floating), max or min. For max
// and min, indices (i64, same layout) gets where each running extreme was reached (the last of
// ties; the last NaN once one is met). sum and prod wrap for integers. Not for bool.
enum class ScanOp { sum, prod, logsumexp, max, min };
void scan(ScanOp op, DType dtype, int64_t outer, int64_t n, int64_t inner, const char* in,
          char* out, int64_t* indices);
// y_k = a_k y_(k-1) + b_k along the middle axis of contiguous (outer, n, inner) blocks a, b and
// out (y_0 = b_0; a's first position is not read). f32 or f64.
void linear_recurrence(DType dtype, int64_t outer, int64_t n, int64_t inner, const char* a,
                       const char* b, char* out);
// The stable sort order along the middle axis of a contiguous (outer, n, inner) block: out
// (i64, same layout) gets the positions along the axis. NaN sorts last ascending, first
// descending; ties keep their order either way. first in [0, n): only the first `first`
// positions are in order (topk, by a partial sort); the others follow in no particular order.
// ordered false (with first in [0, n]): the first `first` positions are the same set, in no
// particular order (a selection without the sort; topk's sorted=false).
void argsort(DType dtype, int64_t outer, int64_t n, int64_t inner, const char* in, int64_t* out,
             bool descending, int64_t first = -1, bool ordered = true);

// Whether a rows x cols matrix with these element strides can be handed to BLAS as it is.
bool gemm_compatible(int64_t rows, int64_t cols, int64_t s0, int64_t s1);
// c[batch] = a[batch] @ b[batch] for (n,k) @ (k,m) matrices. strides span batch dims then the
// two matrix dims; c is contiguous; a and b must be gemm_compatible. use_blas=false forces the
// portable kernel (the one builds without BLAS use), so tests can check it everywhere.
void batched_matmul(DType dtype, const Dims& batch, int64_t n, int64_t k, int64_t m, Operand c,
                    Operand a, Operand b, bool use_blas = true);

}  // namespace ndgrad::kernels

namespace ndgrad::kernels {

// Contiguous (rows, cols) logits: returns the sum over rows of logsumexp(row) - row[label];
// writes the row-wise softmax into probs when probs is not null.
double softmax_cross_entropy(DType dtype, int64_t rows, int64_t cols, const char* logits,
                             const int64_t* labels, char* probs);
// acc += grad (acc -= grad with subtract) over n contiguous floating elements that do not
// overlap: a gradient accumulated in place.
void accumulate(DType dtype, int64_t n, char* acc, const char* grad, bool subtract);
// In-place optimizer updates on n contiguous elements (see ndgrad::optim for the formulas).
// velocity null: no momentum. first_step: the velocity is set, not accumulated.
void sgd_update(DType dtype, int64_t n, char* param, const char* grad, char* velocity, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step);
// v_max null: no amsgrad. decoupled: AdamW's weight decay (else L2 added to the gradient).
void adam_update(DType dtype, int64_t n, char* param, const char* grad, char* m, char* v,
                 char* v_max, double lr, double beta1, double beta2, double eps,
                 double weight_decay, bool decoupled, int64_t step);
// grad_avg null: not centered; buffer null: no momentum.
void rmsprop_update(DType dtype, int64_t n, char* param, const char* grad, char* square_avg,
                    char* grad_avg, char* buffer, double lr, double alpha, double eps,
                    double weight_decay, double momentum);
// lr: this step's (decayed) rate.
void adagrad_update(DType dtype, int64_t n, char* param, const char* grad, char* sum, double lr,
                    double eps, double weight_decay);

}  // namespace ndgrad::kernels
