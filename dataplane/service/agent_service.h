// The gRPC face of the agent: translates dpcni.v1 messages to PodManager calls and back. Nothing
// here knows about CNI JSON; the plugin has already turned it into these messages.
#pragma once

#include "config/agent_config.h"
#include "dpcni/v1/dpcni.grpc.pb.h"
#include "engine/engine.h"
#include "ipam/ipam.h"
#include "pods/pod_manager.h"

namespace dpcni::dataplane {

class AgentService final : public dpcni::v1::Agent::Service {
 public:
  AgentService(const AgentConfig& config, PodManager& pods, Engine& engine, Ipam& ipam)
      : config_(config), pods_(pods), engine_(engine), ipam_(ipam) {}

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

 private:
  void FillPodInfo(const PodRecord& record, v1::PodInfo* info) const;

  const AgentConfig& config_;
  PodManager& pods_;
  Engine& engine_;
  Ipam& ipam_;
};

}  // namespace dpcni::dataplane
