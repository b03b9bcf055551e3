// Crash consistency: the agent is killed (SIGKILL, through DPCNI_CRASH_POINT, common/crash_point.h)
// at each step of an ADD and of a DEL, then started again on the same state. Whatever the step,
// nothing is half made (a pod is either whole and listed, or absent with no interface left in its
// netns), a peer pod made before the crash still works, and the runtime's retried ADD or DEL
// succeeds and ends with an empty node. Backend-independent: tap.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

// The host port's address: the first of the harness's pod CIDR.
constexpr char kNodeAddress[] = "10.99.0.1";

// The kernel interfaces of a netns besides lo.
std::vector<std::string> Links(const std::string& netns) {
  CommandResult links = RunIn(netns, {"ip", "-o", "link", "show"});
  std::vector<std::string> names;
  for (size_t at = 0; at < links.out.size();) {
    const size_t end = links.out.find('\n', at);
    const std::string line = links.out.substr(at, end - at);
    at = end == std::string::npos ? links.out.size() : end + 1;
    // "2: eth0: <...>" or "2: eth0@if5: <...>"
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    std::string name = line.substr(colon + 2, line.find(':', colon + 2) - colon - 2);
    name = name.substr(0, name.find('@'));
    if (name != "lo") names.push_back(name);
  }
  return names;
}

class CrashPointTest : public NodeTest<testing::TestWithParam<std::string>> {
 protected:
  void SetUp() override {
    NodeTest::SetUp();
    if (HasFatalFailure()) return;
    std::string failure;
    peer_ = &node_->AddPod("peer");  // before the crash point is armed: its ADD passes them all
    node_->agent().Stop();
    node_->agent().set_env({{"DPCNI_CRASH_POINT", GetParam()}});
    ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
    node_links_ = Links(node_->netns().name());
    pod_.name = "victim";
    pod_.container_id = absl::StrCat("ctr", ::getpid(), "victim");
    pod_.netns = std::make_unique<Netns>(UniqueName("victim"));
  }

  void TearDown() override {
    pod_.netns.reset();
    NodeTest::TearDown();
  }

  // The agent died at the crash point; started again without it, on the same state.
  void ExpectCrashThenRestart() {
    ASSERT_TRUE(node_->agent().WaitForExit(std::chrono::seconds(10)))
        << "the agent did not die at " << GetParam();
    EXPECT_NE(node_->agent().Log().find("DPCNI_CRASH_POINT=" + GetParam()), std::string::npos);
    node_->agent().set_env({});
    std::string failure;
    ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  }

  // Nothing of the victim is left, on the node or in its netns, and the peer still answers.
  void ExpectVictimGone(const std::string& when) {
    const dpcni::v1::StatusResponse status = node_->Status();
    EXPECT_EQ(status.pods(), 1u) << when << ": only the peer is left";
    EXPECT_EQ(status.addresses_in_use(), 1u) << when << ": only the peer's address is held";
    EXPECT_TRUE(Links(pod_.netns->name()).empty()) << when << ": the victim's netns has a link";
    EXPECT_EQ(Links(node_->netns().name()), node_links_) << when;
  }

  Pod& Victim() { return pod_; }
  CommandResult Invoke(const std::string& command) {
    return InvokePlugin(node_->Call(command, pod_));
  }

  Pod* peer_ = nullptr;
  Pod pod_;
  std::vector<std::string> node_links_;
};

class AddCrashTest : public CrashPointTest {};
class DelCrashTest : public CrashPointTest {};

TEST_P(AddCrashTest, ARestartedAgentLeavesNothingHalfMadeAndTheRetriedAddWorks) {
  std::cout << "backend=tap crash point " << GetParam() << std::endl;
  const CommandResult crashed = Invoke("ADD");
  EXPECT_NE(crashed.exit_code, 0) << "the runtime cannot have had a result: " << crashed.Describe();
  ExpectCrashThenRestart();

  const dpcni::v1::StatusResponse status = node_->Status();
  const std::vector<std::string> victim_links = Links(pod_.netns->name());
  if (GetParam() == "add:recorded") {
    // Recorded whole before the reply was lost: restored like any pod, and the retry returns it.
    EXPECT_EQ(status.pods(), 2u);
    EXPECT_EQ(victim_links, std::vector<std::string>{"eth0"});
  } else {
    EXPECT_EQ(status.pods(), 1u) << "a half-made pod is listed";
    EXPECT_TRUE(victim_links.empty()) << "left in the victim's netns: " << victim_links.front();
    // Killed before its intent was on disk, the ADD may still hold its address, under its own
    // attachment key: the retried ADD takes it again, a DEL or GC frees it.
    EXPECT_LE(status.addresses_in_use(), GetParam() == "add:allocated" ? 2u : 1u);
  }
  EXPECT_TRUE(Ping(peer_->netns->name(), kNodeAddress)) << "the peer lost its network";

  const CommandResult retried = Invoke("ADD");
  ASSERT_EQ(retried.exit_code, 0) << retried.Describe();
  const nlohmann::json result = ParseOutput(retried);
  const std::string ip = result["ips"][0]["address"].get<std::string>();
  EXPECT_TRUE(Ping(pod_.netns->name(), peer_->ip)) << "retried pod at " << ip;

  const CommandResult deleted = Invoke("DEL");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  ExpectVictimGone("after the retried ADD and a DEL");
}

TEST_P(DelCrashTest, ARestartedAgentFinishesTheDelOrTheRetriedDelDoes) {
  std::cout << "backend=tap crash point " << GetParam() << std::endl;
  const CommandResult added = Invoke("ADD");
  ASSERT_EQ(added.exit_code, 0) << added.Describe();
  // The plugin answers a DEL the agent dropped either way: queued (success) or try again (11).
  const CommandResult crashed = Invoke("DEL");
  EXPECT_TRUE(crashed.exit_code == 0 || crashed.exit_code == 1) << crashed.Describe();
  ExpectCrashThenRestart();
  EXPECT_TRUE(Ping(peer_->netns->name(), kNodeAddress)) << "the peer lost its network";

  const CommandResult retried = Invoke("DEL");
  ASSERT_EQ(retried.exit_code, 0) << retried.Describe();
  ExpectVictimGone("after the retried DEL");
  // And the pod can come back in the same netns.
  const CommandResult again = Invoke("ADD");
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_TRUE(Ping(pod_.netns->name(), peer_->ip));
  ASSERT_EQ(Invoke("DEL").exit_code, 0);
}

std::string PointName(const testing::TestParamInfo<std::string>& info) {
  return absl::StrReplaceAll(info.param, {{":", "_"}, {"-", "_"}});
}

// The steps, in the order ADD and DEL pass them (pods/pod_manager.cc; docs/testing.md).
INSTANTIATE_TEST_SUITE_P(Steps, AddCrashTest,
                         testing::Values("add:allocated", "add:intent-saved", "add:port-created",
                                         "add:configured", "add:attached", "add:recorded"),
                         PointName);
INSTANTIATE_TEST_SUITE_P(Steps, DelCrashTest,
                         testing::Values("del:detached", "del:port-removed", "del:stopped",
                                         "del:released"),
                         PointName);

}  // namespace
}  // namespace dpcni::e2e
