#include "config/agent_config.h"

#include <rte_build_config.h>
#include <rte_log.h>

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "ipam/ipv4.h"
#include "node/pod_cidrs.h"
#include "yaml-cpp/yaml.h"

namespace dpcni::dataplane {
namespace {

absl::Status RejectUnknownKeys(const YAML::Node& node, const std::string& where,
                               const std::set<std::string>& known) {
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    if (!known.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown key \"", key, "\" in ", where,
                                                     " (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
void ReadIfPresent(const YAML::Node& node, const char* key, T& value) {
  if (node[key]) value = node[key].as<T>();
}

absl::Status ParseEal(const YAML::Node& node, EalConfig& eal) {
  if (auto status = RejectUnknownKeys(
          node, "eal", {"lcores", "hugepages", "memory_mb", "file_prefix", "extra_args"});
      !status.ok()) {
    return status;
  }
  ReadIfPresent(node, "lcores", eal.lcores);
  ReadIfPresent(node, "hugepages", eal.hugepages);
  ReadIfPresent(node, "memory_mb", eal.memory_mb);
  ReadIfPresent(node, "file_prefix", eal.file_prefix);
  ReadIfPresent(node, "extra_args", eal.extra_args);
  return absl::OkStatus();
}

absl::Status ParseHostPort(const YAML::Node& node, HostPortConfig& host_port) {
  if (auto status = RejectUnknownKeys(node, "host_port", {"name", "address"}); !status.ok()) {
    return status;
  }
  ReadIfPresent(node, "name", host_port.name);
  ReadIfPresent(node, "address", host_port.address);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StaticRoute>> ParseRoutes(const YAML::Node& node,
                                                     const std::string& what) {
  std::vector<StaticRoute> routes;
  for (const auto& route : node) {
    if (auto status = RejectUnknownKeys(route, what, {"dst", "via"}); !status.ok()) {
      return status;
    }
    routes.push_back({route["dst"].as<std::string>(""), route["via"].as<std::string>("")});
  }
  return routes;
}

template <typename T>
void ReadIfPresent(const YAML::Node& node, const char* key, std::optional<T>& value) {
  if (node[key]) value = node[key].as<T>();
}

absl::Status ParseUplinkPerNode(const YAML::Node& node, UplinkConfig& uplink) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(
        "uplink.per_node must map node names to their uplink keys, e.g. "
        "{node-a: {address: 192.168.1.10/24}}");
  }
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    const std::string what = absl::StrCat("uplink.per_node.", name);
    if (!entry.second.IsMap() && !entry.second.IsNull()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " must map uplink keys to values, e.g. {address: 192.168.1.10/24}"));
    }
    if (auto status = RejectUnknownKeys(
            entry.second, what, {"interface", "pci_address", "address", "gateway", "routes"});
        !status.ok()) {
      return status;
    }
    UplinkConfig::NodeOverride& override = uplink.per_node[name];
    ReadIfPresent(entry.second, "interface", override.interface);
    ReadIfPresent(entry.second, "pci_address", override.pci_address);
    ReadIfPresent(entry.second, "address", override.address);
    ReadIfPresent(entry.second, "gateway", override.gateway);
    if (entry.second["routes"]) {
      auto routes = ParseRoutes(entry.second["routes"], what + ".routes");
      if (!routes.ok()) return routes.status();
      override.routes = *std::move(routes);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseUplink(const YAML::Node& node, UplinkConfig& uplink) {
  if (auto status = RejectUnknownKeys(
          node, "uplink",
          {"type", "interface", "pci_address", "address", "gateway", "routes", "per_node"});
      !status.ok()) {
    return status;
  }
  if (node["type"]) {
    auto type = ParseUplinkType(node["type"].as<std::string>());
    if (!type.ok()) return type.status();
    uplink.type = *type;
  }
  ReadIfPresent(node, "interface", uplink.interface);
  ReadIfPresent(node, "pci_address", uplink.pci_address);
  ReadIfPresent(node, "address", uplink.address);
  ReadIfPresent(node, "gateway", uplink.gateway);
  if (node["routes"]) {
    auto routes = ParseRoutes(node["routes"], "uplink.routes");
    if (!routes.ok()) return routes.status();
    uplink.routes = *std::move(routes);
  }
  if (node["per_node"]) {
    return ParseUplinkPerNode(node["per_node"], uplink);
  }
  return absl::OkStatus();
}

template <typename Duration>
void ReadSecondsIfPresent(const YAML::Node& node, const char* key, Duration& value) {
  if (node[key]) value = std::chrono::seconds(node[key].as<uint32_t>());
}

absl::Status ParseFlowTable(const YAML::Node& node, FlowTableConfig& flows) {
  if (auto status = RejectUnknownKeys(node, "flow_table",
                                      {"size", "tcp_established_s", "tcp_transitory_s", "udp_s",
                                       "udp_stream_s", "icmp_s", "other_s"});
      !status.ok()) {
    return status;
  }
  ReadIfPresent(node, "size", flows.capacity);
  ReadSecondsIfPresent(node, "tcp_established_s", flows.timeouts.tcp_established);
  ReadSecondsIfPresent(node, "tcp_transitory_s", flows.timeouts.tcp_transitory);
  ReadSecondsIfPresent(node, "udp_s", flows.timeouts.udp);
  ReadSecondsIfPresent(node, "udp_stream_s", flows.timeouts.udp_stream);
  ReadSecondsIfPresent(node, "icmp_s", flows.timeouts.icmp);
  ReadSecondsIfPresent(node, "other_s", flows.timeouts.other);
  return absl::OkStatus();
}

absl::Status ValidateFlowTable(const FlowTableConfig& flows) {
  if (flows.capacity > kMaxFlowTableSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("flow_table.size ", flows.capacity, " is above ", kMaxFlowTableSize));
  }
  const FlowTimeouts& timeouts = flows.timeouts;
  for (const auto& [name, timeout] :
       {std::pair{"tcp_established_s", timeouts.tcp_established},
        std::pair{"tcp_transitory_s", timeouts.tcp_transitory}, std::pair{"udp_s", timeouts.udp},
        std::pair{"udp_stream_s", timeouts.udp_stream}, std::pair{"icmp_s", timeouts.icmp},
        std::pair{"other_s", timeouts.other}}) {
    if (timeout.count() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("flow_table.", name, " must be at least 1 (seconds)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseRemoteNodes(const YAML::Node& node, RemoteNodesConfig& remote) {
  if (auto status = RejectUnknownKeys(node, "remote_nodes", {"mode", "vxlan_port", "vni"});
      !status.ok()) {
    return status;
  }
  if (node["mode"]) {
    auto mode = ParseRemoteNodesMode(node["mode"].as<std::string>());
    if (!mode.ok()) return mode.status();
    remote.mode = *mode;
  }
  // Read wide, so that -1 or 70000 is refused by ValidateRemoteNodes with the range, rather than
  // wrapping around in the conversion.
  for (const auto& [key, value] :
       {std::pair{"vxlan_port", &remote.vxlan_port}, std::pair{"vni", &remote.vni}}) {
    if (!node[key]) continue;
    const int64_t wide = node[key].as<int64_t>();
    if (wide < 0 || wide > int64_t{UINT32_MAX}) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote_nodes.", key, " ", wide, " is negative or far too large"));
    }
    *value = static_cast<uint32_t>(wide);
  }
  return absl::OkStatus();
}

absl::Status ValidateRemoteNodes(const RemoteNodesConfig& remote, const UplinkConfig& uplink) {
  if (remote.vxlan_port == 0 || remote.vxlan_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("remote_nodes.vxlan_port ", remote.vxlan_port,
                     " is outside 1..65535 (leave it out for VXLAN's port 4789; it must be the "
                     "same on every node)"));
  }
  if (remote.vni > kMaxVni) {
    return absl::InvalidArgumentError(absl::StrCat(
        "remote_nodes.vni ", remote.vni, " is above ", kMaxVni,
        ": a VXLAN network identifier has 24 bits (leave it out for 1; the same on every node)"));
  }
  if (remote.mode != RemoteNodesMode::kAuto && uplink.type == UplinkType::kNone) {
    return absl::InvalidArgumentError(absl::StrCat(
        "remote_nodes.mode ", RemoteNodesModeName(remote.mode),
        " needs an uplink (uplink.type): without one, the other nodes' pod CIDRs go through the "
        "node's kernel; set mode to auto or configure the uplink"));
  }
  return absl::OkStatus();
}

absl::Status ValidateUplink(const UplinkConfig& uplink) {
  if (uplink.type == UplinkType::kNone) return absl::OkStatus();
  const std::string what = "uplink (" + UplinkTypeName(uplink.type) + ")";
  if (uplink.type == UplinkType::kPci ? uplink.pci_address.empty() : uplink.interface.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " needs ", uplink.type == UplinkType::kPci ? "pci_address" : "interface"));
  }
  if (auto address = Ipv4InterfaceAddress::Parse(uplink.address); !address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " address: ", address.status().message()));
  }
  if (!uplink.gateway.empty()) {
    if (auto gateway = ParseIpv4(uplink.gateway); !gateway.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " gateway: ", gateway.status().message()));
    }
  }
  for (const StaticRoute& route : uplink.routes) {
    if (auto dst = Ipv4Prefix::Parse(route.dst); !dst.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " route: ", dst.status().message()));
    }
    if (auto via = ParseIpv4(route.via); !via.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " route via: ", via.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t DpdkLogLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return RTE_LOG_ERR;
    case LogLevel::kWarning:
      return RTE_LOG_WARNING;
    case LogLevel::kInfo:
      return RTE_LOG_INFO;
    case LogLevel::kDebug:
      return RTE_LOG_DEBUG;
  }
  return RTE_LOG_INFO;
}

