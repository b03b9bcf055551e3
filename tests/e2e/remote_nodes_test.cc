// Two nodes, one pod network: each node is a netns running its own agent with an af_packet uplink,
// the uplinks meet in a fabric netns (a bridge for host-gw; a router between two subnets for
// VXLAN), and each agent is told of the other with SetRemoteNodes, as dpcni-k8s does from the Node
// objects. Pods on different nodes ping both ways and talk TCP without NAT; withdrawing a node cuts
// it off and re-adding it restores it; a restarted agent routes the recorded list before anyone
// sends it again; spoofed VXLAN from the fabric is dropped and counted. A third variant has no
// uplink: the agent puts `podCIDR via nodeIP` routes in its node's kernel. Every namespace is the
// test's own and goes with it, also when an assertion fails midway.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace dpcni::e2e {
namespace {

constexpr char kEcho[] = DPCNI_TEST_ECHO_PATH;
constexpr char kCidr1[] = "10.81.0.0/24";
constexpr char kCidr2[] = "10.82.0.0/24";

struct NodeEntry {
  std::string name;
  std::string address;
  std::vector<std::string> pod_cidrs;
};

grpc::Status SetRemoteNodes(Agent& agent, const std::vector<NodeEntry>& nodes,
                            dpcni::v1::SetRemoteNodesResponse* response = nullptr) {
  dpcni::v1::SetRemoteNodesRequest request;
  for (const NodeEntry& node : nodes) {
    dpcni::v1::RemoteNode* entry = request.add_nodes();
    entry->set_name(node.name);
    entry->set_address(node.address);
    for (const std::string& cidr : node.pod_cidrs) entry->add_pod_cidrs(cidr);
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  dpcni::v1::SetRemoteNodesResponse ignored;
  return agent.api().SetRemoteNodes(&context, request, response ? response : &ignored);
}

// The agent's remote routes as "prefix node mode".
std::vector<std::string> RemoteRoutes(Agent& agent) {
  grpc::ClientContext context;
  dpcni::v1::ListRoutesResponse response;
  EXPECT_TRUE(agent.api().ListRoutes(&context, {}, &response).ok());
  std::vector<std::string> routes;
  for (const auto& route : response.routes()) {
    if (!route.node().empty())
      routes.push_back(route.prefix() + " " + route.node() + " " + route.mode());
  }
  return routes;
}

void MustRun(const std::string& netns, const std::vector<std::string>& command) {
  CommandResult result = RunIn(netns, command);
  ASSERT_EQ(result.exit_code, 0) << netns << ": " << result.Describe();
}

dpcni::v1::PortStats UplinkStats(Agent& agent) {
  grpc::ClientContext context;
  dpcni::v1::GetPortStatsResponse response;
  EXPECT_TRUE(agent.api().GetPortStats(&context, {}, &response).ok());
  for (const auto& port : response.ports()) {
    if (port.name().rfind("uplink", 0) == 0) return port;
  }
  ADD_FAILURE() << "no uplink port";
  return {};
}

uint64_t CountOf(const google::protobuf::Map<std::string, uint64_t>& counts,
                 const std::string& name) {
  auto found = counts.find(name);
  return found == counts.end() ? 0 : found->second;
}

// Sends `count` VXLAN packets from the fabric netns as if from `outer_source` (a node's address, on
// a transparent socket), carrying an ICMP echo from `inner_source` to `inner_destination`.
// Python's standard library only: the outer headers are the kernel's, the inner ones built here.
constexpr char kSpoofer[] = R"(
import socket, struct, sys
outer_src, outer_dst, port, vni, inner_src, inner_dst, count = sys.argv[1:8]
def csum(data):
    if len(data) % 2: data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff)
    total += total >> 16
    return ~total & 0xffff
icmp = struct.pack('!BBHHH', 8, 0, 0, 0x5a5a, 1) + b'spoofed from the fabric!'
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 1, 0x4000, 64, 1, 0,
                 socket.inet_aton(inner_src), socket.inet_aton(inner_dst))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
