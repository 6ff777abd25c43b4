#pragma once
// Helpers the linear-algebra op files share: argument checks, batch shapes, working copies.
#include <algorithm>
#include <string>
#include <vector>

#include "ops/ops_common.hpp"

namespace ndgrad::linalg::detail {

// n, after checking that A is a (batch of) square f32/f64 matrices.
inline int64_t square_size(const Tensor& A, const char* op) {
  require_defined_arg(A, op, "the matrix");
  require_floating(A, op);
  if (A.ndim() < 2 || A.size(-1) != A.size(-2))
    throw ShapeError(std::string(op) + ": expected square matrices (..., n, n), got shape " +
                     shape_str(A.shape()));
  return A.size(-1);
}

// "" for a single matrix, else " at batch index (i, j)" for flat batch element e.
inline std::string batch_index(const Dims& batch, int64_t e) {
  if (batch.empty()) return "";
  std::vector<int64_t> idx(batch.size());
  for (size_t i = batch.size(); i-- > 0;) {
    idx[i] = e % batch[i];
    e /= batch[i];
  }
  std::string s = " at batch index (";
  for (size_t i = 0; i < idx.size(); ++i) s += (i ? ", " : "") + std::to_string(idx[i]);
  return s + ")";
}

inline Dims batch_of(const Tensor& t) {
  const Dims& s = t.impl()->shape;
  return Dims(s.data(), s.size() - 2);
}

inline Dims with_matrix(Dims batch, int64_t rows, int64_t cols) {
  batch.push_back(rows);
  batch.push_back(cols);
  return batch;
}

// A contiguous copy of t broadcast to shape, in dtype: the factorizations work in place on it.
inline Tensor working_copy(const Tensor& t, const Dims& shape, DType dtype) {
  return raw_cast(raw_broadcast(t, shape), dtype);
}

}  // namespace ndgrad::linalg::detail
