#pragma once
// The loaders read paths, so the fuzz targets write each input to a file of this process,
// overwritten for every input and removed when the process exits.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

inline std::string write_fuzz_input(const char* name, const uint8_t* data, size_t size) {
  struct RemoveAtExit {
    std::string path;
    ~RemoveAtExit() {
      if (!path.empty()) std::remove(path.c_str());
    }
  };
  static RemoveAtExit file{std::string("/tmp/ndgrad_fuzz_") + name + "_" +
                           std::to_string(::getpid())};
  std::FILE* f = std::fopen(file.path.c_str(), "wb");
  if (!f) return "";
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  return file.path;
}
