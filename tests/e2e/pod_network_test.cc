// Pods on one node, driven exactly as kubelet's runtime drives a CNI plugin: a "node" netns runs
// dpcni-agent, each pod is a netns made by the test, and the dpcni binary is exec'd with CNI_*
// variables and the netconf on stdin. Every test prints the pod-port backend it ran.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <future>
#include <iostream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

class PodNetworkTest : public BackendNodeTest {
 protected:
  CniCall Call(const std::string& command, const Pod& pod) const {
    return node_->Call(command, pod);
  }
  Pod& AddPod(const std::string& name) { return node_->AddPod(name); }
  dpcni::v1::PodInfo InfoOf(const Pod& pod) { return node_->InfoOf(pod); }
  dpcni::v1::StatusResponse AgentStatus() { return node_->Status(); }
  bool Ping(const Pod& from, const std::string& to_ip, const std::string& source = "") {
    return e2e::Ping(from.netns->name(), to_ip, source);
  }
  dpcni::v1::Agent::Stub& api() { return node_->agent().api(); }
};

TEST_P(PodNetworkTest, PodsGetDistinctAddressesAndTalkThroughTheDataplane) {
  std::deque<Pod>& pods = node_->pods();
  std::set<std::string> addresses;
  for (const char* name : {"a", "b", "c"}) {
    Pod& pod = AddPod(name);
    ASSERT_FALSE(pod.ip.empty()) << pod.result.dump();
    EXPECT_EQ(pod.ip.rfind("10.99.0.", 0), 0u) << pod.ip;
    addresses.insert(pod.ip);
    // containerd finds the pod IP through ips[].interface -> interfaces[] with a sandbox.
    const auto& interface = pod.result["interfaces"][pod.result["ips"][0]["interface"].get<int>()];
    EXPECT_EQ(interface["name"], "eth0");
    EXPECT_EQ(interface["sandbox"], pod.netns->path());
    EXPECT_EQ(InfoOf(pod).backend(), GetParam());
  }
  EXPECT_EQ(addresses.size(), 3u);

  EXPECT_TRUE(Ping(pods[0], pods[1].ip));
  EXPECT_TRUE(Ping(pods[1], pods[2].ip));
  EXPECT_TRUE(Ping(pods[2], pods[0].ip));

  const uint32_t server_port = InfoOf(pods[1]).port_id();
  const uint64_t tx_before = PortStatsOf(api(), server_port).tx_bytes();
  const auto report = Iperf(pods[0].netns->name(), pods[1].netns->name(), pods[1].ip);
  ASSERT_FALSE(report.is_discarded());
  const double received = report["end"]["sum_received"]["bytes"].get<double>();
  EXPECT_GT(received, 1e6);
  std::cout << "backend=" << GetParam() << " iperf3 pod->pod " << Gbps(report) << " Gbit/s"
            << std::endl;
  // Everything the receiver got crossed the dataplane's Tx toward its port.
  EXPECT_GE(PortStatsOf(api(), server_port).tx_bytes() - tx_before,
            static_cast<uint64_t>(received));
}

