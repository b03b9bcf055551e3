#include "service/agent_gate.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"

namespace dpcni::dataplane {
namespace {

constexpr char kStopping[] = "dpcni-agent is stopping";

// absl and gRPC share the canonical status codes, value for value.
grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace

AgentGate::AgentGate(std::function<void(v1::StatusResponse*)> waiting_status)
    : waiting_status_(std::move(waiting_status)) {}

std::optional<AcceptedPodCidrs> AgentGate::NextOffer() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return closed_ || (offer_ && !offer_taken_); });
  if (closed_) return std::nullopt;
  offer_taken_ = true;
  return *offer_;
}

void AgentGate::AnswerOffer(const absl::Status& status) {
  std::lock_guard lock(mu_);
  answer_ = status;
  changed_.notify_all();
}

void AgentGate::Open(dpcni::v1::Agent::Service& service) {
  std::lock_guard lock(mu_);
  open_ = &service;
  changed_.notify_all();
}

void AgentGate::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  changed_.notify_all();
}

dpcni::v1::Agent::Service* AgentGate::Target(grpc::Status* refusal) {
  std::lock_guard lock(mu_);
  if (open_ != nullptr) return open_;
  *refusal = grpc::Status(
      grpc::StatusCode::UNAVAILABLE,
      closed_ ? kStopping : absl::StrCat("dpcni-agent is not ready: ", kWaitingForPodCidrs));
  return nullptr;
}

template <typename Request, typename Response>
grpc::Status AgentGate::Forward(grpc::Status (dpcni::v1::Agent::Service::*method)(
                                    grpc::ServerContext*, const Request*, Response*),
                                grpc::ServerContext* context, const Request* request,
                                Response* response) {
  grpc::Status refusal;
  dpcni::v1::Agent::Service* target = Target(&refusal);
  if (target == nullptr) return refusal;
  return (target->*method)(context, request, response);
}

grpc::Status AgentGate::AddPod(grpc::ServerContext* context, const v1::AddPodRequest* request,
                               v1::AddPodResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::AddPod, context, request, response);
}

grpc::Status AgentGate::DelPod(grpc::ServerContext* context, const v1::DelPodRequest* request,
                               v1::DelPodResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::DelPod, context, request, response);
}

grpc::Status AgentGate::CheckPod(grpc::ServerContext* context, const v1::CheckPodRequest* request,
                                 v1::CheckPodResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::CheckPod, context, request, response);
}

grpc::Status AgentGate::GarbageCollect(grpc::ServerContext* context,
                                       const v1::GarbageCollectRequest* request,
                                       v1::GarbageCollectResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::GarbageCollect, context, request, response);
}

grpc::Status AgentGate::ListPods(grpc::ServerContext* context, const v1::ListPodsRequest* request,
                                 v1::ListPodsResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::ListPods, context, request, response);
}

grpc::Status AgentGate::GetPortStats(grpc::ServerContext* context,
                                     const v1::GetPortStatsRequest* request,
                                     v1::GetPortStatsResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::GetPortStats, context, request, response);
}

grpc::Status AgentGate::ListRoutes(grpc::ServerContext* context,
                                   const v1::ListRoutesRequest* request,
                                   v1::ListRoutesResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::ListRoutes, context, request, response);
}

grpc::Status AgentGate::ListNeighbours(grpc::ServerContext* context,
                                       const v1::ListNeighboursRequest* request,
                                       v1::ListNeighboursResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::ListNeighbours, context, request, response);
}

grpc::Status AgentGate::ListFlows(grpc::ServerContext* context, const v1::ListFlowsRequest* request,
                                  v1::ListFlowsResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::ListFlows, context, request, response);
}

grpc::Status AgentGate::SetRemoteNodes(grpc::ServerContext* context,
                                       const v1::SetRemoteNodesRequest* request,
                                       v1::SetRemoteNodesResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::SetRemoteNodes, context, request, response);
}

grpc::Status AgentGate::ReportRouteSource(grpc::ServerContext* context,
                                          const v1::ReportRouteSourceRequest* request,
                                          v1::ReportRouteSourceResponse* response) {
  return Forward(&dpcni::v1::Agent::Service::ReportRouteSource, context, request, response);
}

grpc::Status AgentGate::Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                               v1::StatusResponse* response) {
  std::string message;
  {
    std::lock_guard lock(mu_);
    if (open_ == nullptr) {
      if (closed_) {
        message = kStopping;
      } else if (offer_ && offer_taken_) {
        message = absl::StrCat("setting the node up with pod CIDRs ",
                               absl::StrJoin(offer_->ipv4, ", "), " (from SetPodCidrs)");
      } else {
        message = kWaitingForPodCidrs;
      }
    }
  }
  if (message.empty())
    return Forward(&dpcni::v1::Agent::Service::Status, context, request, response);
  if (waiting_status_) waiting_status_(response);
  response->set_ready(false);
  response->set_message(message);
  return grpc::Status::OK;
}

grpc::Status AgentGate::SetPodCidrs(grpc::ServerContext* context,
                                    const v1::SetPodCidrsRequest* request,
                                    v1::SetPodCidrsResponse* response) {
  const std::vector<std::string> requested(request->pod_cidrs().begin(),
                                           request->pod_cidrs().end());
  // Bad input is refused here, before anything is handed over: it changes nothing.
  auto accepted = AcceptPodCidrs(requested);
  if (!accepted.ok()) {
    DPCNI_LOG(kWarning, "service", "SetPodCidrs [", absl::StrJoin(requested, ", "),
              "]: ", accepted.status().ToString());
    return ToGrpc(accepted.status());
  }
  std::lock_guard serial(offers_mu_);
  std::unique_lock lock(mu_);
  if (open_ != nullptr) {
    dpcni::v1::Agent::Service* target = open_;
    lock.unlock();
    return target->SetPodCidrs(context, request, response);
  }
  if (closed_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, kStopping);
  offer_ = *std::move(accepted);
  offer_taken_ = false;
  answer_.reset();
  changed_.notify_all();
  // A client whose deadline passes meanwhile is not waited for: the set-up goes on, and its retry
  // with the same CIDRs is answered OK by the AgentService.
  changed_.wait(lock, [this] { return answer_.has_value() || (closed_ && !offer_taken_); });
  const absl::Status result = answer_.value_or(absl::UnavailableError(kStopping));
  offer_.reset();
  offer_taken_ = false;
  answer_.reset();
  return ToGrpc(result);
}

}  // namespace dpcni::dataplane
