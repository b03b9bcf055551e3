// Captures what the process writes to fd 2 while it lives: for tests of what a binary's code logs.
// A pipe, drained by a thread, so that writers block as they would on a container's log pipe and
// long lines may be split the way a pipe splits them.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

namespace dpcni::testing {

class CapturedStderr {
 public:
  CapturedStderr() {
    int fds[2];
    if (::pipe(fds) != 0) std::abort();
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[1]);
    reader_ = std::thread([this, read_end = fds[0]] {
      char buffer[65536];
      for (ssize_t n; (n = ::read(read_end, buffer, sizeof buffer)) != 0;) {
        if (n > 0) text_.append(buffer, static_cast<size_t>(n));
      }
      ::close(read_end);
    });
  }
  ~CapturedStderr() { Stop(); }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;

  // Puts fd 2 back and returns everything written to it meanwhile.
  const std::string& Stop() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      ::dup2(saved_, STDERR_FILENO);  // closes the last write end: the reader sees EOF
      ::close(saved_);
      saved_ = -1;
      reader_.join();
    }
    return text_;
  }

 private:
  int saved_ = -1;
  std::thread reader_;
  std::string text_;
};

}  // namespace dpcni::testing
