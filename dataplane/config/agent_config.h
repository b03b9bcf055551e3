// The agent's configuration: a YAML file (see README "Agent configuration"), every field optional
// with the defaults below, some overridable by command-line flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dpcni::dataplane {

enum class PortBackend { kAuto, kVhostNet, kTap };

absl::StatusOr<PortBackend> ParsePortBackend(const std::string& name);
std::string PortBackendName(PortBackend backend);

struct EalConfig {
  std::string lcores = "0-1";        // EAL -l; the first is the main (control) lcore
  bool hugepages = false;            // false: --no-huge with memory_mb of anonymous memory
  uint32_t memory_mb = 512;
  std::string file_prefix = "dpcni";
  std::vector<std::string> extra_args;
};

struct AgentConfig {
  std::string socket_path = "/run/dpcni/dpcni.sock";
  std::string state_dir = "/var/lib/dpcni";
  std::vector<std::string> pod_cidrs;  // required
  // Addresses of the pod CIDRs that IPAM never hands out (e.g. the node's host-port address).
  std::vector<std::string> reserved_addresses;
  uint32_t pod_mtu = 1500;
  uint32_t max_pods = 30;
  PortBackend backend = PortBackend::kAuto;
  uint16_t pod_queue_size = 512;  // Rx and Tx descriptors per pod-port queue
  std::string gateway_ip = "169.254.1.1";
  std::string gateway_mac = "02:dc:00:00:00:01";
  EalConfig eal;
  std::vector<unsigned> worker_lcores = {1};
  uint32_t idle_sleep_max_us = 200;  // 0: busy-poll
  uint16_t burst_size = 32;
};

// Parses the YAML text; unknown keys are errors (a typo must not silently fall back to a default).
absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text);
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path);

// Checks cross-field constraints that parsing alone cannot (called after flags are applied).
absl::Status ValidateAgentConfig(const AgentConfig& config);

// The EAL argv the config implies (without argv[0]).
std::vector<std::string> EalArguments(const AgentConfig& config);

}  // namespace dpcni::dataplane