absl::StatusOr<UplinkType> ParseUplinkType(const std::string& name) {
  if (name == "none") return UplinkType::kNone;
  if (name == "af_packet") return UplinkType::kAfPacket;
  if (name == "af_xdp") return UplinkType::kAfXdp;
  if (name == "pci") return UplinkType::kPci;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown uplink type \"", name, "\" (expected pci, af_packet, af_xdp or none)"));
}

std::string UplinkTypeName(UplinkType type) {
  switch (type) {
    case UplinkType::kNone:
      return "none";
    case UplinkType::kAfPacket:
      return "af_packet";
    case UplinkType::kAfXdp:
      return "af_xdp";
    case UplinkType::kPci:
      return "pci";
  }
  return "unknown";
}

uint32_t InfrastructurePortCount(const AgentConfig& config) {
  return 1 + (config.uplink.type == UplinkType::kNone ? 0 : 1);
}

uint32_t MaxPodsSupported(const AgentConfig& config) {
  return RTE_MAX_ETHPORTS - InfrastructurePortCount(config);
}

absl::StatusOr<std::string> HostPortAddress(const AgentConfig& config) {
  if (!config.host_port.address.empty()) return config.host_port.address;
  if (config.pod_cidrs.empty()) return absl::InvalidArgumentError("no pod CIDR for the host port");
  auto prefix = Ipv4Prefix::Parse(config.pod_cidrs.front());
  if (!prefix.ok()) return prefix.status();
  return Ipv4ToString(prefix->network + (prefix->length < 31 ? 1 : 0));
}

