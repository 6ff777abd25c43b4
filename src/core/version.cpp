// The library's version string (ndgrad/version.hpp, written by CMake).
#include "ndgrad/version.hpp"

namespace ndgrad {

const char* version() { return NDGRAD_VERSION; }

}  // namespace ndgrad
