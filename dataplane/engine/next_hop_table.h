// The table that LPM results index into. An LPM entry holds only a 24-bit next-hop id; the id names
// a slot here that says where and how to send: a local pod's port and MACs, the host port, or the
// uplink with a neighbour whose MAC comes from ARP.
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/engine/offload.h"

namespace dpcni::dataplane {

// What kind of port a packet came in on. The values are bits, so that a next hop can say in one
// byte which ingress ports may use it.
enum class PortRole : uint8_t {
  kPod = 1 << 0,
  kHost = 1 << 1,
  kUplink = 1 << 2,
};

constexpr uint8_t RoleMask(PortRole role) { return static_cast<uint8_t>(role); }
template <typename... Roles>
constexpr uint8_t RoleMask(PortRole role, Roles... more) {
  return static_cast<uint8_t>(RoleMask(role) | RoleMask(more...));
}

enum class NextHopKind : uint8_t {
  kDirect,     // dst_mac is known: a pod, or the node's kernel on the host port
  kNeighbour,  // a host on the uplink network: dst_mac comes from the neighbour table
  kLocal,      // the node's own uplink address: handed to the host port unrouted (TTL untouched)
  kVxlan,      // a remote node's pods: encapsulated in VXLAN to tunnel_destination, sent on the
               // uplink to the neighbour `via` (the outer next hop), whose MAC comes from ARP
};

// A next-hop id that names no slot: no default route.
inline constexpr uint32_t kNoNextHop = std::numeric_limits<uint32_t>::max();

struct NextHop {
  uint16_t port_id = 0;
  NextHopKind kind = NextHopKind::kDirect;
  // Ingress ports whose packets may take this next hop (RoleMask); zero discards everything, as
  // the node's address does while no host port is attached. It keeps packets from going back where
  // they came from: the kernel's and the uplink's traffic for the default route or the uplink.
  uint8_t allowed_ingress = 0;
  rte_be32_t via = 0;  // kNeighbour, kVxlan: the neighbour to resolve; zero: the destination itself
  // kVxlan: the outer source (the node's uplink address) and destination (the remote node).
  rte_be32_t tunnel_source = 0;
  rte_be32_t tunnel_destination = 0;
  // kVxlan: dst_mac and src_mac are the inner frame's; the outer source MAC is the uplink's.
  rte_ether_addr dst_mac{};
  rte_ether_addr src_mac{};
  rte_ether_addr outer_src_mac{};
  // kVxlan: what the inner packet must fit (the uplink's MTU less the VXLAN overhead), and no
  // offloads: the uplink would not finish an inner checksum or segment an inner packet for us.
  EgressCaps caps{};
};

// Owned by the control plane, read by workers without locks: a slot is written before any route
// refers to it and released only after an RCU grace period following the route's removal.
class NextHopTable {
 public:
  explicit NextHopTable(uint32_t capacity);

  absl::StatusOr<uint32_t> Allocate(const NextHop& hop);
  void Release(uint32_t id);

  size_t available() const { return free_ids_.size(); }
  const NextHop* entries() const { return entries_.get(); }

 private:
  std::unique_ptr<NextHop[]> entries_;
  std::vector<uint32_t> free_ids_;  // a stack: the lowest ids are handed out first
};

}  // namespace dpcni::dataplane
