// Feeds arbitrary bytes to the .npy and .npz loaders: a tensor or an IOError, nothing else.
#include <cstdint>
#include <cstdio>
#include <string>

#include "ndgrad/ndgrad.hpp"
#include "temp_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = write_fuzz_input("npy", data, size);
  if (path.empty()) return 0;
  try {
    ndgrad::Tensor t = ndgrad::load_npy(path);
    (void)t.to_vector();
  } catch (const ndgrad::Error&) {
  }
  try {
    for (auto& [name, t] : ndgrad::load_npz(path)) (void)t.to_vector();
  } catch (const ndgrad::Error&) {
  }
  return 0;
}
