// While a QuietLog lives, what the code under fuzzing logs (common/log.h writes each line to
// stderr) goes to /dev/null, if DPCNI_FUZZ_QUIET_LOG is set: run_fuzz.sh sets it, as the plugin
// logs every error it returns and a run of tens of thousands of inputs would flood ctest's output.
// A crash inside such a span then loses its report on stderr, but not its input, which
// run_fuzz.sh prints with a replay command that runs without the variable and shows everything.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace dpcni::fuzz {

class QuietLog {
 public:
  QuietLog() {
    static const bool quiet = std::getenv("DPCNI_FUZZ_QUIET_LOG") != nullptr;
    if (!quiet) return;
    static const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
  }
  ~QuietLog() {
    if (saved_ < 0) return;
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  QuietLog(const QuietLog&) = delete;
  QuietLog& operator=(const QuietLog&) = delete;

 private:
  int saved_ = -1;
};

}  // namespace dpcni::fuzz
