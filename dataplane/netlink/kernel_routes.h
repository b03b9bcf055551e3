// Routes the agent puts in its own network namespace's main table for the node's kernel, for the
// other nodes' pod CIDRs (node/remote_nodes.h): via those nodes' addresses on a node without a DPDK
// uplink, and onto the host port when the dataplane carries them (host-gw, VXLAN).
// Behind a small interface so that the remote-nodes manager's every failure step is tested without
// root. Ours carry their own rtm_protocol (kRouteProtocol), which is how they are found again after
// a restart, and a route that does not carry it is never changed or removed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dpcni::dataplane {

// The rtm_protocol of dpcni's routes: `ip route show proto 220` lists them. Unassigned in
// iproute2's rt_protos and by the routing daemons we know of (zebra, bird, babel, bgp take others).
inline constexpr uint8_t kRouteProtocol = 220;

// `prefix/length via via` (host byte order), or with `via` 0 the on-link `prefix/length dev
// device`.
struct KernelRoute {
  uint32_t prefix = 0;
  uint8_t length = 0;
  uint32_t via = 0;
  std::string device;  // for an on-link route: the interface; empty with `via`

  std::string ToString() const;  // "10.244.2.0/24 via 192.168.1.12", "10.244.2.0/24 dev dpcni0"
  bool operator==(const KernelRoute&) const = default;
};

class KernelRouteTable {
 public:
  virtual ~KernelRouteTable() = default;
  // The routes of ours in the main table, in the kernel's order.
  virtual absl::StatusOr<std::vector<KernelRoute>> List() = 0;
  // Installs the route, or points ours to the same prefix at the new next hop in one step (so
  // traffic never finds no route). FailedPrecondition, changing nothing, when a route to the prefix
  // that is not ours is there: the operator's or another agent's, which we must not take over.
  virtual absl::Status Replace(const KernelRoute& route) = 0;
  // Removes our route to the prefix; none there is fine.
  virtual absl::Status Remove(const KernelRoute& route) = 0;
};

// The main table of the calling thread's network namespace (the agent's own), through
// libnl-route-3.
std::unique_ptr<KernelRouteTable> NetlinkKernelRoutes();

}  // namespace dpcni::dataplane
