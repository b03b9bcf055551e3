// The node and the outside world: a "node" netns runs the agent with an af_packet uplink on a veth
// whose peer sits in an "outside" netns (a host on the uplink network with a route back to the pod
// CIDR), and the host port dpcni0 joins the node's own kernel to its pods. Every test prints the
// backend its pod ports and host port ran on.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "harness.h"

namespace dpcni::e2e {
namespace {

constexpr char kOutsideIp[] = "192.168.77.1";
constexpr char kUplinkIp[] = "192.168.77.2";
constexpr char kNodeOnlyIp[] = "192.0.2.1";  // on the node's loopback: only its kernel knows it

std::string UplinkYaml(const std::string& interface) {
  return "uplink:\n  type: af_packet\n  interface: " + interface + "\n  address: " + kUplinkIp +
         "/24\n";
}

// Sets `command` up inside `netns`, failing the test with its output when it does not succeed.
void MustRun(const std::string& netns, const std::vector<std::string>& command) {
  CommandResult result = RunIn(netns, command);
  ASSERT_EQ(result.exit_code, 0) << netns << ": " << result.Describe();
}

class NodeNetworkTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::cout << "backend=" << GetParam() << " uplink=af_packet" << std::endl;
    RecordProperty("backend", GetParam());
    AgentOptions options;
    options.backend = GetParam();
    options.extra_yaml = UplinkYaml("up0");
    node_ = std::make_unique<TestNode>(options);
    outside_ = std::make_unique<Netns>(UniqueName("outside"));
    const std::string node = node_->netns().name();
    const std::string outside = outside_->name();

    // The node forwards like a Kubernetes node, and has an address only its kernel knows.
    MustRun(node, {"sysctl", "-qw", "net.ipv4.ip_forward=1"});
    MustRun(node, {"ip", "addr", "add", std::string(kNodeOnlyIp) + "/32", "dev", "lo"});
    // The uplink: a veth whose node end DPDK reads through af_packet. The node's kernel must not
    // also forward what arrives there (af_packet leaves the frames to the kernel too).
    MustRun(node,
            {"ip", "link", "add", "up0", "type", "veth", "peer", "name", "out0", "netns", outside});
    MustRun(node, {"sysctl", "-qw", "net.ipv4.conf.up0.forwarding=0"});
    MustRun(node, {"ip", "link", "set", "up0", "up"});
    MustRun(outside, {"ip", "addr", "add", std::string(kOutsideIp) + "/24", "dev", "out0"});
    MustRun(outside, {"ip", "link", "set", "out0", "up"});
    MustRun(outside, {"ip", "route", "add", "10.99.0.0/24", "via", kUplinkIp});
    // A veth hands af_packet partial checksums; a real NIC does not (docs/testing.md).
    MustRun(outside,
            {"ethtool", "-K", "out0", "tx", "off", "tso", "off", "gso", "off", "sg", "off"});

    std::string failure;
    ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  }

  void TearDown() override {
    if (HasFailure() && node_) std::cout << "agent log:\n" << node_->agent().Log() << std::endl;
    node_.reset();
    outside_.reset();
  }

  dpcni::v1::PortStats PortNamed(const std::string& prefix) {
    grpc::ClientContext context;
    dpcni::v1::GetPortStatsResponse response;
    EXPECT_TRUE(node_->agent().api().GetPortStats(&context, {}, &response).ok());
    for (const auto& port : response.ports()) {
      if (port.name().rfind(prefix, 0) == 0) return port;
    }
    ADD_FAILURE() << "no port named " << prefix << "…";
    return {};
  }

  std::unique_ptr<TestNode> node_;
  std::unique_ptr<Netns> outside_;
};

TEST_P(NodeNetworkTest, NodeReachesEveryPodThroughTheHostPort) {
  Pod& a = node_->AddPod("a");
  Pod& b = node_->AddPod("b");
  const uint64_t host_rx_before = PortNamed("host").rx_packets();
  EXPECT_TRUE(Ping(node_->netns().name(), a.ip));
  EXPECT_TRUE(Ping(node_->netns().name(), b.ip));
  EXPECT_GE(PortNamed("host").rx_packets() - host_rx_before, 6u);
}

TEST_P(NodeNetworkTest, PodReachesWhatOnlyTheNodesKernelKnows) {
  Pod& a = node_->AddPod("a");
  const uint64_t host_tx_before = PortNamed("host").tx_packets();
  EXPECT_TRUE(Ping(a.netns->name(), kNodeOnlyIp));
  EXPECT_GE(PortNamed("host").tx_packets() - host_tx_before, 3u);
}

