// Kernel-side setup of a pod's interface through rtnetlink (libnl-route-3). Every function here acts on
// the network namespace of the calling thread: call them inside RunInNetns().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dpcni::dataplane {

struct PodInterfaceSpec {
  std::string ifname;
  uint32_t mtu = 1500;
  std::vector<std::string> addresses;  // "10.244.0.5/32"
  std::string gateway;                 // "169.254.1.1": reached on-link, then the default route
};

// Sets MTU, adds the addresses, brings the link up and installs the on-link gateway route and the
// default route through it. Existing identical addresses and routes are accepted (a retried ADD).
absl::Status ConfigurePodInterface(const PodInterfaceSpec& spec);

struct InterfaceState {
  bool up = false;
  uint32_t mtu = 0;
  std::string mac;
  std::vector<std::string> addresses;  // IPv4 "a.b.c.d/len"
  bool has_default_route_via_gateway = false;
};

// NotFoundError when there is no such link.
absl::StatusOr<InterfaceState> ReadInterface(const std::string& ifname, const std::string& gateway);

// Deletes the link; a missing link is fine.
absl::Status DeleteInterface(const std::string& ifname);

}  // namespace dpcni::dataplane
