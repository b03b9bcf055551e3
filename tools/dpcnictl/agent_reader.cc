#include "tools/dpcnictl/agent_reader.h"

#include <utility>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>

namespace dpcni::dpcnictl {

AgentReader::AgentReader(std::string socket_path, absl::Duration deadline)
    : socket_path_(std::move(socket_path)),
      deadline_(deadline),
      stub_(v1::Agent::NewStub(grpc::CreateChannel(absl::StrCat("unix://", socket_path_),
                                                   grpc::InsecureChannelCredentials()))) {}

template <typename Request, typename Response, typename StubMethod>
absl::StatusOr<Response> AgentReader::Call(absl::string_view method_name, StubMethod stub_method) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  Response response;
  grpc::Status status = ((*stub_).*stub_method)(&context, Request(), &response);
  if (status.ok()) {
    return response;
  }
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
    return absl::Status(code, absl::StrCat("cannot reach dpcni-agent at ", socket_path_,
                                           " (is it running?): ", status.error_message()));
  }
  return absl::Status(code, absl::StrCat("dpcni-agent at ", socket_path_, ": ", method_name,
                                         " failed: ", status.error_message()));
}

absl::StatusOr<v1::StatusResponse> AgentReader::Status() {
  return Call<v1::StatusRequest, v1::StatusResponse>("Status", &v1::Agent::Stub::Status);
}

absl::StatusOr<v1::ListPodsResponse> AgentReader::ListPods() {
  return Call<v1::ListPodsRequest, v1::ListPodsResponse>("ListPods", &v1::Agent::Stub::ListPods);
}

absl::StatusOr<v1::GetPortStatsResponse> AgentReader::GetPortStats() {
  return Call<v1::GetPortStatsRequest, v1::GetPortStatsResponse>("GetPortStats",
                                                                 &v1::Agent::Stub::GetPortStats);
}

absl::StatusOr<v1::ListRoutesResponse> AgentReader::ListRoutes() {
  return Call<v1::ListRoutesRequest, v1::ListRoutesResponse>("ListRoutes",
                                                             &v1::Agent::Stub::ListRoutes);
}

absl::StatusOr<v1::ListNeighboursResponse> AgentReader::ListNeighbours() {
  return Call<v1::ListNeighboursRequest, v1::ListNeighboursResponse>(
      "ListNeighbours", &v1::Agent::Stub::ListNeighbours);
}

absl::StatusOr<v1::ListFlowsResponse> AgentReader::ListFlows() {
  return Call<v1::ListFlowsRequest, v1::ListFlowsResponse>("ListFlows",
                                                           &v1::Agent::Stub::ListFlows);
}

}  // namespace dpcni::dpcnictl
