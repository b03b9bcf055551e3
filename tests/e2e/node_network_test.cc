// The node and the outside world: a "node" netns runs the agent with an uplink to an "outside"
// netns (a host on the uplink network with a route back to the pod CIDR), and the host port dpcni0
// joins the node's own kernel to its pods. The uplink is af_packet on a veth whose peer is the
// outside host's, and, where DPCNI_E2E_PCI_UPLINKS names PCI NICs (the vhost-net lane's guest),
// each of those NICs driven by DPDK's PMD, with the kernel interface on the same wire moved into
// the outside netns. Every test prints the backend its pod ports and host port ran on, and the
// uplink.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>
#include <tuple>

#include "absl/strings/str_split.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

constexpr char kOutsideIp[] = "192.168.77.1";
constexpr char kUplinkIp[] = "192.168.77.2";
constexpr char kNodeOnlyIp[] = "192.0.2.1";  // on the node's loopback: only its kernel knows it

// An uplink the suite runs on.
struct Uplink {
  std::string type;         // "af_packet" or "pci"
  std::string pci_address;  // pci: the NIC DPDK drives, bound to vfio-pci
  std::string peer;         // pci: the kernel interface on the NIC's wire, for the outside host
};

// For gtest's messages and ctest's names: "pci 0000:00:10.0 (peer eth0)".
void PrintTo(const Uplink& uplink, std::ostream* out) {
  *out << uplink.type;
  if (!uplink.pci_address.empty()) {
    *out << " " << uplink.pci_address << " (peer " << uplink.peer << ")";
  }
}

// af_packet always; the PCI NICs of DPCNI_E2E_PCI_UPLINKS ("<address>=<peer interface> ...").
std::vector<Uplink> Uplinks() {
  std::vector<Uplink> uplinks = {{"af_packet", "", ""}};
  const char* listed = std::getenv("DPCNI_E2E_PCI_UPLINKS");
  for (absl::string_view entry : absl::StrSplit(listed ? listed : "", ' ', absl::SkipEmpty())) {
    std::pair<std::string, std::string> pair = absl::StrSplit(entry, '=');
    uplinks.push_back({"pci", pair.first, pair.second});
  }
  return uplinks;
}

std::string UplinkYaml(const Uplink& uplink, const std::string& interface_or_address) {
  const std::string device = uplink.type == "pci" ? "pci_address" : "interface";
  return "uplink:\n  type: " + uplink.type + "\n  " + device + ": " + interface_or_address +
         "\n  address: " + kUplinkIp + "/24\n";
}

using Param = std::tuple<std::string, Uplink>;  // the backend, the uplink