ethernet = bytes.fromhex('02dc00000001' '02dc00000002' '0800')
vxlan = struct.pack('!II', 0x08000000, int(vni) << 8)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT: send from an address the fabric lacks
sock.bind((outer_src, 40123))
for _ in range(int(count)):
    sock.sendto(vxlan + ethernet + ip + icmp, (outer_dst, int(port)))
)";

class RemoteNodesTest : public testing::TestWithParam<std::string> {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (TestNode* node : {node1_.get(), node2_.get()}) {
        if (node)
          std::cout << node->netns().name() << " agent log:\n" << node->agent().Log() << std::endl;
      }
    }
    node1_.reset();
    node2_.reset();
    fabric_.reset();
  }

  // Two nodes whose uplinks are veths into the fabric netns. `routed`: the fabric is a router
  // between 192.168.81.0/24 and 192.168.82.0/24 (ip_forward there only); else a bridge on
  // 192.168.80.0/24.
  void SetUpNodes(bool routed) {
    std::cout << "backend=" << GetParam()
              << " uplink=af_packet fabric=" << (routed ? "router" : "bridge") << std::endl;
    fabric_ = std::make_unique<Netns>(UniqueName(routed ? "router" : "fabric"));
    const std::string fabric = fabric_->name();
    if (routed) {
      MustRun(fabric, {"sysctl", "-qw", "net.ipv4.ip_forward=1"});
    } else {
      MustRun(fabric, {"ip", "link", "add", "br0", "type", "bridge"});
      MustRun(fabric, {"ip", "link", "set", "br0", "up"});
    }
    for (int i : {1, 2}) {
      const std::string n = std::to_string(i);
      address_[i] = routed ? "192.168.8" + n + ".1" : "192.168.80." + n;
      std::string uplink =
          "uplink:\n  type: af_packet\n  interface: up0\n  address: " + address_[i] + "/24\n";
      if (routed) {
        // The other subnet is reached through the router: a static uplink route.
        const std::string other = i == 1 ? "2" : "1";
        uplink +=
            "  routes:\n  - {dst: 192.168.8" + other + ".0/24, via: 192.168.8" + n + ".254}\n";
      }
      AgentOptions options;
      options.backend = GetParam();
      options.pod_cidr = i == 1 ? kCidr1 : kCidr2;
      // VXLAN's 50 bytes must fit in the fabric's 1500.
      options.extra_yaml =
          uplink + "cluster_cidrs: [10.80.0.0/12]\n" + (routed ? "pod_mtu: 1450\n" : "");
      auto& node = i == 1 ? node1_ : node2_;
      // Named apart: two nodes of one name would share one netns name, and a restarted agent
      // would start in the other node.
      node = std::make_unique<TestNode>(options, "node" + n);
      const std::string ns = node->netns().name();
      const std::string peer = "f" + n;
      MustRun(ns,
              {"ip", "link", "add", "up0", "type", "veth", "peer", "name", peer, "netns", fabric});
      MustRun(ns, {"sysctl", "-qw", "net.ipv4.conf.up0.forwarding=0"});
      MustRun(ns, {"ip", "link", "set", "up0", "up"});
      if (routed) {
        MustRun(fabric, {"ip", "addr", "add", "192.168.8" + n + ".254/24", "dev", peer});
      } else {
        MustRun(fabric, {"ip", "link", "set", peer, "master", "br0"});
      }
      MustRun(fabric, {"ip", "link", "set", peer, "up"});
      // What the fabric's kernel sends itself (the spoofer's packets) must leave with whole
      // checksums: af_packet on the other end takes frames as they are (docs/testing.md).
      MustRun(fabric,
              {"ethtool", "-K", peer, "tx", "off", "tso", "off", "gso", "off", "sg", "off"});
      std::string failure;
      ASSERT_TRUE(node->agent().Start(&failure)) << failure;
    }
  }

  void TellEachOther() {
    grpc::Status to1 = SetRemoteNodes(node1_->agent(), {{"node-2", address_[2], {kCidr2}}});
    ASSERT_TRUE(to1.ok()) << to1.error_message();
    grpc::Status to2 = SetRemoteNodes(node2_->agent(), {{"node-1", address_[1], {kCidr1}}});
    ASSERT_TRUE(to2.ok()) << to2.error_message();
  }

  // Ping both ways, request/replies that show the client's own address (no NAT between pods), and
  // a bulk TCP transfer.
  void ExpectCrossNodeTraffic(Pod& a, Pod& b) {
    EXPECT_TRUE(Ping(a.netns->name(), b.ip)) << a.name << " -> " << b.name;
    EXPECT_TRUE(Ping(b.netns->name(), a.ip)) << b.name << " -> " << a.name;
    Background server({"ip", "netns", "exec", b.netns->name(), kEcho, "serve", "--tcp", "8080"});
    ASSERT_TRUE(server.WaitForOutput("serving")) << server.Describe();
    CommandResult echoed = RunIn(a.netns->name(), {kEcho, "tcp", b.ip, "8080", "--count", "20"});
    EXPECT_EQ(echoed.exit_code, 0) << echoed.Describe();
    EXPECT_NE(echoed.out.find("peer=" + a.ip + ":"), std::string::npos) << echoed.out;
    const auto report = Iperf(a.netns->name(), b.netns->name(), b.ip, 2);
    ASSERT_FALSE(report.is_discarded());
    std::cout << "backend=" << GetParam() << " iperf3 " << a.name << "->" << b.name << " "
              << Gbps(report) << " Gbit/s" << std::endl;
    // iperf3 reports a transfer that moved nothing as well: the bytes must have crossed.
    EXPECT_GT(report["end"]["sum_received"]["bytes"].get<double>(), 1e6) << report.dump();
  }

  // Withdrawing node 2 from node 1 cuts node 1's pods off from it; sending it again restores.
  void ExpectWithdrawAndReAdd(Pod& a, Pod& b, const std::string& mode) {
    dpcni::v1::SetRemoteNodesResponse response;
    grpc::Status withdrawn = SetRemoteNodes(node1_->agent(), {}, &response);
    ASSERT_TRUE(withdrawn.ok()) << withdrawn.error_message();
    EXPECT_EQ(response.prefixes(), 0u);
    EXPECT_TRUE(RemoteRoutes(node1_->agent()).empty());
    EXPECT_FALSE(Ping(a.netns->name(), b.ip)) << "node-2 withdrawn, yet its pod answers";
    ASSERT_TRUE(
        SetRemoteNodes(node1_->agent(), {{"node-2", address_[2], {kCidr2}}}, &response).ok());
    EXPECT_EQ(response.nodes(), 1u);
    EXPECT_EQ(response.prefixes(), 1u);
    EXPECT_EQ(RemoteRoutes(node1_->agent()),
              std::vector<std::string>{std::string(kCidr2) + " node-2 " + mode});
    EXPECT_TRUE(Ping(a.netns->name(), b.ip));
  }

  // A restarted agent 1 routes node 2 from its record before any SetRemoteNodes, and says the
  // list is not confirmed yet.
  void ExpectRestartRestores(Pod& a, Pod& b, const std::string& mode) {
    node1_->agent().Stop();
    std::string failure;
    ASSERT_TRUE(node1_->agent().Start(&failure)) << failure;
    const auto sync = node1_->Status().route_sync();
    EXPECT_EQ(sync.state(), "stale");
    EXPECT_NE(sync.message().find("restored from"), std::string::npos) << sync.message();
    EXPECT_EQ(sync.prefixes(), 1u);
    EXPECT_EQ(RemoteRoutes(node1_->agent()),
              std::vector<std::string>{std::string(kCidr2) + " node-2 " + mode});
    EXPECT_TRUE(Ping(a.netns->name(), b.ip));
    EXPECT_TRUE(Ping(b.netns->name(), a.ip));
  }

  std::unique_ptr<Netns> fabric_;
  std::unique_ptr<TestNode> node1_;
  std::unique_ptr<TestNode> node2_;
  std::string address_[3];
};

