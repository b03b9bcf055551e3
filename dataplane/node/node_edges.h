// The node's edges: the host port toward its own kernel, the uplink toward its network, and the
// masquerade rule for pod traffic that leaves the cluster through the node. Set up once at start
// and attached to the engine; the masquerade rule and the uplink go when this object does, the host
// port stays (a persistent dpcni0 keeps the node's routes to its pods across an agent restart).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/agent_config.h"
#include "engine/engine.h"
#include "nat/masquerade.h"
#include "node/host_port.h"
#include "port/kernel_ports.h"
#include "uplink/uplink_port.h"

namespace dpcni::dataplane {

class NodeEdges {
 public:
  static absl::StatusOr<std::unique_ptr<NodeEdges>> SetUp(const AgentConfig& config,
                                                          KernelPorts& ports,
                                                          const PortQueues& queues, Engine& engine);
  // Call after the engine's workers have stopped.
  ~NodeEdges();
  NodeEdges(const NodeEdges&) = delete;
  NodeEdges& operator=(const NodeEdges&) = delete;

  const HostPort& host() const { return host_; }
  const std::optional<UplinkPort>& uplink() const { return uplink_; }

 private:
  NodeEdges() = default;

  HostPort host_;
  std::optional<UplinkPort> uplink_;
  std::unique_ptr<Masquerade> masquerade_;
};

// What the engine needs to know of the uplink, from its configuration, the port made for it and
// the node's pod CIDRs (which no packet from the uplink may come from).
absl::StatusOr<UplinkEndpoint> MakeUplinkEndpoint(const UplinkConfig& config,
                                                  const UplinkPort& port,
                                                  const std::vector<std::string>& pod_cidrs);

}  // namespace dpcni::dataplane
