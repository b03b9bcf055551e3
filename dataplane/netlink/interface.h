// Kernel-side setup of the interfaces we own (pods' eth0, the host port) through rtnetlink
// (libnl-route-3). Every function here acts on the network namespace of the calling thread: call
// them inside RunInNetns().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dpcni::dataplane {

struct RouteSpec {
  std::string dst;  // "0.0.0.0/0", "10.244.0.0/24"
  std::string via;  // empty: on-link (scope link)
  // Behind any route to the same dst that another interface already has (NLM_F_APPEND). Without
  // it the kernel puts a new route in front of the existing ones of the same dst and metric, and
  // the newest interface takes that dst over from the others.
  bool behind_existing = false;
};

struct InterfaceSpec {
  std::string ifname;
  uint32_t mtu = 1500;
  std::vector<std::string> addresses;  // "10.244.0.5/32"
  std::vector<RouteSpec> routes;       // installed in order: an on-link route before one via it
};

// A pod's interface: its /32 addresses, the gateway on-link (it is in no subnet of the pod's) and
// the routes to `routes_via_gateway` (prefixes, "0.0.0.0/0" for the default) through it. Every pod
// interface gets its own on-link route to the one gateway address, on its own device and behind
// those of earlier interfaces: a route via the gateway on eth0 keeps resolving on eth0 once net1
// came.
InterfaceSpec PodInterface(const std::string& ifname, uint32_t mtu,
                           const std::vector<std::string>& addresses, const std::string& gateway,
                           const std::vector<std::string>& routes_via_gateway);

// Sets MTU, adds the addresses, brings the link up and installs the routes. Existing identical
// addresses and routes are accepted (a retried ADD, a restarted agent).
absl::Status ConfigureInterface(const InterfaceSpec& spec);

struct InterfaceState {
  bool up = false;
  uint32_t mtu = 0;
  std::string mac;
  std::vector<std::string> addresses;  // IPv4 "a.b.c.d/len"
  // Prefixes ("0.0.0.0/0", "10.96.0.0/12") the main table routes through the gateway on this link.
  std::vector<std::string> routes_via_gateway;
};

// NotFoundError when there is no such link.
absl::StatusOr<InterfaceState> ReadInterface(const std::string& ifname, const std::string& gateway);

// Whether the main table has an IPv4 default route, on any interface.
absl::StatusOr<bool> HasDefaultRoute();

// Deletes the link; a missing link is fine.
absl::Status DeleteInterface(const std::string& ifname);

}  // namespace dpcni::dataplane
