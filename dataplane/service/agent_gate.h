// The service on the agent's socket. Until the node has its pod CIDRs there are no pods to serve:
// the gate answers Status (not ready, saying what it waits for), takes SetPodCidrs and hands it to
// the agent's main thread, and refuses every other call with UNAVAILABLE, which the plugin turns
// into CNI error 11 ("try again later"). Once opened it passes every call on to the AgentService.
//
// One server for the agent's whole life: the socket never disappears between waiting and serving,
// so a liveness probe that asks Status at that moment still gets an answer.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dpcni/v1/dpcni.grpc.pb.h"
#include "node/pod_cidrs.h"

namespace dpcni::dataplane {

class AgentGate final : public dpcni::v1::Agent::Service {
 public:
  // `waiting_status` fills Status while the gate is shut (ready=false and the waiting message are
  // set on top of it).
  explicit AgentGate(std::function<void(v1::StatusResponse*)> waiting_status = nullptr);

  // Blocks until a SetPodCidrs with acceptable CIDRs comes in, and returns them; the caller sets
  // the node up and must then AnswerOffer. nullopt once the gate is closed.
  std::optional<AcceptedPodCidrs> NextOffer();
  // The result of the offer NextOffer returned, for the waiting SetPodCidrs call. Open first when
  // it is OK, so the caller learns of success only once Status says ready.
  void AnswerOffer(const absl::Status& status);
  // From now on every call goes to `service`, which must outlive the gate's server.
  void Open(dpcni::v1::Agent::Service& service);
  // The agent stops: NextOffer returns nullopt, a SetPodCidrs not yet taken is refused.
  void Close();

  grpc::Status AddPod(grpc::ServerContext*, const v1::AddPodRequest*, v1::AddPodResponse*) override;
  grpc::Status DelPod(grpc::ServerContext*, const v1::DelPodRequest*, v1::DelPodResponse*) override;
  grpc::Status CheckPod(grpc::ServerContext*, const v1::CheckPodRequest*,
                        v1::CheckPodResponse*) override;
  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*, v1::StatusResponse*) override;
  grpc::Status GarbageCollect(grpc::ServerContext*, const v1::GarbageCollectRequest*,
                              v1::GarbageCollectResponse*) override;
  grpc::Status ListPods(grpc::ServerContext*, const v1::ListPodsRequest*,
                        v1::ListPodsResponse*) override;
  grpc::Status GetPortStats(grpc::ServerContext*, const v1::GetPortStatsRequest*,
                            v1::GetPortStatsResponse*) override;
  grpc::Status ListRoutes(grpc::ServerContext*, const v1::ListRoutesRequest*,
                          v1::ListRoutesResponse*) override;
  grpc::Status ListNeighbours(grpc::ServerContext*, const v1::ListNeighboursRequest*,
                              v1::ListNeighboursResponse*) override;
  grpc::Status ListFlows(grpc::ServerContext*, const v1::ListFlowsRequest*,
                         v1::ListFlowsResponse*) override;
  grpc::Status SetPodCidrs(grpc::ServerContext*, const v1::SetPodCidrsRequest*,
                           v1::SetPodCidrsResponse*) override;
  // While shut: UNAVAILABLE like the pod calls. The other nodes' CIDRs are checked against this
  // node's own, which it does not have yet, and dpcni-k8s sends SetPodCidrs first and retries.
  grpc::Status SetRemoteNodes(grpc::ServerContext*, const v1::SetRemoteNodesRequest*,
                              v1::SetRemoteNodesResponse*) override;
  grpc::Status ReportRouteSource(grpc::ServerContext*, const v1::ReportRouteSourceRequest*,
                                 v1::ReportRouteSourceResponse*) override;

 private:
  // The AgentService once open, else nullptr with `refusal` set to what the call is answered.
  dpcni::v1::Agent::Service* Target(grpc::Status* refusal);
  // Calls `method` on the AgentService, or answers the refusal while shut.
  template <typename Request, typename Response>
  grpc::Status Forward(grpc::Status (dpcni::v1::Agent::Service::*method)(grpc::ServerContext*,
                                                                         const Request*, Response*),
                       grpc::ServerContext* context, const Request* request, Response* response);

  const std::function<void(v1::StatusResponse*)> waiting_status_;

  // Held by a SetPodCidrs from handing its offer over until it has its answer: one offer at a time,
  // and a second call waits to find the gate open (and is then answered by the AgentService).
  std::mutex offers_mu_;

  std::mutex mu_;
  std::condition_variable changed_;
  dpcni::v1::Agent::Service* open_ = nullptr;
  bool closed_ = false;
  std::optional<AcceptedPodCidrs> offer_;
  bool offer_taken_ = false;
  std::optional<absl::Status> answer_;
};

}  // namespace dpcni::dataplane
