// What Prometheus scrapes: the families, their types and labels, built from the same answers
// dpcnictl shows.
#include "metrics/port_metrics.h"

#include <prometheus/metric_family.h>

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

v1::GetPortStatsResponse OnePort() {
  v1::GetPortStatsResponse stats;
  v1::PortStats* port = stats.add_ports();
  port->set_port_id(3);
  port->set_name("shop/web-0");
  port->set_backend("tap");
  port->set_rx_packets(42);
  port->set_tx_bytes(3900);
  (*port->mutable_drops())["no_route"] = 2;
  (*port->mutable_events())["arp_replies"] = 7;
  return stats;
}

v1::FlowTableStats SomeFlows() {
  v1::FlowTableStats flows;
  flows.set_entries(5);
  flows.set_capacity(65536);
  flows.set_inserts(31);
  flows.set_hits(1207);
  flows.set_expiries(26);
  flows.set_evictions(1);
  flows.set_insert_failures(4);
  return flows;
}

std::map<std::string, prometheus::MetricFamily> Scrape(
    PortMetrics::StatsSource ports = OnePort, PortMetrics::RouteSyncSource route_sync = nullptr) {
  PortMetrics metrics(std::move(ports), SomeFlows, std::move(route_sync));
  std::map<std::string, prometheus::MetricFamily> by_name;
  for (prometheus::MetricFamily& family : metrics.Collect()) {
    by_name[family.name] = std::move(family);
  }
  return by_name;
}

TEST(PortMetricsTest, PortCountersAreLabelledWithThePort) {
  auto families = Scrape();
  const prometheus::MetricFamily& rx = families.at("dpcni_port_rx_packets_total");
  EXPECT_EQ(rx.type, prometheus::MetricType::Counter);
  ASSERT_EQ(rx.metric.size(), 1u);
  EXPECT_EQ(rx.metric[0].counter.value, 42);
  std::map<std::string, std::string> labels;
  for (const auto& label : rx.metric[0].label) labels[label.name] = label.value;
  EXPECT_EQ(labels, (std::map<std::string, std::string>{
                        {"port", "3"}, {"name", "shop/web-0"}, {"backend", "tap"}}));
  const prometheus::MetricFamily& drops = families.at("dpcni_port_drops_total");
  ASSERT_EQ(drops.metric.size(), 1u);
  EXPECT_EQ(drops.metric[0].counter.value, 2);
  const prometheus::MetricFamily& events = families.at("dpcni_port_events_total");
  ASSERT_EQ(events.metric.size(), 1u);
  EXPECT_EQ(events.metric[0].counter.value, 7);
  EXPECT_EQ(events.metric[0].label.back().name, "event");
  EXPECT_EQ(events.metric[0].label.back().value, "arp_replies");
}

TEST(PortMetricsTest, TheFlowTableIsTwoGaugesAndFiveCounters) {
  auto families = Scrape();
  const std::map<std::string, std::pair<prometheus::MetricType, double>> expected = {
      {"dpcni_flow_table_entries", {prometheus::MetricType::Gauge, 5}},
      {"dpcni_flow_table_capacity", {prometheus::MetricType::Gauge, 65536}},
      {"dpcni_flow_table_inserts_total", {prometheus::MetricType::Counter, 31}},
      {"dpcni_flow_table_hits_total", {prometheus::MetricType::Counter, 1207}},
      {"dpcni_flow_table_expiries_total", {prometheus::MetricType::Counter, 26}},
      {"dpcni_flow_table_evictions_total", {prometheus::MetricType::Counter, 1}},
      {"dpcni_flow_table_insert_failures_total", {prometheus::MetricType::Counter, 4}},
  };
  for (const auto& [name, type_and_value] : expected) {
    ASSERT_TRUE(families.contains(name)) << name;
    const prometheus::MetricFamily& family = families.at(name);
    EXPECT_EQ(family.type, type_and_value.first) << name;
    EXPECT_FALSE(family.help.empty()) << name;
    ASSERT_EQ(family.metric.size(), 1u) << name;
    const prometheus::ClientMetric& metric = family.metric[0];
    const double value =
        family.type == prometheus::MetricType::Gauge ? metric.gauge.value : metric.counter.value;
    EXPECT_EQ(value, type_and_value.second) << name;
  }
}

