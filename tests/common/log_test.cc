#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "tests/common/testing/captured_stderr.h"

namespace dpcni {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Every test starts from the default level and leaves it so.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { SetLogProgram("dpcni-test"); }
  void TearDown() override { SetLogLevel(LogLevel::kInfo); }
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST_F(LogTest, LevelNamesRoundTripAndOthersAreRefusedNamingTheChoices) {
  for (LogLevel level : {LogLevel::kError, LogLevel::kWarning, LogLevel::kInfo, LogLevel::kDebug}) {
    auto parsed = ParseLogLevel(LogLevelName(level));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, level);
  }
  for (const char* wrong : {"", "INFO", "warn", "trace"}) {
    auto parsed = ParseLogLevel(wrong);
    ASSERT_FALSE(parsed.ok()) << wrong;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr("error, warning, info, debug"));
  }
}

TEST_F(LogTest, LineCarriesLevelProgramComponentAndMessage) {
  EXPECT_EQ(FormatLogLine(LogLevel::kWarning, "dpcni-agent", "pods", "cannot restore pod a/b"),
            "warning dpcni-agent pods: cannot restore pod a/b");
  EXPECT_EQ(FormatLogLine(LogLevel::kError, "dpcni", "", "ADD c1: failed"),
            "error dpcni: ADD c1: failed");

  testing::CapturedStderr captured;
  DPCNI_LOG(kInfo, "agent", "serving on ", "/run/dpcni/dpcni.sock", " (", 3, " pods restored)");
  EXPECT_EQ(captured.Stop(),
            "info dpcni-test agent: serving on /run/dpcni/dpcni.sock (3 pods restored)\n");
}

TEST_F(LogTest, LevelShowsItselfAndWhatIsMoreSevere) {
  const std::map<LogLevel, std::vector<std::string>> shown = {
      {LogLevel::kError, {"error"}},
      {LogLevel::kWarning, {"error", "warning"}},
      {LogLevel::kInfo, {"error", "warning", "info"}},
      {LogLevel::kDebug, {"error", "warning", "info", "debug"}},
  };
  for (const auto& [level, expected] : shown) {
    SetLogLevel(level);
    EXPECT_EQ(GetLogLevel(), level);
    testing::CapturedStderr captured;
    DPCNI_LOG(kError, "c", "m");
    DPCNI_LOG(kWarning, "c", "m");
    DPCNI_LOG(kInfo, "c", "m");
    DPCNI_LOG(kDebug, "c", "m");
    std::vector<std::string> levels;
    for (const std::string& line : Lines(captured.Stop())) {
      levels.push_back(line.substr(0, line.find(' ')));
    }
    EXPECT_EQ(levels, expected) << "level " << LogLevelName(level);
  }
}

TEST_F(LogTest, DefaultLevelIsInfo) {
  // A fresh process: the binary's default, before any SetLogLevel (the fixture restores it too).
  EXPECT_EQ(GetLogLevel(), LogLevel::kInfo);
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
}

// Counts how often a log line formatted it.
struct Expensive {
  int* formatted;
};
std::ostream& operator<<(std::ostream& out, const Expensive& value) {
  ++*value.formatted;
  return out << "expensive";
}

TEST_F(LogTest, OffLevelEvaluatesAndFormatsNothing) {
  int calls = 0;
  int formatted = 0;
  auto costly = [&calls] {
    ++calls;
    return std::string("costly");
  };
  testing::CapturedStderr captured;
  DPCNI_LOG(kDebug, "c", costly());
  DPCNI_LOGF(kDebug, "c", "%s %s", costly(), absl::FormatStreamed(Expensive{&formatted}));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(formatted, 0);

  SetLogLevel(LogLevel::kDebug);
  DPCNI_LOG(kDebug, "c", costly());
  DPCNI_LOGF(kDebug, "c", "%s %s", costly(), absl::FormatStreamed(Expensive{&formatted}));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(formatted, 1);
  EXPECT_THAT(Lines(captured.Stop()),
              ElementsAre("debug dpcni-test c: costly", "debug dpcni-test c: costly expensive"));
}

TEST_F(LogTest, LogLeavesErrnoAlone) {
  testing::CapturedStderr captured;
  errno = ENOENT;
  DPCNI_LOG(kError, "c", "m");
  EXPECT_EQ(errno, ENOENT);
}

// Concurrent threads, lines longer than a pipe writes atomically (PIPE_BUF, 4096): every line comes
// out whole, exactly once.
TEST_F(LogTest, ConcurrentLinesStayWhole) {
  constexpr int kThreads = 8;
  constexpr int kLines = 300;
  // Each thread's lines are its own letter repeated, so a torn line shows up as mixed letters.
  auto body = [](int thread, int line) {
    return std::string(1000 + 37 * line % 9000, static_cast<char>('a' + thread));
  };
  testing::CapturedStderr captured;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &body] {
      for (int i = 0; i < kLines; ++i) {
        DPCNI_LOG(kInfo, absl::StrCat("t", t), i, " ", body(t, i));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<std::string> lines = Lines(captured.Stop());
  ASSERT_EQ(lines.size(), size_t{kThreads * kLines});
  std::map<std::pair<int, int>, int> seen;
  for (const std::string& line : lines) {
    int thread = -1;
    int index = -1;
    char body_start[2] = {};
    ASSERT_EQ(std::sscanf(line.c_str(), "info dpcni-test t%d: %d %1c", &thread, &index, body_start),
              3)
        << line.substr(0, 80);
    ASSERT_TRUE(thread >= 0 && thread < kThreads && index >= 0 && index < kLines)
        << line.substr(0, 80);
    const std::string expected =
        absl::StrFormat("info dpcni-test t%d: %d %s", thread, index, body(thread, index));
    ASSERT_EQ(line, expected) << "line " << thread << "/" << index << " is torn";
    ++seen[{thread, index}];
  }
  EXPECT_EQ(seen.size(), size_t{kThreads * kLines});
  for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key.first << "/" << key.second;
}

}  // namespace
}  // namespace dpcni
