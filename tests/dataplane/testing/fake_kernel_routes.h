// A stand-in for the node kernel's main table (netlink/kernel_routes.h): routes of ours and of
// others in memory, and a failure to inject at the n-th change.
#pragma once

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "netlink/kernel_routes.h"

namespace dpcni::dataplane::testing {

class FakeKernelRoutes final : public KernelRouteTable {
 public:
  absl::StatusOr<std::vector<KernelRoute>> List() override {
    if (fail_list) return absl::InternalError("netlink: list failed (injected)");
    return ours;
  }
  absl::Status Replace(const KernelRoute& route) override {
    if (auto failure = Change(); !failure.ok()) return failure;
    for (const KernelRoute& other : foreign) {
      if (other.prefix == route.prefix && other.length == route.length) {
        return absl::FailedPreconditionError("the node's kernel already routes it (not dpcni's)");
      }
    }
    std::erase_if(ours, [&](const KernelRoute& r) {
      return r.prefix == route.prefix && r.length == route.length;
    });
    ours.push_back(route);
    return absl::OkStatus();
  }
  absl::Status Remove(const KernelRoute& route) override {
    if (auto failure = Change(); !failure.ok()) return failure;
    std::erase_if(ours, [&](const KernelRoute& r) {
      return r.prefix == route.prefix && r.length == route.length;
    });
    return absl::OkStatus();
  }

  std::vector<KernelRoute> ours;     // what List shows: routes with dpcni's protocol
  std::vector<KernelRoute> foreign;  // routes of others, never listed nor changed
  bool fail_list = false;
  std::optional<int> fail_change;  // the n-th Replace/Remove from now (0: the next) fails
  int changes = 0;

 private:
  absl::Status Change() {
    ++changes;
    if (fail_change && (*fail_change)-- == 0) {
      fail_change.reset();
      return absl::InternalError("netlink: Network is unreachable (injected)");
    }
    return absl::OkStatus();
  }
};

}  // namespace dpcni::dataplane::testing
