#include "config/agent_config.h"

#include <rte_build_config.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "ipam/ipam.h"

namespace dpcni::dataplane {
namespace {

bool Contains(const std::vector<std::string>& args, const std::string& arg) {
  return std::find(args.begin(), args.end(), arg) != args.end();
}

TEST(AgentConfigTest, ReadsEveryField) {
  auto config = ParseAgentConfig(R"(
socket: /tmp/x.sock
state_dir: /tmp/state
pod_cidrs: [10.244.1.0/24]
reserved_addresses: [10.244.1.1]
pod_mtu: 1400
max_pods: 20
backend: tap
pod_queue_size: 256
gateway_ip: 169.254.1.1
gateway_mac: "02:dc:00:00:00:09"
worker_lcores: [1]
idle_sleep_max_us: 50
rx_interrupts: false
burst_size: 64
log_level: debug
eal:
  lcores: "0-1"
  memory_mb: 256
  file_prefix: node-a
  extra_args: ["--log-level=lib.eal:debug"]
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->socket_path, "/tmp/x.sock");
  EXPECT_EQ(config->pod_cidrs, std::vector<std::string>{"10.244.1.0/24"});
  EXPECT_EQ(config->reserved_addresses, std::vector<std::string>{"10.244.1.1"});
  EXPECT_EQ(config->pod_mtu, 1400u);
  EXPECT_EQ(config->max_pods, 20u);
  EXPECT_EQ(config->backend, PortBackend::kTap);
  EXPECT_EQ(config->pod_queue_size, 256);
  EXPECT_EQ(config->gateway_mac, "02:dc:00:00:00:09");
  EXPECT_EQ(config->idle_sleep_max_us, 50u);
  EXPECT_FALSE(config->rx_interrupts);
  EXPECT_EQ(config->burst_size, 64);
  EXPECT_EQ(config->eal.memory_mb, 256u);
  EXPECT_EQ(config->eal.file_prefix, "node-a");
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_TRUE(ValidateAgentConfig(*config).ok());
}

TEST(AgentConfigTest, LogLevelDefaultsToInfoAndRefusesOtherSpellings) {
  EXPECT_EQ(ParseAgentConfig("")->log_level, LogLevel::kInfo);
  auto config = ParseAgentConfig("log_level: verbose\n");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("log_level: log level \"verbose\" is none of error, "
                                           "warning, info, debug"),
            std::string::npos)
      << config.status();
}

// DPDK's global log level follows the agent's, before extra_args so that a per-type level there
// (--log-level=pmd.net.tap:debug) still applies.
TEST(AgentConfigTest, EalLogLevelFollowsTheAgentsAndExtraArgsComeAfter) {
  AgentConfig config;
  config.eal.extra_args = {"--log-level=pmd.net.tap:debug"};
  for (const auto& [level, dpdk] :
       {std::pair{LogLevel::kError, "4"}, std::pair{LogLevel::kWarning, "5"},
        std::pair{LogLevel::kInfo, "7"}, std::pair{LogLevel::kDebug, "8"}}) {
    config.log_level = level;
    const std::vector<std::string> args = EalArguments(config);
    const auto global = std::find(args.begin(), args.end(), std::string("--log-level=") + dpdk);
    ASSERT_NE(global, args.end()) << LogLevelName(level);
    EXPECT_EQ(std::count_if(args.begin(), args.end(),
                            [](const std::string& arg) { return arg.starts_with("--log-level"); }),
              2);
    EXPECT_LT(global, std::find(args.begin(), args.end(), "--log-level=pmd.net.tap:debug"));
  }
}

TEST(AgentConfigTest, EmptyConfigTakesDefaultsAndLeavesThePodCidrsToSetPodCidrs) {
  auto config = ParseAgentConfig("");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->socket_path, "/run/dpcni/dpcni.sock");
  EXPECT_EQ(config->backend, PortBackend::kAuto);
  EXPECT_TRUE(config->rx_interrupts);  // an idle node's worker blocks instead of napping
  EXPECT_TRUE(config->pod_cidrs.empty());
  // Valid: the agent starts and waits for SetPodCidrs. What needs a pod CIDR waits too.
  EXPECT_TRUE(ValidateAgentConfig(*config).ok()) << ValidateAgentConfig(*config);
  EXPECT_FALSE(HostPortAddress(*config).ok());
  // Once they come, the config is checked with them.
  config->pod_cidrs = {"10.244.1.0/24"};
  EXPECT_TRUE(ValidateAgentConfig(*config).ok());
  EXPECT_EQ(*HostPortAddress(*config), "10.244.1.1");
}