TEST_P(RemoteNodesTest, HostGwBetweenNodesOnOneNetwork) {
  ASSERT_NO_FATAL_FAILURE(SetUpNodes(/*routed=*/false));
  ASSERT_NO_FATAL_FAILURE(TellEachOther());
  EXPECT_EQ(RemoteRoutes(node1_->agent()),
            std::vector<std::string>{std::string(kCidr2) + " node-2 host-gw"});
  EXPECT_EQ(node1_->Status().route_sync().state(), "in-sync");
  Pod& a = node1_->AddPod("a");
  Pod& b = node2_->AddPod("b");
  ASSERT_FALSE(a.ip.empty());
  ASSERT_FALSE(b.ip.empty());
  ExpectCrossNodeTraffic(a, b);
  // host-gw: nothing was encapsulated.
  EXPECT_EQ(CountOf(UplinkStats(node1_->agent()).events(), "vxlan_encapsulated"), 0u);
  ExpectWithdrawAndReAdd(a, b, "host-gw");
  ExpectRestartRestores(a, b, "host-gw");
}

TEST_P(RemoteNodesTest, VxlanBetweenNodesInTwoSubnets) {
  ASSERT_NO_FATAL_FAILURE(SetUpNodes(/*routed=*/true));
  ASSERT_NO_FATAL_FAILURE(TellEachOther());
  // mode auto: the other node is off the uplink's network.
  EXPECT_EQ(RemoteRoutes(node1_->agent()),
            std::vector<std::string>{std::string(kCidr2) + " node-2 vxlan"});
  Pod& a = node1_->AddPod("a");
  Pod& b = node2_->AddPod("b");
  ASSERT_FALSE(a.ip.empty());
  ASSERT_FALSE(b.ip.empty());
  ExpectCrossNodeTraffic(a, b);
  const auto uplink = UplinkStats(node1_->agent());
  EXPECT_GT(CountOf(uplink.events(), "vxlan_encapsulated"), 0u);
  EXPECT_GT(CountOf(uplink.events(), "vxlan_decapsulated"), 0u);

  // From the fabric, as if from node 2, but with an inner source outside node 2's pod CIDR.
  const uint64_t spoofed_before =
      CountOf(UplinkStats(node1_->agent()).drops(), "vxlan_spoofed_source");
  CommandResult sent = RunIn(fabric_->name(), {"python3", "-c", kSpoofer, address_[2], address_[1],
                                               "4789", "1", "10.99.9.9", a.ip, "5"});
  ASSERT_EQ(sent.exit_code, 0) << sent.Describe();
  uint64_t spoofed = 0;
  for (int attempt = 0; attempt < 50 && spoofed < 5; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    spoofed =
        CountOf(UplinkStats(node1_->agent()).drops(), "vxlan_spoofed_source") - spoofed_before;
  }
  EXPECT_EQ(spoofed, 5u) << "drops: " << UplinkStats(node1_->agent()).DebugString();

  ExpectWithdrawAndReAdd(a, b, "vxlan");
  ExpectRestartRestores(a, b, "vxlan");
}

