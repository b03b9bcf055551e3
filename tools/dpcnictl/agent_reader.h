// The agent's read-only RPCs, as dpcnictl uses them: one call each, with a deadline, failures
// naming the socket.
#pragma once

#include <memory>
#include <string>

#include <absl/status/statusor.h>
#include <absl/strings/string_view.h>
#include <absl/time/time.h>

#include "dpcni/v1/dpcni.grpc.pb.h"

namespace dpcni::dpcnictl {

class AgentReader {
 public:
  explicit AgentReader(std::string socket_path, absl::Duration deadline = absl::Seconds(5));

  absl::StatusOr<v1::StatusResponse> Status();
  absl::StatusOr<v1::ListPodsResponse> ListPods();
  absl::StatusOr<v1::GetPortStatsResponse> GetPortStats();
  absl::StatusOr<v1::ListRoutesResponse> ListRoutes();
  absl::StatusOr<v1::ListNeighboursResponse> ListNeighbours();
  absl::StatusOr<v1::ListFlowsResponse> ListFlows();

 private:
  template <typename Request, typename Response, typename StubMethod>
  absl::StatusOr<Response> Call(absl::string_view method_name, StubMethod stub_method);

  std::string socket_path_;
  absl::Duration deadline_;
  std::unique_ptr<v1::Agent::Stub> stub_;
};

}  // namespace dpcni::dpcnictl
