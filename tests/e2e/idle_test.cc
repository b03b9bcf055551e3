// An idle node: the agent's worker blocks on its ports' Rx interrupts instead of polling, and the
// first packet after a silence still goes through. Every test prints the backend it ran on. The
// exact idle CPU and latency figures belong to bench/pods/idle.sh; here only what a user relies on
// is asserted: the agent does not busy-poll, and nothing is lost to its sleeping.
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

// utime + stime of a whole process (every thread), in seconds.
double CpuSeconds(pid_t pid) {
  std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  // Fields after the command name, which sits in parentheses and may hold spaces.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int index = 3; fields >> field; ++index) {
    if (index == 14) utime = std::stoull(field);
    if (index == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class IdleTest : public BackendNodeTest {};

TEST_P(IdleTest, AnIdleAgentWithPodsDoesNotBusyPoll) {
  // StrCat for GCC 12's false -Wrestrict at -O3 (see pod_network_test.cc).
  for (int i = 0; i < 6; ++i) node_->AddPod(absl::StrCat("p", i));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // ADD's own work settles

  const pid_t agent = node_->agent().pid();
  const double before = CpuSeconds(agent);
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  const double used = CpuSeconds(agent) - before;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double share = used / wall;
  std::cout << "backend=" << GetParam()
            << " idle agent with 6 pods and the host port: " << used * 1000 << " ms of CPU in "
            << wall << " s (" << share * 100 << " % of a core)" << std::endl;
  // A busy-polling worker holds a whole core (100 %). The bound is generous on purpose: the exact
  // figure is the benchmark's (bench/pods/idle.sh), not a timed test's.
  EXPECT_LT(share, 0.25);
}

TEST_P(IdleTest, TheFirstPacketAfterTwoSecondsOfSilenceIsForwarded) {
  Pod& a = node_->AddPod("a");
  Pod& b = node_->AddPod("b");
  ASSERT_TRUE(Ping(a.netns->name(), b.ip));  // neighbours known: what follows is one crossing each
  for (int round = 0; round < 3; ++round) {
    // Long enough that the worker has armed its ports and blocks (it does within a millisecond).
    std::this_thread::sleep_for(std::chrono::seconds(2));
    CommandResult ping = RunIn(a.netns->name(), {"ping", "-c", "1", "-W", "1", b.ip});
    EXPECT_EQ(ping.exit_code, 0) << "round " << round << ": " << ping.Describe();
    const size_t time = ping.out.find("time=");
    if (time != std::string::npos) {
      std::cout << "backend=" << GetParam() << " after 2 s of silence: "
                << ping.out.substr(time, ping.out.find('\n', time) - time) << std::endl;
    }
  }
  // And a pod whose peer answers from the other direction after a silence.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(Ping(b.netns->name(), a.ip));
}

INSTANTIATE_TEST_SUITE_P(Backends, IdleTest, testing::ValuesIn(Backends()), BackendTestName);

}  // namespace
}  // namespace dpcni::e2e
