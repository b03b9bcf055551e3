#include "config/agent_config.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ipam/ipv4.h"
#include "state/atomic_file.h"
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

}  // namespace

absl::StatusOr<PortBackend> ParsePortBackend(const std::string& name) {
  if (name == "auto") return PortBackend::kAuto;
  if (name == "vhost-net") return PortBackend::kVhostNet;
  if (name == "tap") return PortBackend::kTap;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown pod port backend \"", name, "\" (expected auto, vhost-net or tap)"));
}

std::string PortBackendName(PortBackend backend) {
  switch (backend) {
    case PortBackend::kAuto: return "auto";
    case PortBackend::kVhostNet: return "vhost-net";
    case PortBackend::kTap: return "tap";
  }
  return "unknown";
}

absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text) {
  AgentConfig config;
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return config;
    if (!root.IsMap()) return absl::InvalidArgumentError("agent config must be a YAML mapping");
    if (auto status = RejectUnknownKeys(
            root, "agent config",
            {"socket", "state_dir", "pod_cidrs", "reserved_addresses", "pod_mtu", "max_pods",
             "backend", "pod_queue_size", "gateway_ip", "gateway_mac", "eal", "worker_lcores",
             "idle_sleep_max_us", "burst_size"});
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
    ReadIfPresent(root, "burst_size", config.burst_size);
    if (root["backend"]) {
      auto backend = ParsePortBackend(root["backend"].as<std::string>());
      if (!backend.ok()) return backend.status();
      config.backend = *backend;
    }
    if (root["eal"]) {
      if (auto status = ParseEal(root["eal"], config.eal); !status.ok()) return status;
    }
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
    return absl::Status(config.status().code(), absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::Status ValidateAgentConfig(const AgentConfig& config) {
  if (config.pod_cidrs.empty()) {
    return absl::InvalidArgumentError("pod_cidrs is empty: the node needs a pod CIDR");
  }
  for (const std::string& cidr : config.pod_cidrs) {
    if (auto prefix = Ipv4Prefix::Parse(cidr); !prefix.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("pod_cidrs: ", prefix.status().message()));
    }
  }
  if (auto gateway = ParseIpv4(config.gateway_ip); !gateway.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("gateway_ip: ", gateway.status().message()));
  }
  if (config.pod_mtu < 576 || config.pod_mtu > 9000) {
    return absl::InvalidArgumentError(absl::StrCat("pod_mtu ", config.pod_mtu, " is outside 576..9000"));
  }
  if (config.backend == PortBackend::kTap && config.pod_mtu > 1500) {
    // DPDK 22.11's net_tap hard-codes a 1522-byte maximum frame.
    return absl::InvalidArgumentError(
        absl::StrCat("pod_mtu ", config.pod_mtu, " is above 1500, which the tap backend cannot carry"));
  }
  if (config.max_pods == 0) return absl::InvalidArgumentError("max_pods must be at least 1");
  if (config.worker_lcores.empty()) {
    return absl::InvalidArgumentError("worker_lcores is empty: the dataplane needs a worker");
  }
  if (config.burst_size == 0 || config.burst_size > 256) {
    return absl::InvalidArgumentError("burst_size must be within 1..256");
  }
  if (config.pod_queue_size < 64 || (config.pod_queue_size & (config.pod_queue_size - 1)) != 0) {
    return absl::InvalidArgumentError("pod_queue_size must be a power of two, at least 64");
  }
  return absl::OkStatus();
}

std::vector<std::string> EalArguments(const AgentConfig& config) {
  std::vector<std::string> args = {"-l", config.eal.lcores, "--file-prefix", config.eal.file_prefix,
                                   // Pod ports and the uplink are named explicitly; never probe the
                                   // machine's PCI NICs behind the operator's back.
                                   "--no-pci"};
  if (config.eal.hugepages) {
    args.insert(args.end(), {"--in-memory"});
  } else {
    // --no-huge implies legacy memory and cannot be combined with --in-memory; --no-shconf keeps the
    // runtime directory free of shared config files that a crash would leave behind.
    args.insert(args.end(), {"--no-huge", "-m", std::to_string(config.eal.memory_mb), "--no-shconf"});
  }
  args.insert(args.end(), config.eal.extra_args.begin(), config.eal.extra_args.end());
  return args;
}

}  // namespace dpcni::dataplane
