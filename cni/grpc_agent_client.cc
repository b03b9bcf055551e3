#include "cni/grpc_agent_client.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>

namespace dpcni::cni {
namespace {

// Without a listening socket there is nothing to dial; saying so directly beats gRPC's generic
// "failed to connect to all addresses", and the runtime learns at once that it should retry.
absl::Status CheckSocketPresent(const std::string& socket_path) {
  struct stat info;
  if (stat(socket_path.c_str(), &info) != 0) {
    return absl::UnavailableError(absl::StrCat("dpcni-agent socket ", socket_path, ": ",
                                               std::strerror(errno),
                                               " (is dpcni-agent running on this node?)"));
  }
  if (!S_ISSOCK(info.st_mode)) {
    return absl::UnavailableError(
        absl::StrCat("dpcni-agent socket ", socket_path, " is not a unix socket"));
  }
  return absl::OkStatus();
}

}  // namespace

GrpcAgentClient::GrpcAgentClient(std::string socket_path, AgentDeadlines deadlines)
    : socket_path_(std::move(socket_path)),
      deadlines_(deadlines),
      stub_(v1::Agent::NewStub(grpc::CreateChannel(absl::StrCat("unix://", socket_path_),
                                                   grpc::InsecureChannelCredentials()))) {}

template <typename Request, typename Response, typename StubMethod>
absl::StatusOr<Response> GrpcAgentClient::Call(absl::string_view method_name,
                                               StubMethod stub_method, const Request& request,
                                               absl::Duration deadline) {
  if (absl::Status present = CheckSocketPresent(socket_path_); !present.ok()) {
    return present;
  }
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  Response response;
  grpc::Status status = ((*stub_).*stub_method)(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("dpcni-agent at ", socket_path_, ": ", method_name, ": ",
                                     status.error_message()));
  }
  return response;
}

absl::StatusOr<v1::AddPodResponse> GrpcAgentClient::AddPod(const v1::AddPodRequest& request) {
  return Call<v1::AddPodRequest, v1::AddPodResponse>("AddPod", &v1::Agent::Stub::AddPod, request,
                                                     deadlines_.add_pod);
}

absl::StatusOr<v1::DelPodResponse> GrpcAgentClient::DelPod(const v1::DelPodRequest& request) {
  return Call<v1::DelPodRequest, v1::DelPodResponse>("DelPod", &v1::Agent::Stub::DelPod, request,
                                                     deadlines_.del_pod);
}

absl::StatusOr<v1::CheckPodResponse> GrpcAgentClient::CheckPod(const v1::CheckPodRequest& request) {
  return Call<v1::CheckPodRequest, v1::CheckPodResponse>("CheckPod", &v1::Agent::Stub::CheckPod,
                                                         request, deadlines_.check_pod);
}

absl::StatusOr<v1::StatusResponse> GrpcAgentClient::Status(const v1::StatusRequest& request) {
  return Call<v1::StatusRequest, v1::StatusResponse>("Status", &v1::Agent::Stub::Status, request,
                                                     deadlines_.status);
}

absl::StatusOr<v1::GarbageCollectResponse> GrpcAgentClient::GarbageCollect(
    const v1::GarbageCollectRequest& request) {
  return Call<v1::GarbageCollectRequest, v1::GarbageCollectResponse>(
      "GarbageCollect", &v1::Agent::Stub::GarbageCollect, request, deadlines_.garbage_collect);
}

}  // namespace dpcni::cni
