// The log of our binaries: one line per message on stderr, with a level and the component that
// speaks, filtered by one process-wide level.
//
//   DPCNI_LOG(kWarning, "pods", "cannot restore pod ", name, ": ", status.message());
//
// writes, in dpcni-agent,
//
//   warning dpcni-agent pods: cannot restore pod ...
//
// The arguments are absl::StrCat's (strings, numbers, absl::Hex). DPCNI_LOGF takes
// absl::StrFormat's instead, checked at compile time, for widths and for a type with only
// operator<< (%s with absl::FormatStreamed). Neither evaluates its arguments when the level is off:
// a debug line costs one relaxed atomic load unless someone asked for debug.
//
// No timestamp: the agent runs in a container whose stderr containerd stamps line by line (kubectl
// logs --timestamps), and the plugin's stderr lands in the container runtime's log, which stamps it
// too; a second clock on the line would only disagree with the first. Run by hand, pipe it through
// `ts` (moreutils) if the time matters.
//
// Why not absl/log: it first shipped in abseil LTS 20230125, and Debian 12's libabsl-dev is
// 20220623, which has no absl/log (nor glog-style LOG()) at all.
#pragma once

#include <atomic>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace dpcni {

// Most to least severe: a level shows itself and everything above it.
enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

// "error", "warning", "info", "debug": the spelling of --log_level and the config's log_level.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
absl::string_view LogLevelName(LogLevel level);

// Names the program on every line ("dpcni-agent"); `program` must outlive the process (a literal).
// Call once in main(), before any thread logs.
void SetLogProgram(const char* program);

// The process-wide level; info until set. May be called at any time from any thread.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

namespace log_internal {
inline std::atomic<LogLevel> level{LogLevel::kInfo};
// Writes the whole line with one write(2) under a lock, so that lines of concurrent threads never
// interleave, with each other or (for lines up to PIPE_BUF) with another process on the same pipe.
void WriteLine(LogLevel level, absl::string_view component, absl::string_view message);
}  // namespace log_internal

inline bool LogEnabled(LogLevel level) {
  return level <= log_internal::level.load(std::memory_order_relaxed);
}

// The line as written, without its newline: "<level> <program> <component>: <message>". Exposed for
// tests.
std::string FormatLogLine(LogLevel level, absl::string_view program, absl::string_view component,
                          absl::string_view message);

}  // namespace dpcni

// `level` is a LogLevel enumerator without its type: kError, kWarning, kInfo or kDebug.
#define DPCNI_LOG(level, component, ...)                                    \
  do {                                                                      \
    if (::dpcni::LogEnabled(::dpcni::LogLevel::level)) {                    \
      ::dpcni::log_internal::WriteLine(::dpcni::LogLevel::level, component, \
                                       ::absl::StrCat(__VA_ARGS__));        \
    }                                                                       \
  } while (false)

#define DPCNI_LOGF(level, component, format, ...)                               \
  do {                                                                          \
    if (::dpcni::LogEnabled(::dpcni::LogLevel::level)) {                        \
      ::dpcni::log_internal::WriteLine(::dpcni::LogLevel::level, component,     \
                                       ::absl::StrFormat(format, __VA_ARGS__)); \
    }                                                                           \
  } while (false)
