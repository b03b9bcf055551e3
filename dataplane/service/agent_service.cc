#include "service/agent_service.h"

#include <rte_ethdev.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"

namespace dpcni::dataplane {
namespace {

// absl and gRPC share the canonical status codes, value for value.
grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// A failed call is the operator's business (the caller only passes the message on); a successful
// one is logged at debug, to follow what kubelet and dpcni-k8s ask.
grpc::Status Logged(const char* verb, const std::string& who, const absl::Status& status) {
  if (!status.ok()) {
    DPCNI_LOG(kError, "service", verb, " ", who, ": ", status.ToString());
  } else {
    DPCNI_LOG(kDebug, "service", verb, " ", who, ": done");
  }
  return ToGrpc(status);
}

void FillInterface(const PodRecord& record, v1::Interface* interface) {
  interface->set_name(record.ifname);
  interface->set_mac(record.mac);
  interface->set_sandbox(record.netns_path);
  interface->set_mtu(record.mtu);
}

void FillAddresses(const PodRecord& record, const std::string& gateway,
                   google::protobuf::RepeatedPtrField<v1::IpAddress>* ips) {
  for (const Allocation& allocation : record.addresses) {
    v1::IpAddress* ip = ips->Add();
    ip->set_cidr(allocation.address + "/32");
    ip->set_gateway(gateway);
  }
}

}  // namespace

grpc::Status AgentService::AddPod(grpc::ServerContext*, const v1::AddPodRequest* request,
                                  v1::AddPodResponse* response) {
  AddPodParams params;
  PodRecord& pod = params.pod;
  pod.container_id = request->attachment().container_id();
  pod.ifname = request->attachment().ifname();
  pod.netns_path = request->attachment().netns_path();
  pod.pod_namespace = request->pod().namespace_();
  pod.pod_name = request->pod().name();
  pod.pod_uid = request->pod().uid();
  pod.infra_container_id = request->pod().infra_container_id();
  pod.network = request->network();
  params.requested_mac = request->requested_mac();
  params.requested_ips.assign(request->requested_ips().begin(), request->requested_ips().end());
  params.mtu = request->mtu();
  if (request->has_routes()) {
    params.routes.emplace();
    for (const v1::Route& route : request->routes().routes()) {
      // Pods reach everything through the one gateway the dataplane answers for.
      if (!route.gw().empty() && route.gw() != config_.gateway_ip) {
        return Logged(
            "AddPod", pod.container_id,
            absl::InvalidArgumentError(absl::StrCat("route to ", route.dst(), " via ", route.gw(),
                                                    ": pod routes go through the node's gateway ",
                                                    config_.gateway_ip, "; leave gw out")));
      }
      params.routes->push_back(route.dst());
    }
  }

  auto record = pods_.Add(params);
  if (!record.ok()) return Logged("AddPod", pod.container_id, record.status());
  FillInterface(*record, response->mutable_interface());
  FillAddresses(*record, config_.gateway_ip, response->mutable_ips());
  for (const std::string& dst : record->routes) {
    v1::Route* route = response->add_routes();
    route->set_dst(dst);
    route->set_gw(config_.gateway_ip);
  }
  response->set_backend(PortBackendName(record->port.backend));
  DPCNI_LOG(kDebug, "service", "AddPod ", pod.container_id, ": done, port ", record->port.port_id,
            ", backend ", PortBackendName(record->port.backend));
  return grpc::Status::OK;
}

grpc::Status AgentService::DelPod(grpc::ServerContext*, const v1::DelPodRequest* request,
                                  v1::DelPodResponse*) {
  const v1::Attachment& attachment = request->attachment();
  return Logged(
      "DelPod", attachment.container_id(),
      pods_.Delete(attachment.container_id(), attachment.ifname(), attachment.netns_path()));
}

grpc::Status AgentService::CheckPod(grpc::ServerContext*, const v1::CheckPodRequest* request,
                                    v1::CheckPodResponse*) {
  CheckPodParams params;
  params.container_id = request->attachment().container_id();
  params.ifname = request->attachment().ifname();
  params.netns_path = request->attachment().netns_path();
  for (const v1::IpAddress& ip : request->expected_ips()) params.expected_ips.push_back(ip.cidr());
  params.expected_mac = request->expected_mac();
  return Logged("CheckPod", params.container_id, pods_.Check(params));
}

grpc::Status AgentService::Status(grpc::ServerContext*, const v1::StatusRequest*,
                                  v1::StatusResponse* response) {
  response->set_ready(true);
  response->set_message("serving");
  response->set_pods(pods_.Count());
  response->set_pods_degraded(pods_.DegradedCount());
  response->set_pod_capacity(pods_.Capacity());
  response->set_default_backend(PortBackendName(ResolveBackend(config_.backend)));
  for (const std::string& cidr : ipam_.Cidrs()) response->add_pod_cidrs(cidr);
  response->set_addresses_in_use(ipam_.InUse());
  if (mbuf_pool_ != nullptr) {
    response->set_mbuf_pool_size(mbuf_pool_->size);
    // Counts the per-lcore caches as free: what the ports and packets in flight hold.
    response->set_mbufs_in_use(rte_mempool_in_use_count(mbuf_pool_));
  }
  *response->mutable_route_sync() = RouteSyncMessage(remote_nodes_.Sync());
  for (const InfrastructurePort& port : node_ports_) {
    v1::PortLink* link = response->add_links();
    link->set_role(port.role);
    link->set_name(port.name);
    link->set_port_id(port.port_id);
    if (rte_eth_dev_info info{}; rte_eth_dev_info_get(port.port_id, &info) == 0) {
      link->set_driver(info.driver_name);
    }
    rte_eth_link state{};
    if (rte_eth_link_get_nowait(port.port_id, &state) == 0) {
      link->set_up(state.link_status == RTE_ETH_LINK_UP);
      // Virtual devices may not know their speed; the proto's 0 means unknown.
      if (state.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN) link->set_speed_mbps(state.link_speed);
    }
  }
  return grpc::Status::OK;
}

grpc::Status AgentService::GarbageCollect(grpc::ServerContext*,
                                          const v1::GarbageCollectRequest* request,
                                          v1::GarbageCollectResponse* response) {
  std::set<std::string> valid;
  for (const v1::Attachment& attachment : request->valid_attachments()) {
    valid.insert(PodRecord::AttachmentKey(attachment.container_id(), attachment.ifname()));
  }
  auto removed = pods_.GarbageCollect(request->network(), valid);
  if (!removed.ok()) return Logged("GarbageCollect", request->network(), removed.status());
  for (const PodRecord& record : *removed) {
    v1::Attachment* attachment = response->add_removed();
    attachment->set_container_id(record.container_id);
    attachment->set_ifname(record.ifname);
    attachment->set_netns_path(record.netns_path);
    DPCNI_LOG(kInfo, "service", "GarbageCollect ", request->network(),
              ": removed stale attachment ", record.container_id, "/", record.ifname);
  }
  return grpc::Status::OK;
}

void AgentService::FillPodInfo(const PodRecord& record, v1::PodInfo* info) const {
  info->mutable_attachment()->set_container_id(record.container_id);
  info->mutable_attachment()->set_ifname(record.ifname);
  info->mutable_attachment()->set_netns_path(record.netns_path);
  info->mutable_pod()->set_namespace_(record.pod_namespace);
  info->mutable_pod()->set_name(record.pod_name);
  info->mutable_pod()->set_uid(record.pod_uid);
  info->mutable_pod()->set_infra_container_id(record.infra_container_id);
  FillInterface(record, info->mutable_interface());
  FillAddresses(record, config_.gateway_ip, info->mutable_ips());
  info->set_backend(PortBackendName(record.port.backend));
  info->set_port_id(record.port.port_id);
  info->set_network(record.network);
  info->set_degraded(record.degraded());
  info->set_degraded_reason(record.degraded_reason);
  info->set_attach_attempts(record.attach_attempts);
}

grpc::Status AgentService::ListPods(grpc::ServerContext*, const v1::ListPodsRequest*,
                                    v1::ListPodsResponse* response) {
  for (const PodRecord& record : pods_.List()) FillPodInfo(record, response->add_pods());
  return grpc::Status::OK;
}

grpc::Status AgentService::GetPortStats(grpc::ServerContext*,
                                        const v1::GetPortStatsRequest* request,
                                        v1::GetPortStatsResponse* response) {
  const std::set<uint32_t> wanted(request->port_ids().begin(), request->port_ids().end());
  auto is_wanted = [&wanted](uint16_t port) { return wanted.empty() || wanted.contains(port); };
  for (const InfrastructurePort& port : node_ports_) {
    if (is_wanted(port.port_id)) {
      AddPortStats(port.port_id, port.role + " " + port.name, port.backend, response);
    }
  }
  for (const PodRecord& record : pods_.List()) {
    // A degraded pod has no port: its port id would read another port's counters.
    if (!record.degraded() && is_wanted(record.port.port_id)) {
      AddPortStats(record.port.port_id, record.DisplayName(), PortBackendName(record.port.backend),
                   response);
    }
  }
  return grpc::Status::OK;
}

void AgentService::AddPortStats(uint16_t port_id, const std::string& name,
                                const std::string& backend,
                                v1::GetPortStatsResponse* response) const {
  auto counters = engine_.Counters(port_id);
  if (!counters.ok()) return;  // a pod detached between listing and reading
  v1::PortStats* stats = response->add_ports();
  stats->set_port_id(port_id);
  stats->set_name(name);
  stats->set_backend(backend);
  stats->set_rx_packets(counters->rx_packets);
  stats->set_rx_bytes(counters->rx_bytes);
  stats->set_tx_packets(counters->tx_packets);
  stats->set_tx_bytes(counters->tx_bytes);
  for (const auto& [reason, count] : counters->drops) (*stats->mutable_drops())[reason] = count;
  for (const auto& [event, count] : counters->events) (*stats->mutable_events())[event] = count;
}

grpc::Status AgentService::ListRoutes(grpc::ServerContext*, const v1::ListRoutesRequest*,
                                      v1::ListRoutesResponse* response) {
  for (const RouteInfo& route : engine_.Routes()) {
    v1::RouteEntry* entry = response->add_routes();
    entry->set_prefix(route.prefix);
    entry->set_next_hop(route.next_hop);
    entry->set_node(route.node);
    entry->set_mode(route.mode);
  }
  return grpc::Status::OK;
}

grpc::Status AgentService::ListNeighbours(grpc::ServerContext*, const v1::ListNeighboursRequest*,
                                          v1::ListNeighboursResponse* response) {
  for (const NeighbourInfo& neighbour : engine_.Neighbours()) {
    v1::Neighbour* entry = response->add_neighbours();
    entry->set_ip(neighbour.ip);
    entry->set_mac(neighbour.mac);
    entry->set_state(neighbour.state);
    entry->set_age_ms(neighbour.age_ms);
  }
  return grpc::Status::OK;
}

v1::RouteSync RouteSyncMessage(const RouteSyncInfo& sync) {
  v1::RouteSync message;
  message.set_state(sync.state);
  message.set_message(sync.message);
  message.set_age_ms(sync.age_ms);
  message.set_nodes(sync.nodes);
  message.set_prefixes(sync.prefixes);
  return message;
}

v1::FlowTableStats FlowStatsMessage(const FlowTableStats& stats) {
  v1::FlowTableStats message;
  message.set_entries(stats.entries);
  message.set_capacity(stats.capacity);
  message.set_inserts(stats.inserts);
  message.set_hits(stats.hits);
  message.set_expiries(stats.expiries);
  message.set_evictions(stats.evictions);
  message.set_insert_failures(stats.insert_failures);
  return message;
}

grpc::Status AgentService::ListFlows(grpc::ServerContext*, const v1::ListFlowsRequest* request,
                                     v1::ListFlowsResponse* response) {
  *response->mutable_stats() = FlowStatsMessage(engine_.FlowStats());
  for (const FlowListing& flow : engine_.Flows(request->limit())) {
    v1::Flow* entry = response->add_flows();
    entry->set_protocol(flow.protocol);
    entry->set_reply_source(flow.reply_source);
    entry->set_reply_destination(flow.reply_destination);
    entry->set_reply_port(flow.reply_port);
    entry->set_state(flow.state);
    entry->set_age_ms(flow.age_ms);
    entry->set_timeout_ms(flow.timeout_ms);
  }
  return grpc::Status::OK;
}

grpc::Status AgentService::SetPodCidrs(grpc::ServerContext*, const v1::SetPodCidrsRequest* request,
                                       v1::SetPodCidrsResponse*) {
  const std::vector<std::string> requested(request->pod_cidrs().begin(),
                                           request->pod_cidrs().end());
  return Logged("SetPodCidrs", absl::StrCat("[", absl::StrJoin(requested, ", "), "]"),
                CheckPodCidrsUnchanged(config_.pod_cidrs, pod_cidrs_origin_,
                                       PodCidrsRecord(config_.state_dir).path(), requested));
}

grpc::Status AgentService::SetRemoteNodes(grpc::ServerContext*,
                                          const v1::SetRemoteNodesRequest* request,
                                          v1::SetRemoteNodesResponse* response) {
  std::vector<RemoteNodeSpec> nodes;
  for (const v1::RemoteNode& node : request->nodes()) {
    nodes.push_back(
        {node.name(), node.address(), {node.pod_cidrs().begin(), node.pod_cidrs().end()}});
  }
  auto routed = remote_nodes_.Set(nodes);
  const std::string what = absl::StrCat("(", nodes.size(), " nodes)");
  if (!routed.ok()) return Logged("SetRemoteNodes", what, routed.status());
  // dpcni-k8s sends the whole list again on every change and resync: log only what changed.
  if (routed->changed) {
    DPCNI_LOG(kInfo, "service", "SetRemoteNodes: ", routed->nodes, " nodes, ", routed->prefixes,
              " pod CIDRs routed");
  }
  response->set_nodes(routed->nodes);
  response->set_prefixes(routed->prefixes);
  return grpc::Status::OK;
}

grpc::Status AgentService::ReportRouteSource(grpc::ServerContext*,
                                             const v1::ReportRouteSourceRequest* request,
                                             v1::ReportRouteSourceResponse*) {
  const std::string before = remote_nodes_.Sync().state;
  remote_nodes_.ReportSource(request->in_sync(), request->message());
  const RouteSyncInfo after = remote_nodes_.Sync();
  if (after.state != before) {
    DPCNI_LOG(kInfo, "service", "route source: ", after.state, after.message.empty() ? "" : ": ",
              after.message, " (", after.prefixes, " remote pod CIDRs kept)");
  }
  return grpc::Status::OK;
}

}  // namespace dpcni::dataplane
