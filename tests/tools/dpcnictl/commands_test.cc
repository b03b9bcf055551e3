#include "tools/dpcnictl/commands.h"

#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <absl/strings/str_split.h>
#include <absl/time/clock.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/cni/testing/fake_agent.h"
#include "tests/tools/dpcnictl/dpcnictl_test_data.h"

namespace dpcni::dpcnictl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Serves KnownAgentState() and runs dpcnictl's commands against it.
class CommandsTest : public ::testing::Test {
 protected:
  // The lines `command` printed; fails the test if the command failed.
  std::vector<std::string> Lines(absl::string_view command) {
    std::ostringstream out;
    absl::Status status = RunCommand(command, server_.socket_path(), out);
    EXPECT_TRUE(status.ok()) << status;
    return absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  }

  testing::FakeAgent agent_{KnownAgentState()};
  testing::UnixSocketServer server_{agent_};
};

// Where `text` starts in `line`; npos when absent.
size_t ColumnOf(const std::string& line, const std::string& text) { return line.find(text); }

TEST_F(CommandsTest, StatusShowsReadinessCapacityAddressesCidrsMbufsAndNodePortLinks) {
  EXPECT_THAT(
      Lines("status"),
      ElementsAre("ready:           yes", "message:         serving", "pods:            2 of 30",
                  "addresses:       2 in use", "default backend: tap",
                  "pod CIDRs:       10.244.1.0/24, fd00:10:244:1::/64",
                  "mbufs:           503 in use of 25493", "remote routes:   2 nodes, 3 pod CIDRs",
                  "route sync:      stale, list 1m30.5s old: watch nodes: connection refused",
                  // The host port does not know its speed or driver; the uplink does.
                  "host port:       dpcni0 (port 1): up",
                  "uplink port:     0000:03:00.0 (port 0, net_ice): down, 25 Gbit/s"));
}

TEST(PrintStatus, SpeedsThatAreNotWholeGigabitsShowInMegabits) {
  v1::StatusResponse status;
  v1::PortLink* link = status.add_links();
  link->set_role("uplink");
  link->set_name("eth1");
  link->set_port_id(2);
  link->set_up(true);
  link->set_speed_mbps(100);
  std::ostringstream out;
  PrintStatus(status, out);
  EXPECT_THAT(out.str(), HasSubstr("uplink port:     eth1 (port 2): up, 100 Mbit/s\n"));
}

TEST_F(CommandsTest, NeighboursKeepTheAgentsOrderWithAges) {
  EXPECT_THAT(Lines("neighbours"),
              ElementsAre("IP             MAC                STATE           AGE",
                          "192.168.1.1    02:00:c0:a8:01:01  reachable      1.2s",
                          "192.168.1.20   -                  incomplete     40ms",
                          "192.168.1.254  02:00:c0:a8:01:fe  stale       3m12.5s"));
}

TEST_F(CommandsTest, FlowsShowTheTableCountersThenEachFlowByReplyPort) {
  std::vector<std::string> lines = Lines("flows");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "flow table: 2 of 65536 entries; 31 inserted, 1207 replies steered to the kernel, "
            "29 expired, 0 evicted, 0 not kept (full)");
  EXPECT_THAT(lines[1], ::testing::StartsWith("PROTO  REPLY FROM"));
  EXPECT_THAT(lines[2], ::testing::StartsWith("udp    10.244.1.2:53  "));
  EXPECT_THAT(lines[2], HasSubstr(" port 12 (kube-system/coredns-5d78c9869d-xk2lp)  replied "));
  EXPECT_THAT(lines[2], ::testing::EndsWith(" 300ms       3m"));
  EXPECT_THAT(lines[3], ::testing::StartsWith("tcp    10.244.1.7:8080"));
  EXPECT_THAT(lines[3], HasSubstr(" 192.168.1.20:41234 "));
  EXPECT_THAT(lines[3], ::testing::EndsWith(" 1.2s      24h"));
}

