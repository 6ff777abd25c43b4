#pragma once
// A chain of elementwise arithmetic evaluated in one pass.
//
// A FusedProgram is a small expression (the op table's rows marked fused) over strided, possibly
// broadcast inputs. It is evaluated a block at a time in buffers that stay in L1, and each
// block of results goes straight to its consumer: written out, summed, or summed over leading
// axes. The intermediate results are never written to memory, so a chain over large tensors
// costs one read of its inputs instead of a read and a write per op.
//
// Every op rounds to the dtype as an eager op does: materialized results are bit-for-bit the
// eager ones; fused sums differ only in the order of additions.
#include <cstdint>

#include "kernels/cpu/op_info.hpp"
#include "ndgrad/dtype.hpp"

namespace ndgrad::kernels {

constexpr int kFusedMaxLeaves = 8;
constexpr int kFusedMaxOps = 16;
// A fused program's capacity (fixed arrays, sized for speed), not a rank limit: a result of
// more dims is computed eagerly.
constexpr int kFusedMaxDims = 8;

struct FusedProgram {
  DType dtype = DType::f32;  // f32 or f64: inputs and results alike
  int ndim = 0;
  int64_t shape[kFusedMaxDims] = {};
  int nleaves = 0;
  const char* leaf_data[kFusedMaxLeaves] = {};                // first element
  int64_t leaf_strides[kFusedMaxLeaves][kFusedMaxDims] = {};  // elements; 0 where broadcast
  // An operand is a leaf (kLeaf | index) or the result of an earlier op (index). The program's
  // value is the last op's.
  static constexpr uint8_t kLeaf = 0x80;
  struct Op {
    FusedOp op;
    uint8_t a, b;  // b unused by unary ops
  };
  int nops = 0;
  Op ops[kFusedMaxOps] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
};

// Writes the program's values to out (contiguous, row-major over shape). Streamed past the
// caches when large; split across threads above a grain size.
void fused_materialize(const FusedProgram& p, char* out);
// The sum of all values, accumulated in double over blocks.
double fused_sum_all(const FusedProgram& p);
// Sums over the leading `reduced` dims into out: contiguous, one value per index of the
// remaining dims, accumulated in the dtype in row order like the eager reduction.
void fused_sum_leading(const FusedProgram& p, int reduced, char* out);
// Whether fused_sum_trailing can sum the trailing `reduced` dims: they merge into one run per
// output value (not, e.g., (x + b) over axes 1 and 2 of a 3-d x, where b repeats along axis 1).
bool fused_sum_trailing_fits(const FusedProgram& p, int reduced);
// Sums over the trailing `reduced` dims into out (fused_sum_trailing_fits holds): contiguous,
// one value per index of the leading dims.
void fused_sum_trailing(const FusedProgram& p, int reduced, char* out);
// fused_materialize and fused_sum_leading in one pass over the inputs: the same values; the
// same sums up to rounding.
void fused_materialize_sum_leading(const FusedProgram& p, char* out, int reduced, char* sums);
// Whether p and q compute the same values: the same ops over the same inputs.
bool same_program(const FusedProgram& p, const FusedProgram& q);

}  // namespace ndgrad::kernels
