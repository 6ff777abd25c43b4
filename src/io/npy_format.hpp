#pragma once
// The .npy container around a header dict: magic, version 1.0, the header's length, the header
// padded with spaces and a newline so that the data starts on a 64-byte boundary, as NumPy
// writes it. Without the data: the caller appends it.
#include <string>

namespace ndgrad {

std::string npy_preamble(std::string header_dict);

}  // namespace ndgrad