TEST(AgentConfigTest, WithoutPodCidrsTheRestIsStillChecked) {
  auto config = ParseAgentConfig("pod_cidrs: []\nhost_port:\n  address: nonsense\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_NE(ValidateAgentConfig(*config).message().find("host_port.address \"nonsense\""),
            std::string::npos)
      << ValidateAgentConfig(*config);
  config->host_port.address = "10.244.1.1";
  EXPECT_TRUE(ValidateAgentConfig(*config).ok());
  config->max_pods = 0;
  EXPECT_FALSE(ValidateAgentConfig(*config).ok());
}

TEST(AgentConfigTest, UnknownKeysAndBadValuesAreNamed) {
  auto typo = ParseAgentConfig("pod_cidr: 10.244.0.0/24\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("pod_cidr"), std::string::npos);

  auto eal_typo = ParseAgentConfig("eal:\n  memory: 5\n");
  EXPECT_NE(eal_typo.status().message().find("\"memory\" in eal"), std::string::npos);

  auto backend = ParseAgentConfig("backend: vhost\n");
  EXPECT_NE(backend.status().message().find("vhost"), std::string::npos);

  auto not_a_number = ParseAgentConfig("max_pods: many\n");
  EXPECT_FALSE(not_a_number.ok());
}

TEST(AgentConfigTest, FlowTableDefaultsOutlastConntracksAndAreConfigurable) {
  auto defaults = ParseAgentConfig("pod_cidrs: [10.244.1.0/24]\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->flow_table.capacity, 65536u);
  // kube-proxy sets conntrack's established TCP timeout to 24 h: ours may not be shorter.
  EXPECT_GE(defaults->flow_table.timeouts.tcp_established, std::chrono::hours(24));

  auto config = ParseAgentConfig(R"(
pod_cidrs: [10.244.1.0/24]
flow_table:
  size: 1024
  tcp_established_s: 7200
  tcp_transitory_s: 60
  udp_s: 10
  udp_stream_s: 90
  icmp_s: 5
  other_s: 30
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const FlowTableConfig& flows = config->flow_table;
  EXPECT_EQ(flows.capacity, 1024u);
  EXPECT_EQ(flows.timeouts.tcp_established, std::chrono::seconds(7200));
  EXPECT_EQ(flows.timeouts.tcp_transitory, std::chrono::seconds(60));
  EXPECT_EQ(flows.timeouts.udp, std::chrono::seconds(10));
  EXPECT_EQ(flows.timeouts.udp_stream, std::chrono::seconds(90));
  EXPECT_EQ(flows.timeouts.icmp, std::chrono::seconds(5));
  EXPECT_EQ(flows.timeouts.other, std::chrono::seconds(30));
  EXPECT_TRUE(ValidateAgentConfig(*config).ok());

  auto typo = ParseAgentConfig("flow_table:\n  udp_timeout: 5\n");
  EXPECT_NE(typo.status().message().find("\"udp_timeout\" in flow_table"), std::string::npos)
      << typo.status();

  config->flow_table.timeouts.udp = std::chrono::seconds(0);
  EXPECT_NE(ValidateAgentConfig(*config).message().find("flow_table.udp_s"), std::string::npos);
  config->flow_table.timeouts.udp = std::chrono::seconds(10);
  config->flow_table.capacity = kMaxFlowTableSize + 1;
  EXPECT_NE(ValidateAgentConfig(*config).message().find("flow_table.size"), std::string::npos);
  config->flow_table.capacity = 0;  // off
  EXPECT_TRUE(ValidateAgentConfig(*config).ok());
}

TEST(AgentConfigTest, RemoteNodesDefaultToAutoOnVxlansPortAndVniOne) {
  auto defaults = ParseAgentConfig("pod_cidrs: [10.244.1.0/24]\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->remote_nodes.mode, RemoteNodesMode::kAuto);
  EXPECT_EQ(defaults->remote_nodes.vxlan_port, 4789u);
  EXPECT_EQ(defaults->remote_nodes.vni, 1u);
  // Without an uplink, auto is the only mode: the node's kernel carries the routes.
  EXPECT_TRUE(ValidateAgentConfig(*defaults).ok());

  auto config = ParseAgentConfig(R"(
pod_cidrs: [10.244.1.0/24]
uplink: {type: af_packet, interface: eth1, address: 192.168.1.10/24}
remote_nodes: {mode: vxlan, vxlan_port: 8472, vni: 16777215}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->remote_nodes.mode, RemoteNodesMode::kVxlan);
  EXPECT_EQ(config->remote_nodes.vxlan_port, 8472u);
  EXPECT_EQ(config->remote_nodes.vni, kMaxVni);
  EXPECT_TRUE(ValidateAgentConfig(*config).ok());
  auto host_gw = ParseAgentConfig("remote_nodes: {mode: host-gw}\n");
  ASSERT_TRUE(host_gw.ok()) << host_gw.status();
  EXPECT_EQ(host_gw->remote_nodes.mode, RemoteNodesMode::kHostGw);
}

TEST(AgentConfigTest, BadRemoteNodesSettingsNameTheKeyAndTheFix) {
  auto mode = ParseAgentConfig("remote_nodes: {mode: ipip}\n");
  EXPECT_NE(
      mode.status().message().find("remote_nodes.mode \"ipip\" (expected auto, host-gw or vxlan)"),
      std::string::npos)
      << mode.status();
  auto typo = ParseAgentConfig("remote_nodes: {port: 4789}\n");
  EXPECT_NE(typo.status().message().find("\"port\" in remote_nodes"), std::string::npos)
      << typo.status();
  auto negative = ParseAgentConfig("remote_nodes: {vni: -1}\n");
  EXPECT_NE(negative.status().message().find("remote_nodes.vni -1"), std::string::npos)
      << negative.status();

  auto config = ParseAgentConfig(
      "pod_cidrs: [10.244.1.0/24]\n"
      "uplink: {type: af_packet, interface: eth1, address: 192.168.1.10/24}\n");
  ASSERT_TRUE(config.ok()) << config.status();
  config->remote_nodes.vxlan_port = 0;
  EXPECT_NE(
      ValidateAgentConfig(*config).message().find("remote_nodes.vxlan_port 0 is outside 1..65535"),
      std::string::npos);
  config->remote_nodes.vxlan_port = 65536;
  EXPECT_NE(ValidateAgentConfig(*config).message().find("remote_nodes.vxlan_port 65536"),
            std::string::npos);
  config->remote_nodes.vxlan_port = 4789;
  config->remote_nodes.vni = kMaxVni + 1;
  EXPECT_NE(ValidateAgentConfig(*config).message().find("24 bits"), std::string::npos);
  config->remote_nodes.vni = 0;
  EXPECT_TRUE(ValidateAgentConfig(*config).ok());

  // A forced mode needs the uplink it forces packets onto.
  config->uplink = UplinkConfig{};
  config->remote_nodes.mode = RemoteNodesMode::kVxlan;
  const absl::Status no_uplink = ValidateAgentConfig(*config);
  EXPECT_NE(no_uplink.message().find("remote_nodes.mode vxlan needs an uplink"), std::string::npos)
      << no_uplink;
  EXPECT_NE(no_uplink.message().find("set mode to auto"), std::string::npos) << no_uplink;
}

TEST(AgentConfigTest, IpamNeverHandsOutTheHostPortOrTheGatewayAddress) {
  AgentConfig config;
  config.pod_cidrs = {"10.244.1.0/24"};
  config.reserved_addresses = {"10.244.1.9"};
  config.gateway_ip = "10.244.1.254";  // a gateway inside the pod CIDR
  auto reserved = IpamReservedAddresses(config);
  ASSERT_TRUE(reserved.ok()) << reserved.status();
  EXPECT_EQ(*reserved, (std::vector<std::string>{"10.244.1.9", "10.244.1.1", "10.244.1.254"}));

  // An IPAM opened with them hands out every other address of a small CIDR, and then none.
  config.pod_cidrs = {"10.244.2.0/29"};
  config.gateway_ip = "10.244.2.6";
  reserved = IpamReservedAddresses(config);
  ASSERT_TRUE(reserved.ok());
  const std::string state =
      (std::filesystem::temp_directory_path() / ("ipam-reserved-" + std::to_string(::getpid())))
          .string();
  auto ipam = Ipam::Open(config.pod_cidrs, *reserved, state);
  ASSERT_TRUE(ipam.ok()) << ipam.status();
  std::set<std::string> handed_out;
  for (int pod = 0; pod < 8; ++pod) {
    auto allocated = (*ipam)->Allocate("pod-" + std::to_string(pod), {});
    if (!allocated.ok()) break;
    handed_out.insert((*allocated)[0].address);
  }
  std::filesystem::remove(state);
  EXPECT_EQ(handed_out,
            (std::set<std::string>{"10.244.2.2", "10.244.2.3", "10.244.2.4", "10.244.2.5"}));
}

TEST(AgentConfigTest, ValidationCatchesWhatParsingCannot) {
  AgentConfig config;
  config.pod_cidrs = {"10.244.0.1/24"};
  EXPECT_NE(ValidateAgentConfig(config).message().find("host bits"), std::string::npos);
  config.pod_cidrs = {"10.244.0.0/16", "10.244.1.0/24"};
  EXPECT_NE(ValidateAgentConfig(config).message().find("overlap"), std::string::npos);
  config.pod_cidrs = {"fd00::/64"};
  EXPECT_NE(ValidateAgentConfig(config).message().find("pod_cidrs: not an IPv4 prefix"),
            std::string::npos);
  config.pod_cidrs = {"10.244.0.0/24"};
  config.backend = PortBackend::kTap;
  config.pod_mtu = 9000;
  EXPECT_NE(ValidateAgentConfig(config).message().find("tap backend"), std::string::npos);
  config.pod_mtu = 1500;
  config.pod_queue_size = 100;
  EXPECT_NE(ValidateAgentConfig(config).message().find("power of two"), std::string::npos);
  config.pod_queue_size = 512;
  // The engine's bound, not a looser one of the config's own.
  config.burst_size = kMaxBurstSize;
  EXPECT_TRUE(ValidateAgentConfig(config).ok());
  config.burst_size = kMaxBurstSize + 1;
  EXPECT_NE(ValidateAgentConfig(config).message().find("burst_size 65 is outside 1..64"),
            std::string::npos);
  config.burst_size = 32;
  config.worker_lcores.clear();
  EXPECT_FALSE(ValidateAgentConfig(config).ok());
}

TEST(AgentConfigTest, MaxPodsIsBoundedByTheEthdevsThisDpdkBuildHas) {
  AgentConfig config;
  config.pod_cidrs = {"10.244.0.0/16"};
  // Every pod is an ethdev; the host port takes one more, an uplink another.
  config.max_pods = RTE_MAX_ETHPORTS - 1;
  EXPECT_TRUE(ValidateAgentConfig(config).ok()) << ValidateAgentConfig(config);
  config.max_pods = RTE_MAX_ETHPORTS;
  absl::Status refused = ValidateAgentConfig(config);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("RTE_MAX_ETHPORTS"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find(std::to_string(RTE_MAX_ETHPORTS - 1) + " pods"),
            std::string::npos)
      << refused;

  config.max_pods = RTE_MAX_ETHPORTS - 1;
  config.uplink.type = UplinkType::kAfPacket;
  config.uplink.interface = "eth1";
  config.uplink.address = "192.168.1.2/24";
  EXPECT_FALSE(ValidateAgentConfig(config).ok());
  config.max_pods = RTE_MAX_ETHPORTS - 2;
  EXPECT_TRUE(ValidateAgentConfig(config).ok()) << ValidateAgentConfig(config);
}

TEST(AgentConfigTest, EalArgumentsNeverProbePciAndPickTheMemoryMode) {
  AgentConfig config;
  config.eal.file_prefix = "node-b";
  std::vector<std::string> args = EalArguments(config);
  EXPECT_TRUE(Contains(args, "--no-pci"));
  EXPECT_TRUE(Contains(args, "--no-huge"));
  EXPECT_TRUE(Contains(args, "--no-shconf"));
  EXPECT_FALSE(Contains(args, "--in-memory"));  // cannot be combined with --no-huge
  EXPECT_TRUE(Contains(args, "node-b"));

  config.eal.hugepages = true;
  args = EalArguments(config);
  EXPECT_TRUE(Contains(args, "--in-memory"));
  EXPECT_FALSE(Contains(args, "--no-huge"));
}

// One configuration for every node: the agent takes its node's entry of uplink.per_node over the
// base uplink keys, which the nodes share.
constexpr const char* kPerNodeUplink = R"(
uplink:
  type: af_packet
  interface: eth1
  gateway: 192.168.1.1
  routes: [{dst: 10.1.0.0/16, via: 192.168.1.254}]
  per_node:
    node-a: {address: 192.168.1.10/24}
    node-b:
      interface: eth2
      address: 192.168.2.20/24
      gateway: 192.168.2.1
      routes: [{dst: 10.2.0.0/16, via: 192.168.2.254}]
)";

TEST(AgentConfigTest, UplinkPerNodeTakesTheNodesEntryOverTheSharedKeys) {
  auto config = ParseAgentConfig(kPerNodeUplink);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->uplink.per_node.size(), 2u);

  AgentConfig node_a = *config;
  ASSERT_TRUE(SelectUplinkForNode(node_a, "node-a").ok());
  EXPECT_EQ(node_a.uplink.address, "192.168.1.10/24");
  EXPECT_EQ(node_a.uplink.interface, "eth1");
  EXPECT_EQ(node_a.uplink.gateway, "192.168.1.1");
  ASSERT_EQ(node_a.uplink.routes.size(), 1u);
  EXPECT_EQ(node_a.uplink.routes[0].via, "192.168.1.254");
  EXPECT_TRUE(node_a.uplink.per_node.empty());
  EXPECT_TRUE(ValidateAgentConfig(node_a).ok()) << ValidateAgentConfig(node_a);

  AgentConfig node_b = *config;
  ASSERT_TRUE(SelectUplinkForNode(node_b, "node-b").ok());
  EXPECT_EQ(node_b.uplink.address, "192.168.2.20/24");
  EXPECT_EQ(node_b.uplink.interface, "eth2");
  EXPECT_EQ(node_b.uplink.gateway, "192.168.2.1");
  ASSERT_EQ(node_b.uplink.routes.size(), 1u);  // replaced, not appended
  EXPECT_EQ(node_b.uplink.routes[0].dst, "10.2.0.0/16");
  EXPECT_EQ(node_b.uplink.routes[0].via, "192.168.2.254");
}

TEST(AgentConfigTest, UplinkPerNodeNamesTheMissingNodeAndWhatToSet) {
  auto config = ParseAgentConfig(kPerNodeUplink);
  ASSERT_TRUE(config.ok()) << config.status();
  AgentConfig unnamed = *config;
  const absl::Status no_name = SelectUplinkForNode(unnamed, "");
  EXPECT_EQ(no_name.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no_name.message().find("--node_name or set NODE_NAME"), std::string::npos) << no_name;

  AgentConfig stranger = *config;
  const absl::Status missing = SelectUplinkForNode(stranger, "node-c");
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.message().find("no entry for node \"node-c\" (it has node-a, node-b)"),
            std::string::npos)
      << missing;
  EXPECT_NE(missing.message().find("uplink.per_node.node-c.address"), std::string::npos) << missing;

  // With a shared address, a node without an entry takes the base keys as they are.
  AgentConfig shared = *config;
  shared.uplink.address = "192.168.1.99/24";
  ASSERT_TRUE(SelectUplinkForNode(shared, "node-c").ok());
  EXPECT_EQ(shared.uplink.address, "192.168.1.99/24");
  EXPECT_EQ(shared.uplink.interface, "eth1");
}

TEST(AgentConfigTest, UplinkPerNodeRefusesUnknownKeysAndNonMaps) {
  auto typo = ParseAgentConfig("uplink: {per_node: {node-a: {adress: 192.168.1.10/24}}}\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("uplink.per_node.node-a"), std::string::npos)
      << typo.status();
  EXPECT_NE(typo.status().message().find("adress"), std::string::npos) << typo.status();
  // A per-node type would change the ports the chart mounts: it stays shared.
  EXPECT_FALSE(ParseAgentConfig("uplink: {per_node: {node-a: {type: pci}}}\n").ok());
  auto scalar = ParseAgentConfig("uplink: {per_node: {node-a: 192.168.1.10/24}}\n");
  ASSERT_FALSE(scalar.ok());
  EXPECT_NE(scalar.status().message().find("uplink.per_node.node-a must map uplink keys"),
            std::string::npos)
      << scalar.status();
  // An empty entry is no override: the node takes the shared keys.
  EXPECT_TRUE(ParseAgentConfig("uplink: {per_node: {node-a: }}\n").ok());
  auto list = ParseAgentConfig("uplink: {per_node: [node-a]}\n");
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.status().message().find("must map node names"), std::string::npos)
      << list.status();
}

TEST(AgentConfigTest, WithoutPerNodeTheNodeNameChangesNothing) {
  auto config =
      ParseAgentConfig("uplink: {type: af_packet, interface: eth1, address: 192.168.1.10/24}\n");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(SelectUplinkForNode(*config, "").ok());
  ASSERT_TRUE(SelectUplinkForNode(*config, "node-a").ok());
  EXPECT_EQ(config->uplink.address, "192.168.1.10/24");
}

}  // namespace
}  // namespace dpcni::dataplane
