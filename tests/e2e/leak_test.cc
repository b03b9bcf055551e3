// Pods come and go on a node for as long as it runs: each pod's ADD and DEL must give back all it
// took, or a node dies of its pod churn weeks later. N cycles (DPCNI_E2E_LEAK_CYCLES) of what the
// runtime does for a short-lived pod (a new netns, ADD, DEL, the netns deleted) must leave the
// agent and the node netns where they started: ports, open fds, mbufs in use, links, addresses,
// routes exactly, and the agent's RSS within a bound. Backend-independent: tap.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// One cycle took 71-91 ms here (four execs of ip and two of the plugin, the agent's tap made and
// removed), so the 1000 cycles fit the suite's budget (70 s, 2 CPUs shared).
// DPCNI_E2E_LEAK_CYCLES sets another number: fewer on a slow machine, more to hunt a small leak.
const size_t kCycles = SizeFromEnv("DPCNI_E2E_LEAK_CYCLES", 1000);
// First use allocates for good (gRPC's server threads and buffers, DPDK's first tap device, glibc's
// arenas of the threads that serve): the baseline is taken after these.
constexpr size_t kWarmUpCycles = 5;
// The agent's RSS may grow by this much per 1000 cycles (and by this much for fewer). Measured here
// (docs/testing.md): 360 kB over 1000 cycles, 536 kB over 3000, of which about 200 kB in the first
// 250 (allocators settling, we believe: not traced) and a steady creep of
// about 120 bytes a cycle after (not found yet). A leak of one page (4 KB) per pod is 4 MB per 1000
// cycles and fails this; smaller ones are for the trend printed every 250 cycles. The other figures
// are exact: a port, fd, mbuf, link or address that stays is a failure at once.
constexpr uint64_t kRssSlackKbPer1000Cycles = 1024;

class LeakTest : public NodeTest<> {
 protected:
  // A short-lived pod: its sandbox's netns, ADD, DEL, the netns removed. False (with a test
  // failure) when a call failed.
  bool Cycle(size_t index) {
    Pod pod;
    pod.name = absl::StrCat("leak", index);
    pod.container_id = absl::StrCat("ctr", ::getpid(), "leak", index);
    pod.netns = std::make_unique<Netns>(UniqueName("leak"));
    const CommandResult added = InvokePlugin(node_->Call("ADD", pod));
    EXPECT_EQ(added.exit_code, 0) << pod.name << ": " << added.Describe();
    const CommandResult deleted = InvokePlugin(node_->Call("DEL", pod));
    EXPECT_EQ(deleted.exit_code, 0) << pod.name << ": " << deleted.Describe();
    return added.exit_code == 0 && deleted.exit_code == 0;
  }
};

TEST_F(LeakTest, AddDelCyclesLeaveTheNodeWhereItStarted) {
  for (size_t i = 0; i < kWarmUpCycles; ++i) ASSERT_TRUE(Cycle(i));
  const NodeFootprint before = FootprintOf(*node_);
  ASSERT_EQ(before.pods, 0u);
  ASSERT_GT(before.agent_fds, 0u) << "cannot read the agent's /proc entry";
  ASSERT_GT(before.agent_rss_kb, 0u);

  const auto start = Clock::now();
  for (size_t i = kWarmUpCycles; i < kWarmUpCycles + kCycles; ++i) {
    ASSERT_TRUE(Cycle(i)) << "cycle " << i - kWarmUpCycles << " of " << kCycles;
    // The RSS along the way tells a leak (it climbs steadily) from an allocator's noise (it steps
    // up and down).
    if (const size_t done = i + 1 - kWarmUpCycles; done % 250 == 0 && done < kCycles) {
      std::cout << "after " << done << " cycles: agent RSS " << FootprintOf(*node_).agent_rss_kb
                << " kB" << std::endl;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // The plugin's gRPC connection ends when it exits; the agent closes its side a moment later.
  NodeFootprint after = FootprintOf(*node_);
  for (int poll = 0; poll < 50 && !FootprintDifferences(before, after).empty(); ++poll) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = FootprintOf(*node_);
  }
  EXPECT_EQ(FootprintDifferences(before, after), "") << "after " << kCycles << " ADD/DEL cycles";
  const int64_t rss_growth_kb =
      static_cast<int64_t>(after.agent_rss_kb) - static_cast<int64_t>(before.agent_rss_kb);
  const uint64_t rss_bound_kb = kRssSlackKbPer1000Cycles * std::max<size_t>(kCycles, 1000) / 1000;
  EXPECT_LT(rss_growth_kb, static_cast<int64_t>(rss_bound_kb))
      << "agent RSS " << before.agent_rss_kb << " kB -> " << after.agent_rss_kb << " kB, more than "
      << rss_bound_kb << " kB";

  std::cout << "backend=tap leak cycles=" << kCycles << " in " << seconds << " s ("
            << 1000 * seconds / kCycles << " ms each): agent RSS " << before.agent_rss_kb
            << " kB -> " << after.agent_rss_kb << " kB (" << rss_growth_kb << " kB), open fds "
            << before.agent_fds << " -> " << after.agent_fds << ", ports " << before.ports.size()
            << " -> " << after.ports.size() << ", mbufs in use " << before.mbufs_in_use << " -> "
            << after.mbufs_in_use << ", node links " << before.links.size() << " -> "
            << after.links.size() << ", addresses in use " << before.addresses_in_use << " -> "
            << after.addresses_in_use << std::endl;
}

}  // namespace
}  // namespace dpcni::e2e
