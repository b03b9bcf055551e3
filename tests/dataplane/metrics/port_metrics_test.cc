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

std::map<std::string, prometheus::MetricFamily> Scrape() {
  PortMetrics metrics(OnePort, SomeFlows);
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
    const double value = family.type == prometheus::MetricType::Gauge ? metric.gauge.value
                                                                      : metric.counter.value;
    EXPECT_EQ(value, type_and_value.second) << name;
  }
}

}  // namespace
}  // namespace dpcni::dataplane
