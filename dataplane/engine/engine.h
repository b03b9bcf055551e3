// The forwarding engine: worker lcores that poll every attached port, route IPv4 with rte_lpm and
// transmit in buffered bursts. The control plane (gRPC threads) attaches and detaches ports; changes
// are published to the workers with RCU (rte_rcu_qsbr), so the fast path takes no locks.
#pragma once

#include <rte_ether.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dpcni::dataplane {

struct EngineConfig {
  // EAL lcore ids the workers run on; each gets one Tx queue index (its position in this list) on
  // every port, so ports must be configured with worker_lcores.size() Tx queues.
  std::vector<unsigned> worker_lcores;
  // Upper bound on ports the engine can hold at once (sizes the route table and counters).
  uint32_t max_ports = 32;
  uint16_t burst_size = 32;
  // An idle worker backs off, sleeping up to this long between polls; zero means busy-poll.
  std::chrono::microseconds idle_sleep_max{200};
  // The pods' default gateway: every pod port answers ARP for it with gateway_mac.
  uint32_t gateway_ip = 0;  // host byte order (169.254.1.1)
  rte_ether_addr gateway_mac{};
};

// A started ethdev carrying one pod: the engine polls Rx queue 0 and routes ip/32 to it.
struct PodEndpoint {
  uint16_t port_id = 0;
  uint32_t ip = 0;  // host byte order
  rte_ether_addr mac{};
  std::string name;  // "namespace/name", for counters and route listings
};

struct PortCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  // Drops by reason, e.g. "spoofed_source", "no_route", "tx_full", "ttl_exceeded", "not_ipv4".
  std::map<std::string, uint64_t> drops;
};

struct RouteInfo {
  std::string prefix;    // "10.244.0.5/32"
  std::string next_hop;  // "port 3 (default/web-0)"
};

class Engine {
 public:
  // Destroy the engine after stopping it and closing the ports it transmitted on (software GSO
  // segments still in their Tx rings come from the engine's own mbuf pools), and before
  // rte_eal_cleanup.
  virtual ~Engine() = default;

  // Launches the workers on their lcores. Call once, after rte_eal_init.
  virtual absl::Status Start() = 0;
  // Stops and joins the workers. Ports stay attached; the caller closes them afterwards.
  virtual void Stop() = 0;

  // Starts polling the pod's port and routing its /32 to it. Safe to call while workers run.
  virtual absl::Status AttachPod(const PodEndpoint& pod) = 0;
  // Stops routing to and polling the port. Returns only once no worker can still touch it, so the
  // caller may stop and close the ethdev right after.
  virtual absl::Status DetachPod(uint16_t port_id) = 0;

  virtual absl::StatusOr<PortCounters> Counters(uint16_t port_id) const = 0;
  virtual std::vector<RouteInfo> Routes() const = 0;
};

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineConfig& config);

}  // namespace dpcni::dataplane