INSTANTIATE_TEST_SUITE_P(Backends, RemoteNodesTest, testing::ValuesIn(Backends()), BackendTestName);

// No DPDK uplink: the other nodes' pod CIDRs go to the host port, and the agent routes them in its
// node's kernel via the nodes' addresses. A peer netns stands in for node 2 on the node network.
TEST(RemoteNodesWithoutUplinkTest, KernelRoutesComeGoAndNeverTouchOthers) {
  AgentOptions options;
  options.pod_cidr = kCidr1;
  options.extra_yaml = "cluster_cidrs: [10.80.0.0/12]\n";
  TestNode node(options);
  Netns peer(UniqueName("peer"));
  const std::string ns = node.netns().name();
  MustRun(ns, {"sysctl", "-qw", "net.ipv4.ip_forward=1"});
  MustRun(ns, {"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
               peer.name()});
  MustRun(ns, {"ip", "addr", "add", "192.168.80.1/24", "dev", "eth0"});
  MustRun(ns, {"ip", "link", "set", "eth0", "up"});
  // The peer is node 2: its address, a "pod" address on its loopback, and the way back.
  MustRun(peer.name(), {"ip", "addr", "add", "192.168.80.2/24", "dev", "eth0"});
  MustRun(peer.name(), {"ip", "link", "set", "eth0", "up"});
  MustRun(peer.name(), {"ip", "addr", "add", "10.82.0.7/32", "dev", "lo"});
  MustRun(peer.name(), {"ip", "route", "add", kCidr1, "via", "192.168.80.1"});
  // Someone else's route, which the agent must leave alone.
  MustRun(ns, {"ip", "route", "add", "10.83.0.0/24", "via", "192.168.80.3", "proto", "static"});
  std::string failure;
  ASSERT_TRUE(node.agent().Start(&failure)) << failure;
  auto ours = [&] { return RunIn(ns, {"ip", "-4", "route", "show", "proto", "220"}).out; };
  auto theirs = [&] { return RunIn(ns, {"ip", "-4", "route", "show", "10.83.0.0/24"}).out; };

  grpc::Status set = SetRemoteNodes(node.agent(), {{"node-2", "192.168.80.2", {kCidr2}},
                                                   {"node-4", "192.168.80.4", {"10.84.0.0/24"}}});
  ASSERT_TRUE(set.ok()) << set.error_message() << "\n" << node.agent().Log();
  EXPECT_EQ(ours(),
            "10.82.0.0/24 via 192.168.80.2 dev eth0 \n10.84.0.0/24 via 192.168.80.4 dev eth0 \n");
  EXPECT_EQ(RemoteRoutes(node.agent()),
            (std::vector<std::string>{"10.82.0.0/24 node-2 kernel", "10.84.0.0/24 node-4 kernel"}));
  Pod& a = node.AddPod("a");
  EXPECT_TRUE(Ping(a.netns->name(), "10.82.0.7")) << "through the node's kernel route to node 2";

  // A node claiming the prefix of someone else's route: refused whole, nothing changes.
  grpc::Status refused = SetRemoteNodes(
      node.agent(),
      {{"node-2", "192.168.80.2", {kCidr2}}, {"node-3", "192.168.80.3", {"10.83.0.0/24"}}});
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_EQ(theirs(), "10.83.0.0/24 via 192.168.80.3 dev eth0 proto static \n");
  EXPECT_EQ(ours(),
            "10.82.0.0/24 via 192.168.80.2 dev eth0 \n10.84.0.0/24 via 192.168.80.4 dev eth0 \n");

  // Across a restart the kernel keeps them; one of ours the record does not have is withdrawn.
  node.agent().Stop();
  MustRun(ns, {"ip", "route", "add", "10.85.0.0/24", "via", "192.168.80.5", "proto", "220"});
  ASSERT_TRUE(node.agent().Start(&failure)) << failure;
  EXPECT_EQ(ours(),
            "10.82.0.0/24 via 192.168.80.2 dev eth0 \n10.84.0.0/24 via 192.168.80.4 dev eth0 \n");
  EXPECT_EQ(node.Status().route_sync().state(), "stale");

  // node-4 goes, then every node: their routes go, someone else's stays.
  ASSERT_TRUE(SetRemoteNodes(node.agent(), {{"node-2", "192.168.80.2", {kCidr2}}}).ok());
  EXPECT_EQ(ours(), "10.82.0.0/24 via 192.168.80.2 dev eth0 \n");
  ASSERT_TRUE(SetRemoteNodes(node.agent(), {}).ok());
  EXPECT_EQ(ours(), "");
  EXPECT_FALSE(Ping(a.netns->name(), "10.82.0.7"));
  EXPECT_EQ(theirs(), "10.83.0.0/24 via 192.168.80.3 dev eth0 proto static \n");
}

}  // namespace
}  // namespace dpcni::e2e