TEST_P(NodeNetworkTest, PodTalksToTheOutsideHostThroughTheUplink) {
  Pod& a = node_->AddPod("a");
  const uint64_t uplink_tx_before = PortNamed("uplink").tx_bytes();
  EXPECT_TRUE(Ping(a.netns->name(), kOutsideIp));
  // The dataplane asked for the outside host's MAC, and says so in the uplink's events.
  const auto uplink_events = PortNamed("uplink").events();
  EXPECT_GE(uplink_events.count("arp_requests") ? uplink_events.at("arp_requests") : 0, 1u);
  const auto report = Iperf(a.netns->name(), outside_->name(), kOutsideIp, 3);
  ASSERT_FALSE(report.is_discarded());
  std::cout << "backend=" << GetParam() << " iperf3 pod->outside " << Gbps(report) << " Gbit/s"
            << std::endl;
  EXPECT_GE(PortNamed("uplink").tx_bytes() - uplink_tx_before,
            static_cast<uint64_t>(report["end"]["sum_received"]["bytes"].get<double>()));
  // Nothing oversized or with a partial checksum left the uplink.
  CommandResult errors = RunIn(outside_->name(), {"nstat", "-az", "TcpInCsumErrors"});
  ASSERT_EQ(errors.exit_code, 0) << errors.Describe();
  ASSERT_NE(errors.out.find("TcpInCsumErrors"), std::string::npos) << errors.out;
  std::istringstream fields(errors.out.substr(errors.out.find("TcpInCsumErrors")));
  std::string name;
  uint64_t checksum_errors = 1;
  fields >> name >> checksum_errors;
  EXPECT_EQ(checksum_errors, 0u) << errors.out;
}

TEST_P(NodeNetworkTest, TheUplinkRefusesSourcesInTheNodesPodCidr) {
  Pod& a = node_->AddPod("a");
  ASSERT_TRUE(Ping(outside_->name(), a.ip));
  // The outside host claims an address of the node's pod CIDR (10.99.0.0/24).
  MustRun(outside_->name(), {"ip", "addr", "add", "10.99.0.200/32", "dev", "lo"});
  EXPECT_FALSE(Ping(outside_->name(), a.ip, "10.99.0.200"));
  const auto drops = PortNamed("uplink").drops();
  ASSERT_TRUE(drops.contains("uplink_spoofed_source")) << PortNamed("uplink").DebugString();
  EXPECT_GE(drops.at("uplink_spoofed_source"), 3u);
  EXPECT_TRUE(Ping(outside_->name(), a.ip));  // its own address still works
}

// af_packet reads a frame after the kernel's GRO has merged it with its neighbours: a merged TCP
// segment of up to 64 KiB would not fit the ring's 2 KiB slots. The agent turns GRO off on the
// interface it takes (a real NIC has it on by default; a veth only when asked, as here).
TEST_P(NodeNetworkTest, TheAgentTurnsGroOffOnItsAfPacketUplinkAndBulkTcpComesIn) {
  node_->agent().Stop();
  MustRun(node_->netns().name(), {"ethtool", "-K", "up0", "gro", "on"});
  CommandResult features = RunIn(node_->netns().name(), {"ethtool", "-k", "up0"});
  ASSERT_NE(features.out.find("generic-receive-offload: on"), std::string::npos) << features.out;
  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  features = RunIn(node_->netns().name(), {"ethtool", "-k", "up0"});
  EXPECT_NE(features.out.find("generic-receive-offload: off"), std::string::npos) << features.out;
  EXPECT_NE(node_->agent().Log().find("turned GRO off on up0"), std::string::npos)
      << node_->agent().Log();

  // Bulk TCP from the outside host into a pod: full-sized segments that GRO would have merged.
  Pod& a = node_->AddPod("a");
  const auto report = Iperf(outside_->name(), a.netns->name(), a.ip, 3);
  ASSERT_FALSE(report.is_discarded());
  std::cout << "backend=" << GetParam() << " iperf3 outside->pod " << Gbps(report) << " Gbit/s"
            << std::endl;
  const auto drops = PortNamed("uplink").drops();
  EXPECT_FALSE(drops.contains("malformed") && drops.at("malformed") > 0)
      << PortNamed("uplink").DebugString();
}

TEST_P(NodeNetworkTest, MasqueradeRuleLivesAsLongAsTheAgent) {
  CommandResult running = RunIn(node_->netns().name(), {"nft", "list", "table", "ip", "dpcni"});
  ASSERT_EQ(running.exit_code, 0) << running.Describe();
  EXPECT_NE(running.out.find("masquerade"), std::string::npos) << running.out;
  EXPECT_NE(running.out.find("10.99.0.0/24"), std::string::npos) << running.out;
  node_->agent().Stop();
  EXPECT_NE(RunIn(node_->netns().name(), {"nft", "list", "table", "ip", "dpcni"}).exit_code, 0);
}

TEST_P(NodeNetworkTest, MissingUplinkInterfaceFailsStartWithItsName) {
  AgentOptions options;
  options.backend = GetParam();
  options.extra_yaml = UplinkYaml("nosuch0");
  TestNode broken(options);
  std::string failure;
  EXPECT_FALSE(broken.agent().Start(&failure));
  EXPECT_NE(failure.find("nosuch0"), std::string::npos) << failure;
}

INSTANTIATE_TEST_SUITE_P(Backends, NodeNetworkTest, testing::ValuesIn(Backends()), BackendTestName);

}  // namespace
}  // namespace dpcni::e2e
