// The plugin's view of the node agent (service dpcni.v1.Agent). Failures are the agent's gRPC
// status carried over as absl::Status with the same code, so callers map them to CNI errors.
#pragma once

#include <absl/status/statusor.h>

#include "dpcni/v1/dpcni.pb.h"

namespace dpcni::cni {

class AgentClient {
 public:
  virtual ~AgentClient() = default;

  virtual absl::StatusOr<v1::AddPodResponse> AddPod(const v1::AddPodRequest& request) = 0;
  virtual absl::StatusOr<v1::DelPodResponse> DelPod(const v1::DelPodRequest& request) = 0;
  virtual absl::StatusOr<v1::CheckPodResponse> CheckPod(const v1::CheckPodRequest& request) = 0;
  virtual absl::StatusOr<v1::StatusResponse> Status(const v1::StatusRequest& request) = 0;
  virtual absl::StatusOr<v1::GarbageCollectResponse> GarbageCollect(
      const v1::GarbageCollectRequest& request) = 0;
};

}  // namespace dpcni::cni