TEST(PrintFlows, SaysWhenFlowsAreNotTracked) {
  std::ostringstream out;
  PrintFlows(v1::ListFlowsResponse(), out);
  EXPECT_THAT(out.str(), HasSubstr("flow table: off (flow_table.size is 0)"));
}

TEST_F(CommandsTest, PodsAreATableSortedByPod) {
  std::vector<std::string> lines = Lines("pods");
  ASSERT_EQ(lines.size(), 3u);
  const std::string& header = lines[0];
  EXPECT_THAT(header, ::testing::StartsWith("POD"));
  // kube-system sorts before shop.
  EXPECT_THAT(lines[1], ::testing::StartsWith("kube-system/coredns-5d78c9869d-xk2lp"));
  EXPECT_THAT(lines[2], ::testing::StartsWith("shop/web-0"));
  // Container ids are shortened; a short one is shown whole.
  EXPECT_THAT(lines[2], HasSubstr(" 9d8c7b6a5f4e3 "));
  EXPECT_THAT(lines[2], Not(HasSubstr("9d8c7b6a5f4e3d")));
  EXPECT_THAT(lines[1], HasSubstr(" 1a2b3c4d "));
  // Each left-aligned value starts under its header.
  for (auto [column, web_value, dns_value] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"CONTAINER", "9d8c7b6a5f4e3", "1a2b3c4d"},
           {"IFNAME", "eth0", "eth0"},
           {"IP", "10.244.1.7/24,fd00:10:244:1::7/64", "10.244.1.2/24"},
           {"MAC", "02:00:0a:f4:01:07", "02:00:0a:f4:01:02"},
           {"BACKEND", "tap", "vhost-net"}}) {
    SCOPED_TRACE(column);
    size_t start = ColumnOf(header, column);
    ASSERT_NE(start, std::string::npos);
    EXPECT_EQ(lines[2].compare(start, web_value.size(), web_value), 0) << lines[2];
    EXPECT_EQ(lines[1].compare(start, dns_value.size(), dns_value), 0) << lines[1];
  }
  // PORT is right-aligned: the numbers end where the header ends.
  EXPECT_THAT(header, ::testing::EndsWith("PORT"));
  EXPECT_THAT(lines[1], ::testing::EndsWith(" 12"));
  EXPECT_THAT(lines[2], ::testing::EndsWith("  3"));
  EXPECT_EQ(lines[1].size(), header.size());
  EXPECT_EQ(lines[2].size(), header.size());
}

// A pod whose re-attach failed after an agent restart: no port, and why, below the table.
TEST(PrintPods, DegradedPodsShowNoPortAndWhyBelowTheTable) {
  v1::ListPodsResponse pods;
  v1::PodInfo* web = pods.add_pods();
  web->mutable_pod()->set_namespace_("shop");
  web->mutable_pod()->set_name("web-0");
  web->mutable_attachment()->set_ifname("eth0");
  web->set_port_id(0);
  web->set_degraded(true);
  web->set_attach_attempts(3);
  web->set_degraded_reason("create tap port net_tap4: Device or resource busy");
  v1::PodInfo* dns = pods.add_pods();
  dns->mutable_pod()->set_namespace_("kube-system");
  dns->mutable_pod()->set_name("coredns");
  dns->mutable_attachment()->set_ifname("eth0");
  dns->set_port_id(12);
  std::ostringstream out;
  PrintPods(pods, out);
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << out.str();
  EXPECT_THAT(lines[1], ::testing::EndsWith(" 12"));
  EXPECT_THAT(lines[2], ::testing::StartsWith("shop/web-0"));
  EXPECT_THAT(lines[2], ::testing::EndsWith("  -"));
  EXPECT_THAT(lines[3], ::testing::StartsWith("degraded: not attached to the dataplane"));
  EXPECT_EQ(lines[4],
            "  shop/web-0 eth0: 3 failed attempts, the last: create tap port net_tap4: Device or "
            "resource busy");
}

