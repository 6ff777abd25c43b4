#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ndgrad {

enum class DType { f32, f64, i64, boolean };

// Row-major, NumPy order.
using Shape = std::vector<int64_t>;

// Bytes per element.
inline int64_t itemsize(DType dtype) {
  return dtype == DType::f32 ? 4 : dtype == DType::boolean ? 1 : 8;
}
// "f32", "f64", "i64", "bool".
const char* dtype_name(DType dtype);
bool is_floating(DType dtype);
// The dtype two operands are computed in: bool < i64 < f32 < f64.
DType promote_types(DType a, DType b);
// "(3,4)", "(4,)", "()": the way NumPy writes shapes in its messages.
std::string shape_str(const Shape& shape);

}  // namespace ndgrad
