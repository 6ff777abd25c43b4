// Feeds arbitrary bytes to the .npy and .npz loaders: a tensor or an IOError, nothing else.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "ndgrad/ndgrad.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/ndgrad_fuzz_npy_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
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