TEST(PrintStatus, CountsDegradedPodsOnlyWhenThereAreAny) {
  v1::StatusResponse status;
  status.set_pods(2);
  status.set_pod_capacity(30);
  std::ostringstream healthy;
  PrintStatus(status, healthy);
  EXPECT_THAT(healthy.str(), HasSubstr("pods:            2 of 30\n"));
  status.set_pods_degraded(1);
  std::ostringstream degraded;
  PrintStatus(status, degraded);
  EXPECT_THAT(degraded.str(),
              HasSubstr("pods:            2 of 30, 1 degraded (not attached: dpcnictl pods says "
                        "why)\n"));
}

TEST_F(CommandsTest, PortsShowCountersDropsByReasonAndEvents) {
  std::vector<std::string> lines = Lines("ports");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0],
            "PORT  NAME        BACKEND    RX PACKETS   RX BYTES  TX PACKETS   TX BYTES  "
            "DROPS                      EVENTS");
  EXPECT_EQ(lines[1],
            "   0  uplink      af_packet     1234567  987654321     7654321  123456789  "
            "no_route=17 ttl_expired=2  arp_replies=4 to_node=9");
  EXPECT_EQ(lines[2],
            "   3  shop/web-0  tap                42       4200          40       3900  "
            "-                          -");
}

TEST_F(CommandsTest, RoutesKeepTheAgentsOrderAndNameTheNodeAndModeOfRemoteOnes) {
  EXPECT_THAT(Lines("routes"),
              ElementsAre("PREFIX         NEXT HOP                               NODE    MODE",
                          "10.244.1.7/32  port 3 (shop/web-0)                    -       -",
                          "10.244.2.0/24  192.168.1.12 on port 0 (uplink)        node-2  host-gw",
                          "10.244.3.0/24  vxlan to 10.0.3.13 on port 0 (uplink)  node-3  vxlan",
                          "0.0.0.0/0      port 0 (uplink)                        -       -"));
}

TEST(PrintStatus, RouteSyncSaysWhenNoListCameAndWhenTheAgentPredatesIt) {
  v1::StatusResponse status;
  std::ostringstream older;
  PrintStatus(status, older);
  EXPECT_THAT(older.str(), HasSubstr("route sync:      -\n"));
  status.mutable_route_sync()->set_state("unset");
  std::ostringstream unset;
  PrintStatus(status, unset);
  EXPECT_THAT(unset.str(), HasSubstr("remote routes:   0 nodes, 0 pod CIDRs\n"));
  EXPECT_THAT(unset.str(), HasSubstr("route sync:      unset (no node list yet)\n"));
  status.mutable_route_sync()->set_state("in-sync");
  status.mutable_route_sync()->set_age_ms(1200);
  std::ostringstream in_sync;
  PrintStatus(status, in_sync);
  EXPECT_THAT(in_sync.str(), HasSubstr("route sync:      in-sync, list 1.2s old\n"));
}

TEST_F(CommandsTest, AgentErrorsNameTheMethodAndSocket) {
  agent_.FailWith(grpc::Status(grpc::StatusCode::INTERNAL, "route table is being rebuilt"));
  std::ostringstream out;
  absl::Status status = RunCommand("routes", server_.socket_path(), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()), HasSubstr("ListRoutes"));
  EXPECT_THAT(std::string(status.message()), HasSubstr(server_.socket_path()));
  EXPECT_THAT(std::string(status.message()), HasSubstr("route table is being rebuilt"));
  EXPECT_EQ(out.str(), "");
}