// The engine counts VXLAN on the uplink as events and drops by name; they reach Prometheus as
// the port's other counters do, with no list of names to keep in step here.
TEST(PortMetricsTest, VxlanEventsAndDropsAreTheUplinksCounters) {
  auto families = Scrape([] {
    v1::GetPortStatsResponse stats;
    v1::PortStats* uplink = stats.add_ports();
    uplink->set_port_id(0);
    uplink->set_name("uplink eth1");
    uplink->set_backend("af_packet");
    (*uplink->mutable_events())["vxlan_encapsulated"] = 120;
    (*uplink->mutable_events())["vxlan_decapsulated"] = 118;
    (*uplink->mutable_drops())["vxlan_spoofed_source"] = 3;
    (*uplink->mutable_drops())["vxlan_unknown_node"] = 1;
    return stats;
  });
  std::map<std::string, double> events;
  for (const auto& metric : families.at("dpcni_port_events_total").metric) {
    EXPECT_EQ(metric.label[1].value, "uplink eth1");
    events[metric.label.back().value] = metric.counter.value;
  }
  EXPECT_EQ(events, (std::map<std::string, double>{{"vxlan_decapsulated", 118},
                                                   {"vxlan_encapsulated", 120}}));
  std::map<std::string, double> drops;
  for (const auto& metric : families.at("dpcni_port_drops_total").metric) {
    EXPECT_EQ(metric.label.back().name, "reason");
    drops[metric.label.back().value] = metric.counter.value;
  }
  EXPECT_EQ(drops, (std::map<std::string, double>{{"vxlan_spoofed_source", 3},
                                                  {"vxlan_unknown_node", 1}}));
}

TEST(PortMetricsTest, RouteSyncIsNodesPrefixesOneSeriesPerStateAndAge) {
  auto families = Scrape(OnePort, [] {
    v1::RouteSync sync;
    sync.set_state("stale");
    sync.set_message("watch nodes: connection refused");
    sync.set_age_ms(90'500);
    sync.set_nodes(2);
    sync.set_prefixes(3);
    return sync;
  });
  ASSERT_TRUE(families.contains("dpcni_remote_nodes"));
  EXPECT_EQ(families.at("dpcni_remote_nodes").type, prometheus::MetricType::Gauge);
  EXPECT_EQ(families.at("dpcni_remote_nodes").metric.at(0).gauge.value, 2);
  EXPECT_EQ(families.at("dpcni_remote_prefixes").metric.at(0).gauge.value, 3);
  EXPECT_EQ(families.at("dpcni_route_sync_age_seconds").metric.at(0).gauge.value, 90.5);
  std::map<std::string, double> states;
  for (const auto& metric : families.at("dpcni_route_sync_state").metric) {
    ASSERT_EQ(metric.label.size(), 1u);
    EXPECT_EQ(metric.label[0].name, "state");
    states[metric.label[0].value] = metric.gauge.value;
  }
  EXPECT_EQ(states, (std::map<std::string, double>{{"in-sync", 0}, {"stale", 1}, {"unset", 0}}));

  // Without a route source (a tool that reads only ports) the families are left out.
  EXPECT_FALSE(Scrape().contains("dpcni_route_sync_state"));
}

TEST(PortMetricsTest, DegradedPodsAreOneGauge) {
  PortMetrics metrics(OnePort, SomeFlows, nullptr, [] { return 2u; });
  std::map<std::string, prometheus::MetricFamily> families;
  for (prometheus::MetricFamily& family : metrics.Collect()) families[family.name] = family;
  ASSERT_TRUE(families.contains("dpcni_pods_degraded"));
  EXPECT_EQ(families.at("dpcni_pods_degraded").type, prometheus::MetricType::Gauge);
  EXPECT_EQ(families.at("dpcni_pods_degraded").metric.at(0).gauge.value, 2);
  EXPECT_FALSE(Scrape().contains("dpcni_pods_degraded"));
}

}  // namespace
}  // namespace dpcni::dataplane
