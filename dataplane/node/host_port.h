// The host port: DPDK's "virtio-user as exceptional path" pointed at the node itself. A kernel port
// in the agent's own netns whose kernel side (dpcni0) holds the node's address toward its pods and
// routes the pod CIDRs, so the node reaches every local pod, and pods reach the node's kernel
// (kubelet probes, Services through kube-proxy, egress through masquerade).
#pragma once

#include <rte_ether.h>

#include <string>

#include "absl/status/statusor.h"
#include "config/agent_config.h"
#include "port/kernel_ports.h"

namespace dpcni::dataplane {

struct HostPort {
  KernelPort port;
  std::string ifname;
  rte_ether_addr kernel_mac{};  // the MAC of dpcni0, where the dataplane sends the node's frames
};

// Creates the host port, or re-attaches the persistent dpcni0 an earlier agent left, and configures
// its kernel side: MTU, the node address (/32) and an on-link route per pod CIDR.
absl::StatusOr<HostPort> SetUpHostPort(const AgentConfig& config, KernelPorts& ports);

}  // namespace dpcni::dataplane
