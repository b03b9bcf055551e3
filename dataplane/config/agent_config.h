// The agent's configuration: a YAML file (see README "Agent configuration"), every field optional
// with the defaults below, some overridable by command-line flags.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/log.h"
#include "engine/engine.h"

namespace dpcni::dataplane {

enum class PortBackend { kAuto, kVhostNet, kTap };

absl::StatusOr<PortBackend> ParsePortBackend(const std::string& name);
std::string PortBackendName(PortBackend backend);

struct EalConfig {
  std::string lcores = "0-1";  // EAL -l; the first is the main (control) lcore
  bool hugepages = false;      // false: --no-huge with memory_mb of anonymous memory
  // Without hugepages: 0 derives it from max_pods and the port queues (port/mbuf_budget.h); an
  // explicit value below what they need is refused at start.
  uint32_t memory_mb = 0;
  std::string file_prefix = "dpcni";
  std::vector<std::string> extra_args;
};

// The host port: a port in the agent's own netns whose kernel side (`name`) is the node's way to
// and from its pods, and the pods' way to the node's kernel (probes, Services, egress).
struct HostPortConfig {
  std::string name = "dpcni0";
  // The node's address on it; empty: the first usable address of the first pod CIDR (kept out of
  // IPAM).
  std::string address;
};

enum class UplinkType { kNone, kAfPacket, kAfXdp, kPci };

absl::StatusOr<UplinkType> ParseUplinkType(const std::string& name);
std::string UplinkTypeName(UplinkType type);

struct StaticRoute {
  std::string dst;  // CIDR
  std::string via;  // a neighbour on the uplink subnet
};

// The uplink NIC: a PCI device bound to vfio-pci, or a kernel interface read through
// af_packet/af_xdp.
struct UplinkConfig {
  UplinkType type = UplinkType::kNone;
  std::string interface;    // af_packet, af_xdp
  std::string pci_address;  // pci, e.g. 0000:03:00.0
  std::string address;      // the node's address on the uplink network, CIDR: 192.168.1.10/24
  std::string gateway;      // optional default next hop on the uplink network
  std::vector<StaticRoute> routes;
  // What differs from node to node, by node name (`per_node`): one configuration, one Helm release,
  // serves every node. The agent's node's entry replaces the keys it sets (SelectUplinkForNode).
  struct NodeOverride {
    std::optional<std::string> interface;
    std::optional<std::string> pci_address;
    std::optional<std::string> address;
    std::optional<std::string> gateway;
    std::optional<std::vector<StaticRoute>> routes;
  };
  std::map<std::string, NodeOverride> per_node;
};

// How the pod CIDRs of the cluster's other nodes are reached (SetRemoteNodes, node/remote_nodes.h).
enum class RemoteNodesMode {
  kAuto,    // host-gw to a node on the uplink's network, VXLAN to the others
  kHostGw,  // host-gw to every node: each must be on the uplink's network
  kVxlan,   // VXLAN to every node
};

absl::StatusOr<RemoteNodesMode> ParseRemoteNodesMode(const std::string& name);
std::string RemoteNodesModeName(RemoteNodesMode mode);

struct RemoteNodesConfig {
  RemoteNodesMode mode = RemoteNodesMode::kAuto;
  uint32_t vxlan_port = 4789;  // the outer UDP destination port; IANA's VXLAN port
  uint32_t vni = 1;            // the cluster's one VXLAN network, 24 bits; the same on every node
};

struct AgentConfig {
  std::string socket_path = "/run/dpcni/dpcni.sock";
  std::string state_dir = "/var/lib/dpcni";
  // The node's pod CIDRs. Empty: the agent takes them from SetPodCidrs (Kubernetes' Node object)
  // and records them in state_dir (node/pod_cidrs.h).
  std::vector<std::string> pod_cidrs;
  // Addresses of the pod CIDRs that IPAM never hands out (e.g. the node's host-port address).
  std::vector<std::string> reserved_addresses;
  uint32_t pod_mtu = 1500;
  // Each pod is one ethdev: at most RTE_MAX_ETHPORTS minus the infrastructure ports. 110 is
  // Kubernetes' default pods per node (kubelet --max-pods).
  uint32_t max_pods = 110;
  PortBackend backend = PortBackend::kAuto;
  uint16_t pod_queue_size = 512;  // Rx and Tx descriptors per pod-port queue
  std::string gateway_ip = "169.254.1.1";
  std::string gateway_mac = "02:dc:00:00:00:01";
  EalConfig eal;
  std::vector<unsigned> worker_lcores = {1};
  uint32_t idle_sleep_max_us = 200;  // 0: busy-poll
  // Pod and host ports raise Rx interrupts, so an idle worker blocks until traffic instead of
  // napping on a timer (docs/engine.md). false: timed naps only.
  bool rx_interrupts = true;
  uint16_t burst_size = 32;
  HostPortConfig host_port;
  // Destinations that pod traffic reaches without masquerade; empty: the pod CIDRs.
  std::vector<std::string> cluster_cidrs;
  bool masquerade = true;
  UplinkConfig uplink;
  // Where Prometheus scrapes the port counters ("0.0.0.0:9464"); empty: no metrics endpoint.
  std::string metrics_address;
  // Flows the node's kernel forwards to pods (Services NATed by kube-proxy), whose replies the
  // dataplane steers back through the kernel: how many it keeps, and for how long (flow_table.*).
  FlowTableConfig flow_table;
  // Routes to the other nodes' pods. Without an uplink they always go through the node's kernel.
  RemoteNodesConfig remote_nodes;
  // The agent's log (common/log.h) and, mapped to DPDK's levels, EAL's --log-level (EalArguments).
  LogLevel log_level = LogLevel::kInfo;
};

// The largest flow_table.size accepted.
inline constexpr uint32_t kMaxFlowTableSize = 1u << 24;
// The largest remote_nodes.vni: VXLAN's network identifier has 24 bits.
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;

// Ethdevs the node itself takes besides the pods': the host port, and the uplink when there is one.
uint32_t InfrastructurePortCount(const AgentConfig& config);

// The most pods this DPDK build can carry next to the infrastructure ports (one ethdev per pod).
uint32_t MaxPodsSupported(const AgentConfig& config);

// The host port's address: the configured one, or the first usable address of the first pod CIDR.
absl::StatusOr<std::string> HostPortAddress(const AgentConfig& config);

// What IPAM must never hand out: reserved_addresses, the host port's address and the pods' gateway
// (answered by the dataplane, so a pod holding it would be unreachable).
absl::StatusOr<std::vector<std::string>> IpamReservedAddresses(const AgentConfig& config);

// Parses the YAML text; unknown keys are errors (a typo must not silently fall back to a default).
absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text);
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path);

// Applies uplink.per_node for the node the agent runs on, `node_name` (Kubernetes' Node name), and
// empties per_node. Fails when per_node is set and the agent has no node name, or when this node
// has no entry and the base uplink has no address: either way it names what to set.
absl::Status SelectUplinkForNode(AgentConfig& config, std::string_view node_name);

// Checks cross-field constraints that parsing alone cannot (called after flags are applied).
// Without pod_cidrs the checks that need them wait: called again once SetPodCidrs delivered them.
absl::Status ValidateAgentConfig(const AgentConfig& config);

// DPDK's level (RTE_LOG_ERR..RTE_LOG_DEBUG) for ours: EAL's --log-level.
uint32_t DpdkLogLevel(LogLevel level);

// The EAL argv the config implies (without argv[0]); eal.memory_mb must be sized first when it is 0
// (SizeEalMemory in port/mbuf_budget.h).
std::vector<std::string> EalArguments(const AgentConfig& config);

}  // namespace dpcni::dataplane
