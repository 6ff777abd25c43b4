#include "io/file_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ndgrad/error.hpp"

namespace ndgrad {

std::string read_file(const std::string& path, const char* op) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IOError(std::string(op) + ": cannot open '" + path + "': " + std::strerror(errno));
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw IOError(std::string(op) + ": error reading '" + path + "'");
  return data;
}

void write_file_atomically(const std::string& path, const std::string& contents, const char* op) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp =
      path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    throw IOError(std::string(op) + ": cannot write '" + path + "': " + std::strerror(errno));
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw IOError(std::string(op) + ": " + what + " '" + path + "': " + std::strerror(err));
  };
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t w = ::write(fd, contents.data() + done, contents.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("error writing");
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) fail("error flushing");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IOError(std::string(op) + ": error closing '" + path + "': " + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IOError(std::string(op) + ": cannot replace '" + path + "': " + std::strerror(err));
  }
}

}  // namespace ndgrad
