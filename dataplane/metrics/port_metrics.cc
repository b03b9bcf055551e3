#include "metrics/port_metrics.h"

#include <prometheus/metric_family.h>

#include <exception>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {
namespace {

prometheus::MetricFamily CounterFamily(const std::string& name, const std::string& help) {
  return {name, help, prometheus::MetricType::Counter, {}};
}

prometheus::MetricFamily GaugeFamily(const std::string& name, const std::string& help) {
  return {name, help, prometheus::MetricType::Gauge, {}};
}

void AddGauge(prometheus::MetricFamily& family, uint64_t value) {
  prometheus::ClientMetric metric;
  metric.gauge.value = static_cast<double>(value);
  family.metric.push_back(std::move(metric));
}

void AddCounter(prometheus::MetricFamily& family,
                std::vector<prometheus::ClientMetric::Label> labels, uint64_t value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = static_cast<double>(value);
  family.metric.push_back(std::move(metric));
}

}  // namespace

std::vector<prometheus::MetricFamily> PortMetrics::Collect() const {
  auto rx_packets = CounterFamily("dpcni_port_rx_packets_total", "Packets received on the port");
  auto rx_bytes = CounterFamily("dpcni_port_rx_bytes_total", "Bytes received on the port");
  auto tx_packets = CounterFamily("dpcni_port_tx_packets_total", "Packets sent on the port");
  auto tx_bytes = CounterFamily("dpcni_port_tx_bytes_total", "Bytes sent on the port");
  auto drops = CounterFamily("dpcni_port_drops_total", "Packets the dataplane dropped, by reason");
  auto events = CounterFamily("dpcni_port_events_total",
                              "What the port saw besides forwarding and drops, by event");
  const v1::GetPortStatsResponse stats = source_();
  for (const v1::PortStats& port : stats.ports()) {
    const std::vector<prometheus::ClientMetric::Label> labels = {
        {"port", std::to_string(port.port_id())},
        {"name", port.name()},
        {"backend", port.backend()}};
    AddCounter(rx_packets, labels, port.rx_packets());
    AddCounter(rx_bytes, labels, port.rx_bytes());
    AddCounter(tx_packets, labels, port.tx_packets());
    AddCounter(tx_bytes, labels, port.tx_bytes());
    const std::map<std::string, uint64_t> by_reason(port.drops().begin(), port.drops().end());
    for (const auto& [reason, count] : by_reason) {
      auto with_reason = labels;
      with_reason.push_back({"reason", reason});
      AddCounter(drops, with_reason, count);
    }
    const std::map<std::string, uint64_t> by_event(port.events().begin(), port.events().end());
    for (const auto& [event, count] : by_event) {
      auto with_event = labels;
      with_event.push_back({"event", event});
      AddCounter(events, with_event, count);
    }
  }
  std::vector<prometheus::MetricFamily> families = {rx_packets, rx_bytes, tx_packets,
                                                    tx_bytes,   drops,    events};

  const v1::FlowTableStats flows = flows_();
  auto entries = GaugeFamily("dpcni_flow_table_entries",
                             "Flows the node's kernel forwarded that the dataplane tracks now");
  AddGauge(entries, flows.entries());
  auto capacity = GaugeFamily("dpcni_flow_table_capacity",
                              "Flows the table can hold (flow_table.size; 0: not tracked)");
  AddGauge(capacity, flows.capacity());
  families.push_back(std::move(entries));
  families.push_back(std::move(capacity));
  for (const auto& [name, help, value] : {
           std::tuple{"dpcni_flow_table_inserts_total", "Kernel-forwarded flows added",
                      flows.inserts()},
           std::tuple{"dpcni_flow_table_hits_total", "Replies steered back to the node's kernel",
                      flows.hits()},
           std::tuple{"dpcni_flow_table_expiries_total", "Flows removed after their timeout",
                      flows.expiries()},
           std::tuple{"dpcni_flow_table_evictions_total",
                      "Flows removed to make room while the table was full", flows.evictions()},
           std::tuple{"dpcni_flow_table_insert_failures_total",
                      "Kernel-forwarded flows not kept for lack of room: their replies take the "
                      "direct route",
                      flows.insert_failures()},
       }) {
    auto family = CounterFamily(name, help);
    AddCounter(family, {}, value);
    families.push_back(std::move(family));
  }
  if (route_sync_) {
    const v1::RouteSync sync = route_sync_();
    auto nodes = GaugeFamily("dpcni_remote_nodes", "Other nodes whose pod CIDRs are routed");
    AddGauge(nodes, sync.nodes());
    auto prefixes = GaugeFamily("dpcni_remote_prefixes", "Other nodes' pod CIDRs routed");
    AddGauge(prefixes, sync.prefixes());
    // One series per state, 1 for the current one: alerts match state="stale" without knowing the
    // others.
    auto state = GaugeFamily("dpcni_route_sync_state",
                             "Whether the routes to other nodes are in step with the cluster (1: "
                             "this state)");
    for (const char* name : {"unset", "in-sync", "stale"}) {
      prometheus::ClientMetric metric;
      metric.label = {{"state", name}};
      metric.gauge.value = sync.state() == name ? 1 : 0;
      state.metric.push_back(std::move(metric));
    }
    auto age = GaugeFamily("dpcni_route_sync_age_seconds",
                           "Time since the routed list of other nodes arrived (0 while unset)");
    prometheus::ClientMetric age_metric;
    age_metric.gauge.value = static_cast<double>(sync.age_ms()) / 1000.0;
    age.metric.push_back(std::move(age_metric));
    for (auto* family : {&nodes, &prefixes, &state, &age}) families.push_back(std::move(*family));
  }
  if (degraded_pods_) {
    auto degraded = GaugeFamily("dpcni_pods_degraded",
                                "Pods that keep their interface and addresses but are not attached "
                                "to the dataplane (a re-attach after an agent restart failed)");
    AddGauge(degraded, degraded_pods_());
    families.push_back(std::move(degraded));
  }
  return families;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, PortMetrics::StatsSource source, PortMetrics::FlowsSource flows,
    PortMetrics::RouteSyncSource route_sync, PortMetrics::DegradedPodsSource degraded_pods) {
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->metrics_ = std::make_shared<PortMetrics>(std::move(source), std::move(flows),
                                                   std::move(route_sync), std::move(degraded_pods));
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& error) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", error.what()));
  }
  server->exposer_->RegisterCollectable(server->metrics_);
  return server;
}

}  // namespace dpcni::dataplane
