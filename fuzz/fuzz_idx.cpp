// Feeds arbitrary bytes (plain, or treated as gzip by zlib) to the IDX loader.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "ndgrad/ndgrad.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/ndgrad_fuzz_idx_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    ndgrad::Tensor t =
        ndgrad::data::load_idx(path, size % 2 ? ndgrad::DType::f32 : ndgrad::DType::i64);
    (void)t.to_vector();
  } catch (const ndgrad::Error&) {
  }
  return 0;
}
