// AgentClient over gRPC on the agent's unix socket.
#pragma once

#include <memory>
#include <string>

#include <absl/strings/string_view.h>
#include <absl/time/time.h>

#include "cni/agent_client.h"
#include "dpcni/v1/dpcni.grpc.pb.h"

namespace dpcni::cni {

// How long each verb waits for the agent. ADD may wait for the agent to create and start a port
// while it serves other pods; STATUS is polled by the runtime and must answer quickly.
struct AgentDeadlines {
  absl::Duration add_pod = absl::Seconds(60);
  absl::Duration del_pod = absl::Seconds(30);
  absl::Duration check_pod = absl::Seconds(20);
  absl::Duration status = absl::Seconds(5);
  absl::Duration garbage_collect = absl::Seconds(60);
};

class GrpcAgentClient final : public AgentClient {
 public:
  explicit GrpcAgentClient(std::string socket_path, AgentDeadlines deadlines = {});

  absl::StatusOr<v1::AddPodResponse> AddPod(const v1::AddPodRequest& request) override;
  absl::StatusOr<v1::DelPodResponse> DelPod(const v1::DelPodRequest& request) override;
  absl::StatusOr<v1::CheckPodResponse> CheckPod(const v1::CheckPodRequest& request) override;
  absl::StatusOr<v1::StatusResponse> Status(const v1::StatusRequest& request) override;
  absl::StatusOr<v1::GarbageCollectResponse> GarbageCollect(
      const v1::GarbageCollectRequest& request) override;

 private:
  // Runs one unary RPC; failures carry the agent's code and name the socket and the method.
  template <typename Request, typename Response, typename StubMethod>
  absl::StatusOr<Response> Call(absl::string_view method_name, StubMethod stub_method,
                                const Request& request, absl::Duration deadline);

  std::string socket_path_;
  AgentDeadlines deadlines_;
  std::unique_ptr<v1::Agent::Stub> stub_;
};

}  // namespace dpcni::cni