TEST(RunCommand, UnreachableAgentIsUnavailableNamingTheSocket) {
  testing::TemporaryDirectory directory;
  std::string socket = (directory.path() / "agent.sock").string();
  std::ostringstream out;
  absl::Status status = RunCommand("pods", socket, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot reach dpcni-agent at " + socket));
}

TEST(RunCommand, UnknownCommandIsInvalidArgument) {
  std::ostringstream out;
  absl::Status status = RunCommand("frobnicate", "/nonexistent.sock", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("frobnicate"));
}

// An agent that answers Status, not ready, and refuses the rest as the real one does while it waits
// for its pod CIDRs.
class WaitingAgent final : public v1::Agent::Service {
 public:
  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                      v1::StatusResponse* response) override {
    response->set_ready(false);
    response->set_message("waiting for the node's pod CIDRs (SetPodCidrs)");
    response->set_pod_capacity(110);
    return grpc::Status::OK;
  }
  grpc::Status ListPods(grpc::ServerContext*, const v1::ListPodsRequest*,
                        v1::ListPodsResponse*) override {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "dpcni-agent is not ready: waiting");
  }
};

TEST(RunCommand, AnAgentThatIsNotReadySaysWhatItWaitsFor) {
  WaitingAgent agent;
  testing::UnixSocketServer server(agent);
  std::ostringstream out;
  EXPECT_TRUE(RunCommand("status", server.socket_path(), out).ok());
  EXPECT_THAT(out.str(), HasSubstr("ready:           no\n"));
  EXPECT_THAT(out.str(), HasSubstr("message:         waiting for the node's pod CIDRs"));
  out.str("");
  absl::Status pods = RunCommand("pods", server.socket_path(), out);
  EXPECT_EQ(pods.code(), absl::StatusCode::kFailedPrecondition) << pods;
  EXPECT_THAT(std::string(pods.message()),
              HasSubstr("dpcni-agent at " + server.socket_path() +
                        " is not ready: waiting for the node's pod CIDRs"));
  EXPECT_EQ(out.str(), "");
}

TEST_F(CommandsTest, ProbesPassOnAReadyAgent) {
  for (const char* kind : {"live", "ready"}) {
    std::ostringstream out;
    absl::Status status = RunProbe(kind, server_.socket_path(), out);
    EXPECT_TRUE(status.ok()) << kind << ": " << status;
    EXPECT_EQ(out.str(),
              std::string(kind) +
                  (std::string(kind) == "live" ? ": dpcni-agent answers\n" : ": serving\n"));
  }
}

TEST(RunProbe, AnAgentWaitingForItsPodCidrsIsLiveButNotReady) {
  WaitingAgent agent;
  testing::UnixSocketServer server(agent);
  std::ostringstream out;
  EXPECT_TRUE(RunProbe("live", server.socket_path(), out).ok());
  EXPECT_THAT(out.str(), HasSubstr("live: dpcni-agent answers (not ready: waiting for"));
  out.str("");
  absl::Status ready = RunProbe("ready", server.socket_path(), out);
  EXPECT_FALSE(ready.ok());
  EXPECT_EQ(std::string(ready.message()),
            "dpcni-agent is not ready: waiting for the node's pod CIDRs (SetPodCidrs)");
  EXPECT_EQ(out.str(), "");
}

TEST(RunProbe, AnAbsentOrHungAgentFailsBothOnOneLineWithinTheDeadline) {
  testing::TemporaryDirectory directory;
  const std::string socket = (directory.path() / "agent.sock").string();
  for (const char* kind : {"live", "ready"}) {
    std::ostringstream out;
    absl::Status status = RunProbe(kind, socket, out);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("cannot reach dpcni-agent at " + socket));
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("\n")));
  }
  testing::FakeAgent hung(KnownAgentState());
  hung.HangUntilCancelled();
  testing::UnixSocketServer server(hung);
  std::ostringstream out;
  const absl::Time start = absl::Now();
  absl::Status status = RunProbe("live", server.socket_path(), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_LT(absl::Now() - start, kProbeDeadline + absl::Seconds(2));
}

TEST(RunProbe, UnknownKindIsInvalidArgument) {
  std::ostringstream out;
  absl::Status status = RunProbe("startup", "/nonexistent.sock", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("startup"));
}

}  // namespace
}  // namespace dpcni::dpcnictl
