// An Engine that takes everything and forwards nothing, for unit tests of the control plane (no
// EAL). A test's fake derives from it and overrides only the calls it records or fails.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace dpcni::dataplane::testing {

class NullEngine : public Engine {
 public:
  absl::Status Start() override { return absl::OkStatus(); }
  void Stop() override {}
  absl::Status AttachPod(const PodEndpoint&) override { return absl::OkStatus(); }
  absl::Status DetachPod(uint16_t) override { return absl::OkStatus(); }
  absl::Status AttachHostPort(const HostEndpoint&) override { return absl::OkStatus(); }
  absl::Status AttachUplink(const UplinkEndpoint&) override { return absl::OkStatus(); }
  absl::Status SetRemoteRoutes(const std::vector<RemoteRoute>&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<PortCounters> Counters(uint16_t) const override { return PortCounters{}; }
  std::vector<RouteInfo> Routes() const override { return {}; }
  std::vector<NeighbourInfo> Neighbours() const override { return {}; }
  FlowTableStats FlowStats() const override { return {}; }
  std::vector<FlowListing> Flows(uint32_t) const override { return {}; }
  absl::StatusOr<size_t> SeedKernelFlows(const std::vector<NatedFlow>&) override { return 0; }
};

}  // namespace dpcni::dataplane::testing
