#pragma once
// NumPy's .npy and .npz formats. Saving writes a temporary file beside the target and renames
// it into place, so a failed save leaves any previous file intact.
#include <map>
#include <string>

#include "ndgrad/tensor.hpp"

namespace ndgrad {

void save_npy(const std::string& path, const Tensor& t);
// Reads f4, f8, i8 and b1 arrays (and u1, i1, i2, i4, u2, u4 as i64), either byte order,
// C or Fortran order.
Tensor load_npy(const std::string& path);

// An uncompressed zip of NAME.npy members, as numpy.savez writes.
void save_npz(const std::string& path, const std::map<std::string, Tensor>& arrays);
// Reads numpy.savez and numpy.savez_compressed files.
std::map<std::string, Tensor> load_npz(const std::string& path);

}  // namespace ndgrad
