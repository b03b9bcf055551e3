// The gRPC face of the agent: translates dpcni.v1 messages to PodManager calls and back. Nothing
// here knows about CNI JSON; the plugin has already turned it into these messages.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/agent_config.h"
#include "dpcni/v1/dpcni.grpc.pb.h"
#include "engine/engine.h"
#include "ipam/ipam.h"
#include "node/pod_cidrs.h"
#include "node/remote_nodes.h"
#include "pods/pod_manager.h"

namespace dpcni::dataplane {

// A port the node itself owns rather than a pod: the host port or the uplink.
struct InfrastructurePort {
  std::string role;  // "host" or "uplink"
  std::string name;  // the kernel interface ("dpcni0", "eth1") or the uplink's PCI address
  uint16_t port_id = 0;
  std::string backend;  // what carries it: "vhost-net", "tap", "af_packet", "af_xdp" or "pci"
};

// The engine's flow-table counters as ListFlows and the metrics report them.
v1::FlowTableStats FlowStatsMessage(const FlowTableStats& stats);
// The route sync as Status and the metrics report it.
v1::RouteSync RouteSyncMessage(const RouteSyncInfo& sync);

class AgentService final : public dpcni::v1::Agent::Service {
 public:
  // `mbuf_pool` is the ports' shared pool whose use Status reports; nullptr reports none.
  // `pod_cidrs_origin` says where config.pod_cidrs came from, for SetPodCidrs' refusals.
  AgentService(const AgentConfig& config, PodManager& pods, Engine& engine, Ipam& ipam,
               RemoteNodes& remote_nodes, std::vector<InfrastructurePort> node_ports,
               const rte_mempool* mbuf_pool = nullptr,
               PodCidrsOrigin pod_cidrs_origin = PodCidrsOrigin::kConfig)
      : config_(config),
        pods_(pods),
        engine_(engine),
        ipam_(ipam),
        remote_nodes_(remote_nodes),
        node_ports_(std::move(node_ports)),
        mbuf_pool_(mbuf_pool),
        pod_cidrs_origin_(pod_cidrs_origin) {}

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
  // The node has its pod CIDRs already: the same ones again are OK, others FAILED_PRECONDITION.
  grpc::Status SetPodCidrs(grpc::ServerContext*, const v1::SetPodCidrsRequest*,
                           v1::SetPodCidrsResponse*) override;
  // The other nodes, as a whole (node/remote_nodes.h).
  grpc::Status SetRemoteNodes(grpc::ServerContext*, const v1::SetRemoteNodesRequest*,
                              v1::SetRemoteNodesResponse*) override;
  grpc::Status ReportRouteSource(grpc::ServerContext*, const v1::ReportRouteSourceRequest*,
                                 v1::ReportRouteSourceResponse*) override;

 private:
  void FillPodInfo(const PodRecord& record, v1::PodInfo* info) const;
  // Adds the engine's counters of `port_id` to `response`, unless the port is no longer attached.
  void AddPortStats(uint16_t port_id, const std::string& name, const std::string& backend,
                    v1::GetPortStatsResponse* response) const;

  const AgentConfig& config_;
  PodManager& pods_;
  Engine& engine_;
  Ipam& ipam_;
  RemoteNodes& remote_nodes_;
  const std::vector<InfrastructurePort> node_ports_;
  const rte_mempool* const mbuf_pool_;
  const PodCidrsOrigin pod_cidrs_origin_;
};

}  // namespace dpcni::dataplane