absl::StatusOr<std::vector<std::string>> IpamReservedAddresses(const AgentConfig& config) {
  auto host = HostPortAddress(config);
  if (!host.ok()) return host.status();
  std::vector<std::string> reserved = config.reserved_addresses;
  reserved.push_back(*host);
  // Outside the pod CIDRs (169.254.1.1 by default) it is never allocated anyway.
  reserved.push_back(config.gateway_ip);
  return reserved;
}

absl::StatusOr<RemoteNodesMode> ParseRemoteNodesMode(const std::string& name) {
  if (name == "auto") return RemoteNodesMode::kAuto;
  if (name == "host-gw") return RemoteNodesMode::kHostGw;
  if (name == "vxlan") return RemoteNodesMode::kVxlan;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown remote_nodes.mode \"", name, "\" (expected auto, host-gw or vxlan)"));
}

std::string RemoteNodesModeName(RemoteNodesMode mode) {
  switch (mode) {
    case RemoteNodesMode::kAuto:
      return "auto";
    case RemoteNodesMode::kHostGw:
      return "host-gw";
    case RemoteNodesMode::kVxlan:
      return "vxlan";
  }
  return "unknown";
}

absl::StatusOr<PortBackend> ParsePortBackend(const std::string& name) {
  if (name == "auto") return PortBackend::kAuto;
  if (name == "vhost-net") return PortBackend::kVhostNet;
  if (name == "tap") return PortBackend::kTap;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown pod port backend \"", name, "\" (expected auto, vhost-net or tap)"));
}

std::string PortBackendName(PortBackend backend) {
  switch (backend) {
    case PortBackend::kAuto:
      return "auto";
    case PortBackend::kVhostNet:
      return "vhost-net";
    case PortBackend::kTap:
      return "tap";
  }
  return "unknown";
}

absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text) {
  AgentConfig config;
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return config;
    if (!root.IsMap()) return absl::InvalidArgumentError("agent config must be a YAML mapping");
    if (auto status = RejectUnknownKeys(root, "agent config",
                                        {"socket",
                                         "state_dir",
                                         "pod_cidrs",
                                         "reserved_addresses",
                                         "pod_mtu",
                                         "max_pods",
                                         "backend",
                                         "pod_queue_size",
                                         "gateway_ip",
                                         "gateway_mac",
                                         "eal",
                                         "worker_lcores",
                                         "idle_sleep_max_us",
                                         "rx_interrupts",
                                         "burst_size",
                                         "host_port",
                                         "cluster_cidrs",
                                         "masquerade",
                                         "uplink",
                                         "metrics_address",
                                         "flow_table",
                                         "remote_nodes",
                                         "log_level"});
        !status.ok()) {
      return status;
    }
    ReadIfPresent(root, "socket", config.socket_path);
    ReadIfPresent(root, "state_dir", config.state_dir);
    ReadIfPresent(root, "pod_cidrs", config.pod_cidrs);
    ReadIfPresent(root, "reserved_addresses", config.reserved_addresses);
    ReadIfPresent(root, "pod_mtu", config.pod_mtu);
    ReadIfPresent(root, "max_pods", config.max_pods);
    ReadIfPresent(root, "pod_queue_size", config.pod_queue_size);
    ReadIfPresent(root, "gateway_ip", config.gateway_ip);
    ReadIfPresent(root, "gateway_mac", config.gateway_mac);
    ReadIfPresent(root, "worker_lcores", config.worker_lcores);
    ReadIfPresent(root, "idle_sleep_max_us", config.idle_sleep_max_us);
    ReadIfPresent(root, "rx_interrupts", config.rx_interrupts);
    ReadIfPresent(root, "burst_size", config.burst_size);
    if (root["backend"]) {
      auto backend = ParsePortBackend(root["backend"].as<std::string>());
      if (!backend.ok()) return backend.status();
      config.backend = *backend;
    }
    if (root["log_level"]) {
      auto level = ParseLogLevel(root["log_level"].as<std::string>());
      if (!level.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("log_level: ", level.status().message()));
      }
      config.log_level = *level;
    }
    if (root["eal"]) {
      if (auto status = ParseEal(root["eal"], config.eal); !status.ok()) return status;
    }
    if (root["host_port"]) {
      if (auto status = ParseHostPort(root["host_port"], config.host_port); !status.ok())
        return status;
    }
    if (root["uplink"]) {
      if (auto status = ParseUplink(root["uplink"], config.uplink); !status.ok()) return status;
    }
    if (root["flow_table"]) {
      if (auto status = ParseFlowTable(root["flow_table"], config.flow_table); !status.ok()) {
        return status;
      }
    }
    if (root["remote_nodes"]) {
      if (auto status = ParseRemoteNodes(root["remote_nodes"], config.remote_nodes); !status.ok()) {
        return status;
      }
    }
    ReadIfPresent(root, "cluster_cidrs", config.cluster_cidrs);
    ReadIfPresent(root, "masquerade", config.masquerade);
    ReadIfPresent(root, "metrics_address", config.metrics_address);
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("agent config: ", error.what()));
  }
  return config;
}

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto config = ParseAgentConfig(*text);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::Status SelectUplinkForNode(AgentConfig& config, std::string_view node_name) {
  UplinkConfig& uplink = config.uplink;
  if (uplink.per_node.empty()) return absl::OkStatus();
  if (node_name.empty()) {
    return absl::FailedPreconditionError(
        "uplink.per_node needs the name of the node the agent runs on: pass --node_name or set "
        "NODE_NAME (the chart sets it from spec.nodeName)");
  }
  const std::string node(node_name);
  auto entry = uplink.per_node.find(node);
  if (entry == uplink.per_node.end()) {
    if (uplink.address.empty()) {
      std::vector<std::string> names;
      for (const auto& [name, override] : uplink.per_node) names.push_back(name);
      return absl::FailedPreconditionError(
          absl::StrCat("uplink.per_node has no entry for node \"", node, "\" (it has ",
                       absl::StrJoin(names, ", "),
                       ") and uplink.address is unset: add the node's uplink "
                       "address under uplink.per_node.",
                       node, ".address"));
    }
    uplink.per_node.clear();
    return absl::OkStatus();
  }
  const UplinkConfig::NodeOverride& override = entry->second;
  if (override.interface) uplink.interface = *override.interface;
  if (override.pci_address) uplink.pci_address = *override.pci_address;
  if (override.address) uplink.address = *override.address;
  if (override.gateway) uplink.gateway = *override.gateway;
  if (override.routes) uplink.routes = *override.routes;
  uplink.per_node.clear();
  return absl::OkStatus();
}

