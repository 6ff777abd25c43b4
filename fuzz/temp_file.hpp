#pragma once
// The loaders read paths, so the fuzz targets write each input to a file of this process.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

inline std::string write_fuzz_input(const char* name, const uint8_t* data, size_t size) {
  const std::string path =
      std::string("/tmp/ndgrad_fuzz_") + name + "_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return "";
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}