// "tap_af_packet", "vhostnet_pci_0000_00_03_0".
std::string ParamName(const testing::TestParamInfo<Param>& info) {
  std::string name = std::get<0>(info.param) + "_" + std::get<1>(info.param).type;
  if (!std::get<1>(info.param).pci_address.empty()) {
    name += "_" + std::get<1>(info.param).pci_address;
  }
  std::erase(name, '-');
  std::replace(name.begin(), name.end(), ':', '_');
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// Sets `command` up inside `netns`, failing the test with its output when it does not succeed.
void MustRun(const std::string& netns, const std::vector<std::string>& command) {
  CommandResult result = RunIn(netns, command);
  ASSERT_EQ(result.exit_code, 0) << netns << ": " << result.Describe();
}

class NodeNetworkTest : public testing::TestWithParam<Param> {
 protected:
  const std::string& backend() const { return std::get<0>(GetParam()); }
  const Uplink& uplink() const { return std::get<1>(GetParam()); }
  bool pci() const { return uplink().type == "pci"; }

  void SetUp() override {
    std::cout << "backend=" << backend() << " uplink=" << uplink().type
              << (pci() ? " " + uplink().pci_address + " (peer " + uplink().peer + ")" : "")
              << std::endl;
    RecordProperty("backend", backend());
    AgentOptions options;
    options.backend = backend();
    options.extra_yaml = UplinkYaml(uplink(), pci() ? uplink().pci_address : "up0");
    node_ = std::make_unique<TestNode>(options);
    outside_ = std::make_unique<Netns>(UniqueName("outside"));
    const std::string node = node_->netns().name();
    const std::string outside = outside_->name();

    // The node forwards like a Kubernetes node, and has an address only its kernel knows.
    MustRun(node, {"sysctl", "-qw", "net.ipv4.ip_forward=1"});
    MustRun(node, {"ip", "addr", "add", std::string(kNodeOnlyIp) + "/32", "dev", "lo"});
    std::string outside_interface = "out0";
    if (pci()) {
      // The NIC's wire ends at a kernel interface; the outside host takes it. Deleting the outside
      // netns gives the interface back to the root namespace.
      const std::filesystem::path device = "/sys/class/net/" + uplink().peer + "/device";
      std::error_code error;
      peer_pci_address_ = std::filesystem::read_symlink(device, error).filename().string();
      ASSERT_FALSE(error) << device << ": " << error.message();
      CommandResult moved = e2e::Run({"ip", "link", "set", uplink().peer, "netns", outside});
      ASSERT_EQ(moved.exit_code, 0) << moved.Describe();
      outside_interface = uplink().peer;
    } else {
      // The uplink: a veth whose node end DPDK reads through af_packet. The node's kernel must not
      // also forward what arrives there (af_packet leaves the frames to the kernel too).
      MustRun(node, {"ip", "link", "add", "up0", "type", "veth", "peer", "name", "out0", "netns",
                     outside});
      MustRun(node, {"sysctl", "-qw", "net.ipv4.conf.up0.forwarding=0"});
      MustRun(node, {"ip", "link", "set", "up0", "up"});
      // A veth hands af_packet partial checksums; a real NIC does not (docs/testing.md).
      MustRun(outside,
              {"ethtool", "-K", "out0", "tx", "off", "tso", "off", "gso", "off", "sg", "off"});
    }
    MustRun(outside,
            {"ip", "addr", "add", std::string(kOutsideIp) + "/24", "dev", outside_interface});
    MustRun(outside, {"ip", "link", "set", outside_interface, "up"});
    MustRun(outside, {"ip", "route", "add", "10.99.0.0/24", "via", kUplinkIp});

    std::string failure;
    ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
    // The uplink's link as Status shows it. A NIC's comes up some time after the port started
    // (the emulated e1000 negotiates for a second or more), and traffic waits for it.
    dpcni::v1::PortLink link;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    do {
      const dpcni::v1::StatusResponse status = node_->Status();
      for (const auto& each : status.links()) {
        if (each.role() == "uplink") link = each;
      }
      if (link.up()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < deadline);
    // Which DPDK driver runs the uplink: the vhost-net lane checks that each NIC's PMD ran.
    std::cout << "uplink_driver=" << link.driver() << " link " << (link.up() ? "up" : "down")
              << " speed_mbps=" << link.speed_mbps() << std::endl;
    ASSERT_TRUE(link.up()) << "the uplink's link stayed down for 10 s: " << link.DebugString();
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
  std::string peer_pci_address_;  // pci: the PCI address of the outside host's interface
};

// The tests of an af_packet uplink's own traits, and of a PCI uplink's.
class AfPacketUplinkTest : public NodeNetworkTest {};
class PciUplinkTest : public NodeNetworkTest {};

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
  std::cout << "backend=" << backend() << " uplink=" << uplink().type << " iperf3 pod->outside "
            << Gbps(report) << " Gbit/s" << std::endl;
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
  // Which offloads the NIC took on and which the engine did in software, as the agent logged them.
  const std::string log = node_->agent().Log();
  const size_t offloads = log.find("); Tx offloads: ");
  ASSERT_NE(offloads, std::string::npos) << log;
  const size_t start = log.rfind('\n', offloads) + 1;  // npos + 1: the log's first line
  const std::string line = log.substr(start, log.find('\n', offloads) - start);
  std::cout << "agent: " << line << std::endl;
  if (log.find("uplink " + uplink().pci_address + " (net_e1000_em)") != std::string::npos) {
    EXPECT_NE(line.find("IPv4, TCP and UDP checksums on the NIC; TCP segmentation in software"),
              std::string::npos);
  }
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
TEST_P(AfPacketUplinkTest, TheAgentTurnsGroOffOnItsAfPacketUplinkAndBulkTcpComesIn) {
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
  std::cout << "backend=" << backend() << " iperf3 outside->pod " << Gbps(report) << " Gbit/s"
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

TEST_P(AfPacketUplinkTest, MissingUplinkInterfaceFailsStartWithItsName) {
  AgentOptions options;
  options.backend = backend();
  options.extra_yaml = UplinkYaml(uplink(), "nosuch0");
  TestNode broken(options);
  std::string failure;
  EXPECT_FALSE(broken.agent().Start(&failure));
  EXPECT_NE(failure.find("nosuch0"), std::string::npos) << failure;
}

// The outside host's NIC is a PCI device on its kernel driver: an agent given it as its uplink
// refuses to start, naming the device and the fix, and takes nothing from the kernel.
TEST_P(PciUplinkTest, PciUplinkOnAKernelDriverFailsStartNamingTheDeviceAndTheFix) {
  const std::filesystem::path driver = "/sys/bus/pci/devices/" + peer_pci_address_ + "/driver";
  const std::string kernel_driver = std::filesystem::read_symlink(driver).filename().string();
  AgentOptions options;
  options.backend = backend();
  options.extra_yaml = UplinkYaml(uplink(), peer_pci_address_);
  TestNode broken(options, "broken");
  std::string failure;
  EXPECT_FALSE(broken.agent().Start(&failure));
  EXPECT_NE(failure.find("uplink " + peer_pci_address_ + " is bound to " + kernel_driver +
                         ", not vfio-pci: bind it with dpdk-devbind.py --bind=vfio-pci " +
                         peer_pci_address_),
            std::string::npos)
      << failure;
  EXPECT_EQ(std::filesystem::read_symlink(driver).filename().string(), kernel_driver);
}

// What an operator reads: `dpcnictl status` names the NIC, its driver, its link, and its speed
// where the NIC reports one (the emulated e1000 says 1 Gbit/s; virtio-net does not know).
TEST_P(PciUplinkTest, DpcnictlStatusShowsTheNicsDriverLinkAndSpeed) {
  dpcni::v1::PortLink link;
  const dpcni::v1::StatusResponse status = node_->Status();
  for (const auto& each : status.links()) {
    if (each.role() == "uplink") link = each;
  }
  ASSERT_FALSE(link.driver().empty()) << status.DebugString();
  CommandResult shown =
      e2e::Run({DPCNICTL_PATH, "--socket", node_->agent().socket_path(), "status"});
  ASSERT_EQ(shown.exit_code, 0) << shown.Describe();
  std::string expected = "uplink port:     " + uplink().pci_address + " (port " +
                         std::to_string(link.port_id()) + ", " + link.driver() + "): up";
  if (link.driver() == "net_e1000_em") {
    EXPECT_EQ(link.speed_mbps(), 1000u);
  }
  if (link.speed_mbps() % 1000 == 0 && link.speed_mbps() != 0) {
    expected += ", " + std::to_string(link.speed_mbps() / 1000) + " Gbit/s";
  } else if (link.speed_mbps() != 0) {
    expected += ", " + std::to_string(link.speed_mbps()) + " Mbit/s";
  }
  EXPECT_NE(shown.out.find(expected + "\n"), std::string::npos)
      << "expected \"" << expected << "\" in:\n"
      << shown.out;
}

INSTANTIATE_TEST_SUITE_P(Uplinks, NodeNetworkTest,
                         testing::Combine(testing::ValuesIn(Backends()),
                                          testing::ValuesIn(Uplinks())),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(Uplinks, AfPacketUplinkTest,
                         testing::Combine(testing::ValuesIn(Backends()),
                                          testing::Values(Uplink{"af_packet", "", ""})),
                         ParamName);
std::vector<Uplink> PciUplinks() {
  std::vector<Uplink> uplinks = Uplinks();
  std::erase_if(uplinks, [](const Uplink& uplink) { return uplink.type != "pci"; });
  return uplinks;
}
// Without DPCNI_E2E_PCI_UPLINKS there is none: the host has no NIC to give DPDK.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PciUplinkTest);
INSTANTIATE_TEST_SUITE_P(Uplinks, PciUplinkTest,
                         testing::Combine(testing::ValuesIn(Backends()),
                                          testing::ValuesIn(PciUplinks())),
                         ParamName);

}  // namespace
}  // namespace dpcni::e2e
