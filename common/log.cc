#include "common/log.h"

#include <errno.h>
#include <unistd.h>

#include <mutex>

namespace dpcni {
namespace {

// glibc's name of the running binary: the default until SetLogProgram names it (tests never do).
std::atomic<const char*> program{program_invocation_short_name};

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  for (LogLevel level : {LogLevel::kError, LogLevel::kWarning, LogLevel::kInfo, LogLevel::kDebug}) {
    if (name == LogLevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log level \"", name, "\" is none of error, warning, info, debug"));
}

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "unknown";
}

void SetLogProgram(const char* name) { program.store(name, std::memory_order_relaxed); }

void SetLogLevel(LogLevel level) { log_internal::level.store(level, std::memory_order_relaxed); }

LogLevel GetLogLevel() { return log_internal::level.load(std::memory_order_relaxed); }

std::string FormatLogLine(LogLevel level, absl::string_view program_name,
                          absl::string_view component, absl::string_view message) {
  return absl::StrCat(LogLevelName(level), " ", program_name, component.empty() ? "" : " ",
                      component, ": ", message);
}

namespace log_internal {

void WriteLine(LogLevel level, absl::string_view component, absl::string_view message) {
  const std::string line = absl::StrCat(
      FormatLogLine(level, program.load(std::memory_order_relaxed), component, message), "\n");
  // One write(2) per line keeps a line whole on a pipe for up to PIPE_BUF bytes even against other
  // writers (DPDK's own log, a second process); the lock keeps our longer lines whole too, across
  // the short writes a pipe makes of them. A log that cannot be written is dropped: there is
  // nowhere to report it.
  static std::mutex mu;
  std::lock_guard lock(mu);
  const int saved_errno = errno;
  for (size_t written = 0; written < line.size();) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  errno = saved_errno;  // a log line must not change what the caller's next strerror() says
}

}  // namespace log_internal
}  // namespace dpcni