absl::Status ValidateAgentConfig(const AgentConfig& config) {
  // Without pod_cidrs the agent waits for SetPodCidrs, and checks the whole config again with them.
  if (!config.pod_cidrs.empty()) {
    if (auto status = ValidatePodCidrs(config.pod_cidrs, "pod_cidrs"); !status.ok()) return status;
  }
  if (auto gateway = ParseIpv4(config.gateway_ip); !gateway.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("gateway_ip: ", gateway.status().message()));
  }
  if (config.pod_mtu < 576 || config.pod_mtu > 9000) {
    return absl::InvalidArgumentError(
        absl::StrCat("pod_mtu ", config.pod_mtu, " is outside 576..9000"));
  }
  if (config.backend == PortBackend::kTap && config.pod_mtu > 1500) {
    // DPDK 22.11's net_tap hard-coded a 1522-byte maximum frame. vnet_tap, the tap backend since,
    // reads frames up to 64 KiB, but pods above 1500 on it are not tested yet.
    return absl::InvalidArgumentError(absl::StrCat(
        "pod_mtu ", config.pod_mtu, " is above 1500, which the tap backend cannot carry"));
  }
  if (config.max_pods == 0) return absl::InvalidArgumentError("max_pods must be at least 1");
  if (config.max_pods > MaxPodsSupported(config)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_pods ", config.max_pods,
        " is more than this DPDK build can carry: each pod is one ethdev, ", "RTE_MAX_ETHPORTS is ",
        RTE_MAX_ETHPORTS, " and the node's own ports take ", InfrastructurePortCount(config),
        ", which leaves ", MaxPodsSupported(config), " pods"));
  }
  if (config.worker_lcores.empty()) {
    return absl::InvalidArgumentError("worker_lcores is empty: the dataplane needs a worker");
  }
  if (config.burst_size == 0 || config.burst_size > kMaxBurstSize) {
    // One bound with the engine's, which sizes its Tx buffers by it: a larger value used to pass
    // here and stop the agent later, at engine creation.
    return absl::InvalidArgumentError(
        absl::StrCat("burst_size ", config.burst_size, " is outside 1..", kMaxBurstSize));
  }
  for (const std::string& cidr : config.cluster_cidrs) {
    if (auto prefix = Ipv4Prefix::Parse(cidr); !prefix.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("cluster_cidrs: ", prefix.status().message()));
    }
  }
  if (!config.pod_cidrs.empty() || !config.host_port.address.empty()) {
    if (auto host = HostPortAddress(config); !host.ok() || !ParseIpv4(*host).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host_port.address \"", config.host_port.address, "\" is not an IPv4 address"));
    }
  }
  if (config.host_port.name.empty() || config.host_port.name.size() >= 16) {
    return absl::InvalidArgumentError("host_port.name must be 1..15 characters");
  }
  if (auto status = ValidateUplink(config.uplink); !status.ok()) return status;
  if (auto status = ValidateFlowTable(config.flow_table); !status.ok()) return status;
  if (auto status = ValidateRemoteNodes(config.remote_nodes, config.uplink); !status.ok()) {
    return status;
  }
  if (config.pod_queue_size < 64 || (config.pod_queue_size & (config.pod_queue_size - 1)) != 0) {
    return absl::InvalidArgumentError("pod_queue_size must be a power of two, at least 64");
  }
  return absl::OkStatus();
}

std::vector<std::string> EalArguments(const AgentConfig& config) {
  std::vector<std::string> args = {"-l", config.eal.lcores, "--file-prefix",
                                   config.eal.file_prefix};
  // Ports are named explicitly: never probe the machine's PCI NICs behind the operator's back. A
  // PCI uplink is the one device EAL may take.
  if (config.uplink.type == UplinkType::kPci) {
    args.insert(args.end(), {"-a", config.uplink.pci_address});
  } else {
    args.push_back("--no-pci");
  }
  if (config.eal.hugepages) {
    args.insert(args.end(), {"--in-memory"});
  } else {
    // --no-huge implies legacy memory and cannot be combined with --in-memory; --no-shconf keeps
    // the runtime directory free of shared config files that a crash would leave behind.
    args.insert(args.end(),
                {"--no-huge", "-m", std::to_string(config.eal.memory_mb), "--no-shconf"});
  }
  // DPDK's global level follows the agent's, so that --log_level quiets or opens both logs; EAL
  // parses it before anything else, so its own start-up lines obey it too. The global level only
  // caps: each DPDK log type keeps its own level (mostly info), so debug shows no DPDK debug lines
  // unless extra_args opens a type (--log-level=pmd.net.tap:debug), which comes later and wins.
  args.push_back(absl::StrCat("--log-level=", DpdkLogLevel(config.log_level)));
  args.insert(args.end(), config.eal.extra_args.begin(), config.eal.extra_args.end());
  return args;
}

}  // namespace dpcni::dataplane
