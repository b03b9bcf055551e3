// Prometheus metrics of the dataplane's ports and flow table, served over HTTP (prometheus-cpp) for
// the node's monitoring. They are built on each scrape from the same GetPortStats and ListFlows
// answers dpcnictl shows, so the two never disagree.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dpcni/v1/dpcni.pb.h"

namespace dpcni::dataplane {

class PortMetrics : public prometheus::Collectable {
 public:
  using StatsSource = std::function<v1::GetPortStatsResponse()>;
  using FlowsSource = std::function<v1::FlowTableStats()>;
  using RouteSyncSource = std::function<v1::RouteSync()>;
  using DegradedPodsSource = std::function<uint32_t()>;
  PortMetrics(StatsSource source, FlowsSource flows, RouteSyncSource route_sync = nullptr,
              DegradedPodsSource degraded_pods = nullptr)
      : source_(std::move(source)),
        flows_(std::move(flows)),
        route_sync_(std::move(route_sync)),
        degraded_pods_(std::move(degraded_pods)) {}

  // dpcni_port_{rx,tx}_{packets,bytes}_total, dpcni_port_drops_total{reason} and
  // dpcni_port_events_total{event}, labelled with
  // the port id, its name (pod "namespace/name" or the node port's role) and backend; and the flow
  // table's dpcni_flow_table_{entries,capacity} and
  // dpcni_flow_table_{inserts,hits,expiries,evictions,insert_failures}_total; and the routes to
  // other nodes: dpcni_remote_nodes, dpcni_remote_prefixes, dpcni_route_sync_state{state} (1 for
  // the current one of unset, in-sync and stale) and dpcni_route_sync_age_seconds. The engine's
  // VXLAN counters are the uplink's events ("vxlan_encapsulated", "vxlan_decapsulated") and drops
  // ("vxlan_spoofed_source", "vxlan_unknown_node", "vxlan_bad_header") like any other, and so are
  // the uplink's "uplink_spoofed_source" drops and every port's "icmp_errors_sent" and
  // "icmp_errors_rate_limited" events. And dpcni_pods_degraded: pods recorded but not attached to
  // the dataplane (StatusResponse.pods_degraded), which an alert wants at 0.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  StatsSource source_;
  FlowsSource flows_;
  RouteSyncSource route_sync_;
  DegradedPodsSource degraded_pods_;
};

// Serves /metrics on `address` ("127.0.0.1:9464") until destroyed.
class MetricsServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, PortMetrics::StatsSource source, PortMetrics::FlowsSource flows,
      PortMetrics::RouteSyncSource route_sync = nullptr,
      PortMetrics::DegradedPodsSource degraded_pods = nullptr);

 private:
  MetricsServer() = default;

  std::shared_ptr<PortMetrics> metrics_;  // the exposer only holds a weak reference to it
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace dpcni::dataplane
