#include "tests/cni/testing/fake_agent.h"

#include <stdlib.h>

#include <stdexcept>
#include <utility>

#include <absl/time/time.h>

namespace dpcni::testing {

FakeAgent::FakeAgent(FakeAgentReplies replies) : replies_(std::move(replies)) {}

void FakeAgent::FailWith(grpc::Status status) {
  absl::MutexLock lock(&mutex_);
  failure_ = std::move(status);
}

void FakeAgent::HangUntilCancelled() {
  absl::MutexLock lock(&mutex_);
  hang_ = true;
}

template <typename Request, typename Response>
grpc::Status FakeAgent::Answer(grpc::ServerContext* context, const Request& request,
                               std::optional<Request>& record, const Response& reply,
                               Response* response) {
  bool hang = false;
  {
    absl::MutexLock lock(&mutex_);
    record = request;
    if (!failure_.ok()) {
      return failure_;
    }
    hang = hang_;
  }
  while (hang && !context->IsCancelled()) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  *response = reply;
  return grpc::Status::OK;
}

#define DPCNI_FAKE_AGENT_ACCESSOR(Type, name)   \
  std::optional<Type> FakeAgent::name() const { \
    absl::MutexLock lock(&mutex_);              \
    return name##_;                             \
  }
DPCNI_FAKE_AGENT_ACCESSOR(v1::AddPodRequest, last_add_pod)
DPCNI_FAKE_AGENT_ACCESSOR(v1::DelPodRequest, last_del_pod)
DPCNI_FAKE_AGENT_ACCESSOR(v1::CheckPodRequest, last_check_pod)
DPCNI_FAKE_AGENT_ACCESSOR(v1::GarbageCollectRequest, last_garbage_collect)
DPCNI_FAKE_AGENT_ACCESSOR(v1::GetPortStatsRequest, last_port_stats)
#undef DPCNI_FAKE_AGENT_ACCESSOR

grpc::Status FakeAgent::AddPod(grpc::ServerContext* context, const v1::AddPodRequest* request,
                               v1::AddPodResponse* response) {
  return Answer(context, *request, last_add_pod_, replies_.add_pod, response);
}

grpc::Status FakeAgent::DelPod(grpc::ServerContext* context, const v1::DelPodRequest* request,
                               v1::DelPodResponse* response) {
  return Answer(context, *request, last_del_pod_, v1::DelPodResponse(), response);
}

grpc::Status FakeAgent::CheckPod(grpc::ServerContext* context, const v1::CheckPodRequest* request,
                                 v1::CheckPodResponse* response) {
  return Answer(context, *request, last_check_pod_, v1::CheckPodResponse(), response);
}

grpc::Status FakeAgent::Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                               v1::StatusResponse* response) {
  return Answer(context, *request, last_status_, replies_.status, response);
}

grpc::Status FakeAgent::GarbageCollect(grpc::ServerContext* context,
                                       const v1::GarbageCollectRequest* request,
                                       v1::GarbageCollectResponse* response) {
  return Answer(context, *request, last_garbage_collect_, replies_.garbage_collect, response);
}

grpc::Status FakeAgent::ListPods(grpc::ServerContext* context, const v1::ListPodsRequest* request,
                                 v1::ListPodsResponse* response) {
  return Answer(context, *request, last_list_pods_, replies_.list_pods, response);
}

grpc::Status FakeAgent::GetPortStats(grpc::ServerContext* context,
                                     const v1::GetPortStatsRequest* request,
                                     v1::GetPortStatsResponse* response) {
  return Answer(context, *request, last_port_stats_, replies_.port_stats, response);
}

grpc::Status FakeAgent::ListRoutes(grpc::ServerContext* context,
                                   const v1::ListRoutesRequest* request,
                                   v1::ListRoutesResponse* response) {
  return Answer(context, *request, last_list_routes_, replies_.list_routes, response);
}

grpc::Status FakeAgent::ListNeighbours(grpc::ServerContext* context,
                                       const v1::ListNeighboursRequest* request,
                                       v1::ListNeighboursResponse* response) {
  return Answer(context, *request, last_list_neighbours_, replies_.list_neighbours, response);
}

grpc::Status FakeAgent::ListFlows(grpc::ServerContext* context, const v1::ListFlowsRequest* request,
                                  v1::ListFlowsResponse* response) {
  return Answer(context, *request, last_list_flows_, replies_.list_flows, response);
}

TemporaryDirectory::TemporaryDirectory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "dpcni-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  path_ = pattern;
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

UnixSocketServer::UnixSocketServer(grpc::Service& service) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket_path(), grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) {
    throw std::runtime_error("cannot serve on " + socket_path());
  }
}

UnixSocketServer::~UnixSocketServer() {
  // Bounded, so that an RPC hanging until cancelled does not keep the test from ending.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace dpcni::testing
