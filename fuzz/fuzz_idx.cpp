// Feeds arbitrary bytes (plain, or treated as gzip by zlib) to the IDX loader.
#include <cstdint>
#include <cstdio>
#include <string>

#include "ndgrad/ndgrad.hpp"
#include "temp_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = write_fuzz_input("idx", data, size);
  if (path.empty()) return 0;
  try {
    ndgrad::Tensor t =
        ndgrad::data::load_idx(path, size % 2 ? ndgrad::DType::f32 : ndgrad::DType::i64);
    (void)t.to_vector();
  } catch (const ndgrad::Error&) {
  }
  return 0;
}
