#pragma once
// Whole-file reads and atomic whole-file writes, with IOError messages that name the path.
#include <string>

namespace ndgrad {

std::string read_file(const std::string& path, const char* op);
// Writes contents to a temporary file beside path, flushes it to disk and renames it over
// path: either the new file is complete or the previous one is untouched.
void write_file_atomically(const std::string& path, const std::string& contents, const char* op);

}  // namespace ndgrad
