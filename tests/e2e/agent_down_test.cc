// DEL never waits for the agent: while the agent is down, the plugin queues each DEL beside the
// agent's socket and answers success, so kubelet finishes deleting pods and containerd removes
// their sandboxes; the agent carries the queue out before it serves again. Backend-independent:
// tap.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/atomic_file.h"
#include "common/pending_deletes.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

// The host port's address in the node netns: the first of the default pod CIDR (10.99.0.0/24).
constexpr char kNodeAddress[] = "10.99.0.1";

class AgentDownTest : public NodeTest<> {
 protected:
  bool HasEth0(const Pod& pod) {
    return RunIn(pod.netns->name(), {"ip", "link", "show", "eth0"}).exit_code == 0;
  }

  std::string QueueDir() { return PendingDeletesDir(node_->agent().socket_path()); }

  size_t Queued() {
    size_t files = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(QueueDir(), ec)) {
      files += entry.path().extension() == ".del";
    }
    return files;
  }
};

TEST_F(AgentDownTest, DelsWhileTheAgentIsDownSucceedAndTakeEffectWhenItIsBack) {
  Pod& gone = node_->AddPod("gone");
  Pod& kept = node_->AddPod("kept");
  ASSERT_EQ(node_->Status().addresses_in_use(), 2u);
  node_->agent().Stop();

  // containerd's DEL, then its second DEL once the sandbox's netns is gone.
  CommandResult first = InvokePlugin(node_->Call("DEL", gone));
  EXPECT_EQ(first.exit_code, 0) << first.Describe();
  CniCall second = node_->Call("DEL", gone);
  second.netns_path = "";
  CommandResult again = InvokePlugin(second);
  EXPECT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_EQ(Queued(), 1u) << "one entry per attachment";
  EXPECT_TRUE(HasEth0(gone)) << "nothing is done before the agent is back";

  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  dpcni::v1::StatusResponse status = node_->Status();
  EXPECT_EQ(status.pods(), 1u);
  EXPECT_EQ(status.addresses_in_use(), 1u) << "the deleted pod's address is free";
  EXPECT_FALSE(HasEth0(gone)) << "its interface is gone";
  EXPECT_TRUE(HasEth0(kept));
  EXPECT_TRUE(Ping(kept.netns->name(), kNodeAddress)) << "the other pod still works";
  EXPECT_EQ(Queued(), 0u);
  EXPECT_NE(node_->agent().Log().find("1 applied"), std::string::npos) << node_->agent().Log();
}

TEST_F(AgentDownTest, QueuedDelOlderThanTheAttachmentIsNotApplied) {
  Pod& pod = node_->AddPod("readded");
  // A DEL queued before this attachment was made: a plugin that found the agent down for an earlier
  // attachment of the same container, and wrote its entry only after the agent was back.
  v1::QueuedDelete queued;
  queued.set_queued_unix_nanos(absl::ToUnixNanos(absl::Now() - absl::Minutes(1)));
  v1::Attachment& attachment = *queued.mutable_request()->mutable_attachment();
  attachment.set_container_id(pod.container_id);
  attachment.set_ifname("eth0");
  attachment.set_netns_path(pod.netns->path());
  ASSERT_TRUE(
      WriteFileAtomically(PendingDeletePath(node_->agent().socket_path(), pod.container_id, "eth0"),
                          queued.SerializeAsString())
          .ok());

  node_->agent().Stop();
  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  EXPECT_EQ(node_->Status().pods(), 1u);
  EXPECT_TRUE(HasEth0(pod));
  EXPECT_TRUE(Ping(pod.netns->name(), kNodeAddress));
  EXPECT_EQ(Queued(), 0u) << "a stale entry is dropped";
  EXPECT_NE(node_->agent().Log().find("1 stale"), std::string::npos) << node_->agent().Log();
}

}  // namespace
}  // namespace dpcni::e2e