// A bulk TCP stream crosses the engine as GSO packets, not as MTU-sized frames: vhost-net hands
// the kernel's TSO packets over whole, and so does the tap backend's vnet_tap (IFF_VNET_HDR with
// TUNSETOFFLOAD). DPDK's net_tap, one frame per syscall, averaged about 1.5 KB here.
TEST_P(PodNetworkTest, BulkTcpCrossesTheEngineAsGsoPackets) {
#if !DPCNI_VNET_TAP
  if (GetParam() == "tap") {
    GTEST_SKIP() << "built on Debian's DPDK: the tap backend is net_tap, which has no GSO";
  }
#endif
  Pod& a = AddPod("a");
  Pod& b = AddPod("b");
  ASSERT_TRUE(Ping(a, b.ip));
  const uint32_t sender_port = InfoOf(a).port_id();
  const auto before = PortStatsOf(api(), sender_port);
  const auto report = Iperf(a.netns->name(), b.netns->name(), b.ip, 3);
  ASSERT_FALSE(report.is_discarded());
  const auto after = PortStatsOf(api(), sender_port);
  const uint64_t packets = after.rx_packets() - before.rx_packets();
  const uint64_t bytes = after.rx_bytes() - before.rx_bytes();
  ASSERT_GT(packets, 0u);
  const double per_packet = static_cast<double>(bytes) / static_cast<double>(packets);
  std::cout << "backend=" << GetParam() << " iperf3 pod->pod " << Gbps(report) << " Gbit/s, "
            << bytes << " bytes in " << packets << " packets from the sender's port, " << per_packet
            << " bytes per packet" << std::endl;
  RecordProperty("bytes_per_packet", std::to_string(per_packet));
  EXPECT_GT(per_packet, 10'000) << "the sender's TCP stream crossed the engine in small frames";
}

TEST_P(PodNetworkTest, SpoofedSourceAddressIsDroppedAndCounted) {
  Pod& a = AddPod("a");
  Pod& b = AddPod("b");
  ASSERT_TRUE(Ping(a, b.ip));
  ASSERT_EQ(
      RunIn(a.netns->name(), {"ip", "addr", "add", "10.99.0.250/32", "dev", "eth0"}).exit_code, 0);
  EXPECT_FALSE(Ping(a, b.ip, "10.99.0.250"));
  const auto stats = PortStatsOf(api(), InfoOf(a).port_id());
  ASSERT_TRUE(stats.drops().contains("spoofed_source")) << stats.DebugString();
  EXPECT_GE(stats.drops().at("spoofed_source"), 3u);
  EXPECT_TRUE(Ping(a, b.ip));  // its own address still works
}

// The pod's own kernel takes the engine's ICMP error: ping reports who said what.
TEST_P(PodNetworkTest, AnExpiringPingIsAnsweredTimeExceededByTheGateway) {
  Pod& a = AddPod("a");
  Pod& b = AddPod("b");
  ASSERT_TRUE(Ping(a, b.ip));
  const CommandResult expiring =
      RunIn(a.netns->name(), {"ping", "-n", "-c", "1", "-W", "2", "-t", "1", b.ip});
  EXPECT_NE(expiring.exit_code, 0) << expiring.Describe();
  EXPECT_NE(expiring.out.find("From 169.254.1.1 icmp_seq=1 Time to live exceeded"),
            std::string::npos)
      << expiring.Describe();
  const auto stats = PortStatsOf(api(), InfoOf(a).port_id());
  ASSERT_TRUE(stats.drops().contains("ttl_exceeded")) << stats.DebugString();
  ASSERT_TRUE(stats.events().contains("icmp_errors_sent")) << stats.DebugString();
  EXPECT_EQ(stats.drops().at("ttl_exceeded"), 1u);
  EXPECT_EQ(stats.events().at("icmp_errors_sent"), 1u);
}

TEST_P(PodNetworkTest, CheckPassesThenFailsOnceTheAddressIsRemovedByHand) {
  Pod& pod = AddPod("a");
  CniCall check = Call("CHECK", pod);
  check.netconf["prevResult"] = pod.result;
  CommandResult healthy = InvokePlugin(check);
  EXPECT_EQ(healthy.exit_code, 0) << healthy.Describe();

  ASSERT_EQ(
      RunIn(pod.netns->name(), {"ip", "addr", "del", pod.ip + "/32", "dev", "eth0"}).exit_code, 0);
  CommandResult broken = InvokePlugin(check);
  EXPECT_NE(broken.exit_code, 0);
  const auto error = ParseOutput(broken);
  ASSERT_TRUE(error.contains("code")) << broken.Describe();
  EXPECT_NE(error["msg"].get<std::string>().find(pod.ip), std::string::npos) << broken.Describe();
}

TEST_P(PodNetworkTest, DeleteRemovesEverythingAndRepeatsSafely) {
  Pod& keep = AddPod("keep");
  Pod& gone = AddPod("gone");
  const uint32_t in_use = AgentStatus().addresses_in_use();
  ASSERT_EQ(in_use, 2u);

  CommandResult deleted = InvokePlugin(Call("DEL", gone));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  EXPECT_NE(RunIn(gone.netns->name(), {"ip", "link", "show", "eth0"}).exit_code, 0)
      << "the pod's tap is still there";
  EXPECT_EQ(AgentStatus().addresses_in_use(), 1u);
  EXPECT_EQ(AgentStatus().pods(), 1u);
  grpc::ClientContext context;
  dpcni::v1::GetPortStatsResponse ports;
  ASSERT_TRUE(api().GetPortStats(&context, {}, &ports).ok());
  std::set<std::string> port_names;
  for (const auto& port : ports.ports()) port_names.insert(port.name());
  EXPECT_FALSE(port_names.contains("default/gone")) << "the pod's dataplane port is still there";
  EXPECT_TRUE(port_names.contains("default/keep"));

  // The runtime retries DEL, and sends one more with an empty CNI_NETNS once the sandbox is gone.
  EXPECT_EQ(InvokePlugin(Call("DEL", gone)).exit_code, 0);
  CniCall without_netns = Call("DEL", gone);
  without_netns.netns_path = "";
  CommandResult second = InvokePlugin(without_netns);
  EXPECT_EQ(second.exit_code, 0) << second.Describe();
  EXPECT_TRUE(Ping(keep, keep.ip));  // the other pod is untouched
}

TEST_P(PodNetworkTest, DeleteAfterTheSandboxIsGoneFreesThePort) {
  Pod& pod = AddPod("a");
  CniCall del = Call("DEL", pod);
  del.netns_path = "";
  pod.netns.reset();  // the runtime tore the sandbox down before DEL
  CommandResult deleted = InvokePlugin(del);
  EXPECT_EQ(deleted.exit_code, 0) << deleted.Describe();
  EXPECT_EQ(AgentStatus().addresses_in_use(), 0u);
  EXPECT_EQ(AgentStatus().pods(), 0u);
}

TEST_P(PodNetworkTest, BadAddLeavesNothingBehind) {
  Pod missing;
  missing.name = "missing";
  missing.container_id = "ctr-missing";
  missing.netns = std::make_unique<Netns>(UniqueName("missing"));
  CniCall call = Call("ADD", missing);
  call.netns_path = "/var/run/netns/" + UniqueName("does-not-exist");
  CommandResult refused = InvokePlugin(call);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(ParseOutput(refused).contains("code")) << refused.Describe();

  CniCall long_name = Call("ADD", missing);
  long_name.ifname = "this-name-is-too-long-for-linux";
  CommandResult bad_ifname = InvokePlugin(long_name);
  EXPECT_NE(bad_ifname.exit_code, 0);
  EXPECT_EQ(AgentStatus().addresses_in_use(), 0u);
  EXPECT_EQ(AgentStatus().pods(), 0u);
}

TEST_P(PodNetworkTest, AddWithTheAgentStoppedIsTryAgainLater) {
  node_->agent().Stop();
  Pod pod;
  pod.name = "a";
  pod.container_id = "ctr-a";
  pod.netns = std::make_unique<Netns>(UniqueName("a"));
  CommandResult result = InvokePlugin(Call("ADD", pod));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(ParseOutput(result).value("code", 0), 11) << result.Describe();
}

TEST_P(PodNetworkTest, TwentyPodsAddedInParallelGetDistinctAddresses) {
  constexpr int kPods = 20;
  std::vector<Pod> pods(kPods);
  for (int i = 0; i < kPods; ++i) {
    // StrCat, not `"p" + std::to_string(i)`: at -O3 GCC 12 reports a false -Wrestrict overlap in
    // that operator+ once inlined (GCC bug 105329), and -Werror makes the Release build fail.
    pods[i].name = absl::StrCat("p", i);
    pods[i].container_id = absl::StrCat("ctr-par-", i);
    pods[i].netns = std::make_unique<Netns>(UniqueName(pods[i].name));
  }
  std::vector<std::future<CommandResult>> adds;
  for (const Pod& pod : pods) {
    adds.push_back(
        std::async(std::launch::async, [this, &pod] { return InvokePlugin(Call("ADD", pod)); }));
  }
  std::set<std::string> addresses;
  for (int i = 0; i < kPods; ++i) {
    CommandResult added = adds[i].get();
    ASSERT_EQ(added.exit_code, 0) << pods[i].name << ": " << added.Describe();
    addresses.insert(ParseOutput(added)["ips"][0]["address"].get<std::string>());
  }
  EXPECT_EQ(addresses.size(), static_cast<size_t>(kPods));
  EXPECT_EQ(AgentStatus().pods(), static_cast<uint32_t>(kPods));
  for (Pod& pod : pods) node_->pods().push_back(std::move(pod));
}

TEST_P(PodNetworkTest, RestartedAgentReattachesPodsThatStillExist) {
  Pod& a = AddPod("a");
  Pod& b = AddPod("b");
  node_->agent().Stop();
  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  EXPECT_EQ(AgentStatus().pods(), 2u);
  EXPECT_TRUE(Ping(a, b.ip));
  Pod& c = AddPod("c");
  EXPECT_NE(c.ip, a.ip);
  EXPECT_NE(c.ip, b.ip);
}

// `ip -j route` in a netns: the routes of its main table.
nlohmann::json RoutesIn(const Netns& netns) {
  CommandResult listed = RunIn(netns.name(), {"ip", "-j", "-4", "route", "show"});
  EXPECT_EQ(listed.exit_code, 0) << listed.Describe();
  return ParseOutput(listed);
}

// The devices that have a route to `dst` ("default", "169.254.1.1"), in the kernel's order.
std::vector<std::string> DevsOf(const nlohmann::json& routes, const std::string& dst) {
  std::vector<std::string> devs;
  for (const auto& route : routes) {
    if (route.value("dst", "") == dst) devs.push_back(route.value("dev", ""));
  }
  return devs;
}

// Multus adds a second dpcni interface (net1) beside eth0 with the same gateway address: eth0 keeps
// the pod's default route, and each interface gets its own on-link route to the gateway.
TEST_P(PodNetworkTest, SecondInterfaceLeavesThePodsRoutesOnEth0) {
  Pod& a = AddPod("a");
  Pod& b = AddPod("b");
  ASSERT_EQ(a.result["routes"].size(), 1u) << a.result.dump();
  const std::string gateway = a.result["routes"][0]["gw"];
  EXPECT_EQ(a.result["routes"][0]["dst"], "0.0.0.0/0");

  CniCall add_net1 = Call("ADD", a);
  add_net1.ifname = "net1";
  CommandResult added = InvokePlugin(add_net1);
  ASSERT_EQ(added.exit_code, 0) << added.Describe();
  const nlohmann::json net1 = ParseOutput(added);
  EXPECT_TRUE(net1["routes"].empty())
      << "net1 got no route, its result lists none: " << net1.dump();
  ASSERT_EQ(net1["ips"].size(), 1u) << net1.dump();
  EXPECT_NE(net1["ips"][0]["address"], a.result["ips"][0]["address"]);

  nlohmann::json routes = RoutesIn(*a.netns);
  EXPECT_EQ(DevsOf(routes, "default"), std::vector<std::string>{"eth0"}) << routes.dump();
  EXPECT_EQ(DevsOf(routes, gateway), (std::vector<std::string>{"eth0", "net1"})) << routes.dump();
  for (const auto& route : routes) {
    if (route.value("dst", "") == "default") {
      EXPECT_EQ(route.value("gateway", ""), gateway);
    }
  }
  // net1 resolves the gateway as soon as anything leaves through it. Among equal default routes
  // the kernel takes the first whose gateway is resolved (fib_select_default): with net1's in
  // front, that would now be net1's.
  RunIn(a.netns->name(), {"ping", "-c", "1", "-W", "1", "-I", "net1", gateway});
  const nlohmann::json neighbours =
      ParseOutput(RunIn(a.netns->name(), {"ip", "-j", "neigh", "show", "dev", "net1"}));
  EXPECT_FALSE(neighbours.empty()) << "net1 did not resolve the gateway";
  // b reaches a's eth0 address and a's answers leave through eth0: through net1 they would carry
  // eth0's address and be dropped as spoofed.
  EXPECT_TRUE(Ping(b, a.ip));
  EXPECT_TRUE(Ping(a, b.ip));

  CniCall del_net1 = Call("DEL", a);
  del_net1.ifname = "net1";
  CommandResult deleted = InvokePlugin(del_net1);
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  routes = RoutesIn(*a.netns);
  EXPECT_EQ(DevsOf(routes, "default"), std::vector<std::string>{"eth0"}) << routes.dump();
  EXPECT_EQ(DevsOf(routes, gateway), std::vector<std::string>{"eth0"}) << routes.dump();
  EXPECT_TRUE(Ping(b, a.ip));
  EXPECT_EQ(AgentStatus().pods(), 2u);
}

// A netconf `routes` list is what the interface gets, on its own device, whatever came before.
TEST_P(PodNetworkTest, NetconfRoutesGoOnTheirOwnInterface) {
  Pod& a = AddPod("a");
  const std::string gateway = a.result["routes"][0]["gw"];
  CniCall add_net1 = Call("ADD", a);
  add_net1.ifname = "net1";
  add_net1.netconf["routes"] = {{{"dst", "10.98.0.0/16"}}};
  CommandResult added = InvokePlugin(add_net1);
  ASSERT_EQ(added.exit_code, 0) << added.Describe();
  const nlohmann::json net1 = ParseOutput(added);
  ASSERT_EQ(net1["routes"].size(), 1u) << net1.dump();
  EXPECT_EQ(net1["routes"][0]["dst"], "10.98.0.0/16");
  EXPECT_EQ(net1["routes"][0]["gw"], gateway);

  const nlohmann::json routes = RoutesIn(*a.netns);
  EXPECT_EQ(DevsOf(routes, "10.98.0.0/16"), std::vector<std::string>{"net1"}) << routes.dump();
  EXPECT_EQ(DevsOf(routes, "default"), std::vector<std::string>{"eth0"}) << routes.dump();

  CniCall check = add_net1;
  check.command = "CHECK";
  check.netconf["prevResult"] = net1;
  CommandResult healthy = InvokePlugin(check);
  EXPECT_EQ(healthy.exit_code, 0) << healthy.Describe();
  ASSERT_EQ(RunIn(a.netns->name(), {"ip", "route", "del", "10.98.0.0/16", "dev", "net1"}).exit_code,
            0);
  CommandResult broken = InvokePlugin(check);
  EXPECT_NE(broken.exit_code, 0);
  EXPECT_NE(broken.out.find("10.98.0.0/16"), std::string::npos) << broken.Describe();

  // A gateway other than the node's is refused, and leaves nothing behind.
  CniCall other_gw = Call("ADD", a);
  other_gw.ifname = "net2";
  other_gw.netconf["routes"] = {{{"dst", "0.0.0.0/0"}, {"gw", "10.98.0.1"}}};
  CommandResult refused = InvokePlugin(other_gw);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.out.find("leave gw out"), std::string::npos) << refused.Describe();
  EXPECT_EQ(AgentStatus().pods(), 2u);
  EXPECT_EQ(AgentStatus().addresses_in_use(), 2u);
}

