#pragma once
// The op table's columns as compile-time data (include/ndgrad/op_table.def): the enums every
// layer names ops by, and each row's dtype rule, domain, fusion and name.
#include <cstdint>

namespace ndgrad::kernels {

enum class UnaryOp : uint8_t {
#define NDGRAD_UNARY_OP(name, ...) name,
#include "ndgrad/op_table.def"
};
enum class BinaryOp : uint8_t {
#define NDGRAD_BINARY_OP(name, ...) name,
#include "ndgrad/op_table.def"
};

// Which dtypes an op takes and what its result is (op_table.def has the meanings).
enum class DTypeRule : uint8_t {
  floating,
  floating_promote,
  numeric,
  arithmetic,
  true_divide,
  floating_first,
  power,
  comparison,
  integral,
  predicate
};
// Whether the lazy evaluator fuses an op (kernels/cpu/fused.hpp).
enum class Fusion : uint8_t { fused, eager };
// Where a test draws an op's inputs from (op_table.def gives each one's values; tests/test_util.hpp
// draws them, the fuzzer maps its tensors into them).
enum class Domain : uint8_t {
  any,
  positive,
  positive_first,
  positive_second,
  apart,
  unit,
  small,
  above_one,
  probability,
  off_integers,
  off_three,
  fractional_ratio,
  integers,
  specials
};

struct OpInfo {
  const char* name;
  DTypeRule dtypes;
  Domain domain;
  Fusion fusion;
  bool differentiable;
  // The derivative reads the output's gradient once, as an operand of one op (g_reads once).
  bool reads_grad_once;
};

// The saves column: no_grad marks an op without a derivative.
#define NDGRAD_DIFFERENTIABLE_no_grad false
#define NDGRAD_DIFFERENTIABLE_nothing true
#define NDGRAD_DIFFERENTIABLE_x true
#define NDGRAD_DIFFERENTIABLE_y true
#define NDGRAD_DIFFERENTIABLE_a true
#define NDGRAD_DIFFERENTIABLE_b true
#define NDGRAD_DIFFERENTIABLE_ab true
#define NDGRAD_DIFFERENTIABLE_ay true
#define NDGRAD_DIFFERENTIABLE_by true
#define NDGRAD_DIFFERENTIABLE_aby true

#define NDGRAD_READS_ONCE_once true
#define NDGRAD_READS_ONCE_many false

inline constexpr OpInfo kUnaryOps[] = {
#define NDGRAD_UNARY_OP(name, dtypes, domain, fusion, saves, g_reads, ...) \
  {#name,                                                                  \
   DTypeRule::dtypes,                                                      \
   Domain::domain,                                                         \
   Fusion::fusion,                                                         \
   NDGRAD_DIFFERENTIABLE_##saves,                                          \
   NDGRAD_READS_ONCE_##g_reads},
#include "ndgrad/op_table.def"
};
inline constexpr OpInfo kBinaryOps[] = {
#define NDGRAD_BINARY_OP(name, dtypes, domain, fusion, saves_a, saves_b, g_reads, ...) \
  {#name,                                                                              \
   DTypeRule::dtypes,                                                                  \
   Domain::domain,                                                                     \
   Fusion::fusion,                                                                     \
   NDGRAD_DIFFERENTIABLE_##saves_a,                                                    \
   NDGRAD_READS_ONCE_##g_reads},
#include "ndgrad/op_table.def"
};
// A binary row is differentiable or not as a whole: no_grad in both saves columns or in neither.
#define NDGRAD_BINARY_OP(name, dtypes, domain, fusion, saves_a, saves_b, ...)       \
  static_assert(NDGRAD_DIFFERENTIABLE_##saves_a == NDGRAD_DIFFERENTIABLE_##saves_b, \
                #name ": saves_a and saves_b must both be no_grad or neither");
#include "ndgrad/op_table.def"

constexpr int kNumUnaryOps = sizeof(kUnaryOps) / sizeof(kUnaryOps[0]);
constexpr int kNumBinaryOps = sizeof(kBinaryOps) / sizeof(kBinaryOps[0]);

constexpr const OpInfo& info(UnaryOp op) { return kUnaryOps[static_cast<int>(op)]; }
constexpr const OpInfo& info(BinaryOp op) { return kBinaryOps[static_cast<int>(op)]; }

// The ops the lazy evaluator fuses: the rows marked fused, unary and binary in one enum.
#define NDGRAD_IF_FUSED_fused(...) __VA_ARGS__
#define NDGRAD_IF_FUSED_eager(...)
enum class FusedOp : uint8_t {
#define NDGRAD_UNARY_OP(name, dtypes, domain, fusion, ...) NDGRAD_IF_FUSED_##fusion(name, )
#define NDGRAD_BINARY_OP(name, dtypes, domain, fusion, ...) NDGRAD_IF_FUSED_##fusion(name, )
#include "ndgrad/op_table.def"
};
// The FusedOp of an op the table marks fused, -1 for one it marks eager.
#define NDGRAD_FUSED_INDEX_fused(name) static_cast<int>(FusedOp::name)
#define NDGRAD_FUSED_INDEX_eager(name) -1
constexpr int fused_index(UnaryOp op) {
  switch (op) {
#define NDGRAD_UNARY_OP(name, dtypes, domain, fusion, ...) \
  case UnaryOp::name:                                      \
    return NDGRAD_FUSED_INDEX_##fusion(name);
#include "ndgrad/op_table.def"
  }
  return -1;
}
constexpr int fused_index(BinaryOp op) {
  switch (op) {
#define NDGRAD_BINARY_OP(name, dtypes, domain, fusion, ...) \
  case BinaryOp::name:                                      \
    return NDGRAD_FUSED_INDEX_##fusion(name);
#include "ndgrad/op_table.def"
  }
  return -1;
}
// Whether a fused op takes one operand.
constexpr bool is_unary(FusedOp op) {
  switch (op) {
#define NDGRAD_UNARY_OP(name, dtypes, domain, fusion, ...) \
  NDGRAD_IF_FUSED_##fusion(case FusedOp::name : return true;)
#include "ndgrad/op_table.def"
    default:
      return false;
  }
}

}  // namespace ndgrad::kernels
