#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ndgrad {

// The compute dtypes come first (kernels index tables by this order); i32, u8, i8, f16 and bf16
// are storage dtypes: ops compute them in compute_dtype() and round the result back once.
enum class DType { f32, f64, i64, boolean, i32, u8, i8, f16, bf16 };
constexpr int kNumDTypes = 9;

// Row-major, NumPy order.
using Shape = std::vector<int64_t>;

// Bytes per element: 1 << two bits of a constant per dtype (4 8 8 1 4 1 1 2 2, in the enum's
// order), without a branch; every tensor access computes it.
constexpr int64_t itemsize(DType dtype) {
  return int64_t{1} << ((0x1423Eu >> (2 * (static_cast<unsigned>(dtype) & 15u))) & 3u);
}
static_assert(itemsize(DType::f32) == 4 && itemsize(DType::f64) == 8 && itemsize(DType::i64) == 8 &&
              itemsize(DType::boolean) == 1 && itemsize(DType::i32) == 4 &&
              itemsize(DType::u8) == 1 && itemsize(DType::i8) == 1 && itemsize(DType::f16) == 2 &&
              itemsize(DType::bf16) == 2);
// "f32", "f64", "i64", "bool", "i32", "u8", "i8", "f16", "bf16".
const char* dtype_name(DType dtype);
// f32, f64, f16 and bf16 (a bit per dtype, in the enum's order).
constexpr bool is_floating(DType dtype) {
  return (0x183u >> (static_cast<unsigned>(dtype) & 15u)) & 1u;
}
static_assert(is_floating(DType::f32) && is_floating(DType::f64) && !is_floating(DType::i64) &&
              !is_floating(DType::boolean) && !is_floating(DType::i32) && !is_floating(DType::u8) &&
              !is_floating(DType::i8) && is_floating(DType::f16) && is_floating(DType::bf16));
// i32, u8, i8, f16, bf16: held in memory, never computed in.
inline bool is_storage_only(DType dtype) { return static_cast<int>(dtype) >= 4; }
// The dtype a storage dtype computes in: f16 and bf16 in f32; i32, u8 and i8 in i64 (so that
// narrow integers wrap only when the result is stored back, as NumPy's). Else dtype itself.
inline DType compute_dtype(DType dtype) {
  switch (dtype) {
    case DType::f16:
    case DType::bf16:
      return DType::f32;
    case DType::i32:
    case DType::u8:
    case DType::i8:
      return DType::i64;
    default:
      return dtype;
  }
}
// The result dtype of two tensors (docs/API.md "Result dtypes" has the table): NumPy's
// np.promote_types, except that a floating dtype with any integer dtype gives the floating
// dtype (PyTorch's rule: i64 with f32 is f32), i8 with u8 gives i32 (NumPy's i16 is not
// here), and bf16 (not in NumPy) is above the integers and with f16 gives f32.
DType promote_types(DType a, DType b);
// "(3,4)", "(4,)", "()": the way NumPy writes shapes in its messages.
std::string shape_str(const Shape& shape);

}  // namespace ndgrad