TEST_P(PodNetworkTest, MetricsEndpointServesThePortCounters) {
  AgentOptions options;
  options.backend = GetParam();
  options.extra_yaml = "metrics_address: 127.0.0.1:9464\n";
  node_.reset();  // the fixture's node goes first: the new one takes the same netns name
  node_ = std::make_unique<TestNode>(options);
  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  Pod& a = AddPod("a");
  Pod& b = AddPod("b");
  ASSERT_TRUE(Ping(a, b.ip));
  // A plain HTTP GET from inside the node's netns, where the agent listens.
  CommandResult scrape =
      RunIn(node_->netns().name(), {"bash", "-c",
                                    "exec 3<>/dev/tcp/127.0.0.1/9464 && "
                                    "printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"});
  ASSERT_EQ(scrape.exit_code, 0) << scrape.Describe();
  const std::string pod_label = "name=\"default/a\"";
  EXPECT_NE(scrape.out.find("dpcni_port_rx_packets_total{"), std::string::npos) << scrape.out;
  EXPECT_NE(scrape.out.find(pod_label), std::string::npos) << scrape.out;
}

INSTANTIATE_TEST_SUITE_P(Backends, PodNetworkTest, testing::ValuesIn(Backends()), BackendTestName);

}  // namespace
}  // namespace dpcni::e2e
